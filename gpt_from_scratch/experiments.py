"""Named finetuning experiments, repeated over seeds, recorded as JSON lines, reported as a Markdown table.

The grid holds the 19 rows of the published reference table for the book's chapter 6 bonus
experiments (rasbt/LLMs-from-scratch, ch06/02_bonus_additional-experiments/README.md), each with its
published accuracies, plus our own extra rows. Every knob is a FinetuneConfig option, so a row runs
exactly what `gpt-from-scratch finetune` with the same options runs.

Runs are paired: every seed's run uses the book's split (data_seed 123, the book's reading of the
file), so all configurations are tested on the same 300 messages and differences can be tested with
McNemar's exact test on the paired predictions. The baseline rows (TF-IDF + logistic regression, and
BERT-family encoders, see baselines.py) run on that same split and are recorded the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .baselines import ENCODERS, BaselineConfig, accuracy, describe, read_splits, require, run_baseline
from .calibration import brier_score, expected_calibration_error
from .classify import load_for_classifying, spam_probabilities
from .errors import OptionError
from .finetune import FinetuneConfig, finetune
from .rewording import EDITS, REWORD_RATE, REWORD_SEED, reword_all
from .tokenizer import get_tokenizer

REFERENCE_SOURCE = (
    "rasbt/LLMs-from-scratch, ch06/02_bonus_additional-experiments/README.md "
    "(19-row table; single runs on an A100)"
)
BASELINE = "row01-book"
DEFAULT_SEEDS = (123, 124, 125)
BOOK_SPLIT = {"reading": "book", "data_seed": 123}  # the reference's split, row for row


@dataclass(frozen=True)
class Experiment:
    """One named configuration: FinetuneConfig options, and the published numbers if it is a reference row."""

    name: str
    options: dict[str, Any]
    reference: tuple[float, float, float] | None = None  # published train/validation/test accuracy, %
    reference_row: int | None = None
    note: str = ""
    baseline: bool = False  # options are BaselineConfig options (baselines.py), not FinetuneConfig ones


def _row(
    n: int, name: str, options: dict, train: float, val: float, test: float, note: str = ""
) -> Experiment:
    return Experiment(f"row{n:02d}-{name}", options, (train, val, test), n, note)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        _row(1, "book", {}, 96.63, 99.33, 95.00),
        _row(2, "first-token", {"position": "first"}, 78.46, 80.54, 75.00),
        _row(3, "last-layer", {"trainable": "last_layer"}, 78.65, 79.87, 72.00),
        _row(4, "last-two-blocks", {"trainable": "last_two_blocks"}, 98.85, 98.66, 98.33),
        _row(5, "all-layers", {"trainable": "all"}, 99.62, 96.64, 96.67),
        _row(6, "gpt2-medium", {"model_size": "gpt2-medium"}, 87.50, 91.28, 84.67),
        _row(7, "gpt2-large", {"model_size": "gpt2-large"}, 99.52, 98.66, 96.67),
        _row(8, "gpt2-xl", {"model_size": "gpt2-xl"}, 99.81, 99.81, 98.33),
        _row(9, "gpt2-xl-all", {"model_size": "gpt2-xl", "trainable": "all"}, 100.00, 98.66, 98.67),
        _row(10, "random-all", {"weights": "random", "trainable": "all"}, 100.00, 96.64, 93.67),
        _row(11, "lora", {"trainable": "lora", "lora_rank": 16, "lora_alpha": 16.0}, 100.00, 97.32, 96.67),
        _row(
            12,
            "gpt2-xl-lora",
            {"model_size": "gpt2-xl", "trainable": "lora", "lora_rank": 16, "lora_alpha": 8.0},
            100.00,
            98.66,
            98.33,
        ),
        _row(13, "full-context", {"context": "full"}, 83.08, 87.92, 78.33),
        _row(14, "no-padding", {"context": "none", "batch_size": 1}, 100.00, 98.66, 98.00),
        _row(
            15,
            "no-padding-accumulate-8",
            {"context": "none", "batch_size": 1, "accumulation_steps": 8},
            99.33,
            98.66,
            98.33,
        ),
        _row(16, "flexible", {"position": "flexible"}, 99.42, 98.66, 98.33),
        _row(17, "no-causal-mask", {"causal": False}, 99.23, 98.66, 95.33),
        _row(
            18,
            "ignore-index",
            {},
            96.63,
            99.33,
            95.00,
            "the reference's --ignore_index never reached its loss, and could not matter for class-id "
            "labels (FinetuneConfig refuses it, saying why): this row runs row 1's configuration",
        ),
        _row(
            19,
            "mean-with-padding",
            {"pooling": "mean_with_padding"},
            97.79,
            99.33,
            96.33,
            "the reference averaged every position, padding included",
        ),
        Experiment("mean-real-tokens", {"pooling": "mean"}, note="row 19 without averaging padding in"),
        Experiment(
            "lora-paper-scaling",
            {"trainable": "lora", "lora_rank": 16, "lora_alpha": 16.0, "lora_scaling": "paper"},
            note="row 11 with the LoRA paper's alpha/rank scaling (16x smaller updates)",
        ),
        Experiment("tfidf-word", {"model": "tfidf-word"}, note="word 1-2-grams", baseline=True),
        Experiment("tfidf-char", {"model": "tfidf-char"}, note="character 1-5-grams", baseline=True),
        Experiment(
            "minilm",
            {"model": "minilm"},
            note="all-MiniLM-L6-v2 from its PyPI package, no download; the GPT rows' 5 epochs",
            baseline=True,
        ),
        Experiment(
            "minilm-1-epoch",
            {"model": "minilm", "num_epochs": 1},
            note="the minilm row with a fifth of the budget",
            baseline=True,
        ),
        *[
            Experiment(name, {"model": name}, note=f"downloads {hub_name}", baseline=True)
            for name, hub_name in ENCODERS.items()
        ],
    ]
}
# Overrides that only mean something for GPT-2 (model size, its weights): baseline rows leave them out.
BASELINE_OPTIONS = {f.name for f in fields(BaselineConfig)}


RunConfig = FinetuneConfig | BaselineConfig


def _recorded_config(cfg: RunConfig) -> dict[str, Any]:
    # out_dir is a temporary folder: it names no option that changes the numbers.
    return asdict(cfg) | ({"out_dir": None} if isinstance(cfg, FinetuneConfig) else {})


def run_key(name: str, cfg: RunConfig) -> str:
    """A fingerprint of a run: its name and every option that can change its numbers."""
    text = json.dumps({"name": name, "config": _recorded_config(cfg)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record in a results file; a half-written last line (an interrupted run) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def experiment_config(experiment: Experiment, seed: int, overrides: dict[str, Any]) -> RunConfig:
    """The run's config: the row's options, then the caller's (e.g. tiny random offline)."""
    if experiment.baseline:
        overrides = {key: value for key, value in overrides.items() if key in BASELINE_OPTIONS}
        return BaselineConfig(**(BOOK_SPLIT | experiment.options | overrides | {"seed": seed}))
    return FinetuneConfig(**(BOOK_SPLIT | experiment.options | overrides | {"seed": seed}))


