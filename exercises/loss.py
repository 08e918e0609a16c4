"""Exercise 4: the classification loss. Only the last token has seen the whole message.

Book: chapter 6, section 6.6 (calculating the classification loss and accuracy). Check your work
with `pytest exercises/ -m loss`.
"""

from __future__ import annotations

import torch
from torch import nn


def calc_loss_batch(
    input_batch: torch.Tensor,
    target_batch: torch.Tensor,
    model: nn.Module,
    device: torch.device | str,
) -> torch.Tensor:
    """Return the mean cross-entropy between the last token's logits and the labels of one batch.

    input_batch: (batch, num_tokens) token ids; target_batch: (batch,) class labels. Move both to
    `device`, run the model to get logits of shape (batch, num_tokens, num_classes), keep the
    last position only, and compare with the labels. Return a scalar tensor that can backpropagate.

    Contract: a scalar tensor on `device`, with the logits' dtype, connected to the model's
    parameters (its gradient is checked against the reference). It neither calls backward() nor
    steps an optimizer (the training loop does both): the model's weights, .grad, requires_grad and
    training mode are left as they were, and so are the inputs and torch's global settings.

    Hint: with the causal mask, position -1 is the only one that has attended to every token.
    `torch.nn.functional.cross_entropy` expects (batch, num_classes) logits.
    """
    raise NotImplementedError("exercises/loss.py::calc_loss_batch")
