"""The start-up self-test: a model becomes ready only if it gives its known answers through the
whole serving path, whichever backend runs it; otherwise /readyz says which reference differed
and by how much."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families

from service.model.metadata import read_metadata, sha256_of, write_metadata


def copy_model(model_path: Path, folder: Path) -> Path:
    """The model in both formats and its metadata, copied into `folder`."""
    folder.mkdir()
    for suffix in (".pt", ".onnx", ".json"):
        shutil.copy(model_path.with_suffix(suffix), folder)
    return folder / model_path.name


def selftest_metrics(client) -> tuple[float | None, str]:
    """penguin_model_selftest_ok (None: no sample) and the state penguin_model_selftest_status
    marks with 1 (its other states 0)."""
    families = {family.name: family.samples
                for family in text_string_to_metric_families(client.get("/metrics").text)}
    ok = [sample.value for sample in families["penguin_model_selftest_ok"]]
    states = {sample.labels["status"]: sample.value
              for sample in families["penguin_model_selftest_status"]}
    assert sorted(states.values()) == [0, 0, 0, 1], states
    (current,) = [name for name, value in states.items() if value == 1]
    return (ok[0] if ok else None), current


def test_a_model_that_gives_its_known_answers_is_ready_and_says_so(serve, settings_for,
                                                                   tiny_metadata, backend):
    with serve(settings_for(model_backend=backend)) as client:
        assert client.get("/readyz").status_code == 200
        selftest = client.get("/model").json()["selftest"]
        assert selftest["status"] == "passed"
        assert selftest["references"] == len(tiny_metadata.known_answers.references)
        assert 0 <= selftest["largest_difference"] <= selftest["tolerance"] == 1e-3
        assert selftest_metrics(client) == (1.0, "passed")


def test_wrong_preprocessing_with_a_correct_checksum_keeps_the_service_unready(
        serve, settings_for, tiny_model_path, tmp_path, photo, caplog, backend):
    """The checksum binds the file to its metadata; only the self-test sees that the metadata
    describes the wrong preprocessing."""
    model_path = copy_model(tiny_model_path, tmp_path / "wrong-mean")
    metadata = read_metadata(model_path)
    wrong = metadata.preprocessing.model_copy(update={"mean": (0.6, 0.456, 0.406)})
    write_metadata(model_path, metadata.model_copy(update={"preprocessing": wrong}))
    with caplog.at_level(logging.ERROR, logger="service.model"), \
            serve(settings_for(model_path=model_path, model_backend=backend)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        error = ready.json()["error"]
        assert error["code"] == "model_unavailable"
        assert "self-test failed" in error["message"] and "reference-16-0" in error["message"]
        assert "difference" in error["message"] and "tolerance 1e-03" in error["message"]
        answer = client.post("/predict", files={"file": ("a.jpg", photo("red"), "image/jpeg")})
        assert answer.status_code == 503  # never served from a model that failed its self-test
        assert selftest_metrics(client) == (0.0, "failed")
    (line,) = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "self-test failed" in line.getMessage()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's notice on this exporter
def test_an_onnx_export_that_computes_differently_keeps_the_onnx_backend_unready(
        serve, settings_for, tiny_model_path, tiny_metadata, tmp_path):
    """What the self-test guards under MODEL_BACKEND=onnx: an export whose checksum the metadata
    records, with the right input and output shapes, but another network's answers."""
    model_path = copy_model(tiny_model_path, tmp_path / "other-network")
    onnx_file = model_path.with_suffix(".onnx")
    size = tiny_metadata.preprocessing.input_size
    torch.manual_seed(1)
    other = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(3, len(tiny_metadata.labels))).eval()
    torch.onnx.export(other, (torch.rand(1, 3, size, size),), str(onnx_file), dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    metadata = read_metadata(model_path)
    write_metadata(model_path, metadata.model_copy(update={"onnx_sha256": sha256_of(onnx_file)}))
    with serve(settings_for(model_path=model_path, model_backend="onnx")) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "self-test failed" in ready.json()["error"]["message"]
    with serve(settings_for(model_path=model_path)) as client:  # TorchScript is untouched
        assert client.get("/readyz").status_code == 200


def test_a_changed_known_answer_is_named_with_its_difference(serve, settings_for,
                                                             tiny_model_path, tmp_path):
    model_path = copy_model(tiny_model_path, tmp_path / "edited")
    metadata = read_metadata(model_path)
    known = metadata.known_answers
    last = known.references[-1]
    edited = last.model_copy(update={"probabilities": {
        **last.probabilities, "Chinstrap": last.probabilities["Chinstrap"] + 0.01}})
    known = known.model_copy(update={"references": [*known.references[:-1], edited]})
    write_metadata(model_path, metadata.model_copy(update={"known_answers": known}))
    with serve(settings_for(model_path=model_path)) as client:
        message = client.get("/readyz").json()["error"]["message"]
    assert f"{last.name} gave Chinstrap" in message and "(difference 1.00e-02)" in message


def test_a_model_without_known_answers_is_ready_with_the_self_test_not_recorded(
        serve, settings_for, tiny_model_path, tmp_path, caplog):
    model_path = copy_model(tiny_model_path, tmp_path / "old")
    metadata = read_metadata(model_path)
    write_metadata(model_path, metadata.model_copy(update={"known_answers": None}))
    with caplog.at_level(logging.WARNING, logger="service.model"), \
            serve(settings_for(model_path=model_path)) as client:
        assert client.get("/readyz").status_code == 200
        selftest = client.get("/model").json()["selftest"]
        assert selftest["status"] == "not recorded" and "training.selftest" in selftest["detail"]
        # Nothing was compared: no 0 that an alert on a failed self-test would take for one.
        assert selftest_metrics(client) == (None, "not_recorded")
    assert any("self-test not recorded" in record.getMessage() for record in caplog.records)
