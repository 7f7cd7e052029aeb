"""End to end: the real `python -m service` process, curl, and a graceful SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path, tiny_model_path):
    """A real server process on a free port, ready; yields (base URL, process, log path)."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1",
           "MODEL_PATH": str(tiny_model_path), "TORCH_THREADS": "1", "DECODE_WORKERS": "1"}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, log_path)
        yield base, process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until_ready(base: str, process: subprocess.Popen, log_path: Path) -> None:
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


def upload_like_curl(base: str, photo_path: Path) -> dict:
    """`curl -F file=@photo.jpg URL/predict`, with curl itself when it is installed."""
    curl = shutil.which("curl")
    if curl:
        finished = subprocess.run([curl, "-sS", "-F", f"file=@{photo_path}", f"{base}/predict"],
                                  capture_output=True, text=True, timeout=30, check=True)
        return json.loads(finished.stdout)
    with photo_path.open("rb") as stream:
        files = {"file": (photo_path.name, stream, "image/jpeg")}
        return httpx.post(f"{base}/predict", files=files, timeout=30).json()


def test_real_server_classifies_an_upload_and_stops_cleanly_on_sigterm(server, tmp_path, photo):
    base, process, log_path = server
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(photo("red", size=(640, 480)))

    answer = upload_like_curl(base, photo_path)
    assert answer["species"] == "Adelie" and answer["rejected"] is False
    assert set(answer["timing_ms"]) == {"decode", "inference", "total"}
    page = httpx.get(f"{base}/", headers={"X-Request-ID": "e2e-page"})
    assert page.status_code == 200 and page.headers["x-request-id"] == "e2e-page"

    # An upload in flight when SIGTERM arrives is still answered.
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as connection:
        body = photo_path.read_bytes()
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\n"
                           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        connection.sendall(body[100:])
        response = connection.makefile("rb").read()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert b'"species":"Adelie"' in response

    assert process.wait(timeout=10) == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    predictions = [line for line in lines if line.get("path") == "/predict"]
    assert predictions[0]["status"] == 200 and predictions[0]["prediction"]["species"] == "Adelie"
    assert {"request_id", "latency_ms", "bytes_in", "bytes_out", "method"} <= set(predictions[0])
    assert any(line.get("message") == "model ready" for line in lines)
