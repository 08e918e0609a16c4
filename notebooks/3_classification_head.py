# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 3: what your head swap and freezing leave trainable
#
# Open this when `pytest exercises/ -m classification_head` passes. It builds the tiny GPT-2, swaps
# its language-model head for a 2-class head with your `replace_head`, freezes it with your
# `freeze_all_but` for each choice, and counts the parameters left trainable in each part of the model.

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch

from gpt_from_scratch import seam
from gpt_from_scratch.course.notebook import yours
from gpt_from_scratch.model import GPTModel, model_config

CHOICES = ["last_layer", "last_block", "last_two_blocks", "all"]  # the book's chapter 6 experiments


def part(name: str) -> str:
    """The part of the model a parameter belongs to: 'trf_blocks.1.att.W_query.weight' -> 'block 2'."""
    first, *rest = name.split(".")
    return f"block {int(rest[0]) + 1}" if first == "trf_blocks" else first


def trainable_counts(choice: str) -> dict[str, int] | None:
    """Trainable parameters per part after your replace_head(model, 2) and freeze_all_but(model, choice)."""
    torch.manual_seed(0)
    model = seam.replace_head(GPTModel(model_config("tiny")), 2)
    model = seam.freeze_all_but(model, choice)
    counts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        counts[part(name)] = counts.get(part(name), 0) + (parameter.numel() if parameter.requires_grad else 0)
    return counts


rows = {}
for choice in CHOICES:
    counts = yours(trainable_counts, choice)
    if counts is None:
        break
    rows[choice] = counts
table = pd.DataFrame(rows).T if rows else None
if table is not None:
    print(table.to_string())

# %%
if table is not None:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.imshow(table.to_numpy() > 0, cmap="Greens", vmin=0, vmax=1.5, aspect="auto")
    for row, choice in enumerate(table.index):
        for column, name in enumerate(table.columns):
            ax.text(column, row, f"{table.loc[choice, name]:,}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(table.columns)), table.columns)
    ax.set_yticks(range(len(table.index)), [f"{c}\n({table.loc[c].sum():,} trainable)" for c in table.index])
    ax.set_title("Trainable parameters after your replace_head and freeze_all_but (green: trains)")
    fig.tight_layout()
    plt.show()
