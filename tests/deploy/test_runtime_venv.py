"""The image's Python environment, rebuilt here without Docker, serves a real prediction.

`make runtime-venv` (a prerequisite of `make test`) installs requirements/runtime.txt, the file
the Dockerfile installs, into a fresh .venv-runtime. These tests check that it holds nothing
else, then start the service from it the way the image does: the Dockerfile's CMD and ENV (its
/tmp mapped to a private folder), and a working directory holding only service/ and the model,
so `training` cannot be imported and anything written beside the code is noticed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_helpers import ROOT, dockerfile_env, load_deploy_module, parse_stages
from service_process import free_port, wait_until_ready

RUNTIME_VENV = ROOT / ".venv-runtime"
RUNTIME_PYTHON = RUNTIME_VENV / "bin" / "python"
LOCK = ROOT / "requirements" / "runtime.txt"
SHIPPED_MODEL = ROOT / "weights" / "penguin_classifier.pt"
SHIPPED_MEASUREMENTS_MODEL = ROOT / "weights" / "penguin_measurements.json"
NOT_IN_RUNTIME = ("torchvision", "locust", "pytest", "matplotlib", "httpx", "ruff", "onnx",
                  "training", "sklearn", "pandas", "palmerpenguins")
STARTUP_SECONDS = 180


@pytest.fixture(scope="module")
def runtime_python() -> Path:
    stamp = RUNTIME_VENV / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < LOCK.stat().st_mtime:
        message = ("the runtime venv is missing or older than requirements/runtime.txt: "
                   "run `make runtime-venv` (`make test` does it first)")
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI this would hide a missing runtime dependency
        pytest.skip(message)
    return RUNTIME_PYTHON


def run_in_runtime(python: Path, code: str) -> object:
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                            check=True, cwd=tempfile.gettempdir(), timeout=120)
    return json.loads(result.stdout)


def test_runtime_venv_holds_the_lock_and_nothing_else(runtime_python: Path) -> None:
    lock = load_deploy_module("lock_requirements")
    installed = run_in_runtime(runtime_python, (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    ))
    installed = {lock.canonical(name): version for name, version in installed.items()}
    locked = dict(line.split("==") for line in LOCK.read_text().splitlines()
                  if line and not line.startswith("#"))
    for name, version in locked.items():
        # The local torch is 2.14.1+cu130 here, 2.14.1+cpu in the image: both satisfy ==2.14.1.
        assert installed.get(name, "").split("+")[0] == version, name
    extra = set(installed) - set(locked) - {"pip"}
    # Only what PyPI's CUDA torch adds on this machine; the image's CPU torch needs none of it.
    assert all(lock.CUDA_ONLY.match(name) for name in extra), sorted(extra)


def test_dev_and_training_packages_are_not_importable(runtime_python: Path) -> None:
    importable = run_in_runtime(runtime_python, (
        "import importlib.util, json; "
        f"print(json.dumps([n for n in {NOT_IN_RUNTIME!r} if importlib.util.find_spec(n)]))"
    ))
    assert importable == []


# ---- The service, started the way the image starts it ---------------------------------------

def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.fixture
def container_like(runtime_python: Path) -> Iterator[dict]:
    """An /app folder (service/ and the model only), a private /tmp, and the image's env."""
    base = Path(tempfile.mkdtemp(prefix="penguin-runtime-"))
    try:
        base.chmod(0o755)
        app, writable = base / "app", base / "tmp"
        shutil.copytree(ROOT / "service", app / "service",
                        ignore=shutil.ignore_patterns("__pycache__"))
        weights = app / "weights"
        weights.mkdir()
        for suffix in (".pt", ".onnx", ".json"):  # the image ships the model in both formats
            shutil.copy(SHIPPED_MODEL.with_suffix(suffix), weights)
        shutil.copy(SHIPPED_MEASUREMENTS_MODEL, weights)
        writable.mkdir()
        # The Dockerfile's runtime ENV, its paths mapped onto these folders.
        (runtime,) = [s for s in parse_stages((ROOT / "Dockerfile").read_text())
                      if s.name == "runtime"]
        env = {}
        for key, value in dockerfile_env(runtime).items():
            if value.startswith("/tmp"):
                value = str(writable) + value.removeprefix("/tmp")
            elif value.startswith("/app/"):
                value = str(app) + value.removeprefix("/app")
            value = value.replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
            env[key] = value.replace("/opt/venv", str(RUNTIME_VENV))
        port = free_port()
        env.update(HOST="127.0.0.1", PORT=str(port))  # loopback only, never 0.0.0.0 here
        yield {"app": app, "tmp": writable, "env": env, "port": port,
               "model": weights / "penguin_classifier.pt"}
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_service_from_runtime_venv_serves_a_prediction_and_stops_on_sigterm(
    container_like: dict, tmp_path: Path, backend: str
) -> None:
    """Under each MODEL_BACKEND: the image's dependencies must hold ONNX Runtime too."""
    app, env, port = container_like["app"], container_like["env"], container_like["port"]
    env = {**env, "MODEL_BACKEND": backend}
    (runtime,) = [s for s in parse_stages((ROOT / "Dockerfile").read_text())
                  if s.name == "runtime"]
    command = json.loads(runtime.all("CMD")[0].arguments)  # ["python", "-m", "service"]
    before = files_under(app)
    log = tmp_path / "service.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=app, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until_ready(url, process, log, timeout=STARTUP_SECONDS)
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200
        smoke = subprocess.run(
            # smoke_test.py's default: the first sample photo must be named as its folder says.
            [sys.executable, str(ROOT / "deploy" / "smoke_test.py"), url],
            capture_output=True, text=True, timeout=120,
        )
        assert smoke.returncode == 0, smoke.stderr + log.read_text()
        # SIGTERM, as Cloud Run sends before stopping an instance: a clean exit, not a kill.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Nothing was written beside the code and the model (the image's root may be read-only).
    assert files_under(app) == before
    assert "Traceback" not in log.read_text()
    # No warnings at startup.
    assert "Warning:" not in log.read_text(), log.read_text()
