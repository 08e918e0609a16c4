"""GPT-2 from scratch: the book's model (chapters 3 and 4), readable top to bottom.

The attention math is a learner concept (solutions/ or exercises/), reached through seam. Two kernels
are chosen once, at construction, as nanoGPT picks its flash path: `sdpa` (PyTorch's fused attention)
and `fused_layers` (one-kernel layer_norm and gelu); same numbers to float rounding. Without them this
is the book's computation bit for bit. Every other speed-up wraps the model from outside (fast/).
"""

from __future__ import annotations

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
        sdpa: bool = False,
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
        self.sdpa = sdpa  # True: PyTorch's fused kernel instead of the concept's attention math

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, num_tokens, d_in) -> (batch, num_tokens, d_out)."""
        num_tokens = x.shape[1]
        # (batch, num_tokens, d_out) -> (batch, num_heads, num_tokens, head_dim)
        queries = seam.split_heads(self.W_query(x), self.num_heads)
        keys = seam.split_heads(self.W_key(x), self.num_heads)
        values = seam.split_heads(self.W_value(x), self.num_heads)
        mask = seam.causal_mask(num_tokens, device=x.device) if self.causal else None  # True: hidden
        context = self.attend(queries, keys, values, mask)  # (batch, num_heads, num_tokens, head_dim)
        context = seam.merge_heads(context)  # (batch, num_tokens, d_out)
        return self.out_proj(context)

    def attend(
        self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """softmax(Q Kᵀ / √head_dim) V over the keys the mask leaves visible (mask True = hidden)."""
        if self.sdpa:
            dropout_p = self.dropout.p if self.training else 0.0  # like the book: drops attention weights
            visible = None if mask is None else ~mask
            return nn.functional.scaled_dot_product_attention(
                queries, keys, values, attn_mask=visible, dropout_p=dropout_p
            )
        context, weights = seam.scaled_dot_product_attention(queries, keys, values, mask)
        # The book drops attention weights, not the context: with dropout active, recompute the
        # context from the dropped weights (the concept function returns them undropped).
        if self.training and self.dropout.p > 0:
            context = self.dropout(weights) @ values
        return context


class LayerNorm(nn.Module):
    """Normalise each token's vector to mean 0 and variance 1, then scale and shift it."""

    def __init__(self, emb_dim: int, eps: float = 1e-5, fused: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))
        self.fused = fused  # True: PyTorch's one-kernel layer_norm, same numbers to float rounding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return nn.functional.layer_norm(x, x.shape[-1:], self.scale, self.shift, self.eps)
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # GPT-2 uses the biased variance
        norm_x = (x - mean) / torch.sqrt(var + self.eps)
        return self.scale * norm_x + self.shift


class GELU(nn.Module):
    """GELU with the tanh approximation that GPT-2 was trained with."""

    def __init__(self, fused: bool = False) -> None:
        super().__init__()
        self.fused = fused  # True: PyTorch's one-kernel gelu, not six elementwise passes over x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return nn.functional.gelu(x, approximate="tanh")
        sqrt_2_over_pi = torch.sqrt(torch.tensor(2.0 / torch.pi))  # computed as the book computes it
        return 0.5 * x * (1 + torch.tanh(sqrt_2_over_pi * (x + 0.044715 * torch.pow(x, 3))))


class FeedForward(nn.Module):
    """Two linear layers around a GELU, widening each token's vector 4x in between."""

    def __init__(self, cfg: GPTConfig, fused: bool = False) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim),  # (batch, num_tokens, 4 * emb_dim)
            GELU(fused),
            nn.Linear(4 * cfg.emb_dim, cfg.emb_dim),  # (batch, num_tokens, emb_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + attention(norm(x)), then x + feed_forward(norm(x))."""

    def __init__(self, cfg: GPTConfig, sdpa: bool = False, fused_layers: bool = False) -> None:
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg.emb_dim,
            d_out=cfg.emb_dim,
            dropout=cfg.drop_rate,
            num_heads=cfg.n_heads,
            qkv_bias=cfg.qkv_bias,
            causal=cfg.causal,
            sdpa=sdpa,
        )
        self.ff = FeedForward(cfg, fused_layers)
        self.norm1 = LayerNorm(cfg.emb_dim, fused=fused_layers)
        self.norm2 = LayerNorm(cfg.emb_dim, fused=fused_layers)
        self.drop_shortcut = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_shortcut(self.att(self.norm1(x)))  # (batch, num_tokens, emb_dim)
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))
        return x


class GPTModel(nn.Module):
    """GPT-2: token + position embeddings, n_layers transformer blocks, final LayerNorm, output head."""

    def __init__(self, cfg: GPTConfig, sdpa: bool = False, fused_layers: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.trf_blocks = nn.Sequential(
            *[TransformerBlock(cfg, sdpa, fused_layers) for _ in range(cfg.n_layers)]
        )
        self.final_norm = LayerNorm(cfg.emb_dim, fused=fused_layers)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        # GPT-2 ties the output head to the token embedding: one matrix reads and writes tokens.
        self.out_head.weight = self.tok_emb.weight

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """(batch, num_tokens) token ids -> (batch, num_tokens, vocab_size or num_classes) logits."""
        num_tokens = in_idx.shape[1]
        check_length(num_tokens, self.cfg)
        tok_embeds = self.tok_emb(in_idx)  # (batch, num_tokens, emb_dim)
        pos_embeds = self.pos_emb(torch.arange(num_tokens, device=in_idx.device))  # (num_tokens, emb_dim)
        x = self.drop_emb(tok_embeds + pos_embeds)
        x = self.trf_blocks(x)
        x = self.final_norm(x)
        return self.out_head(x)


def check_length(num_tokens: int, cfg: GPTConfig) -> None:
    """Raise ValueError for an input longer than the model's context."""
    if num_tokens > cfg.context_length:
        raise ValueError(
            f"input has {num_tokens} tokens but the model reads at most {cfg.context_length}: "
            "truncate or shorten the text"
        )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())
