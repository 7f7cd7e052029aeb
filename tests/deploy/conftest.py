"""Helpers for the container and Cloud Run tests: the repo's deploy modules, a canned HTTP
service on loopback, and a stand-in `gcloud` that records how it was called."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from deploy_helpers import ROOT, load_deploy_module


@pytest.fixture(scope="session")
def cloudrun() -> ModuleType:
    return load_deploy_module("cloudrun")


@pytest.fixture(scope="session")
def smoke_test() -> ModuleType:
    return load_deploy_module("smoke_test")


# ---- A canned penguin service ---------------------------------------------------------------

@dataclass
class CannedService:
    """What the fake service answers, and every request it received."""

    ready_status: int = 200
    predict_status: int = 200
    prediction: object = field(
        default_factory=lambda: {"species": "Gentoo", "confidence": 0.93, "rejected": False}
    )
    requests: list[dict] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def canned_service() -> Iterator[CannedService]:
    """An HTTP server on 127.0.0.1 answering /readyz and /predict like the real service."""
    canned = CannedService()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._record(b"")
            if self.path == "/readyz":
                self._answer(canned.ready_status, {"status": "ready"})
            else:
                self._answer(404, {"detail": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._record(body)
            if self.path == "/predict":
                self._answer(canned.predict_status, canned.prediction)
            else:
                self._answer(404, {"detail": "not found"})

        def _record(self, body: bytes) -> None:
            canned.requests.append({"method": self.command, "path": self.path,
                                    "headers": dict(self.headers), "body": body})

        def _answer(self, status: int, payload: object) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    canned.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield canned
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# ---- A stand-in gcloud ----------------------------------------------------------------------

FAKE_GCLOUD = """\
#!{python}
# Stand-in gcloud (and docker): logs its argv (and any YAML file it is handed) as one JSON line,
# then prints what the real one would for the read-only commands the deploy script parses.
import json, os, sys
args = sys.argv[1:]
entry = {{"tool": os.path.basename(sys.argv[0]), "argv": args}}
if args[:3] == ["run", "services", "replace"]:
    entry["file"] = open(args[3]).read()
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
state = json.load(open(os.environ["FAKE_GCLOUD_STATE"]))
if args[:3] == ["run", "services", "describe"]:
    print(json.dumps(state["service"]))
elif args[:3] == ["run", "revisions", "list"]:
    print(json.dumps(state["revisions"]))
elif args[:2] == ["builds", "submit"]:
    print("DONE\\nID  STATUS\\nb-1  SUCCESS")
else:
    print("Done.", file=sys.stderr)
"""


@dataclass
class FakeGcloud:
    bin_dir: Path
    log: Path
    state_file: Path

    def set_state(self, service: dict | None = None, revisions: list | None = None) -> None:
        self.state_file.write_text(json.dumps({"service": service or {},
                                               "revisions": revisions or []}))

    def calls(self, tool: str = "gcloud") -> list[list[str]]:
        return [entry["argv"] for entry in self.entries(tool)]

    def entries(self, tool: str = "gcloud") -> list[dict]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [entry for entry in entries if entry["tool"] == tool]

    def make(self, target: str, *variables: str) -> subprocess.CompletedProcess:
        """Run `make target VAR=value...` in the repo with this gcloud first on PATH."""
        env = {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
               "FAKE_GCLOUD_LOG": str(self.log), "FAKE_GCLOUD_STATE": str(self.state_file)}
        return subprocess.run(
            ["make", "--no-print-directory", target, *variables],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )


@pytest.fixture
def fake_gcloud(tmp_path: Path) -> FakeGcloud:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcloud", "docker"):
        script = bin_dir / tool
        script.write_text(FAKE_GCLOUD.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    fake = FakeGcloud(bin_dir=bin_dir, log=tmp_path / "gcloud.log",
                      state_file=tmp_path / "gcloud-state.json")
    fake.set_state()
    return fake


# ---- The real gcloud, strictly offline ------------------------------------------------------

@pytest.fixture
def gcloud_offline(tmp_path: Path) -> Callable[[list[str]], subprocess.CompletedProcess]:
    """Run the real gcloud for its local-only work (parsing a service YAML, listing upload files).

    A fresh config dir (no account, so nothing can be changed anywhere), a cache entry saying
    "not on Google Compute Engine" (else gcloud asks the metadata server), no update check or
    usage report, and a network namespace with no interfaces: no packet can leave this machine.
    """
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud is not installed")
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace (unshare --net needs root)")
    def run(args: list[str]) -> subprocess.CompletedProcess:
        config = Path(tempfile.mkdtemp(prefix="gcloud-config-", dir=tmp_path))  # one per call
        (config / "gce").write_text("False")
        env = {**os.environ, "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
               "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
               "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
               "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true"}
        return subprocess.run(["unshare", "--net", gcloud, *args], env=env, capture_output=True,
                              text=True, timeout=120)

    return run
