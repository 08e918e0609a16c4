"""Frozen-prefix caching: run the frozen layers below the first trainable block once per distinct input.

In the book's setting only the last block, the final LayerNorm and the head train. The eleven blocks
below never change and (with dropout 0) give the same output every time they see the same message,
so recomputing them at every step and every evaluation is ~80% of the work for nothing. PrefixCache
wraps the model: it computes the frozen prefix for a row of token ids the first time it sees that row,
keeps the result, and runs only the trainable rest on it. It takes and returns what GPTModel does, so
the learner's loss and accuracy, and pooling.TokenSelector, work on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .model import GPTModel
from .tokenizer import PAD_TOKEN_ID


def first_trainable_block(model: GPTModel) -> int:
    """Index of the lowest transformer block with a trainable parameter (n_layers if none has one)."""
    for index, block in enumerate(model.trf_blocks):
        if any(p.requires_grad for p in block.parameters()):
            return index
    return len(model.trf_blocks)


def why_not_cacheable(model: GPTModel) -> str | None:
    """The reason the frozen prefix of model cannot be cached, or None when it can."""
    if not isinstance(model, GPTModel):
        return f"it wraps a GPTModel, not a {type(model).__name__}"
    start = first_trainable_block(model)
    prefix = [model.tok_emb, model.pos_emb, model.drop_emb, *model.trf_blocks[:start]]
    if any(p.requires_grad for module in prefix for p in module.parameters()):
        return "the embeddings are trainable"
    if start == 0:
        return "the first transformer block is trainable: there is no frozen prefix"
    if any(m.p > 0 for module in prefix for m in module.modules() if isinstance(m, nn.Dropout)):
        return "dropout is active below the first trainable block, so its output changes at every step"
    return None


class PrefixCache(nn.Module):
    """A GPTModel whose frozen lowest blocks run once per distinct row of token ids."""

    def __init__(
        self, model: GPTModel, pad_token_id: int = PAD_TOKEN_ID, padding_never_read: bool = False
    ) -> None:
        super().__init__()
        reason = why_not_cacheable(model)
        if reason is not None:
            raise ValueError(f"cannot cache the frozen prefix: {reason}")
        self.model = model
        self.cfg = model.cfg
        self.start = first_trainable_block(model)
        self.pad_token_id = pad_token_id
        # True when the classifier reads no output at a padding position (batching.padding_is_never_read):
        # then a message's padding positions may be served as zeros instead of being computed.
        self.padding_never_read = padding_never_read and self._causal_prefix()
        self._cache: dict[bytes, torch.Tensor] = {}  # key of a row -> (num_tokens, emb_dim)

    @property
    def out_head(self) -> nn.Module:
        return self.model.out_head

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        return self.model.out_head(self.hidden_states(in_idx))  # (batch, num_tokens, num_classes)

    def hidden_states(self, in_idx: torch.Tensor) -> torch.Tensor:
        """Like GPTModel.hidden_states: (batch, num_tokens) ids -> (batch, num_tokens, emb_dim)."""
        x = self.prefix(in_idx)  # (batch, num_tokens, emb_dim), the input of block self.start
        for block in self.model.trf_blocks[self.start :]:
            x = block(x)
        return self.model.final_norm(x)

    def prefix(self, in_idx: torch.Tensor) -> torch.Tensor:
        """The frozen prefix's output for each row, computed only for rows not seen before."""
        num_tokens = in_idx.shape[1]
        keys, needed = [], []
        for row in in_idx.cpu().numpy():
            key, real_length = self._key(row)
            keys.append(key)
            # Positions that must hold computed activations: all of them, or the real tokens only.
            needed.append(max(1, min(real_length, num_tokens)) if self.padding_never_read else num_tokens)
        first_seen = {
            key: i
            for i, key in reversed(list(enumerate(keys)))
            if key not in self._cache or len(self._cache[key]) < needed[i]
        }
        if first_seen:
            # Kept out of inference mode: cached tensors are later saved for the backward pass.
            with torch.inference_mode(False), torch.no_grad():
                computed = self._run_prefix(in_idx[list(first_seen.values())])
            for (key, i), activations in zip(first_seen.items(), computed, strict=True):
                self._cache[key] = activations[: needed[i]]
        return torch.stack([self._serve(self._cache[key], num_tokens) for key in keys])

    @staticmethod
    def _serve(activations: torch.Tensor, num_tokens: int) -> torch.Tensor:
        # Positions past the stored ones are padding nobody reads (padding_never_read): zeros will do.
        missing = num_tokens - len(activations)
        return nn.functional.pad(activations, (0, 0, 0, missing)) if missing > 0 else activations[:num_tokens]

    def _causal_prefix(self) -> bool:
        return all(block.att.causal for block in self.model.trf_blocks[: self.start])

    def _key(self, row: np.ndarray) -> tuple[bytes, int]:
        """The cache key of a row of token ids, and how many of its tokens are real (not padding)."""
        # Under the causal mask position t depends on tokens 0..t only, so a message padded to 120
        # tokens holds, in its first L positions, exactly its output padded to L: key the message
        # without its trailing padding, and serve any length up to the longest one computed.
        if not self._causal_prefix():
            return row.tobytes() + b"|full", len(row)
        real = np.flatnonzero(row != self.pad_token_id)
        length = real[-1] + 1 if len(real) else 0
        return row[:length].tobytes(), int(length)

    def _run_prefix(self, in_idx: torch.Tensor) -> torch.Tensor:
        x = self.model.embed(in_idx)  # (batch, num_tokens, emb_dim)
        for block in self.model.trf_blocks[: self.start]:
            x = block(x)
        return x

    @property
    def num_cached(self) -> int:
        """How many distinct rows have their prefix output stored."""
        return len(self._cache)


def cache_prefix_if_possible(
    model: GPTModel, log: Callable[[str], None] = print, padding_never_read: bool = False
) -> nn.Module:
    """PrefixCache(model) when its frozen prefix can be cached; otherwise model itself, saying why."""
    reason = why_not_cacheable(model)
    if reason is not None:
        log(f"Frozen-prefix cache: off ({reason})")
        return model
    cached = PrefixCache(model, padding_never_read=padding_never_read)
    log(f"Frozen-prefix cache: blocks 0-{cached.start - 1} run once per message")
    return cached
