"""A GPTModel run in parts: the vectors a classifier reads, computed only where it reads them.

GPTModel.forward (model.py) runs every block at every position and the head on every vector: the
book's computation. A classifier reads one vector per message (pooling.TokenSelector), so Trunk
runs the same modules in pieces: the embeddings, the blocks, the final norm. Two fast paths hook in
here, and only here:
- skip_unread: the last block computes its output only at the position the classifier reads. Its
  keys and values still come from every position; only the query, the feed-forward and the norm
  after it are computed for one position per message instead of all of them.
- PrefixCache (prefix_cache.py) overrides `prefix` to serve the frozen lowest blocks from a cache.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import seam
from ..model import GPTModel, MultiHeadAttention, TransformerBlock, check_length
from ..pooling import TokenSelector, check_choice
from ..tokenizer import PAD_TOKEN_ID


class Trunk(nn.Module):
    """What a classifier reads from: hidden states of a GPTModel, and its output head."""

    def __init__(self, model: GPTModel, skip_unread: bool = False) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.skip_unread = skip_unread
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
        blocks = self.model.trf_blocks[self.start :]
        if read_at is None:
            return self.model.final_norm(blocks(x))
        rows = torch.arange(x.shape[0], device=x.device)
        if not self.skip_unread or len(blocks) == 0:
            return self.model.final_norm(blocks(x))[rows, read_at]  # the book's order: norm, then pick
        x = blocks[:-1](x)  # every block but the last feeds keys and values at every position
        return self.model.final_norm(block_at(blocks[-1], x, read_at))  # (batch, emb_dim)

    def prefix(self, in_idx: torch.Tensor) -> torch.Tensor:
        """The input of block self.start: here the embeddings, (batch, num_tokens, emb_dim)."""
        return embed(self.model, in_idx)


def embed(model: GPTModel, in_idx: torch.Tensor) -> torch.Tensor:
    """Token plus position embeddings, as GPTModel.forward computes them: (batch, num_tokens, emb_dim)."""
    num_tokens = in_idx.shape[1]
    check_length(num_tokens, model.cfg)
    positions = torch.arange(num_tokens, device=in_idx.device)
    return model.drop_emb(model.tok_emb(in_idx) + model.pos_emb(positions))


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


def select_tokens(
    model: GPTModel,
    position: str = "last",
    pooling: str = "token",
    pad_token_id: int = PAD_TOKEN_ID,
    trunk: Trunk | None = None,
) -> nn.Module:
    """What the loss and accuracy call: model(ids)[:, -1] is each message's logits.

    The model itself for the book's last token read the book's way (bit-identical); otherwise a
    pooling.TokenSelector over trunk (by default a plain Trunk of the model).
    """
    check_choice(position, pooling)
    if trunk is None and position == "last" and pooling == "token":
        return model
    return TokenSelector(trunk or Trunk(model), position, pooling, pad_token_id)
