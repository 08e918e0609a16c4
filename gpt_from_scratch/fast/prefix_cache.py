"""Frozen-prefix caching: run the frozen layers below the first trainable block once per distinct input.

In the book's setting only the last block, the final LayerNorm and the head train. The eleven blocks
below never change and (with dropout 0) give the same output every time they see the same message,
so recomputing them at every step and every evaluation is ~80% of the work for nothing. PrefixCache
is a Trunk (trunk.py) whose prefix, the input of the first trainable block, comes from a cache: it
computes the frozen prefix for a row of token ids the first time it sees that row (or up front, in
`fill`), keeps the result, and runs only the trainable rest on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..model import GPTModel
from ..predict.tokenizer import PAD_TOKEN_ID
from ..progress import progress
from .frozen_blocks import FrozenBlocks
from .trunk import Trunk, embed


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


class PrefixCache(Trunk):
    """A Trunk whose frozen lowest blocks run once per distinct row of token ids."""

    def __init__(
        self,
        model: GPTModel,
        pad_token_id: int = PAD_TOKEN_ID,
        padding_never_read: bool = False,
        skip_unread: bool = False,
    ) -> None:
        super().__init__(model, skip_unread)
        reason = why_not_cacheable(model)
        if reason is not None:
            raise ValueError(f"cannot cache the frozen prefix: {reason}")
        self.start = first_trainable_block(model)
        self.pad_token_id = pad_token_id
        # True when the classifier reads no output at a padding position (batching.padding_is_never_read):
        # then a message's padding positions may be served as zeros instead of being computed.
        self.padding_never_read = padding_never_read and self._causal_prefix()
        self._cache: dict[bytes, torch.Tensor] = {}  # key of a row -> (num_tokens, emb_dim)
        # False: rows computed in prefix() serve their batch and are forgotten (scoring new messages
        # once, after training, would otherwise keep every one in memory).
        self.keep_new = True

    def prefix(self, in_idx: torch.Tensor) -> torch.Tensor:
        """The frozen prefix's output for each row, computed only for rows not seen before."""
        num_tokens = in_idx.shape[1]
        keys, todo = [], {}
        for row in in_idx.cpu().numpy():
            key, needed = self._key_and_need(row)
            keys.append(key)
            if not self._holds(key, needed):
                todo[key] = row[:needed]
        kept = {} if self.keep_new else {key: self._cache[key] for key in todo if key in self._cache}
        if todo:
            self._compute(list(todo.items()))
        served = torch.stack([self._serve(self._cache[key], num_tokens) for key in keys])
        if not self.keep_new:  # back to what the cache held before this batch
            for key in todo:
                del self._cache[key]
            self._cache.update(kept)
        return served

    def fill(self, datasets: Iterable[Dataset], max_tokens: int = 4096) -> int:
        """Compute the prefix of every distinct message in datasets now, shortest first; return how many.

        Training would fill the cache as it goes, one batch of 8 at a time, each padded to its longest
        message. Filled up front, messages of similar length go together in batches of about
        max_tokens tokens, so far less padding is computed when padding_never_read leaves it out.
        """
        todo: dict[bytes, np.ndarray] = {}
        for dataset in datasets:
            for index in range(len(dataset)):
                row = torch.as_tensor(dataset[index][0]).numpy()
                key, needed = self._key_and_need(row)
                if not self._holds(key, needed) and len(todo.get(key, ())) < needed:
                    todo[key] = row[:needed]
        ordered = sorted(todo.items(), key=lambda item: len(item[1]))
        chunk: list[tuple[bytes, np.ndarray]] = []
        with progress(None, "Filling the frozen-prefix cache", total=len(ordered), unit="message") as bar:
            for key, row in ordered:
                # A chunk is padded to its longest row: fine under the causal mask, which keeps padding
                # out of every earlier position; without it, only rows of one length may share a chunk.
                fits = (len(chunk) + 1) * len(row) <= max_tokens
                if chunk and (not fits or not (self._causal_prefix() or len(chunk[0][1]) == len(row))):
                    self._compute(chunk)
                    bar.update(len(chunk))
                    chunk = []
                chunk.append((key, row))
            if chunk:
                self._compute(chunk)
        return len(todo)

    def _compute(self, rows: list[tuple[bytes, np.ndarray]]) -> None:
        """Run the frozen prefix on rows (cache key, token ids to compute) and store each row's output."""
        rows = sorted(rows, key=lambda row: len(row[1]))  # messages of one length adjacent (FrozenBlocks)
        lengths = [len(ids) for _, ids in rows]
        batch = np.full((len(rows), lengths[-1]), self.pad_token_id, dtype=np.int64)
        for i, (_, ids) in enumerate(rows):
            batch[i, : len(ids)] = ids
        device = next(self.model.parameters()).device
        # Kept out of inference mode: cached tensors are later saved for the backward pass.
        with torch.inference_mode(False), torch.no_grad():
            computed = self._run_prefix(torch.from_numpy(batch).to(device), lengths)  # (tokens, emb_dim)
        # Views of one tensor: it holds the rows' computed positions only, every one of them stored.
        for (key, _), activations in zip(rows, computed.split(lengths), strict=True):
            self._cache[key] = activations

    def _run_prefix(self, in_idx: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """The frozen blocks' output at each row's first lengths[row] positions, the rows one after another.

        (rows, num_tokens) token ids -> (sum(lengths), emb_dim). FrozenBlocks computes only those
        positions; the plain blocks compute every position of the padded batch and drop the rest.
        """
        x = embed(self.model, in_idx)  # (rows, num_tokens, emb_dim)
        positions = torch.arange(in_idx.shape[1], device=in_idx.device)
        computed = positions < torch.tensor(lengths, device=in_idx.device)[:, None]  # (rows, num_tokens)
        if self._frozen_blocks is None:
            return self.model.trf_blocks[: self.start](x)[computed]
        return self._frozen_blocks(x[computed], lengths)

    @cached_property
    def _frozen_blocks(self) -> FrozenBlocks | None:
        """The frozen blocks' fast runner where it applies (built on first use, from the frozen weights)."""
        device = next(self.model.parameters()).device
        blocks = self.model.trf_blocks[: self.start]
        return FrozenBlocks(blocks) if FrozenBlocks.supported(blocks, device) else None

    def _holds(self, key: bytes, needed: int) -> bool:
        return key in self._cache and len(self._cache[key]) >= needed

    @staticmethod
    def _serve(activations: torch.Tensor, num_tokens: int) -> torch.Tensor:
        # Positions past the stored ones are padding nobody reads (padding_never_read): zeros will do.
        missing = num_tokens - len(activations)
        return nn.functional.pad(activations, (0, 0, 0, missing)) if missing > 0 else activations[:num_tokens]

    def _causal_prefix(self) -> bool:
        return all(block.att.causal for block in self.model.trf_blocks[: self.start])

    def _key_and_need(self, row: np.ndarray) -> tuple[bytes, int]:
        """The cache key of a row of token ids, and how many of its positions must be computed."""
        # Under the causal mask position t depends on tokens 0..t only, so a message padded to 120
        # tokens holds, in its first L positions, exactly its output padded to L: key the message
        # without its trailing padding, and serve any length up to the longest one computed.
        if not self._causal_prefix():
            return row.tobytes() + b"|full", len(row)
        real = np.flatnonzero(row != self.pad_token_id)
        length = int(real[-1]) + 1 if len(real) else 0
        # Positions that must hold computed activations: all of them, or the real tokens only.
        return row[:length].tobytes(), max(1, length) if self.padding_never_read else len(row)

    @property
    def num_cached(self) -> int:
        """How many distinct rows have their prefix output stored."""
        return len(self._cache)
