"""The one place the fast paths are decided: plan_speed for finetuning, plan_inference for prediction.

plan_speed reads a run's options once, and SpeedPlan applies them:

- sdpa: attention in PyTorch's fused scaled_dot_product_attention instead of the concept's math.
  Off whenever the learner's own code runs (--impl exercises), which it would bypass.
- fused_layers: LayerNorm and GELU as PyTorch's one-kernel layer_norm and gelu(approximate="tanh").
- skip_unread: the last block computes its output only at the position the classifier reads (trunk.py).
- prefix_cache: the frozen blocks below the first trainable one run once per message, filled up
  front (prefix_cache.py). Applies when they are frozen and dropout is 0; otherwise it says why not.
- trim_padding: each batch padded only to its longest message, when the classifier never reads
  padding (padding.py). The book's last-token setting keeps its padding.
- bf16, compile (CUDA only): bf16 autocast, which changes the numbers, and torch.compile of the blocks.
- fused_optimizer (CPU and CUDA, on unless exact): AdamW's update as one fused kernel (fused=True).
  By default torch runs it as a dozen multi-tensor kernels on CUDA, where a step on cached
  activations is launch-bound, and one parameter at a time on the CPU, where for the last block's
  7 M parameters it took 4x the fused time, over a third of a cached step (test_bench_steps.py).
The first five and the fused optimizer change the answer by float rounding only; exact=True turns
every one of them off, for the book's computation bit for bit. Evaluation always runs under
torch.inference_mode(), which gives the same numbers as no_grad.

plan_inference decides the same for scoring messages with a trained classifier (classify, the app,
finetune's scoring passes), and InferencePlan applies them: sdpa, fused_layers and skip_unread as
above; frozen_blocks, on a CPU, every block but the last through FrozenBlocks on the tokens
each message needs (trunk.FrozenTrunk, as the cache fill runs them); and batches filled to a token
budget with the messages sorted by length, each cut to its own length when the classifier reads no
padding (predict/batching.py). quantize="int8" (CPU only, never with exact) also makes the blocks'
Linear layers dynamic int8 (quantize.py), which FrozenBlocks then runs in int8; it changes the
numbers beyond float rounding.
exact=True keeps the plain path: the book's model, eight messages at a time in the order given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import Dataset

from .. import seam
from ..checkpoint import load_classifier
from ..errors import OptionError
from ..model import GPTModel
from ..predict import ClassifierInfo
from ..predict.batching import BOOK_BATCHING, Batching
from ..predict.tokenizer import PAD_TOKEN_ID
from .frozen_blocks import FrozenBlocks
from .padding import collate_trimmed, padding_is_never_read
from .prefix_cache import PrefixCache, why_not_cacheable
from .quantize import check_quantize, quantize_linear_int8
from .trunk import FrozenTrunk, Trunk, select_tokens

Log = Callable[[str], None]

FUSED_ADAMW_DEVICES = ("cpu", "cuda")  # where torch.optim.AdamW(fused=True) runs


class SpeedOptions(Protocol):
    """The options plan_speed reads (FinetuneConfig has them all)."""

    sdpa: bool
    fused_layers: bool
    skip_unread: bool
    prefix_cache: bool
    trim_padding: bool
    exact: bool
    bf16: bool
    compile: bool
    position: str  # with pooling and causal: does the classifier ever read a padding position?
    pooling: str
    causal: bool


@dataclass(frozen=True)
class SpeedPlan:
    """The fast paths one run uses; all off is the book's computation bit for bit."""

    sdpa: bool = False
    fused_layers: bool = False
    skip_unread: bool = False
    prefix_cache: bool = False
    trim_padding: bool = False
    padding_never_read: bool = False  # the cache may then leave a message's padding uncomputed
    bf16: bool = False
    compile: bool = False
    fused_optimizer: bool = False

    @property
    def model_options(self) -> dict[str, bool]:
        """The kernels GPTModel picks at construction: GPTModel(cfg, **plan.model_options)."""
        return {"sdpa": self.sdpa, "fused_layers": self.fused_layers}

    def optimizer(self, model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        """The book's AdamW over the model's parameters (those without a gradient are never updated)."""
        fused = {"fused": True} if self.fused_optimizer else {}
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, **fused)

    @property
    def collate_fn(self) -> Callable | None:
        """The DataLoaders' collate_fn: trim each batch's padding, or None for the default."""
        return collate_trimmed if self.trim_padding else None

    def classifier(self, model: GPTModel, position: str, pooling: str, log: Log = print) -> nn.Module:
        """What the loss and accuracy call, model(ids)[:, -1] being each message's logits (select_tokens).

        With skip_unread or the prefix cache, it reads from a Trunk of the model (a PrefixCache when the
        frozen prefix can be cached, empty until fill_cache or the first batches fill it).
        """
        if self.compile:
            for block in model.trf_blocks:
                block.compile()
            log("torch.compile: every transformer block (compiled on first use)")
        classifier = select_tokens(model, position, pooling, PAD_TOKEN_ID, self._trunk(model, log))
        if self.bf16:
            log("bf16 autocast: on (CUDA); the numbers differ from fp32 beyond float rounding")
            classifier = Autocast(classifier)
        return classifier

    @staticmethod
    def fill_cache(classifier: nn.Module, datasets: Iterable[Dataset], log: Log = print) -> int:
        """Compute the frozen prefix of every message of datasets now, if classifier has a prefix cache.

        Returns how many messages were computed (0 without a cache).
        """
        filled = sum(cache.fill(datasets) for cache in prefix_caches(classifier))
        if filled:
            log(f"Frozen-prefix cache: {filled} messages computed")
        return filled

    @staticmethod
    @contextmanager
    def score_only(classifier: nn.Module) -> Iterator[None]:
        """Within it, the prefix cache serves what it holds and forgets the messages it had to compute.

        Scoring messages after training (the ham set aside, a reworded copy) reads each once: keeping
        every one would only grow the memory.
        """
        caches = prefix_caches(classifier)
        for cache in caches:
            cache.keep_new = False
        try:
            yield
        finally:
            for cache in caches:
                cache.keep_new = True

    def _trunk(self, model: GPTModel, log: Log) -> Trunk | None:
        if self.prefix_cache:
            reason = why_not_cacheable(model)
            if reason is None:
                cached = PrefixCache(model, PAD_TOKEN_ID, self.padding_never_read, self.skip_unread)
                log(f"Frozen-prefix cache: blocks 0-{cached.start - 1} run once per message")
                return cached
            log(f"Frozen-prefix cache: off ({reason})")
        return Trunk(model, skip_unread=True) if self.skip_unread else None


