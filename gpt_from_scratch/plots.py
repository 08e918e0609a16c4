"""Plots ([plots] extra): a finetuning run's training curves, as in the book, and the evaluation plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files, never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_values(
    num_epochs: int,
    examples_seen: int,
    train_values: list[float],
    val_values: list[float],
    label: str,
    path: str | Path,
) -> Path:
    """Save a PNG of train and validation curves (e.g. loss, accuracy)."""
    epochs = np.linspace(0, num_epochs, len(train_values))
    fig, ax1 = plt.subplots(figsize=(5, 3))
    ax1.plot(epochs, train_values, label=f"Training {label}")
    ax1.plot(epochs, val_values, linestyle="-.", label=f"Validation {label}")
    ax1.set_xlabel("Epochs")
    ax1.set_ylabel(label.capitalize())
    ax1.legend()
    # A second x-axis in examples seen; the invisible plot only aligns its ticks with the epochs.
    ax2 = ax1.twiny()
    ax2.plot(np.linspace(0, examples_seen, len(train_values)), train_values, alpha=0)
    ax2.set_xlabel("Examples seen")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion_matrix(confusion: list[list[int]], names: Sequence[str], path: str | Path) -> Path:
    """Save a PNG of a confusion matrix: rows the true class, columns the predicted one, counts in cells."""
    counts = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 1.2 * len(names) + 1.5))
    ax.imshow(counts, cmap="Blues")
    ticks = range(len(names))
    ax.set_xticks(ticks, labels=names)
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    for (row, column), count in np.ndenumerate(counts):
        # White text on the dark cells, black on the light ones.
        dark = count > counts.max() / 2
        ax.text(column, row, str(count), ha="center", va="center", color="white" if dark else "black")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_precision_recall(curve: list[dict], path: str | Path, threshold: float, label: str) -> Path:
    """Save a PNG of precision (at the natural positive share) against recall, marking the threshold in use.

    label names that threshold in the legend, e.g. "P(spam) > 0.5, the most probable class".
    """
    points = [p for p in curve if p["precision"] is not None and p["recall"] is not None]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([p["recall"] for p in points], [p["precision"] for p in points], marker=".")
    # The threshold flags the same messages as the lowest curve threshold at or above it.
    above = [p for p in curve if p["threshold"] >= threshold]
    chosen = min(above, key=lambda p: p["threshold"]) if above else None
    if chosen is not None and chosen in points:
        ax.plot(chosen["recall"], chosen["precision"], "o", color="red", label=label)
        ax.legend()
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision at the natural share")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
