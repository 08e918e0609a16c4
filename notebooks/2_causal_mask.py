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
# # Exercise 2: your causal mask
#
# Open this when `pytest exercises/ -m causal_mask` passes. It draws the mask your `causal_mask`
# builds for a short message (True where a token must not look: the future), then what your
# `apply_mask` does to attention scores: after the softmax, the masked keys get weight 0.

# %%
import matplotlib.pyplot as plt
import torch

from gpt_from_scratch import seam
from gpt_from_scratch.course.notebook import token_labels, yours
from gpt_from_scratch.predict.tokenizer import get_tokenizer

tokenizer = get_tokenizer()
ids = tokenizer.encode("Call now to claim your free prize")
tokens = token_labels(ids, tokenizer)
mask = yours(seam.causal_mask, len(ids))


# %%
def grid(ax, values: torch.Tensor, title: str, fmt) -> None:
    """A (tokens, tokens) picture with each cell's value written in it."""
    ax.imshow(values.float(), cmap="Greys" if values.dtype == torch.bool else "viridis")
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            text = fmt(values[row, column].item())
            ax.text(column, row, text, ha="center", va="center", color="tab:red", fontsize=8)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90)
    ax.set_yticks(range(len(tokens)), tokens)
    ax.set_xlabel("key: the token looked at")
    ax.set_ylabel("query: the token looking")
    ax.set_title(title)


if mask is not None:
    fig, ax = plt.subplots(figsize=(6, 6))
    grid(ax, mask, "Your causal mask (True: hidden)", lambda v: "T" if v else "")
    plt.show()

# %% [markdown]
# Your `apply_mask` on random scores, and the softmax of what it returns.

# %%
scores = torch.randn(len(ids), len(ids), generator=torch.Generator().manual_seed(0))
masked = yours(seam.apply_mask, scores, mask) if mask is not None else None
if masked is not None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    grid(axes[0], masked, "scores after your apply_mask", lambda v: f"{v:.1f}")
    grid(axes[1], torch.softmax(masked, dim=-1), "softmax over the keys", lambda v: f"{v:.2f}")
    fig.tight_layout()
    plt.show()
