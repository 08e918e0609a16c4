"""The runner: every named experiment for every seed, one record per run, resumable.

Each run trains once and hands back everything the report needs: accuracies, the test predictions
and probabilities, and P(spam) of a reworded copy of the test set (rewording.py), scored in memory by
the run itself, so nothing is read back from disk. GPT rows run `finetune`, baseline rows
`run_baseline`; both take the rewording as `also_score` and return the same metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from ..config import FinetuneConfig, check_config
from ..errors import OptionError
from ..evaluation import RunMetrics, accuracy
from ..finetune import finetune
from .baselines import BaselineConfig, check_baseline_config, require, run_baseline
from .grid import EXPERIMENTS, RunConfig, experiment_config
from .results import append_record, drop_half_written_line, read_results
from .rewording import EDITS, REWORD_RATE, REWORD_SEED, reword_all


def _recorded_config(cfg: RunConfig) -> dict[str, Any]:
    """The options a record keeps: all but where the output goes (no number depends on it)."""
    config = dataclasses.asdict(cfg)
    if isinstance(cfg, FinetuneConfig):
        config["out_dir"] = None  # a temporary folder
        del config["overwrite"]
    return config


def run_key(name: str, cfg: RunConfig) -> str:
    """A fingerprint of a run: its name and every option that can change its numbers."""
    text = json.dumps({"name": name, "config": _recorded_config(cfg)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_experiments(
    names: Iterable[str],
    seeds: Iterable[int],
    results_file: str | os.PathLike,
    overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every named experiment for every seed, appending one JSON line per finished run.

    A run whose fingerprint is already in the results file is skipped, so an interrupted grid
    resumes where it stopped; a line of the file that holds no record stops it before any run
    (results.py). Returns the records written by this call.
    """
    names, seeds = list(names), list(seeds)
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        raise OptionError(
            f"unknown experiments {unknown}: list them with `gpt-from-scratch experiments --list`"
        )
    runs = [
        (name, experiment_config(EXPERIMENTS[name], seed, overrides or {}))
        for name in names
        for seed in seeds
    ]
    for _, cfg in runs:  # a bad option or a missing extra stops the grid before it starts, not hours into it
        if isinstance(cfg, BaselineConfig):
            check_baseline_config(cfg)
            require(cfg.model)
        else:
            check_config(cfg)
    results_file = Path(results_file)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    half_written = drop_half_written_line(results_file)
    if half_written is not None:
        log(
            f"{results_file} line {half_written} was half-written by an interrupted run: removed "
            "(it held no whole record), so the next record starts a line of its own"
        )
    done = {record["key"] for record in read_results(results_file, warn=log)}
    written = []
    for name, cfg in runs:
        key = run_key(name, cfg)
        if key in done:
            log(f"{name} seed {cfg.seed}: already in {results_file}, skipped")
            continue
        log(f"{name} seed {cfg.seed}: running")
        record = {"key": key} | _run_one(name, cfg)
        append_record(results_file, record)
        done.add(key)
        written.append(record)
        log(f"{name} seed {cfg.seed}: test accuracy {record['test_accuracy'] * 100:.2f}%")
    return written


def _finetune_for_the_record(cfg: FinetuneConfig, also_score: Callable[[list[str]], list[str]]) -> RunMetrics:
    # The runner keeps only the metrics: the saved classifier goes with the temporary folder.
    with tempfile.TemporaryDirectory(prefix="gpt-from-scratch-experiment-") as out_dir:
        run_cfg = dataclasses.replace(cfg, out_dir=out_dir)
        return finetune(run_cfg, log=lambda _: None, also_score=also_score)


def _run_one(name: str, cfg: RunConfig) -> dict[str, Any]:
    """Train one configuration and return its record (without its key)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    train = run_baseline if isinstance(cfg, BaselineConfig) else _finetune_for_the_record
    start = time.perf_counter()
    metrics = train(cfg, also_score=reword_all)
    wall_seconds = time.perf_counter() - start
    peak, peak_kind = _peak_memory_bytes(metrics.device)
    test_labels, reworded_probabilities = metrics.test_labels, metrics.also_probabilities
    evaluation = metrics.evaluation
    reworded_predictions = [int(p > 0.5) for p in reworded_probabilities]
    return {
        "name": name,
        "seed": cfg.seed,
        "train_accuracy": metrics.train_accuracy,
        "validation_accuracy": metrics.validation_accuracy,
        "test_accuracy": metrics.test_accuracy,
        "test_predictions": metrics.test_predictions,
        "test_probabilities": metrics.test_probabilities,
        "test_labels": test_labels,
        # The same test messages with spammers' edits (rewording.py), the same for every run.
        "reworded_test_accuracy": accuracy(reworded_predictions, test_labels),
        "reworded_test_predictions": reworded_predictions,
        "reworded_test_probabilities": reworded_probabilities,
        "rewording": {"seed": REWORD_SEED, "rate": REWORD_RATE, "edits": sorted(EDITS)},
        # The test messages not in training, and the ham balancing set aside (evaluation/).
        "leakage": evaluation["leakage"],
        "natural": evaluation["natural"],
        "trainable_parameters": metrics.trainable_parameters,
        "total_parameters": metrics.total_parameters,
        "training_seconds": metrics.training_seconds,
        "wall_seconds": wall_seconds,
        "device": metrics.device,
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "torch": torch.__version__,
        "config": _recorded_config(cfg),
    }


def _peak_memory_bytes(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(), "cuda max_memory_allocated for this run"
    # ru_maxrss is in KiB on Linux: the process's peak so far, an upper bound for this run.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process peak RSS so far"
