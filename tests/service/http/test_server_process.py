"""End to end: the real `python -m service` process, curl, and a graceful SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess


@pytest.fixture
def server(tmp_path, tiny_model_path) -> Iterator[ServiceProcess]:
    """A real server process on a free port, ready."""
    with ServiceProcess(tiny_model_path, tmp_path / "server.log", DECODE_WORKERS="1") as service:
        service.wait_until_ready()
        yield service


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
    base, process, log_path = server.url, server.process, server.log_path
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(photo("red", size=(640, 480)))

    answer = upload_like_curl(base, photo_path)
    assert answer["species"] == "Adelie" and answer["rejected"] is False
    assert set(answer["timing_ms"]) == {"decode", "queue", "inference", "total"}
    page = httpx.get(f"{base}/", headers={"X-Request-ID": "e2e-page"})
    assert page.status_code == 200 and page.headers["x-request-id"] == "e2e-page"

    # An upload in flight when SIGTERM arrives is still answered.
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
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
    (allocator,) = [line for line in lines if line["message"].startswith("malloc thresholds")]
    assert allocator["message"] == "malloc thresholds fixed"
    assert allocator["trim_threshold_bytes"] == 64 * 1024 * 1024


def loaded_libraries(pid: int) -> set[str]:
    """File names of the shared libraries a process has mapped (from /proc/PID/maps)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(line.split()[-1]).name for line in maps if ".so" in line.split()[-1]}


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_only_a_torchscript_server_loads_torch(tmp_path, tiny_model_path, backend, photo):
    """A server on ONNX Runtime answers without ever loading torch (its start-up time and
    memory: loadtest/BENCHMARK.md); one on TorchScript does load it, so the check can fail.
    Either leaves an operator's malloc setting alone, and its log says so."""
    log_path = tmp_path / "server.log"
    # An operator's malloc setting is left alone, and the log says so.
    with ServiceProcess(tiny_model_path, log_path, MODEL_BACKEND=backend,
                        MALLOC_TRIM_THRESHOLD_="1048576") as service:
        service.wait_until_ready()
        answer = httpx.post(f"{service.url}/predict", timeout=30,
                            files={"file": ("red.jpg", photo("red"), "image/jpeg")}).json()
        model = httpx.get(f"{service.url}/model", timeout=30).json()
        libraries = loaded_libraries(service.process.pid)
    assert answer["species"] == "Adelie" and model["backend"] == backend
    torch_libraries = {name for name in libraries if name.startswith("libtorch")}
    onnx_libraries = {name for name in libraries if "onnxruntime" in name}
    if backend == "onnx":
        assert not torch_libraries and onnx_libraries
    else:
        assert torch_libraries and not onnx_libraries
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    (allocator,) = [line for line in lines if line["message"].startswith("malloc thresholds")]
    assert allocator["malloc_environment"] == {"MALLOC_TRIM_THRESHOLD_": "1048576"}
