"""The seam: one `with` block decides whether solutions/ or exercises/ run inside the model."""

from __future__ import annotations

import sys
import types

import pytest
import torch

import solutions.attention
from gpt_from_scratch import seam


def test_solutions_are_the_default_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv(seam.ENV_VAR, "exercises")  # only a command line's --impl default reads it
    assert seam.current() == "solutions"
    assert seam.module("attention") is solutions.attention


def test_a_choice_lasts_for_its_with_block_only():
    with seam.using("exercises"):
        assert seam.current() == "exercises"
        with seam.using("solutions"):
            assert seam.current() == "solutions"
        assert seam.current() == "exercises"
    assert seam.current() == "solutions"


def test_a_choice_is_restored_after_an_error():
    with pytest.raises(RuntimeError), seam.using("exercises"):
        raise RuntimeError("a stub failed")
    assert seam.current() == "solutions"


def test_unknown_implementation_is_refused():
    with pytest.raises(ValueError, match="solutions, exercises"), seam.using("homework"):
        pass


def test_model_runs_whatever_implementation_is_chosen(monkeypatch, tiny_model):
    # A stand-in "exercises" package whose attention counts its calls and defers to the solution.
    calls = []
    fake = types.ModuleType("exercises")
    fake_attention = types.ModuleType("exercises.attention")

    def scaled_dot_product_attention(q, k, v, mask=None):
        calls.append(q.shape)
        return solutions.attention.scaled_dot_product_attention(q, k, v, mask)

    fake_attention.scaled_dot_product_attention = scaled_dot_product_attention
    fake_attention.split_heads = solutions.attention.split_heads
    fake_attention.merge_heads = solutions.attention.merge_heads
    monkeypatch.setitem(sys.modules, "exercises", fake)
    monkeypatch.setitem(sys.modules, "exercises.attention", fake_attention)
    monkeypatch.setitem(sys.modules, "exercises.causal_mask", sys.modules["solutions.causal_mask"])

    ids = torch.randint(0, 100, (1, 4))
    expected = tiny_model(ids)
    with seam.using("exercises"):
        torch.testing.assert_close(tiny_model(ids), expected)
    assert len(calls) == tiny_model.cfg.n_layers


def test_missing_exercises_package_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "exercises", None)  # makes the import fail,
    monkeypatch.setitem(sys.modules, "exercises.attention", None)  # even once the exercises were imported
    with seam.using("exercises"), pytest.raises(ModuleNotFoundError, match="exercises/attention.py"):
        seam.module("attention")


def test_only_the_seam_imports_solutions_or_exercises():
    from pathlib import Path

    package = Path(seam.__file__).parent
    offenders = [
        path.name
        for path in package.glob("*.py")
        if path.name != "seam.py"
        and any(
            line.startswith(("import solutions", "from solutions", "import exercises", "from exercises"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_a_wrong_shape_from_a_learners_function_is_named_inside_the_model(monkeypatch, tiny_model):
    from gpt_from_scratch.errors import ShapeError

    fake_attention = types.ModuleType("exercises.attention")
    fake_attention.__dict__.update(vars(solutions.attention))
    fake_attention.split_heads = lambda x, num_heads: x.view(
        x.shape[0], x.shape[1], num_heads, -1
    )  # no transpose
    monkeypatch.setitem(sys.modules, "exercises", types.ModuleType("exercises"))
    monkeypatch.setitem(sys.modules, "exercises.attention", fake_attention)
    with (
        seam.using("exercises"),
        pytest.raises(ShapeError, match=r"exercises/attention.py::split_heads returned \(1, 4, 2, 16\)"),
    ):
        tiny_model(torch.randint(0, 100, (1, 4)))
