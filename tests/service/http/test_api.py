"""The JSON API against the tiny model: /predict, /predict/batch, /model, health and docs.

Every test on the shared `client` runs once per MODEL_BACKEND (TorchScript and ONNX Runtime):
the answers must not depend on which one runs the network."""

from __future__ import annotations

import pytest
from PIL import Image

SPECIES_BY_COLOUR = {"red": "Adelie", "green": "Chinstrap", "blue": "Gentoo"}


@pytest.fixture(scope="module")
def client(serve, settings_for, backend):
    """The tiny model served by `backend`, shared by this module's tests."""
    with serve(settings_for(model_backend=backend)) as ready:
        yield ready


def predict(client, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"):
    return client.post("/predict", files={"file": (filename, data, content_type)})


@pytest.mark.parametrize(("colour", "species"), SPECIES_BY_COLOUR.items())
def test_predict_names_the_species(client, photo, tiny_metadata, colour, species):
    response = predict(client, photo(colour))
    assert response.status_code == 200
    body = response.json()
    assert body["species"] == species and body["rejected"] is False and body["message"] is None
    assert set(body["probabilities"]) == set(tiny_metadata.labels)
    assert body["confidence"] == body["probabilities"][species] > 0.9
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert body["model_version"] == tiny_metadata.version


def test_timings_are_reported_in_milliseconds(client, photo):
    timing = predict(client, photo("red")).json()["timing_ms"]
    assert set(timing) == {"decode", "queue", "inference", "total"}
    assert all(value >= 0 for value in timing.values())
    assert timing["total"] >= timing["decode"] + timing["queue"] + timing["inference"] - 0.2


def server_timing(response) -> dict[str, float]:
    """The Server-Timing header parsed as its W3C text defines it: name;dur=ms;desc="..."."""
    metrics = {}
    for entry in response.headers["Server-Timing"].split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        values = dict(param.split("=", 1) for param in params)
        metrics[name] = float(values["dur"])
        assert values["desc"].startswith('"') and values["desc"].endswith('"')
    return metrics


def test_every_prediction_carries_server_timing_with_the_bodys_figures(client, photo):
    single = predict(client, photo("red"))
    assert server_timing(single) == single.json()["timing_ms"]
    batch = client.post("/predict/batch", files=[("files", ("a.png", photo("blue", fmt="PNG")))])
    assert server_timing(batch) == batch.json()["timing_ms"]
    raw = client.post("/predict", content=photo("green"), headers={"Content-Type": "image/jpeg"})
    assert list(server_timing(raw)) == ["decode", "queue", "inference", "total"]


def test_errors_carry_no_server_timing(client):
    response = client.post("/predict", content=b"", headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 400 and "Server-Timing" not in response.headers


def test_a_photo_without_a_penguin_is_rejected_with_a_message(client, photo):
    body = predict(client, photo("black")).json()
    assert body["species"] == "no_penguin" and body["rejected"] is True
    assert body["confidence"] == body["probabilities"]["no_penguin"]
    assert "Adelie, Chinstrap or Gentoo" in body["message"]


@pytest.mark.parametrize(("content_type", "fmt"), [
    ("image/jpeg", "JPEG"), ("image/png", "PNG"), ("image/webp", "WEBP"), ("image/gif", "GIF"),
    ("image/bmp", "BMP"), ("application/octet-stream", "PNG"),
    ("image/png; charset=binary", "PNG"),
])
def test_raw_image_body(client, photo, content_type, fmt):
    response = client.post("/predict", content=photo("red", fmt=fmt),
                           headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert response.json()["species"] == "Adelie"


@pytest.mark.parametrize(("mode", "species"), [
    ("RGBA", "Gentoo"), ("P", "Gentoo"), ("CMYK", "Gentoo"),
    ("LA", "no_penguin"),  # dark blue in greyscale is just dark
])
def test_any_colour_mode_is_classified(client, photo, mode, species):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    response = predict(client, photo("blue", fmt=fmt, mode=mode), "photo.img")
    assert response.status_code == 200
    assert response.json()["species"] == species


def sideways_photo(encode, *, with_orientation: bool) -> bytes:
    """Upright: red top half, blue bottom half. Stored rotated, as a phone camera does."""
    upright = Image.new("RGB", (40, 80), (230, 20, 20))
    upright.paste((20, 20, 230), (0, 40, 40, 80))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    if with_orientation:
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    return encode(stored, "JPEG", exif=exif, quality=95)


def test_exif_orientation_is_applied_before_classifying(client, encode):
    upright = predict(client, sideways_photo(encode, with_orientation=True)).json()
    assert upright["species"] == "Adelie"
    # Control: the same pixels without the orientation tag look different to the model.
    sideways = predict(client, sideways_photo(encode, with_orientation=False)).json()
    assert sideways["species"] != "Adelie"


def test_tiny_and_large_dimensions(client, photo):
    assert predict(client, photo("green", size=(1, 1), fmt="PNG")).json()["species"] == "Chinstrap"
    wide = photo("green", size=(4000, 3000), quality=50)
    assert predict(client, wide).json()["species"] == "Chinstrap"


def test_batch_answers_each_file_in_order_and_isolates_bad_files(client, photo, tiny_metadata):
    files = [
        ("files", ("one.jpg", photo("red"), "image/jpeg")),
        ("files", ("notes.txt", b"not a photo", "text/plain")),
        ("files", ("two.png", photo("green", fmt="PNG"), "image/png")),
        ("files", ("empty.jpg", b"", "image/jpeg")),
        ("files", ("three.webp", photo("blue", fmt="WEBP"), "image/webp")),
    ]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert [item["filename"] for item in results] == [name for _, (name, _, _) in files]
    species = [item.get("species") for item in results]
    assert species == ["Adelie", None, "Chinstrap", None, "Gentoo"]
    assert results[1]["error"]["code"] == "invalid_image"
    assert results[3]["error"] == {"code": "empty_file", "message": "The uploaded file is empty."}
    assert set(results[0]["probabilities"]) == set(tiny_metadata.labels)
    assert body["model_version"] == tiny_metadata.version
    assert set(body["timing_ms"]) == {"decode", "queue", "inference", "total"}


def test_batch_refuses_too_many_files(serve, settings_for, photo):
    with serve(settings_for(max_batch_files=2)) as client:
        files = [("files", (f"{n}.jpg", photo("red"), "image/jpeg")) for n in range(3)]
        response = client.post("/predict/batch", files=files)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_files" and "at most 2" in error["message"]


def test_batch_refuses_an_oversized_file_alone(serve, settings_for, photo):
    big = photo("red", size=(600, 600), fmt="BMP")
    with serve(settings_for(max_upload_bytes=len(big) - 1)) as client:
        files = [("files", ("big.bmp", big, "image/bmp")),
                 ("files", ("small.jpg", photo("green"), "image/jpeg"))]
        results = client.post("/predict/batch", files=files).json()["results"]
    assert results[0]["error"]["code"] == "file_too_large"
    assert results[1]["species"] == "Chinstrap"


def test_healthz(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_once_loaded(client, tiny_metadata):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model_version": tiny_metadata.version,
                               "measurements_model_version": "1.0.0"}


def test_model_describes_the_loaded_model(client, tiny_metadata, backend):
    info = client.get("/model").json()
    assert info["backend"] == backend
    assert info["version"] == tiny_metadata.version
    assert info["labels"] == tiny_metadata.labels
    assert info["species"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert info["reject_label"] == "no_penguin"
    assert info["input_size"] == tiny_metadata.preprocessing.input_size
    assert info["metrics"] == tiny_metadata.metrics
    assert info["sha256"] == tiny_metadata.sha256


def test_openapi_documents_requests_and_every_error(client):
    schema = client.get("/openapi.json").json()
    predict_op = schema["paths"]["/predict"]["post"]
    assert {"multipart/form-data", "image/jpeg", "image/png", "application/octet-stream"} <= set(
        predict_op["requestBody"]["content"])
    assert "curl -F file=@photo.jpg" in predict_op["description"]
    expected_errors = {
        ("/predict", "post"): {"400", "413", "415", "422", "503"},
        ("/predict/batch", "post"): {"400", "413", "422", "503"},
        ("/model", "get"): {"503"},
        ("/readyz", "get"): {"503"},
    }
    for (path, method), statuses in expected_errors.items():
        responses = schema["paths"][path][method]["responses"]
        assert statuses <= set(responses), path
        for status in statuses:
            content = responses[status]["content"]["application/json"]
            assert content["schema"]["$ref"].endswith("/ErrorResponse")
            assert content["examples"], (path, status)
    assert "/classify" not in schema["paths"]


def test_docs_page_is_served(client):
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
