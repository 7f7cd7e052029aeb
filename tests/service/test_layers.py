"""service/ is three layers whose imports point down only; training builds on the model alone.

    service.model   what travels with the weights; imports nothing else of ours
    service.engine  runs predictions; imports the model and the configuration
    service.http    the web face; imports the engine, the model and the configuration

The configuration (`service.settings`, `service.cpus`) sits between the model and the engine.
The two entry points (`python -m service`, the batch command) may import anything below them.
Read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

CONFIGURATION = {"service.settings", "service.cpus"}
# What each part of the code may import from `service` (its own part always included).
ALLOWED: dict[str, set[str]] = {
    "service": set(),  # the package's __init__ only (matched exactly, not as a prefix)
    "service.model": set(),
    "service.settings": {"service.model", *CONFIGURATION},
    "service.cpus": set(),
    "service.engine": {"service.model", *CONFIGURATION},
    "service.http": {"service.engine", "service.model", *CONFIGURATION},
    "service.batch": {"service.engine", "service.model", *CONFIGURATION},
    "service.batch_command": {"service.batch", "service.engine", "service.model",
                              *CONFIGURATION},
    "service.__main__": {"service.http", "service.engine", "service.model", *CONFIGURATION},
    "training": {"service.model"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str | None:
    """The entry of ALLOWED that `module` belongs to (the longest matching prefix)."""
    matches = [part for part in ALLOWED
               if module == part or (part != "service" and module.startswith(part + "."))]
    return max(matches, key=len, default=None)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, absolute names (relative imports resolved)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def upward_imports(path: Path) -> list[str]:
    own = part_of(module_name(path))
    assert own is not None, f"{path} belongs to no layer: add it to ALLOWED"
    allowed = {own, *ALLOWED[own]}
    ours = {name for name in imported_modules(path)
            if name.startswith("service.") and part_of(name) is not None}
    return sorted(name for name in ours if part_of(name) not in allowed)


def sources() -> list[Path]:
    return sorted([*(REPO_ROOT / "service").rglob("*.py"), *(REPO_ROOT / "training").rglob("*.py")])


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_layer_imports_upwards(path):
    assert upward_imports(path) == [], f"{path.relative_to(REPO_ROOT)} imports upwards"


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The rule really bites: a model module importing the engine is reported, also from a
    function body and as a relative import."""
    fake_root = tmp_path
    (fake_root / "service" / "model").mkdir(parents=True)
    bad = fake_root / "service" / "model" / "bad.py"
    bad.write_text("def later():\n    from ..engine.pipeline import Upload\n"
                   "import service.http.app\n")
    monkeypatch.setitem(globals(), "REPO_ROOT", fake_root)
    assert upward_imports(bad) == ["service.engine.pipeline", "service.engine.pipeline.Upload",
                                   "service.http.app"]
