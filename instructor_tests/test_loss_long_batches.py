"""Instructor-only: exercise 4 on long, large batches and many classes, against the reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import TokenLookup, impl, reference, where

pytestmark = [pytest.mark.loss, pytest.mark.instructor(points=5, visibility="after_published")]


@given(
    batch=st.integers(1, 64),
    num_tokens=st.integers(1, 256),
    num_classes=st.integers(2, 10),
    seed=st.integers(0, 2**16),
)
def test_loss_on_long_batches(batch, num_tokens, num_classes, seed):
    g = torch.Generator().manual_seed(seed)
    model = TokenLookup(torch.randn(500, num_classes, generator=g) * 3)
    inputs = torch.randint(0, 500, (batch, num_tokens), generator=g)
    targets = torch.randint(0, num_classes, (batch,), generator=g)
    loss = impl("loss").calc_loss_batch(inputs, targets, model, "cpu")
    expected = reference("loss").calc_loss_batch(inputs, targets, model, "cpu")
    what = where("loss", "calc_loss_batch")
    assert isinstance(loss, torch.Tensor) and loss.shape == (), f"{what} must return a scalar tensor"
    assert torch.allclose(loss, expected, atol=1e-5), (
        f"{what} on {batch} messages of {num_tokens} tokens, {num_classes} classes: {loss.item():.5g}, "
        f"the reference gives {expected.item():.5g}"
    )
