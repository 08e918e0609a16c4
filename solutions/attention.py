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
    """Return (context, attention weights) of softmax(Q Kᵀ / √d_head) V.

    Shapes: queries, keys, values are (..., num_tokens, head_dim): any leading dimensions (batch,
    heads) come along for the ride. mask is None or a boolean (num_tokens, num_tokens) tensor that
    is True where a query must NOT see a key. Return context (..., num_tokens, head_dim) and
    weights (..., num_tokens, num_tokens), where each row of weights sums to 1.

    Steps: scores = Q Kᵀ; if a mask is given, hide the masked scores with apply_mask (exercise 2);
    scale by 1/√head_dim; softmax over the keys; multiply by V.

    Contract (what the tests hold you to besides the values): queries, keys, values and mask are
    left unchanged (no in-place operations such as transpose_); torch's global settings (grad mode,
    default device and dtype) are left alone; context and weights are on the inputs' device with
    their dtype (float64 in, float64 out); the gradient flows back to queries, keys and values.
    Any leading dimensions, a single token, and scores far past exp's float32 range all work.

    Hint: `keys.transpose(-2, -1)` transposes the last two dimensions whatever the leading ones are.
    Which dimension of the scores holds the keys?
    """
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
    """Split the last dimension into heads: (batch, tokens, d_out) -> (batch, heads, tokens, head_dim).

    head_dim = d_out // num_heads. Head h must hold features h*head_dim ... (h+1)*head_dim - 1 of
    every token, which is what you get by viewing d_out as (num_heads, head_dim).

    Contract: x is left unchanged; the result is on x's device with x's dtype, and the gradient
    flows back to x. A batch of one and a single token keep their dimensions (no squeeze).

    Hint: `.view(batch, tokens, num_heads, head_dim)` first, then swap the tokens and heads axes.
    Viewing straight to (batch, heads, tokens, head_dim) gives the right shape but mixes up tokens.
    """
    batch, num_tokens, d_out = x.shape
    head_dim = d_out // num_heads
    x = x.view(batch, num_tokens, num_heads, head_dim)  # (batch, tokens, heads, head_dim)
    return x.transpose(1, 2)  # (batch, heads, tokens, head_dim)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Undo split_heads: (batch, heads, tokens, head_dim) -> (batch, tokens, heads * head_dim).

    Contract: x is left unchanged (no transpose_); the result is on x's device with x's dtype, and
    the gradient flows back to x.

    Hint: swap the heads and tokens axes back before you flatten; after a transpose the tensor is
    not contiguous, so use `.contiguous().view(...)` or `.reshape(...)`.
    """
    batch, num_heads, num_tokens, head_dim = x.shape
    x = x.transpose(1, 2)  # (batch, tokens, heads, head_dim)
    return x.contiguous().view(batch, num_tokens, num_heads * head_dim)
