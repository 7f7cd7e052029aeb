"""Make `confidence` mean probability, and choose when to answer 'no penguin'."""

from __future__ import annotations

import torch


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature that minimises validation negative log-likelihood.

    One scalar keeps the ranking of classes (accuracy is unchanged) while fixing the
    over-confidence networks trained with cross-entropy usually show.
    """
    logits = logits.detach().clone().float()  # inference-mode tensors cannot enter autograd
    log_temperature = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_temperature.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_temperature.detach().exp().item()


def expected_calibration_error(
    probabilities: torch.Tensor, targets: torch.Tensor, bins: int = 15
) -> float:
    """Gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence, predicted = probabilities.max(dim=1)
    correct = predicted.eq(targets).float()
    edges = torch.linspace(0, 1, bins + 1)
    error = torch.zeros(())
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            gap = (confidence[in_bin].mean() - correct[in_bin].mean()).abs()
            error += gap * in_bin.float().mean()
    return float(error)


def choose_species_threshold(
    probabilities: torch.Tensor, targets: torch.Tensor, reject_index: int, max_false_reject: float
) -> float:
    """The highest minimum species probability that wrongly rejects at most `max_false_reject`
    of the validation penguins: as many doubtful photos rejected as that budget allows."""
    is_penguin = targets != reject_index
    species = probabilities.clone()
    species[:, reject_index] = -1.0
    best = species.max(dim=1).values[is_penguin]
    wins = best > probabilities[is_penguin, reject_index]
    candidates = torch.linspace(0.30, 0.90, 61)
    chosen = float(candidates[0])
    for threshold in candidates.tolist():
        false_reject = 1.0 - ((best >= threshold) & wins).float().mean().item()
        if false_reject <= max_false_reject:
            chosen = threshold
    return round(chosen, 2)
