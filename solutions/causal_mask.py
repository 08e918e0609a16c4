"""Concept 2: the causal mask. A token may attend to itself and to the tokens before it, never after."""

from __future__ import annotations

import torch


def causal_mask(num_tokens: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (num_tokens, num_tokens) mask, True above the diagonal: the future a query must not see."""
    ones = torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=device)
    return torch.triu(ones, diagonal=1)


def apply_mask(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the attention scores with masked positions set to -inf, so softmax gives them weight 0."""
    # scores: (..., queries, keys); mask: (queries, keys), broadcast over the leading dimensions
    return scores.masked_fill(mask, float("-inf"))
