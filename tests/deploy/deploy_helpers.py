"""Shared by the deploy tests: the repo root, a loader for deploy/ scripts, a Dockerfile reader."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_deploy_module(name: str) -> ModuleType:
    """Import deploy/<name>.py (deploy/ holds scripts, not an installed package), once."""
    module_name = f"deploy_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "deploy" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


# ---- A small Dockerfile reader, enough for this project's Dockerfile ----------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def index(self, keyword: str, pattern: str) -> int:
        """Position of the first `keyword` instruction whose arguments match `pattern`."""
        for position, instruction in enumerate(self.instructions):
            if instruction.keyword == keyword and re.search(pattern, instruction.arguments):
                return position
        raise AssertionError(f"no {keyword} matching {pattern!r} in stage {self.name}")


def parse_stages(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of instructions (continuations joined, comments dropped)."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arguments.strip(), re.IGNORECASE)
            stages.append(Stage(base=match[1], name=match[2], instructions=[]))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return stages


def dockerfile_env(stage: Stage) -> dict[str, str]:
    """The variables a stage's ENV instructions set (KEY=value form only)."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        env.update(pair.split("=", 1) for pair in instruction.arguments.split())
    return env
