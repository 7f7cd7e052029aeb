import torch

from training.calibration import (
    choose_species_threshold,
    expected_calibration_error,
    fit_temperature,
)


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    generator = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 4, generator=generator) * 3
    targets = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=generator).squeeze(1)
    overconfident = true_logits * 2.5
    assert abs(fit_temperature(overconfident, targets) - 2.5) < 0.25


def test_expected_calibration_error_is_zero_when_confidence_matches_accuracy_and_large_otherwise():
    targets = torch.tensor([0, 0, 0, 1])
    # 75% confident everywhere and 75% right: calibrated.
    calibrated = torch.tensor([[0.75, 0.25]] * 4)
    assert expected_calibration_error(calibrated, targets) < 1e-6
    overconfident = torch.tensor([[0.99, 0.01]] * 4)
    assert abs(expected_calibration_error(overconfident, targets) - 0.24) < 1e-4


def test_species_threshold_respects_the_false_reject_budget():
    # Penguins (target 0) with best-species probabilities spread from 0.35 to 0.99.
    best = torch.linspace(0.35, 0.99, 100)
    probabilities = torch.stack([best, (1 - best) * 0.5, (1 - best) * 0.5], dim=1)
    targets = torch.zeros(100, dtype=torch.long)
    threshold = choose_species_threshold(
        probabilities, targets, reject_index=2, max_false_reject=0.05
    )
    wrongly_rejected = (best < threshold).float().mean().item()
    assert wrongly_rejected <= 0.05
    assert threshold > 0.35
