"""The ONNX export (training/export_onnx.py) computes what the served TorchScript file does."""

from __future__ import annotations

import numpy as np
import onnxruntime  # the `onnx` extra, installed by `make test`
import pytest
import torch

from service.model.formats import load_model
from training.export import PARITY_TOLERANCE


def test_onnx_runtime_agrees_with_torchscript_at_any_batch_size(mobilenet_path, tmp_path):
    from training.export_onnx import INPUT_NAME, export_onnx

    onnx_file = export_onnx(mobilenet_path, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    served = load_model(mobilenet_path)
    size = 64
    torch.manual_seed(3)
    for batch_size in (1, 5):
        batch = torch.randn(batch_size, 3, size, size)
        with torch.inference_mode():
            expected = served(batch)
        actual = torch.from_numpy(session.run(None, {INPUT_NAME: batch.numpy()})[0])
        assert actual.shape == expected.shape
        assert (actual - expected).abs().max().item() <= PARITY_TOLERANCE


def test_an_export_that_disagrees_is_refused_and_removed(mobilenet_path, tmp_path):
    from training.export_onnx import check_parity, export_onnx

    onnx_file = export_onnx(mobilenet_path, tmp_path / "model.onnx")

    class Shifted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = load_model(mobilenet_path)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) + 1.0

    with pytest.raises(RuntimeError, match="differs from TorchScript"):
        check_parity(Shifted(), onnx_file, torch.randn(2, 3, 64, 64))
    assert not onnx_file.exists()


@pytest.fixture(scope="module")
def onnx_model_dir(mobilenet_path, tmp_path_factory):
    """A copy of the MobileNet with its ONNX export beside it (checksum in its metadata)."""
    import shutil

    from training.export_onnx import export_onnx

    folder = tmp_path_factory.mktemp("onnx-model")
    for source in (mobilenet_path, mobilenet_path.with_suffix(".json")):
        shutil.copy(source, folder / source.name)
    model_path = folder / mobilenet_path.name
    export_onnx(model_path)
    return model_path


def test_the_export_records_its_checksum_for_the_service(onnx_model_dir):
    from service.model.metadata import read_metadata, sha256_of

    metadata = read_metadata(onnx_model_dir)
    assert metadata.onnx_sha256 == sha256_of(onnx_model_dir.with_suffix(".onnx"))
    assert metadata.sha256 == sha256_of(onnx_model_dir)  # the TorchScript file is untouched


def test_onnx_backend_answers_like_torchscript_batched_or_alone(onnx_model_dir, settings_for):
    from service.engine.inference import InferenceRunner
    from service.model.classifier import load_classifier

    generator = np.random.default_rng(5)
    pixels = [generator.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
    answers = {}
    for name in ("torchscript", "onnx"):
        classifier = load_classifier(onnx_model_dir, backend=name)
        runner = InferenceRunner.from_settings(classifier, settings_for())
        answers[name] = (runner.run_batch(pixels), [runner.run_batch([p])[0] for p in pixels])
        runner.close()
    onnx_batched, onnx_alone = answers["onnx"]
    for reference, batched, alone in zip(answers["torchscript"][0], onnx_batched, onnx_alone,
                                         strict=True):
        for label, probability in reference.probabilities.items():
            assert batched.probabilities[label] == pytest.approx(alone.probabilities[label],
                                                                 abs=1e-5)
            assert batched.probabilities[label] == pytest.approx(probability, abs=1e-4)


def test_the_service_serves_the_onnx_backend_when_asked(serve, settings_for, onnx_model_dir,
                                                        photo):
    with serve(settings_for(model_path=onnx_model_dir, model_backend="onnx")) as client:
        assert client.get("/readyz").status_code == 200
        response = client.post("/predict", files={"file": ("a.jpg", photo("red"), "image/jpeg")})
    assert response.status_code == 200
    assert sum(response.json()["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


def test_a_replaced_onnx_file_is_refused(serve, settings_for, onnx_model_dir, tmp_path):
    import shutil

    for source in (onnx_model_dir, onnx_model_dir.with_suffix(".json"),
                   onnx_model_dir.with_suffix(".onnx")):
        shutil.copy(source, tmp_path / source.name)
    model_path = tmp_path / onnx_model_dir.name
    onnx_file = model_path.with_suffix(".onnx")
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with serve(settings_for(model_path=model_path, model_backend="onnx")) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable" and "SHA-256" in error["message"]


def test_a_retrained_model_needs_its_export_redone_and_make_export_onnx_redoes_it(tmp_path):
    """What `make train` then `make export-onnx` do to weights/: training writes fresh metadata
    that names no ONNX export, so the stale .onnx beside it is refused until it is exported
    again; exporting the same TorchScript file twice writes the same bytes (a clean diff)."""
    from service.model.classifier import load_classifier
    from service.model.metadata import ModelIntegrityError, read_metadata, sha256_of
    from training.export_onnx import export_onnx

    model_path = export_tiny(tmp_path / "model.pt", bias=0.0)
    export_onnx(model_path)
    first = sha256_of(model_path.with_suffix(".onnx"))
    export_onnx(model_path)
    assert sha256_of(model_path.with_suffix(".onnx")) == first == read_metadata(
        model_path).onnx_sha256

    export_tiny(model_path, bias=1.0)  # retrained: new weights, fresh metadata
    with pytest.raises(ModelIntegrityError, match="records no SHA-256.*make export-onnx"):
        load_classifier(model_path, backend="onnx")
    export_onnx(model_path)
    assert read_metadata(model_path).onnx_sha256 == sha256_of(model_path.with_suffix(".onnx"))
    assert read_metadata(model_path).onnx_sha256 != first
    batch = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    logits = {backend: load_classifier(model_path, backend=backend).logits(batch)
              for backend in ("torchscript", "onnx")}
    assert np.abs(logits["torchscript"] - logits["onnx"]).max() <= PARITY_TOLERANCE


def export_tiny(path, *, bias: float):
    """A one-layer network exported as training exports (metadata, known answers included)."""
    from service.model.metadata import Rejection
    from training.export import export_classifier
    from training.presets import preprocessing_spec

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                  torch.nn.Linear(3, 4))
    with torch.no_grad():
        network[2].bias.fill_(bias)
    export_classifier(
        network, path, architecture="tiny", version=f"bias-{bias}",
        labels=["Adelie", "Chinstrap", "Gentoo", "no_penguin"],
        preprocessing=preprocessing_spec(input_size=8), temperature=1.0,
        rejection=Rejection(label="no_penguin", min_species_probability=0.5),
        check_batch=torch.rand(2, 3, 8, 8),
    )
    return path
