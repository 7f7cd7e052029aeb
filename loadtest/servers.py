"""Servers under test, started for real on loopback: the one way the benchmark, the soak and
the test suites start `python -m service` (or the naive server), on a free port.

`start_service` is the plain process (the test suites wait for it themselves);
`ServerProcess` adds what the harnesses measure: time to ready, memory, CPU time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from loadtest.loadgen import fetch, get_request

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing listens on right now, on loopback."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def service_env(model: Path, port: int, **overrides: str) -> dict[str, str]:
    """This environment, plus what `python -m service` needs to serve `model` on loopback."""
    return {**os.environ, "PORT": str(port), "HOST": HOST, "MODEL_PATH": str(model), **overrides}


def launch(argv: list[str], env: dict[str, str], log_path: Path, *,
           append: bool = False) -> subprocess.Popen[bytes]:
    """`argv` started in the repository root, its output written (or appended) to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log,
                                stderr=subprocess.STDOUT)


def start_service(model: Path, port: int, log_path: Path, *, python: str = sys.executable,
                  **env: str) -> subprocess.Popen[bytes]:
    """`python -m service` on loopback `port` serving `model`; `env` overrides the environment."""
    return launch([python, "-m", "service"], service_env(model, port, **env), log_path)


class ServerProcess:
    """One server process and what it cost: time to ready, memory (VmRSS, peak VmHWM)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], port: int,
                 log_path: Path) -> None:
        self.name, self.argv, self.env, self.port, self.log_path = name, argv, env, port, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        # Appended: restarts (cold starts) keep one log, read back for their timings.
        self.process = launch(self.argv, self.env, self.log_path, append=True)

    async def wait_for(self, path: str = "/readyz", timeout: float = 180.0) -> float:
        """Seconds from process start to the first 200 from GET `path` (polled every 5 ms)."""
        request = get_request(HOST, self.port, path)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                response = await fetch(HOST, self.port, request, timeout=2.0)
                if response.status == 200:
                    return time.perf_counter() - self.started
                if b'"model_unavailable"' in response.body:  # it will never be ready
                    raise RuntimeError(f"{self.name}: the model could not be loaded: "
                                       f"{response.body.decode(errors='replace')}")
            await asyncio.sleep(0.005)
        raise TimeoutError(f"{self.name} did not answer 200 on {path} in {timeout} s; "
                           f"see {self.log_path}")

    async def first_success(self, request: bytes, timeout: float = 60.0) -> float:
        """Seconds from process start to the first 200 answer to `request`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                if (await fetch(HOST, self.port, request, timeout=timeout)).status == 200:
                    return time.perf_counter() - self.started
            await asyncio.sleep(0.005)
        raise TimeoutError(f"{self.name} never answered 200; see {self.log_path}")

    def memory_kb(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak resident set since start) of the server process."""
        assert self.process is not None
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        return values

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time (user + system) the server has used so far: all threads, and its main
        thread alone (the event loop: HTTP, routing, multipart parsing, responses)."""
        assert self.process is not None
        pid = self.process.pid
        return _cpu(Path(f"/proc/{pid}/stat")), _cpu(Path(f"/proc/{pid}/task/{pid}/stat"))

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` s; the exit status of a clean stop (None when
        it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with status {self.process.returncode}; "
                               f"see {self.log_path}")


def service_process(python: str, model: Path, port: int, log_path: Path,
                    overrides: dict[str, str] | None = None) -> ServerProcess:
    """`python -m service` as deployed, on loopback, logging at INFO like production."""
    env = service_env(model, port, **(overrides or {}))
    return ServerProcess("service", [python, "-m", "service"], env=env, port=port,
                         log_path=log_path)


def naive_process(python: str, model: Path, port: int, log_path: Path,
                  threads: int) -> ServerProcess:
    argv = [python, "-m", "loadtest.naive_server", "--model", str(model), "--host", HOST,
            "--port", str(port), "--threads", str(threads)]
    return ServerProcess("naive", argv, env=dict(os.environ), port=port, log_path=log_path)


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
