"""The exercise tests' helpers: golden values, and failure messages written for learners."""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors import safe_open
from torch import nn

from .. import seam
from .contract import CheckedModule


def _golden_dir() -> Path:
    """exercises/tests/golden of the exercises package Python imports: a checkout's or an installed one's."""
    spec = importlib.util.find_spec("exercises")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "tests" / "golden"
    return Path(__file__).resolve().parents[2] / "exercises" / "tests" / "golden"  # a bare checkout


# The golden files stay beside the tests they serve; tests/make_golden.py writes them from solutions/.
GOLDEN_DIR = _golden_dir()


def impl(concept: str) -> CheckedModule:
    """The module under test for one concept (exercises/<concept>.py, or solutions/ with --impl solutions),
    each of its functions checked for what it must leave alone on every call (contract.py)."""
    return CheckedModule(concept)


def learner_module(concept: str) -> ModuleType:
    """The module under test itself, unchecked: for a test that replaces one of its names."""
    return seam.module(concept)


def reference(concept: str) -> ModuleType:
    """Another exercise's reference solution, for a test that needs that exercise as a helper."""
    return importlib.import_module(f"solutions.{concept}")


@contextmanager
def reference_model() -> Iterator[None]:
    """Run GPTModel on the reference solutions inside the block: for a test that checks no attention."""
    with seam.using("solutions"):
        yield


def where(concept: str, function: str) -> str:
    """Name the function under test as the learner finds it: exercises/attention.py::split_heads."""
    return f"{seam.current()}/{concept}.py::{function}"


class Golden:
    """The golden inputs, outputs and recorded mistakes of one exercise, read from its safetensors file."""

    def __init__(self, concept: str) -> None:
        path = GOLDEN_DIR / f"{concept}.safetensors"
        with safe_open(path, framework="pt") as f:
            self.tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
            self.metadata = json.loads((f.metadata() or {}).get("golden", "{}"))

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key].clone()

    def value(self, key: str):
        """A non-tensor golden value (stored in the file's metadata)."""
        return self.metadata[key]

    def mistakes(self, key: str) -> list[tuple[str, torch.Tensor]]:
        """(hint, output) of every recorded mistake whose output for `key` was stored."""
        found = []
        for name, tensor in self.tensors.items():
            if name.startswith("mistake.") and name.endswith("." + key):
                mutant = name.removeprefix("mistake.").removesuffix("." + key)
                found.append((self.metadata[f"hint.{mutant}"], tensor))
        return found


@cache
def golden(concept: str) -> Golden:
    """The golden file of one exercise (read once per test session)."""
    return Golden(concept)


def _matching_mistake(
    actual: torch.Tensor, mistakes: list[tuple[str, torch.Tensor]], atol: float
) -> str | None:
    """The hint of the one recorded mistake whose output equals actual; None when none or several do.

    Several matching mistakes with different hints are no evidence for any one of them.
    """
    hints = {
        hint
        for hint, output in mistakes
        if output.shape == actual.shape
        and output.dtype == actual.dtype
        and torch.allclose(actual.double(), output.double(), atol=atol, rtol=1e-4, equal_nan=True)
    }
    return hints.pop() if len(hints) == 1 else None


def assert_matches_golden(
    actual: object,
    gold: Golden,
    key: str,
    *,
    what: str,
    atol: float,
    rtol: float,
    hint: str,
    recognise_mistakes: bool = True,
) -> None:
    """Fail with a learner-friendly message unless actual equals gold[key] within the tolerances.

    The message gives the shape returned and expected, the largest difference and where it is,
    and a hint: the one for the learner's exact mistake when their output matches exactly one
    recorded mistake, else the general hint. It never prints the expected tensor.
    recognise_mistakes=False for outputs too small to tell mistakes apart (a count, a fraction):
    many different mistakes give the same few numbers, so a match would name the wrong one.
    """
    expected = gold[key]
    mistakes = gold.mistakes(key) if recognise_mistakes else []
    if not isinstance(actual, torch.Tensor):
        pytest.fail(
            f"{what} returned a {type(actual).__name__}, expected a torch.Tensor of shape "
            f"{tuple(expected.shape)}.\nHint: {hint}",
            pytrace=False,
        )
    actual = actual.detach().cpu()
    specific = _matching_mistake(actual, mistakes, atol)
    if actual.shape != expected.shape:
        pytest.fail(
            f"{what} returned shape {tuple(actual.shape)}, expected {tuple(expected.shape)}.\n"
            f"Hint: {specific or hint}",
            pytrace=False,
        )
    if actual.dtype != expected.dtype:
        pytest.fail(
            f"{what} returned dtype {actual.dtype}, expected {expected.dtype}.\nHint: {specific or hint}",
            pytrace=False,
        )
    if expected.dtype == torch.bool:
        wrong = actual != expected
    else:
        wrong = ~torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not wrong.any():
        return
    difference = (actual.double() - expected.double()).abs().nan_to_num(nan=float("inf"))
    difference[~wrong] = 0
    index = tuple(int(i) for i in torch.unravel_index(difference.argmax(), difference.shape))
    size = "a boolean mismatch" if expected.dtype == torch.bool else f"off by {difference[index]:.3g}"
    pytest.fail(
        f"{what}: {int(wrong.sum())} of {wrong.numel()} values differ from the golden values "
        f"(tolerance atol={atol:g}, rtol={rtol:g}). The largest difference is at index {index}: "
        f"you returned {actual[index].item():.6g}, {size}.\nHint: {specific or hint}",
        pytrace=False,
    )


