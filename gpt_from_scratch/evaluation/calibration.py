"""Calibration: does a classifier that says "90% spam" turn out right nine times in ten?

Accuracy counts right answers; calibration asks whether the probabilities behind them can be
trusted, which matters as soon as someone acts on a threshold. Two standard measures:
- the Brier score, the mean squared distance between the predicted probability of spam and the
  label (0 is perfect; always answering 0.5 scores 0.25);
- the expected calibration error (ECE, Guo et al. 2017): group the predictions by their
  confidence, the probability of the predicted class, into equal-width bins; in each bin compare
  the accuracy with the mean confidence; average the gaps, weighted by the share of predictions in
  the bin (0 is perfect).
"""

from __future__ import annotations

from collections.abc import Sequence


def _check(probabilities: Sequence[float], labels: Sequence[int]) -> None:
    if len(probabilities) != len(labels) or not labels:
        raise ValueError(
            f"need one probability per label, and at least one: got {len(probabilities)} and {len(labels)}"
        )
    if any(not 0 <= p <= 1 for p in probabilities):
        raise ValueError("probabilities must lie between 0 and 1: pass softmax outputs, not logits")


def brier_score(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    """Mean of (P(spam) - label)² over the messages; labels are 0 (not spam) and 1 (spam)."""
    _check(probabilities, labels)
    return sum((p - y) ** 2 for p, y in zip(probabilities, labels, strict=True)) / len(labels)


def expected_calibration_error(
    probabilities: Sequence[float], labels: Sequence[int], bins: int = 10
) -> float:
    """ECE over equal-width confidence bins: sum over the bins of share x |accuracy - confidence|."""
    _check(probabilities, labels)
    grouped: dict[int, list[tuple[float, bool]]] = {}
    for p, y in zip(probabilities, labels, strict=True):
        predicted = int(p > 0.5)
        confidence = p if predicted else 1 - p  # the probability of the predicted class, 0.5 to 1
        index = min(int(confidence * bins), bins - 1)  # a confidence of 1.0 belongs to the last bin
        grouped.setdefault(index, []).append((confidence, predicted == y))
    gaps = 0.0
    for members in grouped.values():
        accuracy = sum(right for _, right in members) / len(members)
        mean_confidence = sum(confidence for confidence, _ in members) / len(members)
        gaps += len(members) * abs(accuracy - mean_confidence)
    return gaps / len(labels)
