"""A broken or wrong model is never served: the service stays up, unready, and says why.

Extends tests/service/engine/test_lifecycle.py (bit flip, missing model, missing or garbled
metadata) with the other ways a model file goes wrong: truncated, emptied, replaced by another
model, a checksum that matches a file that is not a model (or is a pickle that would run code),
labels that do not match the outputs, a wrong input size. For each: /readyz and /predict answer 503
`model_unavailable` with the reason, /healthz answers 200, exactly one ERROR line carries the
reason, and the metrics say the model is not ready.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from service.model.formats import export_model
from service.model.metadata import read_metadata, sha256_of, write_metadata

Damage = Callable[[Path], None]


def copy_model(model_path: Path, folder: Path) -> Path:
    folder.mkdir()
    for source in (model_path, model_path.with_suffix(".json")):
        shutil.copy(source, folder / source.name)
    return folder / model_path.name


def update_metadata(model_path: Path, **changes) -> None:
    metadata = read_metadata(model_path)
    write_metadata(model_path, metadata.model_copy(update=changes))


def record_checksum(model_path: Path) -> None:
    """What an attacker, or a careless copy script, would do: make the checksum match."""
    update_metadata(model_path, sha256=sha256_of(model_path))


class ThreeOutputs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))  # (N, 3): one output short of the four labels


class Only64Pixels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3 * 64 * 64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1))


class RunsCodeWhenUnpickled:
    """A pickle payload: unpickling it creates a marker file. Loading must never unpickle it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def truncate_to_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncate_and_record_checksum(path: Path) -> None:
    truncate_to_half(path)
    record_checksum(path)


def empty_and_record_checksum(path: Path) -> None:
    path.write_bytes(b"")
    record_checksum(path)


def replace_with_another_model(path: Path) -> None:
    export_model(ThreeOutputs(), path)


def replace_with_another_model_and_its_checksum(path: Path) -> None:
    export_model(ThreeOutputs(), path)
    record_checksum(path)


def replace_with_a_model_of_another_input_size(path: Path) -> None:
    export_model(Only64Pixels(), path)
    record_checksum(path)


def list_five_labels(path: Path) -> None:
    update_metadata(path, labels=["Adelie", "Chinstrap", "Gentoo", "Emperor", "no_penguin"])


def drop_the_reject_label(path: Path) -> None:
    metadata = read_metadata(path)
    update_metadata(path, rejection=metadata.rejection.model_copy(update={"label": "nothing"}))


def replace_with_a_pickle_and_its_checksum(path: Path) -> None:
    torch.save({"weights": RunsCodeWhenUnpickled(path.parent / "PWNED")}, path)
    record_checksum(path)


def replace_with_a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def invalid_metadata_values(path: Path) -> None:
    metadata_path = path.with_suffix(".json")
    metadata_path.write_text(metadata_path.read_text().replace('"temperature": 1.0',
                                                               '"temperature": -1.0'))


FAULTS: dict[str, tuple[Damage, str]] = {
    "truncated": (truncate_to_half, "SHA-256"),
    "truncated, checksum recorded": (truncate_and_record_checksum, "not a loadable"),
    "emptied, checksum recorded": (empty_and_record_checksum, "not a loadable"),
    "replaced by another model": (replace_with_another_model, "was replaced"),
    "another model with 3 outputs, checksum recorded": (
        replace_with_another_model_and_its_checksum, "outputs shape (1, 3)"),
    "a model for another input size, checksum recorded": (
        replace_with_a_model_of_another_input_size, "does not accept a 1x3x32x32 input"),
    "labels that do not match the outputs": (list_five_labels, "5 labels"),
    "reject label not among the labels": (drop_the_reject_label, "rejection label 'nothing'"),
    "a pickle that runs code, checksum recorded": (
        replace_with_a_pickle_and_its_checksum, "not a loadable"),
    "a directory instead of a file": (replace_with_a_directory, "is missing"),
    "metadata with an invalid value": (invalid_metadata_values, "temperature"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_model_is_never_served_and_the_reason_is_given(
        serve, settings_for, photo, tiny_model_path, tmp_path, caplog, fault):
    damage, reason = FAULTS[fault]
    model_path = copy_model(tiny_model_path, tmp_path / "model")
    damage(model_path)
    with caplog.at_level(logging.INFO, logger="service"), serve(
            settings_for(model_path=model_path)) as client:
        ready = client.get("/readyz")
        predictions = [client.post("/predict", files={"file": ("a.jpg", photo("red"))}),
                       client.post("/predict/batch", files=[("files", ("a.jpg", photo()))]),
                       client.get("/model")]
        healthy = client.get("/healthz")
        metrics = client.get("/metrics").text
        assert client.app.state.model.pipeline is None
    assert healthy.status_code == 200
    for response in (ready, *predictions):
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "model_unavailable"
        assert reason in error["message"], error["message"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert reason in errors[0].getMessage()
    assert 'penguin_model_ready{model="photo"} 0.0' in metrics
    assert 'penguin_model_status{model="photo",status="failed"} 1.0' in metrics
    assert "penguin_model_info" not in metrics
    # Failed before its self-test could run: no self-test result, and the state says so.
    assert "\npenguin_model_selftest_ok " not in metrics
    assert 'penguin_model_selftest_status{status="not_run"} 1.0' in metrics
    assert not (model_path.parent / "PWNED").exists()  # no pickle was ever executed


def test_the_pickle_payload_is_real(tmp_path):
    """The control for the pickle case above: an unrestricted unpickle does run its code."""
    marker = tmp_path / "PWNED"
    torch.save({"weights": RunsCodeWhenUnpickled(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()
