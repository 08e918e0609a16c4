"""The vectors a classifier reads, computed only where it reads them.

GPTModel.forward (model.py) runs every block at every position and the head on every vector: the
book's computation. A classifier reads one vector per message (predict/readout.py), whose plain
Trunk runs the same modules in pieces: the embeddings, the blocks, the final norm. Two fast paths
hook in here, and only here:
- skip_unread: the last block computes its output only at the position the classifier reads. Its
  keys and values still come from every position; only the query, the feed-forward and the norm
  after it are computed for one position per message instead of all of them.
- PrefixCache (prefix_cache.py) overrides `prefix` to serve the frozen lowest blocks from a cache.
- FrozenTrunk, for prediction on the CPU (fp32 or int8), overrides it to run every block but the
  last through FrozenBlocks (frozen_blocks.py) on each message's needed tokens only.
"""

from __future__ import annotations

import torch

from .. import seam
from ..model import GPTModel, MultiHeadAttention, TransformerBlock
from ..predict import readout
from ..predict.batching import Batching
from ..predict.readout import embed, select_tokens
from .frozen_blocks import FrozenBlocks

__all__ = [
    "Trunk",
    "FrozenTrunk",
    "block_at",
    "attention_at",
    "embed",
    "select_tokens",
]  # plan.py, prefix_cache.py


class Trunk(readout.Trunk):
    """A readout Trunk that, with skip_unread, runs the last block only at the positions read."""

    def __init__(self, model: GPTModel, skip_unread: bool = False) -> None:
        super().__init__(model)
        self.skip_unread = skip_unread

    def hidden_states(self, in_idx: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor:
        """Final-normed vectors (batch, num_tokens, emb_dim); with read_at (batch,), just (batch, emb_dim)."""
        blocks = self.model.trf_blocks[self.start :]
        if read_at is None or not self.skip_unread or len(blocks) == 0:
            return super().hidden_states(in_idx, read_at)
        x = blocks[:-1](self.prefix(in_idx))  # every block but the last feeds keys and values everywhere
        return self.model.final_norm(block_at(blocks[-1], x, read_at))  # (batch, emb_dim)


class FrozenTrunk(Trunk):
    """A Trunk for prediction: every block but the last runs through FrozenBlocks when no gradient is asked.

    Each row is computed at the positions batching.length keeps: all of them for a classifier that
    reads padding, its real tokens for one that never does (the positions after them are zeros that
    nothing reads). Under a gradient (the app's gradient x input) the blocks run as modules. The
    weights are packed once at construction: they must not change afterwards.
    """

    def __init__(self, model: GPTModel, batching: Batching) -> None:
        super().__init__(model, skip_unread=True)
        self.start = len(model.trf_blocks) - 1  # prefix() gives the last block's input
        self.batching = batching
        self.frozen = FrozenBlocks(model.trf_blocks[: self.start])

    def prefix(self, in_idx: torch.Tensor) -> torch.Tensor:
        """The last block's input, (batch, num_tokens, emb_dim)."""
        x = embed(self.model, in_idx)
        if torch.is_grad_enabled():
            return self.model.trf_blocks[: self.start](x)
        lengths = [self.batching.length(row) for row in in_idx.tolist()]
        computed = torch.arange(x.shape[1], device=x.device) < torch.tensor(lengths, device=x.device)[:, None]
        out = torch.zeros_like(x)
        out[computed] = self.frozen(x[computed], lengths)  # the rows' needed tokens one after another
        return out


def block_at(block: TransformerBlock, x: torch.Tensor, read_at: torch.Tensor) -> torch.Tensor:
    """The block's output at one position per row: (batch, num_tokens, emb_dim) -> (batch, emb_dim)."""
    rows = torch.arange(x.shape[0], device=x.device)
    x = x[rows, read_at] + block.drop_shortcut(attention_at(block.att, block.norm1(x), read_at))
    return x + block.drop_shortcut(block.ff(block.norm2(x)))  # (batch, emb_dim)


def attention_at(att: MultiHeadAttention, x: torch.Tensor, read_at: torch.Tensor) -> torch.Tensor:
    """The attention output at one query position per row: (batch, num_tokens, d_in) -> (batch, d_out)."""
    batch, num_tokens, _ = x.shape
    rows = torch.arange(batch, device=x.device)
    if not att.sdpa:  # the concept's attention takes a (tokens, tokens) mask: run it everywhere, read one
        return att(x)[rows, read_at]
    # Only the positions read ask a query; every position still offers its key and value.
    read = x[rows, read_at][:, None, :]  # (batch, 1, d_in)
    queries = seam.split_heads(att.W_query(read), att.num_heads)  # (batch, heads, 1, head_dim)
    keys = seam.split_heads(att.W_key(x), att.num_heads)  # (batch, heads, num_tokens, head_dim)
    values = seam.split_heads(att.W_value(x), att.num_heads)
    mask = None
    if att.causal:  # one query row of the causal mask: the keys after its position are hidden
        mask = torch.arange(num_tokens, device=x.device) > read_at[:, None]  # (batch, num_tokens)
        mask = mask[:, None, None, :]  # (batch, 1, 1, num_tokens)
    context = att.attend(queries, keys, values, mask)  # (batch, heads, 1, head_dim)
    return att.out_proj(seam.merge_heads(context)[:, 0])  # (batch, d_out)
