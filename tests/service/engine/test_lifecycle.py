"""Readiness follows the model: 503 while loading, 503 with the reason when the file is bad."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import pytest

import service.engine.lifecycle
from service.model.formats import backend_file


def copy_model(model_path: Path, folder: Path) -> Path:
    """The model in both formats and its metadata, copied so a test may damage them."""
    folder.mkdir()
    for suffix in (".pt", ".onnx", ".json"):
        shutil.copy(model_path.with_suffix(suffix), folder)
    return folder / model_path.name


def predict(client, photo):
    return client.post("/predict", files={"file": ("a.jpg", photo("red"), "image/jpeg")})


def test_while_loading_healthz_answers_and_the_rest_is_503(start, settings_for, photo,
                                                           monkeypatch):
    release = threading.Event()
    real_loader = service.engine.lifecycle.load_classifier

    def slow_loader(path: Path, **options):
        release.wait(timeout=10)
        return real_loader(path, **options)

    monkeypatch.setattr(service.engine.lifecycle, "load_classifier", slow_loader)
    with start(settings_for()) as client:
        assert client.get("/healthz").status_code == 200
        for response in (client.get("/readyz"), client.get("/model"), predict(client, photo)):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "model_loading"
            assert response.headers["retry-after"] == "2"
        release.set()
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert predict(client, photo).status_code == 200


def flip_one_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def remove_model_file(path: Path) -> None:
    path.unlink()


def remove_metadata(path: Path) -> None:
    path.with_suffix(".json").unlink()


def garble_metadata(path: Path) -> None:
    path.with_suffix(".json").write_text("{not json")


@pytest.mark.parametrize(("damage", "reason"), [
    (flip_one_bit, "SHA-256"),
    (remove_model_file, "is missing"),
    (remove_metadata, "is missing"),
    (garble_metadata, "unreadable"),
])
def test_a_bad_model_file_keeps_the_service_up_but_unready(serve, settings_for, photo,
                                                           tiny_model_path, tmp_path, caplog,
                                                           damage, reason, backend):
    """The same for the file either backend runs: one verification path for both formats."""
    model_path = copy_model(tiny_model_path, tmp_path / "model")
    damage(backend_file(model_path, backend))
    with caplog.at_level(logging.INFO, logger="service"), serve(
            settings_for(model_path=model_path, model_backend=backend)) as client:
        ready, prediction = client.get("/readyz"), predict(client, photo)
        assert client.get("/healthz").status_code == 200
    for response in (ready, prediction):
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "model_unavailable"
        assert reason in error["message"] and str(model_path.parent) in error["message"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert reason in errors[0].getMessage() and not errors[0].exc_info


def test_the_model_is_warmed_up_before_ready(serve, settings_for, monkeypatch):
    calls = []
    real_warm_up = service.engine.lifecycle.warm_up

    async def counting_warm_up(pipeline):
        calls.append(pipeline.metadata.version)
        await real_warm_up(pipeline)

    monkeypatch.setattr(service.engine.lifecycle, "warm_up", counting_warm_up)
    with serve(settings_for()) as client:
        assert client.get("/readyz").status_code == 200
    assert len(calls) == 1


def test_an_unexpected_failure_while_loading_is_reported_not_raised(serve, settings_for,
                                                                    monkeypatch, caplog):
    async def broken_warm_up(pipeline):
        raise RuntimeError("out of memory in warm-up")

    monkeypatch.setattr(service.engine.lifecycle, "warm_up", broken_warm_up)
    with caplog.at_level(logging.INFO, logger="service"), serve(settings_for()) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "RuntimeError" in response.json()["error"]["message"]
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.exc_info and "out of memory in warm-up" in str(error.exc_info[1])
