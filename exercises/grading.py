"""The five exercises in order, with their points: the one place the scoreboard and grading read."""

from __future__ import annotations

EXERCISES: dict[str, tuple[str, int]] = {
    # marker / file name: (title, points)
    "attention": ("1. scaled dot-product and multi-head attention", 30),
    "causal_mask": ("2. the causal mask", 20),
    "classification_head": ("3. the classification head, and freezing", 20),
    "loss": ("4. the last-token loss", 15),
    "accuracy": ("5. accuracy", 15),
}
