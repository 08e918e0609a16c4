"""The statistics of a results file: runs grouped by configuration, mean ± std, McNemar's exact test.

A group is one experiment name with one configuration: runs of one name with different settings
(--max-steps 30 and 60) are two groups, never pooled; the same seed recorded twice counts once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..evaluation.calibration import brier_score, expected_calibration_error
from . import settings
from .grid import BASELINE, EXPERIMENTS, Experiment

# The time the table and time-vs-accuracy.png show: the runner's clock, the same for every family
# (each trainer's own training_seconds starts and stops where that trainer chooses).
SECONDS = "wall_seconds"


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
    """One configuration's runs in a results file, one per seed, sorted by seed: one row of the report."""

    name: str
    config: dict[str, Any]  # what every run ran (settings.completed), seed and out_dir left out
    label: str  # the name, and the options that differ from the name's own (settings.py)
    runs: list[dict[str, Any]]
    experiment: Experiment | None  # None for a name no longer (or not yet) in EXPERIMENTS
    duplicates: int = 0  # records of a seed already recorded with this configuration: the latest is kept

    @property
    def is_baseline(self) -> bool:
        """Whether the runs are a baseline's (baselines.py), not GPT-2's."""
        return _is_baseline(self.config)

    @property
    def named(self) -> dict[str, Any]:
        """The configuration the grid gives this name, without overrides."""
        return settings.named_config(self.name, self.is_baseline)

    @property
    def differences(self) -> dict[str, Any]:
        """The options that differ from the name's own configuration: the overrides the runs ran with."""
        return settings.differences(self.config, self.named)

    def accuracies(self, split: str) -> list[float]:
        """The runs' accuracies on split ('train', 'validation' or 'test'), in %."""
        return [r[f"{split}_accuracy"] * 100 for r in self.runs]

    def mean(self, key: str) -> float:
        """The mean over seeds of a numeric record field, e.g. 'wall_seconds'."""
        return statistics.fmean(r[key] for r in self.runs)

    def seconds(self) -> float:
        """The mean wall seconds of a run: the table's "wall s" and the time-vs-accuracy plot's axis."""
        return self.mean(SECONDS)

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
    def reference_test(self) -> float | None:
        """The published test accuracy (%) of the row, whatever setting the runs ran."""
        reference = self.experiment.reference if self.experiment else None
        return reference[2] if reference else None

    @property
    def published_test(self) -> float | None:
        """The published test accuracy (%), only if the runs ran the published setting (settings.py)."""
        if not settings.is_published_setting(self.differences, self.config, self.named):
            return None
        return self.reference_test


def _is_baseline(config: dict[str, Any]) -> bool:
    return "model" in config  # BaselineConfig's field; FinetuneConfig has none


def summarize(records: list[dict[str, Any]]) -> list[Summary]:
    """Group records by name and configuration: the grid's order, then unknown names alphabetically.

    Within a name, configurations come in the order of their first record. A seed recorded twice
    with one configuration (the same run twice, e.g. two results files joined) counts once: the
    latest record in the file is kept, and the group counts the others as duplicates.
    """
    groups: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    duplicates: Counter[tuple[str, str]] = Counter()
    for record in records:
        recorded = {k: v for k, v in record.get("config", {}).items() if k not in ("seed", "out_dir")}
        config = settings.completed(recorded, settings.named_config(record["name"], _is_baseline(recorded)))
        key = (record["name"], json.dumps(config, sort_keys=True))
        runs = groups.setdefault(key, {})
        if record["seed"] in runs:
            duplicates[key] += 1
        runs[record["seed"]] = record
    names = {name for name, _ in groups}
    order = [name for name in EXPERIMENTS if name in names] + sorted(names - set(EXPERIMENTS))
    keys = sorted(groups, key=lambda key: order.index(key[0]))  # stable: file order within a name
    summaries = [
        Summary(
            name,
            json.loads(text),
            name,  # labelled below, once every group is known
            sorted(groups[name, text].values(), key=lambda r: r["seed"]),
            EXPERIMENTS.get(name),
            duplicates[name, text],
        )
        for name, text in keys
    ]
    return _labelled(summaries)


def _labelled(summaries: list[Summary]) -> list[Summary]:
    """Each summary labelled by settings.label; where two labels would read the same, WHERE's too."""
    labels = [settings.label(s.name, s.differences) for s in summaries]
    repeated = {text for text, count in Counter(labels).items() if count > 1}
    return [
        dataclasses.replace(s, label=settings.label(s.name, s.differences, where=text in repeated))
        for s, text in zip(summaries, labels, strict=True)
    ]


def row_one_for(summary: Summary, summaries: list[Summary]) -> Summary | None:
    """The row-1 group McNemar pairs a group with: the one that ran the same overrides (None: none).

    Row 1's own configuration with this group's differences applied: the same model size, weights,
    budget and learning rate, whatever the row's own options. Where the data was read and the
    device (settings.WHERE) need not match, unless several row-1 groups would. A baseline
    row has no model size or weights, so it is paired only when a single row-1 setting matches.
    """
    if summary.name == BASELINE:
        return None
    expected = settings.named_config(BASELINE, baseline=False) | summary.differences
    ignored = settings.GPT_ONLY if summary.is_baseline else ()
    loose = (*ignored, *settings.WHERE)
    row_ones = [s for s in summaries if s.name == BASELINE]
    matches = [s for s in row_ones if _without(s.config, loose) == _without(expected, loose)]
    if len(matches) > 1:  # the same setting run from several places: the one this group ran beside
        matches = [s for s in matches if _without(s.config, ignored) == _without(expected, ignored)]
    return matches[0] if len(matches) == 1 else None


def _without(config: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in keys}
