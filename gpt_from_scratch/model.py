"""GPT-2 from scratch: embeddings, pre-LayerNorm transformer blocks, causal multi-head attention.

Names follow the book (GPTModel, MultiHeadAttention, TransformerBlock). The attention math itself
lives in the learner concepts (solutions/ or exercises/) and is reached through gpt_from_scratch.seam.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from . import seam

GPT2_VOCAB_SIZE = 50257
GPT2_CONTEXT_LENGTH = 1024


@dataclass(frozen=True)
class GPTConfig:
    """Every number that fixes a GPT-2 architecture."""

    vocab_size: int = GPT2_VOCAB_SIZE
    context_length: int = GPT2_CONTEXT_LENGTH
    emb_dim: int = 768
    n_heads: int = 12
    n_layers: int = 12
    drop_rate: float = 0.0
    qkv_bias: bool = True  # GPT-2 has biases on the query, key and value projections
    causal: bool = True  # False lets every token attend to every other one (an experiment)

    def to_dict(self) -> dict:
        """The config as a plain dict, for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GPTConfig:
        """Build a config from a dict, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields: {sorted(unknown)}")
        return cls(**values)


# The four released GPT-2 sizes, and a tiny one for tests and offline demos.
MODEL_CONFIGS: dict[str, GPTConfig] = {
    "gpt2-small": GPTConfig(emb_dim=768, n_heads=12, n_layers=12),  # 124M parameters
    "gpt2-medium": GPTConfig(emb_dim=1024, n_heads=16, n_layers=24),  # 355M
    "gpt2-large": GPTConfig(emb_dim=1280, n_heads=20, n_layers=36),  # 774M
    "gpt2-xl": GPTConfig(emb_dim=1600, n_heads=25, n_layers=48),  # 1558M
    "tiny": GPTConfig(context_length=256, emb_dim=32, n_heads=2, n_layers=2),
}


def model_config(model_size: str, **overrides: object) -> GPTConfig:
    """Look up a named config ('gpt2-small', ..., 'tiny'), optionally changing some fields."""
    if model_size not in MODEL_CONFIGS:
        raise ValueError(f"unknown model size {model_size!r}: choose one of {', '.join(MODEL_CONFIGS)}")
    values = MODEL_CONFIGS[model_size].to_dict() | overrides
    return GPTConfig(**values)


class MultiHeadAttention(nn.Module):
    """Causal self-attention with several heads, computed in parallel as one batched matmul."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        dropout: float,
        num_heads: int,
        qkv_bias: bool = False,
        causal: bool = True,
    ) -> None:
        super().__init__()
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.causal = causal
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs
        self.dropout = nn.Dropout(dropout)
        # False: the educational path through seam (the learner's code). True: PyTorch's fused
        # scaled_dot_product_attention, which bypasses seam; same numbers to float tolerance.
        self.use_sdpa = False

    def forward(self, x: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, num_tokens, d_in) -> (batch, num_tokens, d_out); with read_at, (batch,) positions,
        only the output at each row's position: (batch, d_out)."""
        if self.use_sdpa:
            return self._sdpa_forward(x, read_at)
        batch, num_tokens, _ = x.shape  # x: (batch, num_tokens, d_in)
        # (batch, num_tokens, d_out) -> (batch, num_heads, num_tokens, head_dim)
        queries = seam.split_heads(self.W_query(x), self.num_heads)
        keys = seam.split_heads(self.W_key(x), self.num_heads)
        values = seam.split_heads(self.W_value(x), self.num_heads)

        mask = seam.causal_mask(num_tokens, device=x.device) if self.causal else None
        context, weights = seam.scaled_dot_product_attention(queries, keys, values, mask)
        # The book drops attention weights, not the context: with dropout active, recompute the
        # context from the dropped weights (the concept function returns them undropped).
        if self.training and self.dropout.p > 0:
            context = self.dropout(weights) @ values
        context = seam.merge_heads(context)  # (batch, num_tokens, d_out)
        if read_at is not None:
            context = context[torch.arange(batch, device=x.device), read_at]  # (batch, d_out)
        return self.out_proj(context)

    def _sdpa_forward(self, x: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor:
        """The same attention in PyTorch's fused kernel (nanoGPT's fast path); never calls seam."""
        batch, num_tokens, _ = x.shape  # x: (batch, num_tokens, d_in)
        head_dim = self.d_out // self.num_heads

        def split_heads(t: torch.Tensor) -> torch.Tensor:  # (batch, n, d_out) -> (batch, heads, n, head_dim)
            return t.view(batch, -1, self.num_heads, head_dim).transpose(1, 2)

        keys, values = split_heads(self.W_key(x)), split_heads(self.W_value(x))
        mask, is_causal = None, self.causal
        if read_at is None:
            queries = split_heads(self.W_query(x))
        else:
            # Only the positions read next ask a query; every position still offers its key and value.
            rows = torch.arange(batch, device=x.device)
            queries = split_heads(self.W_query(x[rows, read_at][:, None, :]))  # (batch, heads, 1, head_dim)
            is_causal = False  # the causal mask of one query row: the keys at or before its position
            if self.causal:
                mask = torch.arange(num_tokens, device=x.device) <= read_at[:, None]  # (batch, num_tokens)
                mask = mask[:, None, None, :]  # (batch, 1, 1, num_tokens)
        dropout_p = self.dropout.p if self.training else 0.0  # like the book, drops attention weights
        context = nn.functional.scaled_dot_product_attention(
            queries, keys, values, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal
        )
        context = context.transpose(1, 2).reshape(batch, -1, self.d_out)  # (batch, queries, d_out)
        if read_at is not None:
            context = context[:, 0]  # (batch, d_out)
        return self.out_proj(context)


class LayerNorm(nn.Module):
    """Normalise each token's vector to mean 0 and variance 1, then scale and shift it."""

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))
        self.fused = False  # True: PyTorch's one-kernel layer_norm, same numbers to float rounding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return nn.functional.layer_norm(x, x.shape[-1:], self.scale, self.shift, self.eps)
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # GPT-2 uses the biased variance
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class GELU(nn.Module):
    """GELU with the tanh approximation that GPT-2 was trained with."""

    def __init__(self) -> None:
        super().__init__()
        self.fused = False  # True: PyTorch's one-kernel gelu, not six elementwise passes over x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return nn.functional.gelu(x, approximate="tanh")
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class FeedForward(nn.Module):
    """Two linear layers around a GELU, widening each token's vector 4x in between."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim),  # (batch, tokens, 4 * emb_dim)
            GELU(),
            nn.Linear(4 * cfg.emb_dim, cfg.emb_dim),  # (batch, tokens, emb_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + attention(norm(x)), then x + feed_forward(norm(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg.emb_dim,
            d_out=cfg.emb_dim,
            dropout=cfg.drop_rate,
            num_heads=cfg.n_heads,
            qkv_bias=cfg.qkv_bias,
            causal=cfg.causal,
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.drop_shortcut = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor:
        if read_at is not None:
            return self._forward_at(x, read_at)
        x = x + self.drop_shortcut(self.att(self.norm1(x)))
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))
        return x  # (batch, num_tokens, emb_dim)

    def _forward_at(self, x: torch.Tensor, read_at: torch.Tensor) -> torch.Tensor:
        """The block's output at one position per row, (batch, emb_dim): what a classifier reads."""
        rows = torch.arange(x.shape[0], device=x.device)
        x = x[rows, read_at] + self.drop_shortcut(self.att(self.norm1(x), read_at))  # (batch, emb_dim)
        return x + self.drop_shortcut(self.ff(self.norm2(x)))


