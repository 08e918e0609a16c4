"""What the classifier reads: the last token (the book), the first, each row's last real token, or a mean.

The learner's loss and accuracy (concepts 4 and 5) always read the last position of model(input).
Rather than write a second loss for every option, TokenSelector wraps the model so that its output
has a single position holding the chosen vector's logits: the unchanged last-token loss then reads
the right thing. It runs the transformer once and the head on one vector per row, not on every token.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from .tokenizer import PAD_TOKEN_ID

POSITIONS = ("last", "first", "flexible")
POOLINGS = ("token", "mean", "mean_with_padding")


def check_choice(position: str, pooling: str) -> None:
    """Raise ValueError for an unknown position or pooling, or for a combination that means nothing."""
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if pooling != "token" and position != "last":
        raise ValueError(
            f"pooling={pooling!r} averages over the tokens, so position={position!r} would be ignored: "
            "leave position at 'last', or use pooling='token'"
        )


def last_real_positions(input_batch: torch.Tensor, pad_token_id: int = PAD_TOKEN_ID) -> torch.Tensor:
    """Index of each row's last token before its trailing run of padding (the last index if none)."""
    num_tokens = input_batch.shape[1]  # input_batch: (batch, num_tokens)
    is_pad = input_batch == pad_token_id
    # cumprod over the reversed row stays 1 only while every token from the end so far is padding.
    trailing_pads = is_pad.flip(1).long().cumprod(dim=1).sum(dim=1)  # (batch,)
    # A row of padding only has no real token: read its first position rather than index -1.
    return (num_tokens - 1 - trailing_pads).clamp(min=0)  # (batch,)


class Backbone(Protocol):
    """What TokenSelector reads from: a GPTModel's hidden states and its head (fast.trunk.Trunk)."""

    out_head: nn.Module

    def hidden_states(self, in_idx: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor: ...


class TokenSelector(nn.Module):
    """Wrap a GPT classifier so that its output is (batch, 1, num_classes) for the chosen position or pool."""

    def __init__(
        self,
        backbone: Backbone,
        position: str = "last",
        pooling: str = "token",
        pad_token_id: int = PAD_TOKEN_ID,
    ) -> None:
        super().__init__()
        check_choice(position, pooling)
        self.backbone = backbone
        self.position = position
        self.pooling = pooling
        self.pad_token_id = pad_token_id

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        if self.pooling == "token":
            vector = self.backbone.hidden_states(in_idx, self.read_positions(in_idx))  # (batch, emb_dim)
        else:
            vector = self.pool(self.backbone.hidden_states(in_idx), in_idx)  # (batch, emb_dim)
        return self.backbone.out_head(vector).unsqueeze(1)  # (batch, 1, num_classes)

    def read_positions(self, in_idx: torch.Tensor) -> torch.Tensor:
        """The position each row's classifier reads with pooling="token": (batch, num_tokens) -> (batch,)."""
        batch, num_tokens = in_idx.shape
        if self.position == "flexible":
            return last_real_positions(in_idx, self.pad_token_id)
        index = 0 if self.position == "first" else num_tokens - 1
        return torch.full((batch,), index, dtype=torch.long, device=in_idx.device)

    def pool(self, hidden: torch.Tensor, in_idx: torch.Tensor) -> torch.Tensor:
        """The mean vector of each row that the head classifies: (batch, num_tokens, d) -> (batch, d)."""
        if self.pooling == "mean_with_padding":
            return hidden.mean(dim=1)  # the reference script's average: padding counts as tokens
        last = last_real_positions(in_idx, self.pad_token_id)  # (batch,)
        positions = torch.arange(in_idx.shape[1], device=in_idx.device)
        real = (positions[None, :] <= last[:, None]).to(hidden.dtype)  # (batch, num_tokens)
        return (hidden * real[:, :, None]).sum(dim=1) / real.sum(dim=1, keepdim=True)