def check_shape(actual: object, expected: tuple[int, ...], *, what: str, hint: str) -> None:
    """Fail clearly unless actual is a tensor of the expected shape."""
    if not isinstance(actual, torch.Tensor):
        pytest.fail(
            f"{what} returned a {type(actual).__name__}, expected a torch.Tensor.\nHint: {hint}",
            pytrace=False,
        )
    if tuple(actual.shape) != tuple(expected):
        pytest.fail(
            f"{what} returned shape {tuple(actual.shape)}, expected {tuple(expected)}.\nHint: {hint}",
            pytrace=False,
        )


class TokenLookup(nn.Module):
    """A stand-in classifier for the loss and accuracy exercises: each token id maps to fixed logits.

    Its output has the shape of GPTModel's, (batch, num_tokens, num_classes), but a position's
    logits depend only on its own token, so a test can tell which position was used.
    """

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table.clone())  # (vocab_size, num_classes)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table[input_ids]  # (batch, num_tokens, num_classes)


NO_GRADIENT = (
    "no gradient flows back through it: the result is cut off from its inputs' graph (computed under "
    "`with torch.no_grad():`, or through .detach(), .item(), .tolist(), .numpy() or torch.tensor(...) of "
    "an input), so the layers before it would never train"
)


def assert_gradients_match_golden(
    outputs: tuple[torch.Tensor, ...],
    inputs: dict[str, torch.Tensor],
    gold: Golden,
    key: str,
    *,
    what: str,
    atol: float,
    rtol: float,
    values: tuple[str, ...] = (),
) -> None:
    """Fail unless the gradients of sum(output * upstream) with respect to each input equal the golden ones.

    gold holds the upstream gradients as f"{key}.upstream.{i}" and the reference's gradients as
    f"{key}.grad.{name}"; inputs are the tensors the outputs were computed from, with requires_grad.
    values names the golden values of the outputs, when stored: wrong values make wrong gradients, and
    the message then says so instead of blaming the gradient.
    """
    for output, name in zip(outputs, values, strict=False):
        expected = gold[name]
        if not (
            isinstance(output, torch.Tensor)
            and output.shape == expected.shape
            and torch.allclose(output.detach().cpu(), expected, atol=atol, rtol=rtol, equal_nan=True)
        ):
            pytest.fail(
                f"{what}: its values already differ from the golden ones (the golden-value test shows "
                "where), so its gradients differ too: make the values right first",
                pytrace=False,
            )
    if not any(isinstance(o, torch.Tensor) and o.requires_grad for o in outputs):
        pytest.fail(f"{what}: {NO_GRADIENT}.", pytrace=False)
    total = sum(
        (o * gold[f"{key}.upstream.{i}"]).sum()
        for i, o in enumerate(outputs)
        if isinstance(o, torch.Tensor) and o.requires_grad
    )
    grads = torch.autograd.grad(total, list(inputs.values()), allow_unused=True)
    for (name, tensor), grad in zip(inputs.items(), grads, strict=True):
        expected = gold[f"{key}.grad.{name}"]
        if (grad is None or not grad.any()) and expected.any():
            pytest.fail(
                f"{what}: no gradient reaches `{name}`, but the result depends on it: {NO_GRADIENT}.",
                pytrace=False,
            )
        assert_matches_golden(
            torch.zeros_like(tensor) if grad is None else grad,
            gold,
            f"{key}.grad.{name}",
            what=f"{what}: the gradient with respect to `{name}`",
            atol=atol,
            rtol=rtol,
            hint=(
                "the values are right but the gradient is not: a step is not differentiable as written "
                "(a write through .data, a copy through Python numbers, an in-place change)"
                if values
                else "if the values differ from the golden ones too, make them right first"
            ),
            recognise_mistakes=False,
        )


class DeviceCheckingLookup(TokenLookup):
    """A TokenLookup on a device that fails the test when it is handed inputs on another device."""

    def __init__(self, table: torch.Tensor, device: str, where: str) -> None:
        super().__init__(table.to(device))
        self.device, self.where = torch.device(device), where

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.device != self.device:
            pytest.fail(
                f"{self.where} ran the model on inputs on {input_ids.device}, but was asked for device="
                f"{str(self.device)!r}: move the batch with .to(device) before the forward pass",
                pytrace=False,
            )
        return super().forward(input_ids)


class GradModeRecorder(TokenLookup):
    """A TokenLookup that remembers whether gradients were being recorded at each forward pass."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__(table)
        self.grad_enabled: list[bool] = []

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        return super().forward(input_ids)
