"""What a classifier reads: the last token (the book), the first, each row's last real token, or a mean.

The learner's loss and accuracy (concepts 4 and 5) always read the last position of model(input).
Rather than write a second loss for every option, TokenSelector wraps the model so that its output
has a single position holding the chosen vector's logits: the unchanged last-token loss then reads
the right thing. It runs the transformer once and the head on one vector per row, not on every token,
reading from a Trunk: the same modules as GPTModel.forward, run in parts. The fast paths (fast/) are
Trunks that compute less; this one is the plain readout every caller gets by default.
"""

from __future__ import annotations

import torch
from torch import nn

from ..model import GPTModel, check_length
from .tokenizer import PAD_TOKEN_ID

POSITIONS = ("last", "first", "flexible")
POOLINGS = ("token", "mean", "mean_with_padding")


def check_choice(position: str, pooling: str) -> None:
    """Raise ValueError for an unknown position or pooling, or for a combination that means nothing."""
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if position_ignored(position, pooling):
        raise ValueError(
            f"pooling={pooling!r} averages over the tokens, so position={position!r} would be ignored: "
            "leave position at 'last', or use pooling='token'"
        )


def position_ignored(position: str, pooling: str) -> bool:
    """Whether the pooling averages over the tokens, so that the position asked for would be ignored."""
    return pooling != "token" and position != "last"


def last_real_positions(input_batch: torch.Tensor, pad_token_id: int = PAD_TOKEN_ID) -> torch.Tensor:
    """Index of each row's last token before its trailing run of padding (the last index if none)."""
    num_tokens = input_batch.shape[1]  # input_batch: (batch, num_tokens)
    is_pad = input_batch == pad_token_id
    # cumprod over the reversed row stays 1 only while every token from the end so far is padding.
    trailing_pads = is_pad.flip(1).long().cumprod(dim=1).sum(dim=1)  # (batch,)
    # A row of padding only has no real token: read its first position rather than index -1.
    return (num_tokens - 1 - trailing_pads).clamp(min=0)  # (batch,)


class Trunk(nn.Module):
    """What a classifier reads from: hidden states of a GPTModel, and its output head."""

    def __init__(self, model: GPTModel) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.start = 0  # the first block computed here; prefix() gives its input

    @property
    def out_head(self) -> nn.Module:
        return self.model.out_head

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """What GPTModel returns: (batch, num_tokens) -> (batch, num_tokens, num_classes)."""
        return self.model.out_head(self.hidden_states(in_idx))

    def hidden_states(self, in_idx: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor:
        """Final-normed vectors (batch, num_tokens, emb_dim); with read_at (batch,), just (batch, emb_dim)."""
        x = self.prefix(in_idx)  # (batch, num_tokens, emb_dim), the input of block self.start
        hidden = self.model.final_norm(self.model.trf_blocks[self.start :](x))
        if read_at is None:
            return hidden
        return hidden[torch.arange(x.shape[0], device=x.device), read_at]  # the book's order: norm, then pick

    def prefix(self, in_idx: torch.Tensor) -> torch.Tensor:
        """The input of block self.start: here the embeddings, (batch, num_tokens, emb_dim)."""
        return embed(self.model, in_idx)


def embed(model: GPTModel, in_idx: torch.Tensor) -> torch.Tensor:
    """Token plus position embeddings, as GPTModel.forward computes them: (batch, num_tokens, emb_dim)."""
    num_tokens = in_idx.shape[1]
    check_length(num_tokens, model.cfg)
    positions = torch.arange(num_tokens, device=in_idx.device)
    return model.drop_emb(model.tok_emb(in_idx) + model.pos_emb(positions))


class TokenSelector(nn.Module):
    """Wrap a GPT classifier so that its output is (batch, 1, num_classes) for the chosen position or pool."""

    def __init__(
        self,
        backbone: Trunk,
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


def gpt_model(classifier: nn.Module) -> GPTModel:
    """The GPTModel a classifier (the model itself, or a TokenSelector over it) reads from."""
    return next(m for m in classifier.modules() if isinstance(m, GPTModel))


def token_embedding(classifier: nn.Module) -> nn.Embedding:
    """The token embedding of the GPTModel a classifier reads from."""
    return gpt_model(classifier).tok_emb


def select_tokens(
    model: GPTModel,
    position: str = "last",
    pooling: str = "token",
    pad_token_id: int = PAD_TOKEN_ID,
    trunk: Trunk | None = None,
) -> nn.Module:
    """What the loss and accuracy call: model(ids)[:, -1] is each message's logits.

    The model itself for the book's last token read the book's way (bit-identical); otherwise a
    TokenSelector over trunk (by default a plain Trunk of the model; fast/ passes faster ones).
    """
    check_choice(position, pooling)
    if trunk is None and position == "last" and pooling == "token":
        return model
    return TokenSelector(trunk or Trunk(model), position, pooling, pad_token_id)
