"""The report's figures ([plots] extra): test accuracy per configuration, and time against accuracy."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files, never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .summary import Summary, mean_std  # noqa: E402

ACCURACY_PNG = "accuracy.png"
TIME_VS_ACCURACY_PNG = "time-vs-accuracy.png"


def plot_report(summaries: list[Summary], out_dir: str | Path) -> list[Path]:
    """Save the report's figures to out_dir; return their paths.

    accuracy.png: test accuracy per configuration, mean ± std over seeds, the published reference
    accuracy as a marker where the row has one. time-vs-accuracy.png: mean training seconds against
    mean test accuracy, one point per configuration. One entry per summary, in the table's order.
    """
    if not summaries:
        raise ValueError("no experiment records to plot")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in summaries]
    means, stds = zip(*(_mean_std(s.accuracies("test")) for s in summaries), strict=True)
    return [
        _plot_accuracy(names, means, stds, [s.published_test for s in summaries], out_dir / ACCURACY_PNG),
        _plot_time_vs_accuracy(
            names, [s.mean("training_seconds") for s in summaries], means, out_dir / TIME_VS_ACCURACY_PNG
        ),
    ]


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean, std = mean_std(values)
    return mean, 0.0 if math.isnan(std) else std  # one seed: no error bar


def _plot_accuracy(
    names: list[str], means: tuple[float, ...], stds: tuple[float, ...], published: list, path: Path
) -> Path:
    # One row per configuration, top to bottom in the table's order: names stay readable.
    y = np.arange(len(names))[::-1]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.3 * len(names)))
    ax.errorbar(means, y, xerr=stds, fmt="o", capsize=3, label="ours: mean ± std over seeds")
    marked = [(p, yi) for p, yi in zip(published, y, strict=True) if p is not None]
    if marked:
        ax.scatter(*zip(*marked, strict=True), marker="x", color="tab:red", zorder=3, label="published")
    ax.set_yticks(y, names)
    ax.set_xlabel("Test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_time_vs_accuracy(
    names: list[str], seconds: list[float], accuracies: tuple[float, ...], path: Path
) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(seconds, accuracies)
    for name, x, y in zip(names, seconds, accuracies, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize="x-small")
    if min(seconds) > 0:  # runs span seconds (TF-IDF) to hours (gpt2-xl)
        ax.set_xscale("log")
    ax.margins(x=0.25)  # room for the rightmost names
    ax.set_xlabel("Training time (s, mean over seeds)")
    ax.set_ylabel("Test accuracy (%, mean over seeds)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
