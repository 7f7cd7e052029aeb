"""The Open Inference Protocol (KServe v2) endpoints, driven by requests written by hand from the
protocol's text: JSON objects with `inputs` of `name`, `shape`, `datatype` and `data`, BYTES
elements as base64 strings, errors as `{"error": "<message>"}`."""

from __future__ import annotations

import base64

import pytest

INFER = "/v2/models/penguin-classifier/infer"


def image_input(*photos: bytes, name: str = "image", datatype: str = "BYTES") -> dict:
    return {"name": name, "shape": [len(photos)], "datatype": datatype,
            "data": [base64.b64encode(photo).decode("ascii") for photo in photos]}


def test_health_and_server_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    server = client.get("/v2").json()
    assert server["name"] == "penguin-classifier" and "version" in server
    assert server["extensions"] == []
    ready = client.get("/v2/models/penguin-classifier/ready")
    assert ready.status_code == 200 and ready.json() == {"name": "penguin-classifier",
                                                         "ready": True}


def test_model_metadata_names_the_input_and_outputs(client, tiny_metadata):
    metadata = client.get("/v2/models/penguin-classifier").json()
    assert metadata["name"] == "penguin-classifier"
    assert metadata["versions"] == [tiny_metadata.version]
    assert metadata["platform"] == "pytorch_torchscript"
    assert metadata["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]


def test_infer_answers_each_photos_probabilities_and_label_like_predict(client, photo,
                                                                        tiny_metadata):
    photos = [photo("red"), photo("blue", fmt="PNG"), photo("black")]
    response = client.post(INFER, json={"id": "req-7", "inputs": [image_input(*photos)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "penguin-classifier" and body["id"] == "req-7"
    assert body["model_version"] == tiny_metadata.version
    probabilities, label = body["outputs"]
    assert label == {"name": "label", "datatype": "BYTES", "shape": [3],
                     "data": ["Adelie", "Gentoo", "no_penguin"]}
    assert probabilities["name"] == "probabilities" and probabilities["datatype"] == "FP32"
    assert probabilities["shape"] == [3, 4] and len(probabilities["data"]) == 12
    assert probabilities["parameters"]["labels"] == tiny_metadata.labels
    single = client.post("/predict", files={"file": ("p.png", photos[1])}).json()
    row = probabilities["data"][4:8]  # the second photo's row
    assert row == pytest.approx([single["probabilities"][k] for k in tiny_metadata.labels],
                                abs=1e-4)
    assert list(dict(e.split(";")[:2] for e in response.headers["Server-Timing"].split(", ")))\
        == ["decode", "queue", "inference", "total"]


def test_infer_accepts_nested_data_and_returns_only_the_requested_outputs(client, photo):
    request = image_input(photo("green"))
    request.update(shape=[1, 1], data=[request["data"]])
    response = client.post(INFER, json={"inputs": [request], "outputs": [{"name": "label"}]})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [1],
                                           "data": ["Chinstrap"]}]
    assert "id" not in response.json()


@pytest.mark.parametrize(("request_body", "status", "words"), [
    ({"inputs": []}, 400, "inputs"),
    ({"input": [1]}, 400, "inputs"),
    ({"inputs": [{"name": "image", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, 400,
     "BYTES"),
    ({"inputs": [{"name": "pixels", "shape": [1], "datatype": "BYTES", "data": ["AA=="]}]}, 400,
     "'image'"),
    ({"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": ["AA=="]}]}, 400,
     "shape"),
    ({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["not base64!"]}]},
     400, "base64"),
    ({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [7]}]}, 400,
     "string"),
])
def test_malformed_requests_get_the_protocols_error_object(client, request_body, status, words):
    response = client.post(INFER, json=request_body)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and words in body["error"]


def test_bad_photos_and_unknown_outputs_and_models_are_refused_in_the_same_shape(client, photo):
    corrupt = client.post(INFER, json={"inputs": [image_input(photo("red"), b"not an image")]})
    assert corrupt.status_code == 400
    assert corrupt.json()["error"].startswith("image[1]: The file is not a readable image")
    tiff = client.post(INFER, json={"inputs": [image_input(b"II*\x00" + b"\x00" * 64)]})
    assert tiff.status_code == 415 and "TIFF" in tiff.json()["error"]
    unknown = client.post(INFER, json={"inputs": [image_input(photo("red"))],
                                       "outputs": [{"name": "logits"}]})
    assert unknown.status_code == 400 and "'logits'" in unknown.json()["error"]
    other_model = client.get("/v2/models/resnet50")
    assert other_model.status_code == 404 and list(other_model.json()) == ["error"]
    not_json = client.post(INFER, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and list(not_json.json()) == ["error"]


def test_infer_has_the_same_limits_as_predict(serve, settings_for, photo):
    with serve(settings_for(max_batch_files=2, max_upload_bytes=4096,
                            max_batch_upload_bytes=64 * 1024)) as client:
        many = client.post(INFER, json={"inputs": [image_input(*[photo("red")] * 3)]})
        assert many.status_code == 413 and "at most 2" in many.json()["error"]
        large = photo("red", size=(64, 64), fmt="PNG", compress_level=0)  # 12 KB
        too_large = client.post(INFER, json={"inputs": [image_input(large)]})
        assert too_large.status_code == 413 and "limit for one photo" in too_large.json()["error"]
        larger = photo("red", size=(100, 100), fmt="PNG", compress_level=0)  # 30 KB, 40 in base64
        body = client.post(INFER, json={"inputs": [image_input(larger, larger)]})
        assert body.status_code == 413 and "65,536 bytes limit" in body.json()["error"]


def test_not_ready_is_a_protocol_error_with_the_reason(serve, settings_for, tmp_path):
    with serve(settings_for(model_path=tmp_path / "missing.pt")) as client:
        for path in ("/v2/health/ready", "/v2/models/penguin-classifier/ready"):
            response = client.get(path)
            assert response.status_code == 503 and "missing" in response.json()["error"]
        assert client.get("/v2/health/live").status_code == 200
