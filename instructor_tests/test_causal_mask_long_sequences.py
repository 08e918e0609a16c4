"""Instructor-only: exercise 2 on sequences as long as GPT-2's context, against the reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import impl, reference, where

pytestmark = [pytest.mark.causal_mask, pytest.mark.instructor(points=5, visibility="after_published")]


@pytest.mark.parametrize("num_tokens", [1, 2, 255, 1024])
def test_causal_mask_of_long_sequences(num_tokens):
    mask = impl("causal_mask").causal_mask(num_tokens)
    expected = reference("causal_mask").causal_mask(num_tokens)
    what = where("causal_mask", "causal_mask")
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool, f"{what} must return a bool tensor"
    assert torch.equal(mask, expected), f"{what}({num_tokens}) differs from the reference"


@given(
    leading=st.lists(st.integers(1, 4), max_size=2), num_tokens=st.integers(1, 96), seed=st.integers(0, 2**16)
)
def test_apply_mask_on_large_scores(leading, num_tokens, seed):
    scores = torch.randn(*leading, num_tokens, num_tokens, generator=torch.Generator().manual_seed(seed))
    mask = reference("causal_mask").causal_mask(num_tokens)
    actual = impl("causal_mask").apply_mask(scores.clone(), mask)
    expected = reference("causal_mask").apply_mask(scores.clone(), mask)
    what = where("causal_mask", "apply_mask")
    assert isinstance(actual, torch.Tensor) and actual.shape == expected.shape, f"{what}: wrong shape"
    assert torch.equal(actual, expected), (
        f"{what} differs from the reference on scores of shape {tuple(scores.shape)}"
    )
