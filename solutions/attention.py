"""Concept 1: scaled dot-product attention, and the reshapes that run it on many heads at once."""

from __future__ import annotations

import math

import torch

from .causal_mask import apply_mask


def scaled_dot_product_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return softmax(Q Kᵀ / √d_head) V and the attention weights; mask is True where a key is hidden."""
    # queries, keys, values: (..., num_tokens, head_dim)
    head_dim = keys.shape[-1]
    scores = queries @ keys.transpose(-2, -1)  # (..., num_tokens, num_tokens)
    if mask is not None:
        scores = apply_mask(scores, mask)
    # Dividing by √head_dim keeps the scores' variance near 1, so softmax does not saturate.
    weights = torch.softmax(scores / math.sqrt(head_dim), dim=-1)
    context = weights @ values  # (..., num_tokens, head_dim)
    return context, weights


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Split the last dimension into heads: (batch, tokens, d_out) -> (batch, heads, tokens, head_dim)."""
    batch, num_tokens, d_out = x.shape
    head_dim = d_out // num_heads
    x = x.view(batch, num_tokens, num_heads, head_dim)  # (batch, tokens, heads, head_dim)
    return x.transpose(1, 2)  # (batch, heads, tokens, head_dim)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Undo split_heads: (batch, heads, tokens, head_dim) -> (batch, tokens, heads * head_dim)."""
    batch, num_heads, num_tokens, head_dim = x.shape
    x = x.transpose(1, 2)  # (batch, tokens, heads, head_dim)
    return x.contiguous().view(batch, num_tokens, num_heads * head_dim)
