"""The statistics of a results file: runs grouped by configuration, mean ± std, McNemar's exact test."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from ..calibration import brier_score, expected_calibration_error
from .grid import EXPERIMENTS, Experiment


def mcnemar_exact(reference_correct: list[bool], other_correct: list[bool]) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the examples the two runs disagree on."""
    if len(reference_correct) != len(other_correct):
        raise ValueError("McNemar's test needs predictions on the same examples, in the same order")
    only_reference = sum(r and not o for r, o in zip(reference_correct, other_correct, strict=True))
    only_other = sum(o and not r for r, o in zip(reference_correct, other_correct, strict=True))
    n = only_reference + only_other
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_reference, only_other) + 1)) / 2**n
    return min(1.0, 2 * tail)


def correct(record: dict[str, Any]) -> list[bool]:
    """Whether each test prediction of a run was right."""
    return [p == y for p, y in zip(record["test_predictions"], record["test_labels"], strict=True)]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else float("nan")


@dataclass(frozen=True)
class Summary:
    """One configuration's runs in a results file, sorted by seed: what the report and its figures show."""

    name: str
    runs: list[dict[str, Any]]
    experiment: Experiment | None  # None for a name no longer (or not yet) in EXPERIMENTS

    def accuracies(self, split: str) -> list[float]:
        """The runs' accuracies on split ('train', 'validation' or 'test'), in %."""
        return [r[f"{split}_accuracy"] * 100 for r in self.runs]

    def mean(self, key: str) -> float:
        """The mean over seeds of a numeric record field, e.g. 'wall_seconds'."""
        return statistics.fmean(r[key] for r in self.runs)

    def calibration(self) -> tuple[float, float] | None:
        """Mean Brier score and ECE of the test probabilities over seeds (None: runs recorded none)."""
        runs = [r for r in self.runs if "test_probabilities" in r]
        if not runs:
            return None
        return (
            statistics.fmean(brier_score(r["test_probabilities"], r["test_labels"]) for r in runs),
            statistics.fmean(
                expected_calibration_error(r["test_probabilities"], r["test_labels"]) for r in runs
            ),
        )

    @property
    def published_test(self) -> float | None:
        """The published test accuracy (%), for a reference row."""
        reference = self.experiment.reference if self.experiment else None
        return reference[2] if reference else None


def summarize(records: list[dict[str, Any]]) -> list[Summary]:
    """Group records by experiment name: the grid's order first, then unknown names alphabetically."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
    order = [name for name in EXPERIMENTS if name in by_name] + sorted(set(by_name) - set(EXPERIMENTS))
    return [
        Summary(name, sorted(by_name[name], key=lambda r: r["seed"]), EXPERIMENTS.get(name)) for name in order
    ]
