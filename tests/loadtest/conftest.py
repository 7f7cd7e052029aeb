"""Fixtures for the load-test tests: the repository on sys.path, a real server process.

`loadtest` is not an installed package (it is run from the repository root, as Locust runs
locustfiles), so the root is put first on sys.path here; otherwise this folder, also named
loadtest, could shadow it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60

if str(REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(REPO_ROOT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_server(tmp_path: Path, tiny_model_path: Path) -> Iterator[str]:
    """`python -m service` serving the tiny model on a free port; yields its base URL, ready.

    The photo pool is loaded (rendered into the cache the first time) while the server starts.
    """
    from loadtest.photos import load_pool

    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1",
           "MODEL_PATH": str(tiny_model_path), "TORCH_THREADS": "1", "DECODE_WORKERS": "2"}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        load_pool()
        _wait_until_ready(base, process, log_path)
        yield base
    finally:
        process.kill()
        process.wait()


def _wait_until_ready(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready after {STARTUP_TIMEOUT} s:\n{log_path.read_text()}")
