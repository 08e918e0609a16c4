"""The report of a results file: a Markdown table, written as report.md beside its figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..baselines import describe
from ..rewording import EDITS, REWORD_RATE, REWORD_SEED
from .grid import BASELINE, REFERENCE_SOURCE
from .summary import Summary, correct, mcnemar_exact, mean_std, summarize

REPORT_MD = "report.md"


def _format_mean_std(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def _model(config: dict[str, Any]) -> str:
    # The "model, weights" column; a GPT row's model_size None means gpt2-small, or --weights-dir's shape.
    if "model_size" not in config:
        return describe(config)
    size = config["model_size"] or ("gpt2-small" if config.get("weights_dir") is None else "--weights-dir")
    return f"{size}, {config['weights']}"


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
        # Overrides can make two rows one configuration (e.g. --model-size tiny on the size rows): say so.
        config = json.dumps(summary.runs[0]["config"] | {"seed": None}, sort_keys=True)
        same = first_with_config.setdefault(config, summary.name)
        label = summary.name if same == summary.name else f"{summary.name} (ran the configuration of {same})"
        lines.append(_row(summary, label, baseline, alpha))
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


def _row(summary: Summary, label: str, baseline: dict[int, dict[str, Any]], alpha: float) -> str:
    name, runs = summary.name, summary.runs
    accuracies = {
        split: _format_mean_std(summary.accuracies(split)) for split in ("train", "validation", "test")
    }
    published = f"{summary.published_test:.2f}" if summary.published_test is not None else "-"
    p_values = [
        mcnemar_exact(correct(baseline[r["seed"]]), correct(r))
        for r in runs
        if r["seed"] in baseline and name != BASELINE
    ]
    marked = " *" if p_values and all(p < alpha for p in p_values) else ""
    mcnemar = ", ".join(f"{p:.3g}" for p in p_values) + marked if p_values else "-"
    reworded = [r["reworded_test_accuracy"] * 100 for r in runs if "reworded_test_accuracy" in r]
    calibration = summary.calibration()
    brier_ece = f"{calibration[0]:.3f} / {calibration[1]:.3f}" if calibration else "-"
    return (
        f"| {label} | {_model(runs[0]['config'])} | {len(runs)} | {accuracies['train']} "
        f"| {accuracies['validation']} | {accuracies['test']} | {published} | {mcnemar} "
        f"| {_format_mean_std(reworded) if reworded else '-'} "
        f"| {brier_ece} "
        f"| {runs[0]['trainable_parameters']:,} "
        f"| {summary.mean('wall_seconds'):.1f} | {runs[0]['device']} |"
    )


def write_report(
    records: list[dict[str, Any]], out_dir: str | Path, note: Callable[[str], None] = print
) -> tuple[str, list[Path]]:
    """Write report.md and, if matplotlib is installed, its figures to out_dir; return the table and paths."""
    table = report(records)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / REPORT_MD]
    written[0].write_text(table, encoding="utf-8")  # the table holds ±
    try:
        from .figures import plot_report  # matplotlib: the optional [plots] extra
    except ImportError:
        note('matplotlib is not installed: no plots (pip install "gpt-from-scratch[plots]")')
    else:
        written += plot_report(summarize(records), out_dir)
    return table, written
