"""Explain an exception raised inside a learner's function: which function, what it was given, what
it should return, and the learner's line that raised it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .. import seam

# What each function returns, in the words of its docstring: the shape a failing call should give.
RETURNS = {
    "scaled_dot_product_attention": "(context, weights): context (..., num_tokens, head_dim), "
    "weights (..., num_tokens, num_tokens)",
    "split_heads": "a tensor (batch, num_heads, num_tokens, d_out // num_heads)",
    "merge_heads": "a tensor (batch, num_tokens, num_heads * head_dim)",
    "causal_mask": "a boolean tensor (num_tokens, num_tokens), True above the diagonal",
    "apply_mask": "a new tensor of the scores' shape and dtype, -inf where the mask is True",
    "replace_head": "the model, its out_head now nn.Linear(emb_dim, num_classes)",
    "freeze_all_but": "the model, with requires_grad set on every parameter",
    "calc_loss_batch": "a scalar tensor (shape ()): the mean cross-entropy over the batch",
    "calc_accuracy_batch": "(number correct, number of examples): two ints",
    "calc_accuracy_loader": "a float in [0, 1]",
}


def describe(value: object) -> str:
    """A value as a learner needs to see it in an error: a tensor's shape and dtype, never its numbers."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    if isinstance(value, (int, float, str, bool)) or value is None:
        return repr(value)
    if isinstance(value, torch.nn.Module):
        return f"a {type(value).__name__} model"
    return f"a {type(value).__name__}"


def _learner_files() -> dict[Path, str]:
    files = {}
    for concept in seam.CONCEPTS:
        try:
            file = getattr(seam.module(concept), "__file__", None)
        except Exception:  # a file that cannot be imported is reported by its own test
            continue
        if file:
            files[Path(file).resolve()] = concept
    return files


def explain(excinfo: pytest.ExceptionInfo) -> str | None:
    """The explanation of an exception raised inside the learner's code, or None if it came from elsewhere."""
    files = _learner_files()
    entries = [entry for entry in excinfo.traceback if Path(str(entry.path)).resolve() in files]
    if not entries:
        return None
    outer, inner = entries[0], entries[-1]  # the function the test called; the line that raised
    concept = files[Path(str(outer.path)).resolve()]
    code = outer.frame.code.raw
    function = code.co_name
    arguments = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    given = ", ".join(f"{name}={describe(outer.frame.f_locals.get(name))}" for name in arguments)
    inner_file = Path(str(inner.path)).resolve()
    line = str(inner.statement).strip().splitlines()[0] if inner.statement else "?"
    lines = [
        f"{seam.current()}/{concept}.py::{function} raised {excinfo.typename}: {excinfo.value}",
        f"  at {seam.current()}/{files[inner_file]}.py line {inner.lineno + 1}: {line}",
        f"  it was given: {given}" if given else "  it was given no arguments",
    ]
    if function in RETURNS:
        lines.append(f"  it should return: {RETURNS[function]}")
    return "\n".join(lines)
