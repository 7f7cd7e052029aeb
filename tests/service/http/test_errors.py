"""Every error answers in one JSON shape with a clear code; bad input never causes a 500."""

from __future__ import annotations

import logging

import pytest
from PIL import Image


def assert_error(response, status: int, code: str) -> dict:
    """The single error shape: {"error": {"code", "message"}, "request_id"}, id echoed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert message[:1].isupper() and message.endswith("."), message
    assert body["request_id"] == response.headers["x-request-id"]
    return body["error"]


def test_unknown_path_is_404(client):
    error = assert_error(client.get("/nowhere"), 404, "not_found")
    assert "/nowhere" in error["message"]


def test_wrong_method_is_405_with_allow_header(client):
    response = client.get("/predict")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_form_without_the_file_field_is_422(client, photo):
    response = client.post("/predict", files={"image": ("a.jpg", photo(), "image/jpeg")})
    error = assert_error(response, 422, "missing_file")
    assert "'file'" in error["message"] and "'image'" in error["message"]


def test_file_field_holding_text_is_422(client):
    response = client.post("/predict", data={"file": "photo.jpg"},
                           files={"other": ("x", b"x", "text/plain")})
    assert_error(response, 422, "missing_file")


def test_two_files_in_the_single_photo_field_is_422(client, photo):
    files = [("file", ("a.jpg", photo(), "image/jpeg")), ("file", ("b.jpg", photo(), "image/jpeg"))]
    assert_error(client.post("/predict", files=files), 422, "multiple_files")


def test_batch_without_files_is_a_validation_error_in_the_same_shape(client):
    response = client.post("/predict/batch", data={"photo": "x"},
                           files={"photo_file": ("x.jpg", b"x", "image/jpeg")})
    error = assert_error(response, 422, "missing_field")
    assert "'files'" in error["message"]


def test_batch_that_is_not_multipart_is_415_like_a_single_photo(client, photo):
    error = assert_error(client.post("/predict/batch", data={"files": "x"}),
                         415, "unsupported_media_type")
    assert "multipart/form-data" in error["message"]
    assert_error(client.post("/predict/batch", content=photo(),
                             headers={"Content-Type": "image/jpeg"}), 415, "unsupported_media_type")


def test_batch_with_text_instead_of_files_is_422(client):
    response = client.post("/predict/batch", data={"files": "not a file"},
                           files={"x": ("x", b"x", "text/plain")})
    assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"},
                                     {"Content-Type": "application/json"},
                                     {"Content-Type": "image/tiff"}])
def test_unsupported_content_type_is_415(client, photo, headers):
    error = assert_error(client.post("/predict", content=photo(), headers=headers),
                         415, "unsupported_media_type")
    assert "multipart/form-data" in error["message"]


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("empty.jpg", b"", 400, "empty_file"),
    ("noise.jpg", bytes(range(256)) * 8, 400, "invalid_image"),
    ("doc.pdf", b"%PDF-1.4\n%...", 415, "unsupported_format"),
    ("page.html", b"<!DOCTYPE html><html></html>", 415, "unsupported_format"),
])
def test_bad_files_are_refused_with_their_reason(client, name, data, status, code):
    assert_error(client.post("/predict", files={"file": (name, data, "image/jpeg")}),
                 status, code)


def test_truncated_jpeg_is_400(client, encode):
    data = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG", quality=95)
    response = client.post("/predict", files={"file": ("cut.jpg", data[:len(data) // 2])})
    assert_error(response, 400, "corrupt_image")


def test_tiff_is_415(client, photo):
    response = client.post("/predict", files={"file": ("scan.jpg", photo(fmt="TIFF"))})
    error = assert_error(response, 415, "unsupported_format")
    assert "TIFF" in error["message"]


def test_image_over_the_pixel_limit_is_413(client, huge_png):
    data = huge_png(10_000, 5_000)
    response = client.post("/predict", content=data, headers={"Content-Type": "image/png"})
    error = assert_error(response, 413, "image_too_large")
    assert "10000x5000" in error["message"]


def test_malformed_multipart_is_400(client):
    response = client.post("/predict", content=b"--nope\r\ngarbage",
                           headers={"Content-Type": "multipart/form-data"})
    assert_error(response, 400, "malformed_request")


def test_unexpected_exception_is_a_logged_500_in_the_same_shape(serve, settings_for, photo,
                                                                caplog):
    def explode(batch):
        raise RuntimeError("simulated bug")

    with serve(settings_for()) as client:
        client.app.state.model.pipeline.runner.batcher.run_batch = explode  # in the forward pass
        with caplog.at_level(logging.INFO, logger="service"):
            response = client.post("/predict", files={"file": ("a.jpg", photo())},
                                   headers={"X-Request-ID": "bug-report-42"})
        assert client.get("/healthz").status_code == 200  # still serving
    error = assert_error(response, 500, "internal_error")
    assert "simulated bug" not in error["message"]  # internals are not leaked
    crash = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert len(crash) == 1 and "simulated bug" in str(crash[0].exc_info[1])
    assert crash[0].request_id == "bug-report-42" == response.json()["request_id"]
    access = [r for r in caplog.records if getattr(r, "path", None) == "/predict"]
    assert access[0].status == 500 and access[0].error_code == "internal_error"
