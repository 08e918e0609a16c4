"""Explain an exception raised inside a learner's function: which function, what it was given, what
it should return, and the learner's line that raised it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from .. import seam

CALL_ATTRIBUTE = "learner_call"  # contract.py sets it on an exception raised inside a learner function


@dataclass(frozen=True)
class Call:
    """One call of a learner function: its name as the learner finds it and its arguments as passed."""

    where: str  # exercises/loss.py::calc_loss_batch
    function: str
    arguments: tuple[tuple[str, str], ...]  # (name, description), described before the call ran

    def given(self) -> str:
        """The arguments as passed, e.g. 'x=tensor of shape (2, 3), dtype torch.float32, num_heads=3'."""
        return ", ".join(f"{name}={description}" for name, description in self.arguments)


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


def explain(excinfo: pytest.ExceptionInfo, last_call: Call | None = None) -> str | None:
    """The explanation of an exception raised by the learner's code, or None if it came from elsewhere.

    An exception raised inside a learner function is placed at the learner's line that raised it,
    with the arguments as the test passed them. One raised later, by PyTorch working on what a
    learner function returned or changed, names that function (last_call, the most recent one).
    """
    files = _learner_files()
    entries = [entry for entry in excinfo.traceback if Path(str(entry.path)).resolve() in files]
    call = getattr(excinfo.value, CALL_ATTRIBUTE, None)
    if not entries and call is not None:  # raised during the call, in code outside the learner's files
        return _explain_call(excinfo, call)
    if not entries:
        return _explain_later(excinfo, last_call)
    outer, inner = entries[0], entries[-1]  # the function the test called; the line that raised
    concept = files[Path(str(outer.path)).resolve()]
    function = outer.frame.code.raw.co_name
    if call is not None and call.function == function:
        given = call.given()
    else:  # called without the contract check: the frame's arguments, as they are now
        code = outer.frame.code.raw
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        given = ", ".join(f"{name}={describe(outer.frame.f_locals.get(name))}" for name in names)
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


def _explain_call(excinfo: pytest.ExceptionInfo, call: Call) -> str:
    """An error raised while a learner function ran, by code it called that is not in the learner's files."""
    lines = [
        f"{call.where} raised {excinfo.typename}: {excinfo.value}",
        f"  it was given: {call.given()}" if call.arguments else "  it was given no arguments",
    ]
    if call.function in RETURNS:
        lines.append(f"  it should return: {RETURNS[call.function]}")
    return "\n".join(lines)


def _explain_later(excinfo: pytest.ExceptionInfo, last_call: Call | None) -> str | None:
    """An error PyTorch raised outside the learner's code, after a learner function had returned."""
    if last_call is None or excinfo.errisinstance(NotImplementedError):
        return None
    lines = [
        f"PyTorch raised {excinfo.typename} after {last_call.where} had returned: {excinfo.value}",
        f"  {last_call.function} was last given: {last_call.given()}",
        "  the error comes from what it returned: check the shape, dtype, device and strides of its "
        "result against its docstring, and that it is still connected to the inputs' gradients",
    ]
    if last_call.function in RETURNS:
        lines.append(f"  it should return: {RETURNS[last_call.function]}")
    return "\n".join(lines)
