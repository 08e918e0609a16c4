"""Plots ([plots] extra): the training curves of a finetuning run, as in the book."""

from __future__ import annotations

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
