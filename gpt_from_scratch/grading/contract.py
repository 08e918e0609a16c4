"""What a learner function must leave alone, checked around every call the exercise tests make.

A right answer is not enough: a function that switches gradients off for the whole program, changes
the caller's tensor in place or calls backward() returns the right values and still breaks training.
checks.impl(concept) hands the tests each learner function wrapped in `checked`, which

- takes a snapshot, before the call, of torch's global state (grad mode, inference mode, default
  device and dtype), of every tensor argument (values, shape, stride, .grad) and of every model
  argument (each submodule's training mode, each parameter's values, requires_grad and .grad);
- compares after the call, and fails naming the function, the argument and what changed, except
  what the function's contract lets it change (FREEDOMS);
- records the arguments as they were passed, so that an error is explained with those, not with
  whatever the function reassigned them to (explain.py);
- puts torch's global state back whatever happened, so one mistake never spreads to the next test.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .. import seam
from .explain import CALL_ATTRIBUTE, Call, describe

# What a function may change on a model argument, by its contract: everything else stays as it was.
#   "head": model.out_head is replaced;  "requires_grad": parameters are frozen or unfrozen;
#   "mode": the model is put in evaluation mode.
FREEDOMS: dict[str, frozenset[str]] = {
    "replace_head": frozenset({"head"}),
    "freeze_all_but": frozenset({"requires_grad"}),
    "calc_accuracy_loader": frozenset({"mode"}),
}

_calls: list[Call] = []  # this test's calls, most recent last: the plugin empties it before each test


def last_call() -> Call | None:
    """The most recent learner function call of the running test, if any."""
    return _calls[-1] if _calls else None


def forget_calls() -> None:
    """Start a new test: no learner function has been called yet."""
    _calls.clear()


# --- torch's global state ----------------------------------------------------------------------
def global_state() -> dict[str, object]:
    """The process-wide torch settings a function must leave as it found them."""
    return {
        "grad mode": torch.is_grad_enabled(),
        "inference mode": torch.is_inference_mode_enabled(),
        "default device": str(torch.get_default_device()),
        "default dtype": torch.get_default_dtype(),
    }


def restore_global_state(state: dict[str, object]) -> None:
    """Put torch's process-wide settings back to a snapshot taken by global_state()."""
    now = global_state()
    if now["grad mode"] != state["grad mode"]:
        torch.set_grad_enabled(bool(state["grad mode"]))
    if now["default device"] != state["default device"]:
        torch.set_default_device(str(state["default device"]))
    if now["default dtype"] != state["default dtype"]:
        torch.set_default_dtype(state["default dtype"])  # type: ignore[arg-type]
    # Inference mode cannot be left on by a function (it is a context manager), so it needs no reset.


@contextmanager
def guarded_global_state() -> Iterator[dict[str, object]]:
    """Restore torch's global state after the block, whatever the block did; yields the state before."""
    before = global_state()
    try:
        yield before
    finally:
        restore_global_state(before)


GLOBAL_ADVICE = {
    "grad mode": "torch.no_grad() works only as `with torch.no_grad():`; called as a statement, or "
    "torch.set_grad_enabled(False), it switches gradients off for the whole program",
    "inference mode": "enter torch.inference_mode() with `with`, so that it ends with the block",
    "default device": "torch.set_default_device changes where every later tensor of the program is "
    "made: pass device=... to the tensors you create instead",
    "default dtype": "torch.set_default_dtype changes every later tensor of the program: convert only "
    "your own tensors (.double(), dtype=...)",
}


