"""The real service as a process (`python -m service`), for tests that need one, not an app.

One home for starting it on a free loopback port with the tiny model's thread settings and for
waiting until `/readyz` answers 200, so every suite that runs a server (load test, browser,
hostile input, the process tests) starts it the same way.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(model_path: Path, port: int, log_path: Path, **env: str) -> subprocess.Popen:
    """`python -m service` on loopback `port` serving `model_path`, its output in `log_path`;
    `env` overrides the environment (thread counts default to 1 torch and 2 decode threads)."""
    environment = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1",
                   "MODEL_PATH": str(model_path), "TORCH_THREADS": "1", "DECODE_WORKERS": "2",
                   **env}
    with log_path.open("w") as log:
        return subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO_ROOT,
                                env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(base_url: str, process: subprocess.Popen, log_path: Path,
                     timeout: float = STARTUP_TIMEOUT) -> None:
    """Return once GET /readyz answers 200; fail with the server's log if it exits or is not
    ready within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n"
                                 f"{log_path.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"server not ready after {timeout} s:\n{log_path.read_text()}")