class GPTModel(nn.Module):
    """GPT-2: token + position embeddings, n_layers transformer blocks, final LayerNorm, output head."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.final_norm = LayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        # GPT-2 ties the output head to the token embedding: one matrix reads and writes tokens.
        self.out_head.weight = self.tok_emb.weight

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        return self.out_head(self.hidden_states(in_idx))  # (batch, num_tokens, vocab_size or num_classes)

    def hidden_states(self, in_idx: torch.Tensor, read_at: torch.Tensor | None = None) -> torch.Tensor:
        """The trunk without the head: one final-normed vector per token, (batch, num_tokens, emb_dim).

        With read_at, (batch,) positions, only the vector at each row's position: (batch, emb_dim).
        """
        return self.run_blocks(self.embed(in_idx), 0, read_at)

    def run_blocks(
        self, x: torch.Tensor, first: int = 0, read_at: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Blocks first.. and the final norm on x, the input of block first (batch, num_tokens, emb_dim)."""
        blocks = self.trf_blocks[first:]
        if read_at is None:
            return self.final_norm(blocks(x))  # (batch, num_tokens, emb_dim)
        # Every block but the last feeds keys and values at every position to the next one; the last
        # one's output is read at read_at only, so computing it anywhere else would be wasted.
        for block in blocks[:-1]:
            x = block(x)
        if len(blocks) > 0:
            x = blocks[-1](x, read_at)
        else:
            x = x[torch.arange(x.shape[0], device=x.device), read_at]
        return self.final_norm(x)  # (batch, emb_dim)

    def embed(self, in_idx: torch.Tensor) -> torch.Tensor:
        """Token plus position embeddings, the input of the first block: (batch, num_tokens, emb_dim)."""
        batch, num_tokens = in_idx.shape  # in_idx: (batch, num_tokens) token ids
        if num_tokens > self.cfg.context_length:
            raise ValueError(
                f"input has {num_tokens} tokens but the model reads at most "
                f"{self.cfg.context_length}: truncate or shorten the text"
            )
        positions = torch.arange(num_tokens, device=in_idx.device)
        x = self.tok_emb(in_idx) + self.pos_emb(positions)  # (batch, num_tokens, emb_dim)
        return self.drop_emb(x)


def use_sdpa_attention(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every MultiHeadAttention in model to PyTorch's fused kernel (or back to the seam)."""
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.use_sdpa = enabled
    return model


def use_fused_layers(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every LayerNorm and GELU in model to PyTorch's one-kernel versions (or back to the book's)."""
    for module in model.modules():
        if isinstance(module, LayerNorm | GELU):
            module.fused = enabled
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())