def global_changes(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """One line per global setting that differs, with what to do instead."""
    return [
        f"torch's {name} was {_setting(before[name])} before the call and {_setting(after[name])} after: "
        f"{GLOBAL_ADVICE[name]}"
        for name in before
        if before[name] != after[name]
    ]


def _setting(value: object) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


# --- the caller's tensors ----------------------------------------------------------------------
@dataclass
class TensorSnapshot:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    version: int
    values: torch.Tensor | None  # None on the meta device, which holds no values
    grad: torch.Tensor | None

    @classmethod
    def of(cls, t: torch.Tensor) -> TensorSnapshot:
        values = None if t.is_meta else t.detach().clone()
        grad = _grad(t)
        return cls(tuple(t.shape), t.stride(), t.dtype, t.device, t._version, values, grad)

    def changes(self, t: torch.Tensor, name: str) -> list[str]:
        """What happened to the tensor since the snapshot, in one line each."""
        if (tuple(t.shape), t.stride()) != (self.shape, self.stride):
            return [
                f"the caller's `{name}` changed shape from {self.shape} to {tuple(t.shape)} (strides "
                f"{self.stride} to {t.stride()}): an in-place reshape (transpose_, t_, squeeze_, "
                "unsqueeze_, resize_) changes the caller's tensor: use transpose, t, squeeze, ..."
            ]
        found = []
        if t.dtype != self.dtype:
            found.append(f"the caller's `{name}` changed dtype from {self.dtype} to {t.dtype}")
        elif self.values is not None and not _same(t.detach(), self.values):
            differ = int((~_equal_elements(t.detach(), self.values)).sum())
            found.append(
                f"the caller's `{name}` was changed in place ({differ} of {t.numel()} values differ): "
                "an operation with a trailing underscore (masked_fill_, add_, div_) or an assignment "
                "into it (x[...] = ...) writes into the caller's tensor: compute a new tensor"
            )
        elif t._version != self.version:
            found.append(
                f"an in-place operation wrote into the caller's `{name}` (its values happen to be the same "
                "on these inputs): compute a new tensor instead"
            )
        if _grad_changed(self.grad, _grad(t)):
            found.append(f"the caller's `{name}` got a .grad: the function ran backward()")
        return found


def _grad(t: torch.Tensor) -> torch.Tensor | None:
    """A copy of t.grad; only a leaf tensor has one (None where there is none to compare, or on meta)."""
    if not t.is_leaf or t.grad is None or t.grad.is_meta:
        return None
    return t.grad.detach().clone()


def _equal_elements(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    both_nan = torch.isnan(a) & torch.isnan(b) if a.is_floating_point() else torch.zeros_like(a, dtype=bool)
    return (a == b) | both_nan


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(_equal_elements(a, b).all())


# --- the caller's models -----------------------------------------------------------------------
@dataclass
class ModelSnapshot:
    modules: dict[str, tuple[int, bool]]  # name -> (id, training)
    parameters: dict[
        str, tuple[bool, torch.Tensor | None, torch.Tensor | None]
    ]  # requires_grad, values, grad

    @classmethod
    def of(cls, model: nn.Module) -> ModelSnapshot:
        modules = {name: (id(m), m.training) for name, m in model.named_modules()}
        parameters = {
            name: (
                p.requires_grad,
                None if p.is_meta else p.detach().clone(),
                _grad(p),
            )
            for name, p in model.named_parameters()
        }
        return cls(modules, parameters)

    def changes(self, model: nn.Module, name: str, freedoms: frozenset[str]) -> list[str]:
        """What happened to the model since the snapshot, except what freedoms allow."""
        after = ModelSnapshot.of(model)

        def kept(key: str) -> bool:  # the head is the function's to replace when "head" is free
            return not ("head" in freedoms and key.split(".")[0] == "out_head")

        found = []
        replaced = [k for k, (i, _) in self.modules.items() if kept(k) and after.modules.get(k, (i,))[0] != i]
        if replaced:
            found.append(f"replaced the submodules {_names(replaced)} of `{name}`")
        if "mode" not in freedoms:
            moved = [
                k
                for k, (_, training) in self.modules.items()
                if kept(k) and k in after.modules and after.modules[k][1] != training
            ]
            if moved:
                was = "training" if self.modules[moved[0]][1] else "evaluation"
                found.append(
                    f"switched {_names(moved, 'the model')} of `{name}` out of {was} mode: leave the model "
                    "in the mode it was given in (model.train()/model.eval() are the caller's to choose)"
                )
        common = [k for k in self.parameters if kept(k) and k in after.parameters]
        if "requires_grad" not in freedoms:
            flipped = [k for k in common if after.parameters[k][0] != self.parameters[k][0]]
            if flipped:
                found.append(
                    f"changed requires_grad of {_names(flipped)} of `{name}`: freezing is the caller's "
                    "choice, not this function's"
                )
        written = [
            k
            for k in common
            if self.parameters[k][1] is not None and not _same(after.parameters[k][1], self.parameters[k][1])
        ]
        if written:
            found.append(
                f"changed the values of {_names(written)} of `{name}`: only an optimizer step in the "
                "training loop may change the weights"
            )
        graded = [k for k in common if _grad_changed(self.parameters[k][2], after.parameters[k][2])]
        cleared = [k for k in graded if after.parameters[k][2] is None or not after.parameters[k][2].any()]
        if cleared:
            found.append(
                f"cleared the .grad of {_names(cleared)} of `{name}` (zero_grad): the training loop "
                "decides when gradients are reset, and may be adding up several batches' gradients"
            )
        elif graded:
            found.append(
                f"filled in the .grad of {_names(graded)} of `{name}`: the function ran backward(), which is "
                "the training loop's job: return the loss and let the caller call loss.backward()"
            )
        return found


def _grad_changed(before: torch.Tensor | None, after: torch.Tensor | None) -> bool:
    if before is None or after is None:
        return (before is None) != (after is None)
    return not _same(after, before)


def _names(names: list[str], root: str = "") -> str:
    shown = [repr(n) if n else root or "the model itself" for n in names[:3]]
    return ", ".join(shown) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


# --- one call ----------------------------------------------------------------------------------
def _arguments(function: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except TypeError:  # called with arguments it does not take: the call itself will say so
        return {f"argument {i + 1}": a for i, a in enumerate(args)} | kwargs
    return dict(bound.arguments)


def _watched(arguments: dict[str, Any]) -> Iterator[tuple[str, object]]:
    """Every tensor and model the caller handed over, named as the caller will recognise it."""
    for name, value in arguments.items():
        if isinstance(value, (tuple, list)):
            yield from ((f"{name}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, DataLoader) and isinstance(value.dataset, TensorDataset):
            yield from ((f"{name}'s tensor {i}", t) for i, t in enumerate(value.dataset.tensors))
        else:
            yield name, value


def snapshot(arguments: dict[str, Any]) -> dict[str, tuple[object, TensorSnapshot | ModelSnapshot]]:
    """Snapshots of every tensor and model among the arguments, by argument name."""
    taken: dict[str, tuple[object, TensorSnapshot | ModelSnapshot]] = {}
    for name, value in _watched(arguments):
        if isinstance(value, torch.Tensor):
            taken[name] = (value, TensorSnapshot.of(value))
        elif isinstance(value, nn.Module):
            taken[name] = (value, ModelSnapshot.of(value))
    return taken


def argument_changes(
    taken: dict[str, tuple[object, TensorSnapshot | ModelSnapshot]], freedoms: frozenset[str]
) -> list[str]:
    """One line per change to the arguments that the contract does not allow."""
    found: list[str] = []
    for name, (value, before) in taken.items():
        if isinstance(before, TensorSnapshot):
            found += before.changes(value, name)  # type: ignore[arg-type]
        else:
            found += before.changes(value, name, freedoms)  # type: ignore[arg-type]
    return found


def checked(concept: str, name: str, function: Callable) -> Callable:
    """function, failing the test when it changes what its contract says it must leave alone."""
    where = f"{seam.current()}/{concept}.py::{name}"
    freedoms = FREEDOMS.get(name, frozenset())

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        arguments = _arguments(function, args, kwargs)
        record = Call(where, name, tuple((n, describe(v)) for n, v in arguments.items()))
        _calls[:] = [record]
        taken = snapshot(arguments)
        with guarded_global_state() as before:
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                if not hasattr(error, CALL_ATTRIBUTE):  # the innermost learner call is the one to name
                    setattr(error, CALL_ATTRIBUTE, record)
                raise
            changed = global_changes(before, global_state())
        changed += argument_changes(taken, freedoms)
        if changed:
            pytest.fail(
                f"{where} changed what it must leave alone:\n" + "\n".join(f"  - {c}" for c in changed),
                pytrace=False,
            )
        return result

    return call


class CheckedModule:
    """A learner's module whose public functions run under `checked`; other attributes pass through."""

    def __init__(self, concept: str) -> None:
        self._concept = concept
        self._module = seam.module(concept)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if inspect.isfunction(value) and not name.startswith("_"):
            return checked(self._concept, name, value)
        return value
