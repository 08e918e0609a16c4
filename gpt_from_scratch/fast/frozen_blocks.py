"""The frozen blocks at the CPU's matmul peak: every Linear on the real tokens only, as few GEMMs as possible.

The prefix cache (prefix_cache.py) runs the frozen lowest blocks once per message, for inference
only. Run as modules, a batch of messages costs more than its matrix products: a batch is padded to
its longest message, and the query, key and value are three GEMMs. FrozenBlocks computes the same
blocks from their weights:
- the messages' real tokens, one after another, form one (total_tokens, emb_dim) matrix: every
  Linear layer is one large GEMM over all of them, with no padding computed;
- the query, key and value projections are one GEMM (their weights concatenated once);
- each Linear is PyTorch's own GEMM, as nn.Linear runs it; int8 layers (--quantize int8) run as
  quantize.Int8Linear, the same single GEMMs in int8;
- attention, the only step that mixes tokens, runs per group of messages of one length, each group
  a (messages, length, ...) view of the flat matrix, through PyTorch's fused kernel.
Same numbers as the blocks to float rounding (tests/test_frozen_blocks.py); in int8, for a message
alone, and to int8's rounding among others, since an int8 layer quantizes its whole input with one scale.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from ..model import TransformerBlock
from .quantize import Int8Linear, is_int8


class FrozenBlocks:
    """An inference-only runner of frozen TransformerBlocks, on the real tokens of messages."""

    def __init__(self, blocks: Sequence[TransformerBlock]) -> None:
        self.layers = [_Layer(block) for block in blocks]

    @staticmethod
    def supported(blocks: Sequence[TransformerBlock], device: torch.device) -> bool:
        """True when blocks can run here: on a CPU, fp32 (int8 Linear layers too), built with fast kernels.

        FrozenBlocks computes what PyTorch's fused attention, layer_norm and GELU compute: only for
        blocks built with them, never in place of the book's formulas or the learner's own code.
        """
        return (
            device.type == "cpu"
            and all(p.dtype == torch.float32 for block in blocks for p in block.parameters())
            and all(b.att.sdpa and b.norm1.fused and b.norm2.fused and b.ff.layers[1].fused for b in blocks)
        )

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """(total_tokens, emb_dim) -> the same: x holds the messages' tokens one after another.

        lengths are the messages' lengths, in their order in x. Attention runs once per run of
        adjacent messages of one length: length-sorted messages make few, large calls.
        """
        groups = _equal_length_groups(lengths)
        for layer in self.layers:
            x = layer(x, groups)
        return x


class _Layer:
    """One TransformerBlock's weights, arranged for FrozenBlocks."""

    def __init__(self, block: TransformerBlock) -> None:
        att, ff = block.att, block.ff
        self.num_heads, self.causal = att.num_heads, att.causal
        self.norm1, self.norm2 = block.norm1, block.norm2
        self.qkv = _linear([att.W_query, att.W_key, att.W_value])  # (3 * d_out, d_in): one GEMM
        self.out_proj = _linear([att.out_proj])
        self.fc1 = _linear([ff.layers[0]])
        self.fc2 = _linear([ff.layers[2]])

    def __call__(self, x: torch.Tensor, groups: list[tuple[int, int, int]]) -> torch.Tensor:
        """TransformerBlock.forward on flat tokens: (total_tokens, emb_dim) -> the same."""
        qkv = self.qkv(_norm(self.norm1, x))  # (total_tokens, 3 * emb_dim)
        context = self._attend(qkv, groups)  # (total_tokens, emb_dim)
        x = self.out_proj(context).add_(x)
        hidden = self.fc1(_norm(self.norm2, x))  # (total_tokens, 4 * emb_dim)
        hidden = nn.functional.gelu(hidden, approximate="tanh")  # GPT-2's GELU, the tanh approximation
        return self.fc2(hidden).add_(x)

    def _attend(self, qkv: torch.Tensor, groups: list[tuple[int, int, int]]) -> torch.Tensor:
        """Each group's causal attention: (total_tokens, 3 * emb_dim) -> (total_tokens, emb_dim)."""
        emb_dim = qkv.shape[1] // 3
        head_dim = emb_dim // self.num_heads
        context = qkv.new_empty(qkv.shape[0], emb_dim)
        for begin, count, length in groups:
            end = begin + count * length
            # (count * length, 3 * emb_dim) -> 3 x (count, num_heads, length, head_dim), views
            q, k, v = qkv[begin:end].view(count, length, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
            out = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
            # (count, num_heads, length, head_dim) -> the group's rows of context
            context[begin:end].view(count, length, self.num_heads, head_dim).copy_(out.transpose(1, 2))
        return context


class _Linear:
    """y = x Wᵀ + b, the GEMM nn.Linear runs, on the weights of one or more Linear layers side by side."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight.detach().contiguous()
        self.bias = None if bias is None else bias.detach().contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # Not oneDNN's Linear with the GELU or residual inside its GEMM: 10-30% slower on an AVX2 CPU,
        # and on an AVX-512 one no faster than the modules (docs/performance.md, the cache fill).
        return nn.functional.linear(x, self.weight, self.bias)


def _linear(linears: list[nn.Module]) -> _Linear | Int8Linear:
    """The linears' outputs side by side from one GEMM: in int8 for int8 layers, else in fp32."""
    if all(is_int8(m) for m in linears):
        return Int8Linear(linears)
    return _Linear(torch.cat([m.weight for m in linears]), _cat_biases(linears))


def _norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.layer_norm(x, x.shape[-1:], norm.scale, norm.shift, norm.eps)


def _cat_biases(linears: list[nn.Linear]) -> torch.Tensor | None:
    """The concatenated biases of linears (zeros for one without), or None when none has one."""
    if all(m.bias is None for m in linears):
        return None
    return torch.cat([m.bias if m.bias is not None else m.weight.new_zeros(m.out_features) for m in linears])


def _equal_length_groups(lengths: Sequence[int]) -> list[tuple[int, int, int]]:
    """(first token, messages, length) of each run of adjacent messages of one length."""
    groups = []
    first = 0
    for length, run in itertools.groupby(lengths):
        count = len(list(run))
        groups.append((first, count, length))
        first += count * length
    return groups
