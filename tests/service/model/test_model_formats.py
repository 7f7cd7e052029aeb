"""Export and loading behind one module: TorchScript round trip, warnings, bad files."""

import warnings

import pytest
import torch

from service.model.formats import ModelFormatError, export_model, load_model


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
