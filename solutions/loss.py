"""Concept 4: the classification loss. Only the last token has seen the whole message."""

from __future__ import annotations

import torch
from torch import nn


def calc_loss_batch(
    input_batch: torch.Tensor,
    target_batch: torch.Tensor,
    model: nn.Module,
    device: torch.device | str,
) -> torch.Tensor:
    """Mean cross-entropy between the last token's logits and the class labels of one batch."""
    input_batch, target_batch = input_batch.to(device), target_batch.to(device)
    logits = model(input_batch)  # (batch, num_tokens, num_classes)
    # Under the causal mask the last position is the only one that attends to every token.
    last_token_logits = logits[:, -1, :]  # (batch, num_classes)
    return torch.nn.functional.cross_entropy(last_token_logits, target_batch)
