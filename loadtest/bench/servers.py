"""Server processes under test: started for real on loopback, timed, measured, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from loadtest.bench.loadgen import fetch, get_request

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One server process and what it cost: time to ready, memory (VmRSS, peak VmHWM)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], port: int,
                 log_path: Path) -> None:
        self.name, self.argv, self.env, self.port, self.log_path = name, argv, env, port, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=REPO_ROOT, stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()

    async def wait_for(self, path: str = "/readyz", timeout: float = 180.0) -> float:
        """Seconds from process start to the first 200 from GET `path` (polled every 5 ms)."""
        request = get_request(HOST, self.port, path)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                if (await fetch(HOST, self.port, request, timeout=2.0)).status == 200:
                    return time.perf_counter() - self.started
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

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with status {self.process.returncode}; "
                               f"see {self.log_path}")


def service_process(python: str, model: Path, port: int, log_path: Path,
                    overrides: dict[str, str] | None = None) -> ServerProcess:
    """`python -m service` as deployed, on loopback, logging at INFO like production."""
    env = {**os.environ, "MODEL_PATH": str(model), "PORT": str(port), "HOST": HOST,
           **(overrides or {})}
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
