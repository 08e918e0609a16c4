"""LoRA from scratch: freeze a Linear layer's weight W and learn a low-rank update, W x + s * B(A(x)).

Two scalings s of the update are in use, and they differ by a factor of rank:
- "book": s = alpha. The book's appendix E and its chapter 6 bonus experiments (the reference rows).
- "paper": s = alpha / rank. The LoRA paper (Hu et al., 2021) and Hugging Face peft.
With rank 16 and alpha 16 the book's update is 16 times the paper's.

A is initialised like a Linear weight and B to zeros, so at initialisation the update is zero and the
wrapped model computes exactly what it computed before.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCALINGS = ("book", "paper")


def lora_scale(rank: int, alpha: float, scaling: str) -> float:
    """The factor on the low-rank update: alpha ('book') or alpha / rank ('paper')."""
    if scaling not in SCALINGS:
        raise ValueError(f"LoRA scaling must be one of {SCALINGS}, got {scaling!r}")
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    return alpha if scaling == "book" else alpha / rank


class LoRALayer(nn.Module):
    """The low-rank update alone: x -> scale * (x @ A @ B), with rank * (in_dim + out_dim) parameters."""

    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float, scaling: str = "book") -> None:
        super().__init__()
        self.scale = lora_scale(rank, alpha, scaling)
        self.A = nn.Parameter(torch.empty(in_dim, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear initialises its weight
        self.B = nn.Parameter(torch.zeros(rank, out_dim))  # zero: the update starts at nothing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x @ self.A @ self.B)  # (..., in_dim) -> (..., rank) -> (..., out_dim)

    def delta_weight(self) -> torch.Tensor:
        """The update as a matrix shaped like nn.Linear's weight: (out_dim, in_dim)."""
        return self.scale * (self.A @ self.B).T


class LinearWithLoRA(nn.Module):
    """A Linear layer plus a LoRA update; the Linear keeps whatever requires_grad it had."""

    def __init__(self, linear: nn.Linear, rank: int, alpha: float, scaling: str = "book") -> None:
        super().__init__()
        self.linear = linear
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha, scaling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.lora(x)

    def merged(self) -> nn.Linear:
        """A plain Linear whose weight is W + the update: same outputs, no extra cost at inference."""
        linear = self.linear
        merged = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
        merged.to(device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(linear.weight + self.lora.delta_weight())
            if linear.bias is not None:
                merged.bias.copy_(linear.bias)
        return merged.requires_grad_(linear.weight.requires_grad)


def replace_linear_with_lora(model: nn.Module, rank: int, alpha: float, scaling: str = "book") -> nn.Module:
    """Wrap every nn.Linear inside model (the classification head included) in a LinearWithLoRA.

    As in the book's chapter 6 bonus script, the head gets a LoRA update too, and it is applied to the
    whole model: freeze what should stay frozen before calling this; the new A and B are trainable.
    """
    lora_scale(rank, alpha, scaling)  # fail on a bad rank or scaling before changing anything
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            setattr(model, name, LinearWithLoRA(child, rank, alpha, scaling))
        else:
            replace_linear_with_lora(child, rank, alpha, scaling)
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LinearWithLoRA in model by its merged nn.Linear, in place; returns model."""
    for name, child in model.named_children():
        if isinstance(child, LinearWithLoRA):
            setattr(model, name, child.merged())
        else:
            merge_lora(child)
    return model


def count_lora_parameters(model: nn.Module) -> int:
    """Number of LoRA parameters (the A and B matrices) in model."""
    return sum(p.numel() for m in model.modules() if isinstance(m, LoRALayer) for p in m.parameters())