def prefix_caches(classifier: nn.Module) -> list[PrefixCache]:
    """The prefix caches a classifier reads from (none, or one)."""
    return [module for module in classifier.modules() if isinstance(module, PrefixCache)]


def plan_speed(options: SpeedOptions, device: torch.device, log: Log = print) -> SpeedPlan:
    """Decide, once, which fast paths a run uses; raise OptionError for one it cannot run here."""
    for name in ("bf16", "compile"):
        if getattr(options, name) and device.type != "cuda":
            raise OptionError(f"--{name} is for CUDA devices; this run is on {device}")
    for name in ("bf16", "compile"):
        if options.exact and getattr(options, name):
            raise OptionError(f"--exact reproduces the book's fp32 computation: it cannot run with --{name}")
    if options.exact:
        log("Exact mode: the book's computation bit for bit (no fused kernels, prefix cache or trimming)")
        return SpeedPlan()
    sdpa = options.sdpa and seam.current() != "exercises"
    if options.sdpa and not sdpa:
        log("Attention: your exercises/ code (PyTorch's fused kernel, which would bypass it, is off)")
    never_read = padding_is_never_read(options.position, options.pooling, options.causal)
    return SpeedPlan(
        sdpa=sdpa,
        fused_layers=options.fused_layers,
        # Only a classifier that reads one position can skip the others.
        skip_unread=options.skip_unread and options.pooling == "token",
        prefix_cache=options.prefix_cache,
        trim_padding=options.trim_padding and never_read,
        padding_never_read=never_read,
        bf16=options.bf16,
        compile=options.compile,
        fused_optimizer=device.type in FUSED_ADAMW_DEVICES,
    )


