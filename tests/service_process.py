"""The real service as a process (`python -m service`), for the tests that need one, not an app.

The one way the test suites start it (load tests, browser, hostile input, the process tests):
`ServiceProcess` starts it the way the load harnesses do (loadtest/servers.py: one free port,
one environment) with the tiny model's thread settings, waits until `/readyz` answers 200, and
kills it when the test is done:

    with ServiceProcess(tiny_model_path, tmp_path / "server.log") as service:
        service.wait_until_ready()
        httpx.get(f"{service.url}/healthz")

Starting and waiting are separate so that several servers (or other slow set-up) can start side
by side. The deploy tests start the image's command from the runtime venv instead, and share
only `free_port` and `wait_until_ready`.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from loadtest import servers
from loadtest.servers import HOST, REPO_ROOT, free_port

__all__ = ["REPO_ROOT", "ServiceProcess", "free_port", "wait_until_ready"]

STARTUP_TIMEOUT = 90  # generous: CI machines have 2 cores and may be busy
# The tiny model needs no more; the defaults would size them from this machine's CPUs.
TEST_THREADS = {"TORCH_THREADS": "1", "DECODE_WORKERS": "2"}

# Ports of the services started here and not yet stopped: a server binds its port a moment after
# it starts, and until then free_port() may offer the same port again.
_ports_in_use: set[int] = set()


class ServiceProcess:
    """`python -m service` on a free loopback port serving `model_path`, its output in
    `log_path`; `env` overrides the environment (1 torch and 2 decode threads by default)."""

    def __init__(self, model_path: Path, log_path: Path, **env: str) -> None:
        self.port = free_port()
        while self.port in _ports_in_use:
            self.port = free_port()
        _ports_in_use.add(self.port)
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.process = servers.start_service(model_path, self.port, log_path,
                                             **{**TEST_THREADS, **env})

    def wait_until_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Return once GET /readyz answers 200; fail with the server's log if it exits, its
        model fails to load, or it is not ready within `timeout` seconds."""
        wait_until_ready(self.url, self.process, self.log_path, timeout)

    def wait_until_loaded(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Return once the model load has finished, ready or failed: for a server that is meant
        never to be ready."""
        _wait_for(self.url, self.process, self.log_path, timeout, _load_finished)

    def stop(self) -> None:
        """Kill the server unless it has exited already (a test may have stopped it)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        _ports_in_use.discard(self.port)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_until_ready(url: str, process: subprocess.Popen, log_path: Path,
                     timeout: float = STARTUP_TIMEOUT) -> None:
    """Return once GET `url`/readyz answers 200; fail with the server's log if `process` exits,
    its model fails to load, or it is not ready within `timeout` seconds."""
    _wait_for(url, process, log_path, timeout, _ready)


def _ready(response: httpx.Response) -> bool:
    if response.status_code == 200:
        return True
    if _error_code(response) == "model_unavailable":  # it never will be: say why, now
        raise AssertionError(f"the model failed to load: {response.text}")
    return False


def _load_finished(response: httpx.Response) -> bool:
    return response.status_code == 200 or _error_code(response) != "model_loading"


def _error_code(response: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError, AttributeError, KeyError, TypeError):
        return response.json()["error"]["code"]
    return None


def _wait_for(url: str, process: subprocess.Popen, log_path: Path, timeout: float,
              done: Callable[[httpx.Response], bool]) -> None:
    """Poll GET `url`/readyz until `done(response)`; fail with the log if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n"
                                 f"{log_path.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if done(httpx.get(f"{url}/readyz", timeout=1)):
                return
        time.sleep(0.1)
    raise AssertionError(f"server at {url} not ready after {timeout} s:\n{log_path.read_text()}")
