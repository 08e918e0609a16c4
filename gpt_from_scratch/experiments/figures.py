"""The report's figures ([plots] extra): test accuracy per configuration, and time against accuracy."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files, never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .settings import PUBLISHED_CAVEAT  # noqa: E402
from .summary import Summary, mean_std  # noqa: E402

ACCURACY_PNG = "accuracy.png"
TIME_VS_ACCURACY_PNG = "time-vs-accuracy.png"


def plot_report(summaries: list[Summary], out_dir: str | Path) -> list[Path]:
    """Save the report's figures to out_dir; return their paths.

    accuracy.png: test accuracy per configuration, mean ± std over seeds, the published accuracy as
    a marker beside runs of the published setting only. time-vs-accuracy.png: the table's wall
    seconds against mean test accuracy, one point per configuration. One entry per summary, labelled
    as in the table, in the table's order.
    """
    if not summaries:
        raise ValueError("no experiment records to plot")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [s.label for s in summaries]
    means, stds = zip(*(_mean_std(s.accuracies("test")) for s in summaries), strict=True)
    # A reference row run in another setting (tiny, random, fewer steps) gets no marker: say why.
    hidden = any(s.reference_test is not None and s.published_test is None for s in summaries)
    return [
        _plot_accuracy(
            labels, means, stds, [s.published_test for s in summaries], hidden, out_dir / ACCURACY_PNG
        ),
        _plot_time_vs_accuracy(
            labels, [s.seconds() for s in summaries], means, out_dir / TIME_VS_ACCURACY_PNG
        ),
    ]


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean, std = mean_std(values)
    return mean, 0.0 if math.isnan(std) else std  # one seed: no error bar


def _plot_accuracy(
    labels: list[str],
    means: tuple[float, ...],
    stds: tuple[float, ...],
    published: list[float | None],
    hidden: bool,
    path: Path,
) -> Path:
    # One row per configuration, top to bottom in the table's order: labels stay readable.
    y = np.arange(len(labels))[::-1]
    width = 4 + 0.07 * max(map(len, labels))
    caption = textwrap.fill(PUBLISHED_CAVEAT[0].upper() + PUBLISHED_CAVEAT[1:] + ".", int(width * 13))
    caption_lines = caption.count("\n") + 1 if hidden else 0
    height = 1.4 + 0.3 * len(labels) + 0.2 * caption_lines
    fig, ax = plt.subplots(figsize=(width, height))
    ax.errorbar(means, y, xerr=stds, fmt="o", capsize=3, label="ours: mean ± std over seeds")
    marked = [(p, yi) for p, yi in zip(published, y, strict=True) if p is not None]
    if marked:
        ax.scatter(*zip(*marked, strict=True), marker="x", color="tab:red", zorder=3, label="published")
    ax.set_yticks(y, labels)
    ax.set_xlabel("Test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    # Above the plot, not inside it, where it could cover a row's error bar.
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize="small", frameon=False)
    if hidden:
        fig.text(0.01, 0.01, caption, ha="left", va="bottom", fontsize="small")
    fig.tight_layout(rect=(0, 0.2 * caption_lines / height + 0.01 * bool(hidden), 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_time_vs_accuracy(
    labels: list[str], seconds: list[float], accuracies: tuple[float, ...], path: Path
) -> Path:
    # Points are numbered, in the table's order; the key beside them gives each number's label in full.
    key_width = 0.06 * max(len(f"{len(labels)}  {label}") for label in labels)
    fig, (ax, key) = plt.subplots(1, 2, figsize=(6 + key_width, 5), width_ratios=(6, key_width))
    ax.scatter(seconds, accuracies)
    for number, (x, y) in enumerate(zip(seconds, accuracies, strict=True), start=1):
        ax.annotate(str(number), (x, y), textcoords="offset points", xytext=(4, 3), fontsize="small")
    if min(seconds) > 0:  # runs span seconds (TF-IDF) to hours (gpt2-xl)
        ax.set_xscale("log")
    ax.margins(x=0.1)
    ax.set_xlabel("Wall s per run, mean over seeds (the table's wall s)")
    ax.set_ylabel("Test accuracy (%, mean over seeds)")
    ax.grid(alpha=0.3)
    key.axis("off")
    lines = [f"{number}  {label}" for number, label in enumerate(labels, start=1)]
    key.text(0, 1, "\n".join(lines), va="top", fontsize="small", linespacing=1.6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