class Autocast(nn.Module):
    """Run a classifier under CUDA bf16 autocast, returning float32 logits for the loss."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return self.classifier(in_idx).float()  # (batch, num_tokens, num_classes)


# Tokens per batch when scoring: on this project's 2-core CPU a batch of ~32 padded messages (3,840
# tokens) runs faster per message than 8; a GPU wants far larger batches to be busy.
TOKEN_BUDGET = {"cpu": 4096, "cuda": 32768}


@dataclass(frozen=True)
class InferencePlan:
    """The fast paths prediction uses; InferencePlan() is the plain path, the book's computation."""

    sdpa: bool = False
    fused_layers: bool = False
    skip_unread: bool = False
    frozen_blocks: bool = False  # every block but the last through FrozenBlocks, where it can run (the CPU)
    batching: Batching = BOOK_BATCHING
    quantize: str | None = None  # "int8": the blocks' Linear layers in dynamic int8 (CPU)

    @property
    def model_options(self) -> dict[str, bool]:
        """The kernels GPTModel picks at construction: GPTModel(cfg, **plan.model_options)."""
        return {"sdpa": self.sdpa, "fused_layers": self.fused_layers}

    def classifier(
        self, model: GPTModel, position: str, pooling: str, pad_token_id: int = PAD_TOKEN_ID
    ) -> nn.Module:
        """What class_probabilities calls: model(ids)[:, -1] is each message's logits (select_tokens).

        With quantize, model's blocks are made int8 in place: keep a copy for gradients, which they lack.
        """
        if self.quantize == "int8":
            quantize_linear_int8(model)
        trunk = None
        if self.skip_unread and self.frozen_blocks and self._frozen_blocks_run(model):
            trunk = FrozenTrunk(model, self.batching)
        elif self.skip_unread:
            trunk = Trunk(model, skip_unread=True)
        return select_tokens(model, position, pooling, pad_token_id, trunk)

    def _frozen_blocks_run(self, model: GPTModel) -> bool:
        below_last = model.trf_blocks[:-1]
        device = next(model.parameters()).device
        return len(below_last) > 0 and FrozenBlocks.supported(below_last, device)


def plan_inference(
    position: str,
    pooling: str,
    causal: bool,
    device: torch.device,
    *,
    exact: bool = False,
    pad_token_id: int = PAD_TOKEN_ID,
    quantize: str | None = None,
) -> InferencePlan:
    """Decide, once, how a classifier reading (position, pooling, causal) scores messages on device.

    Raises OptionError for a quantize that cannot run here (not on the CPU, or with exact).
    """
    check_quantize(quantize, device, exact)
    if exact:
        return InferencePlan(batching=Batching(pad_token_id=pad_token_id))
    never_read = padding_is_never_read(position, pooling, causal)
    return InferencePlan(
        sdpa=seam.current() != "exercises",  # the learner's own attention runs as they wrote it
        fused_layers=True,
        skip_unread=pooling == "token",
        frozen_blocks=True,
        batching=Batching(
            token_budget=TOKEN_BUDGET.get(device.type, TOKEN_BUDGET["cpu"]),
            cut_padding=never_read,  # then messages of any length may also share a batch
            pad_token_id=pad_token_id,
        ),
        quantize=quantize,
    )


def load_for_inference(
    model_dir: str | Path, device: torch.device, *, exact: bool = False, quantize: str | None = None
) -> tuple[nn.Module, ClassifierInfo, InferencePlan]:
    """A saved classifier built as plan_inference decides, its description, and the plan."""
    info = ClassifierInfo.read(model_dir)
    plan = plan_inference(
        info.position,
        info.pooling,
        info.causal,
        device,
        exact=exact,
        pad_token_id=info.pad_token_id,
        quantize=quantize,
    )
    model, _ = load_classifier(model_dir, device, **plan.model_options)
    return plan.classifier(model, info.position, info.pooling, info.pad_token_id), info, plan
