"""The report of a results file: a Markdown table, written as report.md beside its figures."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .baselines import describe, is_tfidf
from .grid import BASELINE, REFERENCE_SOURCE
from .rewording import EDITS, REWORD_RATE, REWORD_SEED
from .settings import PUBLISHED_CAVEAT, model_size
from .summary import Summary, correct, mcnemar_exact, mean_std, row_one_for, summarize

REPORT_MD = "report.md"


def _format_mean_std(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def _model(config: dict[str, Any]) -> str:
    # The "model, weights" column; a GPT row's model_size None means gpt2-small, or --weights-dir's shape.
    if "model_size" not in config:
        return describe(config)
    return f"{model_size(config) or '--weights-dir'}, {config['weights']}"


def _budget(config: dict[str, Any]) -> tuple[str, str]:
    """The "budget" and "lr" columns: epochs, or --max-steps when set; TF-IDF fits once, with neither."""
    if is_tfidf(config.get("model", "")):
        return "-", "-"
    steps, epochs, lr = config.get("max_steps"), config.get("num_epochs"), config.get("lr")
    if steps is not None:
        budget = f"{steps} steps"
    else:
        budget = "-" if epochs is None else f"{epochs} epoch{'' if epochs == 1 else 's'}"
    return budget, "-" if lr is None else f"{lr:g}"


def report(records: list[dict[str, Any]], alpha: float = 0.05, notes: Sequence[str] = ()) -> str:
    """A Markdown table, one row per name and configuration, and the notes on what it shows.

    Mean ± std over seeds, the published numbers beside runs of the published setting, McNemar's
    test against the row-1 runs with the same overrides; notes (e.g. the results file's) come last.
    """
    summaries = summarize(records)
    lines = [
        "| experiment | model, weights | runs | train % | validation % | test % | published test % "
        "| unseen test % | false positives per 1,000 ham "
        f"| McNemar p vs {BASELINE} (per seed) | reworded test % | Brier / ECE | budget | lr "
        "| trainable params | wall s | device |",
        "| --- " * 17 + "|",
    ]
    notes = list(notes)
    first_with_config: dict[str, str] = {}
    for summary in summaries:
        lines.append(_row(summary, row_one_for(summary, summaries), alpha))
        if summary.duplicates:
            notes.append(
                f"{summary.label}: {summary.duplicates} duplicate(s) ignored (a seed recorded again "
                "with this configuration: the same run twice); the latest in the file is kept."
            )
        # Overrides can make two rows one configuration (e.g. --model-size tiny on the size rows): say so.
        same = first_with_config.setdefault(json.dumps(summary.config, sort_keys=True), summary.label)
        if same != summary.label:
            notes.append(f"{summary.label} ran the same configuration as {same}.")
    lines += [
        "",
        "One row per experiment and configuration: runs of one name with other settings are other "
        "rows, never pooled. A label names the options that differ from the experiment's own "
        "(`experiments --list`), as the flags that set them; (--dedupe) marks runs whose repeated "
        "messages were dropped before splitting, the others ran the book's split, whose test set shares "
        "messages with its training set. Mean ± sample standard deviation over "
        f"seeds. Published numbers: {REFERENCE_SOURCE}; {PUBLISHED_CAVEAT}; '-' elsewhere. "
        "Unseen test: the accuracy on the test messages that are not training messages, up to "
        "whitespace and case (their number in brackets). False positives per 1,000 ham: ham flagged "
        "as spam among the test set's ham and the ham that balancing set aside (minus any text seen "
        "in training), at the model's own decision (P(spam) > 0.5); one seed gives its 95% Wilson "
        "interval, several the mean ± std; '-': recorded before these were measured. "
        "McNemar: exact two-sided test on the paired test predictions of the same seed, against "
        f"the {BASELINE} runs with the same overrides (model size, weights, budget, learning rate; "
        f"'-' where none ran); * marks p < {alpha} for every seed. One test message is 0.33 points. "
        f"Reworded test: the same test messages with spammers' edits ({', '.join(sorted(EDITS))}) "
        f"on {REWORD_RATE:.0%} of the words of four letters or more, seed {REWORD_SEED} "
        "(rewording.py). Brier score and expected calibration error (10 bins) of the test "
        "probabilities, mean over seeds (calibration.py); 0 is perfect for both. Budget: passes "
        "over the training set, or with --max-steps the batches after which training stopped (if "
        "the epochs did not end it first); lr: AdamW's learning rate; TF-IDF rows fit once ('-'). "
        "Wall s: the runner's wall-clock seconds per run (data, model, training, evaluation, the "
        "reworded test), mean over seeds; time-vs-accuracy.png plots the same seconds.",
    ]
    if notes:
        lines += ["", "Notes:", "", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _row(summary: Summary, row_one: Summary | None, alpha: float) -> str:
    runs = summary.runs
    accuracies = {
        split: _format_mean_std(summary.accuracies(split)) for split in ("train", "validation", "test")
    }
    published = f"{summary.published_test:.2f}" if summary.published_test is not None else "-"
    paired = {r["seed"]: r for r in row_one.runs} if row_one else {}
    p_values = [mcnemar_exact(correct(paired[r["seed"]]), correct(r)) for r in runs if r["seed"] in paired]
    marked = " *" if p_values and all(p < alpha for p in p_values) else ""
    mcnemar = ", ".join(f"{p:.3g}" for p in p_values) + marked if p_values else "-"
    reworded = [r["reworded_test_accuracy"] * 100 for r in runs if "reworded_test_accuracy" in r]
    calibration = summary.calibration()
    brier_ece = f"{calibration[0]:.3f} / {calibration[1]:.3f}" if calibration else "-"
    budget, lr = _budget(summary.config)
    return (
        f"| {summary.label} | {_model(summary.config)} | {len(runs)} | {accuracies['train']} "
        f"| {accuracies['validation']} | {accuracies['test']} | {published} | {_unseen(runs)} "
        f"| {_false_positives(runs)} | {mcnemar} "
        f"| {_format_mean_std(reworded) if reworded else '-'} | {brier_ece} | {budget} | {lr} "
        f"| {runs[0]['trainable_parameters']:,} | {summary.seconds():.1f} | {runs[0]['device']} |"
    )


def _unseen(runs: list[dict[str, Any]]) -> str:
    """Accuracy on the test messages not in training (up to whitespace and case), and how many."""
    leakage = [r["leakage"] for r in runs if r.get("leakage")]
    values = [
        x["unseen_normalised_accuracy"] * 100 for x in leakage if x["unseen_normalised_accuracy"] is not None
    ]
    if not values:
        return "-"
    counts = "/".join(map(str, sorted({x["unseen_normalised_messages"] for x in leakage})))
    share = _measured_runs(len(values), len(runs))
    return f"{_format_mean_std(values)} ({counts}{', ' + share if share else ''})"


def _measured_runs(measured: int, runs: int) -> str:
    """'2 of 3 runs' where older records of a row hold no leakage or natural figures, else ''."""
    return "" if measured == runs else f"{measured} of {runs} runs"


def _false_positives(runs: list[dict[str, Any]]) -> str:
    """Ham flagged as spam per 1,000, at the natural distribution: one run with its interval."""
    natural = [
        r["natural"] for r in runs if r.get("natural") and r["natural"].get("false_positive_rate") is not None
    ]
    if not natural:
        return "-"
    share = _measured_runs(len(natural), len(runs))
    if len(natural) == 1:
        low, high = natural[0]["false_positives_per_1000_interval"]
        detail = f"{low:.1f}-{high:.1f}" + (f", {share}" if share else "")
        return f"{natural[0]['false_positives_per_1000']:.1f} ({detail})"
    mean, std = mean_std([x["false_positives_per_1000"] for x in natural])
    return f"{mean:.1f} ± {std:.1f}" + (f" ({share})" if share else "")


def write_report(
    records: list[dict[str, Any]],
    out_dir: str | Path,
    note: Callable[[str], None] = print,
    notes: Sequence[str] = (),
) -> tuple[str, list[Path]]:
    """Write report.md and, if matplotlib is installed, its figures to out_dir; return the table and paths.

    notes go under the table (e.g. read_results' warning about a half-written line); note is told
    what could not be written.
    """
    table = report(records, notes=notes)
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
