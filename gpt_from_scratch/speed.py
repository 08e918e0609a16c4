"""The trainer's fast paths (issue 6), chosen from FinetuneConfig: what each does, and when it stays off.

- sdpa: attention in PyTorch's fused scaled_dot_product_attention. It bypasses the seam, so it is
  off whenever the learner's own code runs (impl="exercises"). Same answer to float rounding.
- fused_layers: LayerNorm and GELU as PyTorch's one-kernel layer_norm and gelu(approximate="tanh")
  instead of the book's formulas, one elementwise pass each. Same answer to float rounding.
- skip_unread: the last block computes its output only at the position the classifier reads
  (its keys and values still come from every position), and the head runs on that one vector.
- prefix_cache: the frozen blocks below the first trainable one run once per message
  (prefix_cache.py). Applies when they are frozen and dropout is 0; otherwise it says why not.
- trim_padding: each batch padded only to its longest message, when the classifier never reads
  padding (batching.py; applied in finetune.make_loaders). The book's last-token setting keeps it.
- exact: none of the above, so the run is the book's computation bit for bit.
- bf16, compile (CUDA only): bf16 autocast, which changes the numbers, and torch.compile of the
  transformer blocks. Both off by default.
Evaluation always runs under torch.inference_mode(), which gives the same numbers as no_grad.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from . import seam
from .batching import padding_is_never_read
from .errors import OptionError
from .model import GPTModel, use_fused_layers, use_sdpa_attention
from .prefix_cache import cache_prefix_if_possible


class SpeedOptions(Protocol):
    sdpa: bool
    fused_layers: bool
    skip_unread: bool
    prefix_cache: bool
    exact: bool
    bf16: bool
    compile: bool
    position: str  # with pooling and causal: does the classifier ever read a padding position?
    pooling: str
    causal: bool


def check_speed_options(options: SpeedOptions, device: torch.device) -> None:
    """Raise OptionError for a fast path this device or this combination cannot run."""
    for name in ("bf16", "compile"):
        if getattr(options, name) and device.type != "cuda":
            raise OptionError(f"--{name} is for CUDA devices; this run is on {device}")
    if options.exact and options.bf16:
        raise OptionError("--exact reproduces the book's fp32 computation: it cannot run with --bf16")


def skips_unread(options: SpeedOptions) -> bool:
    """True when the last block should compute only the position the classifier reads."""
    return options.skip_unread and not options.exact


def speed_up(
    model: GPTModel, options: SpeedOptions, device: torch.device, log: Callable[[str], None] = print
) -> nn.Module:
    """Switch on the chosen fast paths; return the module to train (model itself, or a PrefixCache)."""
    check_speed_options(options, device)
    if options.exact:
        log("Exact mode: the book's computation bit for bit (no SDPA, prefix cache or trimming)")
        return model
    if options.sdpa and seam.current() == "exercises":
        log("Attention: your exercises/ code (SDPA, which would bypass it, is off with --impl exercises)")
    elif options.sdpa:
        use_sdpa_attention(model)
        log("Attention: PyTorch's fused SDPA kernel, bypassing seam (--no-sdpa runs solutions/ code)")
    if options.fused_layers:
        use_fused_layers(model)
        log("LayerNorm and GELU: PyTorch's one-kernel versions (--no-fused-layers: the book's formulas)")
    if options.compile:
        for block in model.trf_blocks:
            block.compile()
        log("torch.compile: every transformer block (compiled on first use)")
    if not options.prefix_cache:
        return model
    never_read = padding_is_never_read(options.position, options.pooling, options.causal)
    return cache_prefix_if_possible(model, log, padding_never_read=never_read)


class Autocast(nn.Module):
    """Run a classifier under CUDA bf16 autocast, returning float32 logits for the loss."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return self.classifier(in_idx).float()  # (batch, num_tokens, num_classes)


def autocast_if_asked(classifier: nn.Module, options: SpeedOptions, log: Callable[[str], None] = print):
    """Autocast(classifier) with --bf16, else classifier itself."""
    if not options.bf16:
        return classifier
    log("bf16 autocast: on (CUDA); the numbers differ from fp32 beyond float rounding")
    return Autocast(classifier)
