"""Instructor-only: exercise 1 on shapes larger than the public tests use, against the reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import impl, reference, where

pytestmark = [pytest.mark.attention, pytest.mark.instructor(points=10, visibility="after_published")]


@pytest.fixture(autouse=True)
def reference_apply_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in the public tests: exercise 1 is graded alone, with the reference apply_mask (exercise 2).
    monkeypatch.setattr(impl("attention"), "apply_mask", reference("causal_mask").apply_mask, raising=False)


def assert_close(actual: object, expected: torch.Tensor, what: str) -> None:
    assert isinstance(actual, torch.Tensor), f"{what} returned a {type(actual).__name__}, not a tensor"
    assert actual.shape == expected.shape, (
        f"{what} returned shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    )
    error = (actual - expected).abs().max().item() if expected.numel() else 0.0
    assert error <= 1e-4, f"{what} differs from the reference by up to {error:.3g}"


@given(
    batch=st.integers(1, 3),
    heads=st.integers(1, 12),
    num_tokens=st.integers(1, 64),
    head_dim=st.integers(1, 64),
    masked=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_attention_on_large_shapes(batch, heads, num_tokens, head_dim, masked, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, num_tokens, head_dim, generator=g) for _ in range(3))
    mask = reference("causal_mask").causal_mask(num_tokens) if masked else None
    result = impl("attention").scaled_dot_product_attention(q, k, v, mask)
    expected = reference("attention").scaled_dot_product_attention(q, k, v, mask)
    what = where("attention", "scaled_dot_product_attention")
    assert isinstance(result, tuple) and len(result) == 2, f"{what} must return (context, weights)"
    assert_close(result[0], expected[0], f"{what} (context, shape {tuple(q.shape)})")
    assert_close(result[1], expected[1], f"{what} (weights, shape {tuple(q.shape)})")


@given(
    batch=st.integers(1, 4),
    heads=st.integers(1, 16),
    num_tokens=st.integers(1, 128),
    head_dim=st.integers(1, 64),
    seed=st.integers(0, 2**16),
)
def test_split_and_merge_heads_on_large_shapes(batch, heads, num_tokens, head_dim, seed):
    x = torch.randn(batch, num_tokens, heads * head_dim, generator=torch.Generator().manual_seed(seed))
    split = impl("attention").split_heads(x, heads)
    assert_close(split, reference("attention").split_heads(x, heads), where("attention", "split_heads"))
    merged = impl("attention").merge_heads(split)
    assert_close(merged, x, f"{where('attention', 'merge_heads')} of split_heads(x)")
