"""Padding that costs nothing: cut each batch to its own longest message when padding is never read.

The book pads every message to the longest training message (120 tokens; the mean is ~31), and its
classifier reads the last position, which is padding for most messages, so that padding is part
of the answer. A classifier that reads each message's last real token (position="flexible"), the
first token, or the mean of the real tokens, under the causal mask, never sees the padding after a
message: those columns can be dropped from a batch without changing any number it reads.
"""

from __future__ import annotations

import torch
from torch.utils.data import default_collate

from ..predict.tokenizer import PAD_TOKEN_ID


def padding_is_never_read(position: str, pooling: str, causal: bool) -> bool:
    """True when the classifier's output cannot depend on trailing padding, so batches can be trimmed."""
    reads_real_tokens_only = (pooling == "token" and position in ("flexible", "first")) or pooling == "mean"
    return causal and reads_real_tokens_only  # without the mask, real tokens attend to the padding


def trim_trailing_padding(input_batch: torch.Tensor, pad_token_id: int = PAD_TOKEN_ID) -> torch.Tensor:
    """Drop the columns that are padding in every row: (batch, max_length) -> (batch, longest row)."""
    is_real = (input_batch != pad_token_id).any(dim=0)  # (max_length,): a real token in some row
    length = int(is_real.nonzero().max()) + 1 if is_real.any() else 1
    return input_batch[:, :length]


def collate_trimmed(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """default_collate, then trim_trailing_padding: the DataLoader's collate_fn for per-batch padding."""
    input_batch, target_batch = default_collate(samples)
    return trim_trailing_padding(input_batch), target_batch
