"""The real service as a process (`python -m service`), for tests that need one, not an app.

Started the way the load harnesses start it (loadtest/servers.py: one free port, one
environment), with the tiny model's thread settings, and one way to wait until `/readyz`
answers 200, so every suite that runs a server (load test, browser, hostile input, the process
tests) starts it the same way.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import httpx

from loadtest import servers
from loadtest.servers import REPO_ROOT, free_port

__all__ = ["REPO_ROOT", "free_port", "start_service", "wait_until_ready"]

STARTUP_TIMEOUT = 60
# The tiny model needs no more; the defaults would size them from this machine's CPUs.
TEST_THREADS = {"TORCH_THREADS": "1", "DECODE_WORKERS": "2"}


def start_service(model_path: Path, port: int, log_path: Path, **env: str) -> subprocess.Popen:
    """`python -m service` on loopback `port` serving `model_path`, its output in `log_path`;
    `env` overrides the environment (thread counts default to 1 torch and 2 decode threads)."""
    return servers.start_service(model_path, port, log_path, **{**TEST_THREADS, **env})


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