def _peak_memory_bytes(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(), "cuda max_memory_allocated for this run"
    # ru_maxrss is in KiB on Linux: the process's peak so far, an upper bound for this run.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process peak RSS so far"


def run_experiments(
    names: Iterable[str],
    seeds: Iterable[int],
    results_file: str | os.PathLike,
    overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every named experiment for every seed, appending one JSON line per finished run.

    A run whose fingerprint is already in the results file is skipped, so an interrupted grid
    resumes where it stopped. Returns the records written by this call.
    """
    overrides = dict(overrides or {})
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        raise OptionError(
            f"unknown experiments {unknown}: list them with `gpt-from-scratch experiments --list`"
        )
    for name in names:  # a missing extra stops the grid before it starts, not hours into it
        if EXPERIMENTS[name].baseline:
            require(EXPERIMENTS[name].options["model"])
    results_file = Path(results_file)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    done = {record["key"] for record in read_results(results_file)}
    written = []
    for name in names:
        for seed in seeds:
            cfg = experiment_config(EXPERIMENTS[name], seed, overrides)
            key = run_key(name, cfg)
            if key in done:
                log(f"{name} seed {seed}: already in {results_file}, skipped")
                continue
            log(f"{name} seed {seed}: running")
            record = _run_one(name, cfg, key)
            _append_line(results_file, json.dumps(record))
            done.add(key)
            written.append(record)
            log(f"{name} seed {seed}: test accuracy {record['test_accuracy'] * 100:.2f}%")
    return written


def _append_line(path: Path, line: str) -> None:
    # A run interrupted mid-write leaves a line without its newline: end it, so ours stays whole.
    ends_cleanly = not path.is_file() or path.stat().st_size == 0 or path.read_bytes()[-1:] == b"\n"
    with path.open("a") as out:  # flushed to disk per run: a crash loses at most the run in flight
        out.write(("" if ends_cleanly else "\n") + line + "\n")
        out.flush()
        os.fsync(out.fileno())


def _run_one(name: str, cfg: RunConfig, key: str) -> dict[str, Any]:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    if isinstance(cfg, BaselineConfig):
        with tempfile.TemporaryDirectory(prefix="gpt-from-scratch-baseline-") as data_dir:
            test_texts = read_splits(cfg, Path(data_dir))["test"]["Text"].tolist()
        start = time.perf_counter()
        metrics = run_baseline(cfg, also_score=reword_all(test_texts))
        wall_seconds = time.perf_counter() - start
        test_labels, reworded_probabilities = metrics["test_labels"], metrics["also_probabilities"]
    else:
        with tempfile.TemporaryDirectory(prefix="gpt-from-scratch-experiment-") as out_dir:
            run_cfg = FinetuneConfig(**(asdict(cfg) | {"out_dir": out_dir}))
            start = time.perf_counter()
            metrics = finetune(run_cfg, log=lambda _: None)
            wall_seconds = time.perf_counter() - start
            test_split = pd.read_csv(
                Path(out_dir) / "data" / "test.csv", dtype={"Text": str}, keep_default_na=False
            )
            test_labels = test_split["Label"].tolist()
            # The saved classifier, read as `gpt-from-scratch classify` reads it.
            classifier, saved = load_for_classifying(out_dir, metrics["device"])
            reworded_texts = reword_all(test_split["Text"].tolist())
            reworded_probabilities = spam_probabilities(reworded_texts, classifier, get_tokenizer(), saved)
    peak, peak_kind = _peak_memory_bytes(metrics["device"])
    reworded_predictions = [int(p > 0.5) for p in reworded_probabilities]
    return {
        "key": key,
        "name": name,
        "seed": cfg.seed,
        "train_accuracy": metrics["train_accuracy"],
        "validation_accuracy": metrics["validation_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "test_predictions": metrics["test_predictions"],
        "test_probabilities": metrics["test_probabilities"],
        "test_labels": test_labels,
        # The same test messages with spammers' edits (rewording.py), the same for every run.
        "reworded_test_accuracy": accuracy(reworded_predictions, test_labels),
        "reworded_test_predictions": reworded_predictions,
        "reworded_test_probabilities": reworded_probabilities,
        "rewording": {"seed": REWORD_SEED, "rate": REWORD_RATE, "edits": sorted(EDITS)},
        "trainable_parameters": metrics["trainable_parameters"],
        "total_parameters": metrics["total_parameters"],
        "training_seconds": metrics["training_seconds"],
        "wall_seconds": wall_seconds,
        "device": metrics["device"],
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "torch": torch.__version__,
        "config": _recorded_config(cfg),
    }


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


def _correct(record: dict[str, Any]) -> list[bool]:
    return [p == y for p, y in zip(record["test_predictions"], record["test_labels"], strict=True)]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else float("nan")


def _format_mean_std(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


@dataclass(frozen=True)
class Summary:
    """One configuration's runs in a results file, sorted by seed: what the report and its plots show."""

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


def report(records: list[dict[str, Any]], alpha: float = 0.05) -> str:
    """A Markdown table: mean ± std over seeds, the published numbers, McNemar's test against row 1."""
    summaries = summarize(records)
    baseline = {r["seed"]: r for s in summaries if s.name == BASELINE for r in s.runs}
    lines = [
        "| experiment | model, weights | runs | train % | validation % | test % | published test % "
        f"| McNemar p vs {BASELINE} (per seed) | reworded test % | Brier / ECE | trainable params "
        "| seconds | device |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    first_with_config: dict[str, str] = {}
    for summary in summaries:
        name, runs = summary.name, summary.runs
        cfg = runs[0]["config"]
        # Overrides can make two rows one configuration (e.g. --model-size tiny on the size rows): say so.
        same = first_with_config.setdefault(json.dumps(cfg | {"seed": None}, sort_keys=True), name)
        label = name if same == name else f"{name} (ran the configuration of {same})"
        model = describe(cfg) if "model_size" not in cfg else f"{cfg['model_size']}, {cfg['weights']}"
        accuracies = {
            split: _format_mean_std(summary.accuracies(split)) for split in ("train", "validation", "test")
        }
        published = f"{summary.published_test:.2f}" if summary.published_test is not None else "-"
        p_values = [
            mcnemar_exact(_correct(baseline[r["seed"]]), _correct(r))
            for r in runs
            if r["seed"] in baseline and name != BASELINE
        ]
        marked = " *" if p_values and all(p < alpha for p in p_values) else ""
        mcnemar = ", ".join(f"{p:.3g}" for p in p_values) + marked if p_values else "-"
        reworded = [r["reworded_test_accuracy"] * 100 for r in runs if "reworded_test_accuracy" in r]
        calibration = summary.calibration()
        brier_ece = f"{calibration[0]:.3f} / {calibration[1]:.3f}" if calibration else "-"
        lines.append(
            f"| {label} | {model} | {len(runs)} | {accuracies['train']} "
            f"| {accuracies['validation']} | {accuracies['test']} | {published} | {mcnemar} "
            f"| {_format_mean_std(reworded) if reworded else '-'} "
            f"| {brier_ece} "
            f"| {runs[0]['trainable_parameters']:,} "
            f"| {summary.mean('wall_seconds'):.1f} | {runs[0]['device']} |"
        )
    lines += [
        "",
        f"Mean ± sample standard deviation over seeds. Published numbers: {REFERENCE_SOURCE}. "
        f"McNemar: exact two-sided test on the paired test predictions of the same seed; * marks "
        f"p < {alpha} for every seed. One test message is 0.33 points. Reworded test: the same test "
        f"messages with spammers' edits ({', '.join(sorted(EDITS))}) on {REWORD_RATE:.0%} of the words "
        f"of four letters or more, seed {REWORD_SEED} (rewording.py). Brier score and expected "
        "calibration error (10 bins) of the test probabilities, mean over seeds (calibration.py); "
        "0 is perfect for both.",
    ]
    return "\n".join(lines) + "\n"
