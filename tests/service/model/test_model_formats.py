"""Export and loading behind one module: TorchScript round trip, warnings, bad files; and the
two backends (TorchScript, ONNX Runtime) loaded and verified through one path."""

import shutil
import warnings

import numpy as np
import pytest
import torch

from service.model.classifier import load_classifier
from service.model.formats import (
    BACKENDS,
    ModelFormatError,
    backend_file,
    export_model,
    load_model,
    load_onnx_model,
)
from service.model.metadata import ModelIntegrityError, read_metadata, write_metadata


def small_network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )


def test_round_trip_computes_the_same_outputs(tmp_path):
    model = small_network().eval()
    path = tmp_path / "model.pt"
    export_model(model, path)
    batch = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        assert torch.allclose(load_model(path)(batch), model(batch), atol=1e-6)


def test_only_torch_jit_deprecation_warnings_are_silenced(tmp_path):
    path = tmp_path / "model.pt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_model(small_network(), path)
        load_model(path)
        warnings.warn("`torch.jit.other` is deprecated", DeprecationWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert not [
        m for m in messages if "torch.jit" in m and "is deprecated" in m and "other" not in m
    ]
    assert any("torch.jit.other" in m for m in messages), "unrelated warnings must still be shown"


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a model at all")
    with pytest.raises(ModelFormatError, match="not a loadable torchscript model"):
        load_model(path)


# ---- Both backends: the same network, the same verification ---------------------------------

def test_both_backends_run_the_same_network(tiny_model_path, backend):
    classifier = load_classifier(tiny_model_path, backend=backend)
    reference = load_classifier(tiny_model_path)  # TorchScript: the contract
    batch = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(classifier.logits(batch), reference.logits(batch), rtol=0,
                               atol=1e-5)
    assert classifier.metadata == reference.metadata


def test_a_call_is_the_network_on_the_prepared_batch(tiny_model_path, backend):
    """The benchmark times `prepare` as the part of each pass that is not the network itself."""
    network = load_classifier(tiny_model_path, backend=backend).network
    batch = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with torch.inference_mode():
        direct = np.asarray(network.module(network.prepare(batch)))
    np.testing.assert_array_equal(direct, network(batch))


def test_each_backend_verifies_the_file_it_runs(tiny_model_path, tmp_path, backend):
    """One checksum path for both formats: replacing the file a backend runs is refused, and
    the other backend's file is not what is checked."""
    for suffix in (".pt", ".onnx", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), tmp_path)
    model_path = tmp_path / tiny_model_path.name
    runs = backend_file(model_path, backend)
    runs.write_bytes(runs.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match=f"{runs.name} has SHA-256 .* corrupted"):
        load_classifier(model_path, backend=backend)
    other = next(name for name in BACKENDS if name != backend)
    assert load_classifier(model_path, backend=other).metadata.version == "tiny-test-1"


def test_the_onnx_backend_refuses_an_export_its_metadata_does_not_record(tiny_model_path,
                                                                        tmp_path):
    for suffix in (".pt", ".onnx", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), tmp_path)
    model_path = tmp_path / tiny_model_path.name
    metadata = read_metadata(model_path)
    write_metadata(model_path, metadata.model_copy(update={"onnx_sha256": None}))
    with pytest.raises(ModelIntegrityError, match="records no SHA-256.*make export-onnx"):
        load_classifier(model_path, backend="onnx")
    model_path.with_suffix(".onnx").unlink()
    with pytest.raises(ModelIntegrityError, match=r"tiny\.onnx is missing.*make export-onnx"):
        load_classifier(model_path, backend="onnx")


def test_a_file_that_is_not_an_onnx_model_is_a_clear_error(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model at all")
    with pytest.raises(ModelFormatError, match="not a loadable ONNX model"):
        load_onnx_model(path, threads=1)


def test_a_wrong_input_size_is_named_under_onnx_runtime(tiny_model_path, tmp_path):
    """Metadata that promises another input size than the ONNX export takes: refused with the
    reason, as TorchScript's is (tests/reliability/test_model_faults.py), not with ONNX
    Runtime's own exception type."""
    for suffix in (".pt", ".onnx", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), tmp_path)
    model_path = tmp_path / tiny_model_path.name
    metadata = read_metadata(model_path)
    wrong_size = metadata.preprocessing.input_size + 16
    wrong = metadata.preprocessing.model_copy(update={"input_size": wrong_size})
    write_metadata(model_path, metadata.model_copy(update={"preprocessing": wrong}))
    with pytest.raises(ModelIntegrityError, match=f"does not accept a 1x3x{wrong_size}x"):
        load_classifier(model_path, backend="onnx")
