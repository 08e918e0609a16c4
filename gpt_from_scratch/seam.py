"""The one place that decides whose code runs the five learner concepts: solutions/ or exercises/.

The model and the training loop never import `solutions` or `exercises` themselves. They call the
functions below, which forward to the implementation in use: the reference (solutions/), unless a
caller says otherwise for the length of a `with` block:

    with seam.using("exercises"):   # what `finetune --impl exercises` does
        ...                          # every concept call in here runs the learner's code
    # back to whatever ran before, even after an error

The choice lives in a context variable, so it never outlives the call that made it.

A student release (`gpt-from-scratch course release`) has no solutions/: there the reference, and
the only implementation, is the learner's exercises/.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from .errors import ShapeError

# Where solutions/ is not installed (a student release), the learner's code is all there is.
SOLVED = importlib.util.find_spec("solutions") is not None
REFERENCE = "solutions" if SOLVED else "exercises"  # what runs the library unless told otherwise
IMPLEMENTATIONS = ("solutions", "exercises") if SOLVED else ("exercises",)
CONCEPTS = ("attention", "causal_mask", "classification_head", "loss", "accuracy")
ENV_VAR = "GPT_FROM_SCRATCH_IMPL"  # read only as the default of a command-line --impl option

_in_use: ContextVar[str] = ContextVar("gpt_from_scratch_impl", default=REFERENCE)


def check_implementation(name: str) -> str:
    """Return name if it is an implementation, else raise ValueError listing the choices."""
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {name!r}: choose one of {', '.join(IMPLEMENTATIONS)}")
    return name


@contextmanager
def using(name: str) -> Iterator[None]:
    """Run the learner concepts from name ('solutions' or 'exercises') inside the with block."""
    token = _in_use.set(check_implementation(name))
    try:
        yield
    finally:
        _in_use.reset(token)


def current() -> str:
    """The name of the implementation in use: the REFERENCE outside any `using` block."""
    return _in_use.get()


def module(concept: str) -> ModuleType:
    """Import the module that implements one concept, e.g. module('attention')."""
    if concept not in CONCEPTS:
        raise ValueError(f"unknown concept {concept!r}: choose one of {', '.join(CONCEPTS)}")
    package = current()
    try:
        return importlib.import_module(f"{package}.{concept}")
    except ModuleNotFoundError as err:
        if err.name not in (package, f"{package}.{concept}"):
            raise
        raise ModuleNotFoundError(
            f"cannot import {package}/{concept}.py: run from the repository root (or install it "
            f"with `pip install -e .`) so that the {package!r} package is importable"
        ) from err


def _forward(concept: str, name: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(module(concept), name)(*args, **kwargs)


def _expect_shape(result: Any, shape: tuple[int, ...], concept: str, name: str, meaning: str) -> None:
    """Stop with a clear message when a learner's function returns the wrong shape inside the model."""
    got = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
    if got != shape:
        raise ShapeError(
            f"{current()}/{concept}.py::{name} returned {got}, expected shape {shape} {meaning}; "
            f"run `pytest exercises/ -m {concept}` to see what is wrong"
        )


# --- attention.py -----------------------------------------------------------------------------
def scaled_dot_product_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q Kᵀ / √d_head, masked) V; returns (context, attention weights)."""
    result = _forward("attention", "scaled_dot_product_attention", queries, keys, values, mask)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ShapeError(
            f"{current()}/attention.py::scaled_dot_product_attention must return (context, weights), "
            f"got {type(result).__name__}"
        )
    context, weights = result
    name = "scaled_dot_product_attention"
    _expect_shape(context, (*queries.shape[:-1], values.shape[-1]), "attention", name, "for the context")
    _expect_shape(weights, (*queries.shape[:-1], keys.shape[-2]), "attention", name, "for the weights")
    return context, weights


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, tokens, d_out) -> (batch, heads, tokens, head_dim)."""
    result = _forward("attention", "split_heads", x, num_heads)
    batch, num_tokens, d_out = x.shape
    shape = (batch, num_heads, num_tokens, d_out // num_heads)
    _expect_shape(result, shape, "attention", "split_heads", "(batch, heads, tokens, head_dim)")
    return result


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, heads, tokens, head_dim) -> (batch, tokens, d_out)."""
    result = _forward("attention", "merge_heads", x)
    batch, num_heads, num_tokens, head_dim = x.shape
    shape = (batch, num_tokens, num_heads * head_dim)
    _expect_shape(result, shape, "attention", "merge_heads", "(batch, tokens, heads * head_dim)")
    return result


# --- causal_mask.py ---------------------------------------------------------------------------
def causal_mask(num_tokens: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (tokens, tokens) mask, True where a query must not see a key (the future)."""
    result = _forward("causal_mask", "causal_mask", num_tokens, device=device)
    _expect_shape(result, (num_tokens, num_tokens), "causal_mask", "causal_mask", "(tokens, tokens)")
    return result


def apply_mask(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention scores with the masked positions set to -inf."""
    return _forward("causal_mask", "apply_mask", scores, mask)


# --- classification_head.py -------------------------------------------------------------------
def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the model's LM head with a fresh Linear(emb_dim, num_classes)."""
    return _forward("classification_head", "replace_head", model, num_classes)


def freeze_all_but(model: nn.Module, trainable: str) -> nn.Module:
    """Freeze every parameter except those of the chosen layers ('last_block', 'all', ...)."""
    return _forward("classification_head", "freeze_all_but", model, trainable)


# --- loss.py ----------------------------------------------------------------------------------
def calc_loss_batch(
    input_batch: torch.Tensor,
    target_batch: torch.Tensor,
    model: nn.Module,
    device: torch.device | str,
) -> torch.Tensor:
    """Cross-entropy of the last token's logits against the class labels of one batch."""
    result = _forward("loss", "calc_loss_batch", input_batch, target_batch, model, device)
    _expect_shape(result, (), "loss", "calc_loss_batch", "(a scalar: the mean over the batch)")
    return result


# --- accuracy.py ------------------------------------------------------------------------------
def calc_accuracy_batch(
    input_batch: torch.Tensor,
    target_batch: torch.Tensor,
    model: nn.Module,
    device: torch.device | str,
) -> tuple[int, int]:
    """(number correct, number of examples) for one batch, predicted from the last token."""
    return _forward("accuracy", "calc_accuracy_batch", input_batch, target_batch, model, device)


def calc_accuracy_loader(
    data_loader: DataLoader,
    model: nn.Module,
    device: torch.device | str,
    num_batches: int | None = None,
) -> float:
    """Fraction of correctly classified examples over (the first num_batches of) a data loader."""
    return _forward("accuracy", "calc_accuracy_loader", data_loader, model, device, num_batches)
