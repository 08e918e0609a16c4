# Do not edit: these tests check exercises/loss.py, the file you write.
"""Exercise 4: the last-token cross-entropy loss (exercises/loss.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import TokenLookup, assert_matches_golden, golden, impl, where

pytestmark = pytest.mark.loss

LOSS = where("loss", "calc_loss_batch")


def test_loss_matches_golden():
    g = golden("loss")
    model = TokenLookup(g["batch.table"])
    loss = impl("loss").calc_loss_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    assert_matches_golden(
        loss,
        g,
        "batch.loss",
        what=LOSS,
        atol=1e-6,
        rtol=1e-5,
        hint="cross_entropy(model(inputs)[:, -1, :], targets): a scalar, the mean over the batch",
    )


@example(batch=3, num_tokens=4, num_classes=2, seed=0)  # checked first: fails fast
@given(
    batch=st.integers(1, 5),
    num_tokens=st.integers(1, 6),
    num_classes=st.integers(2, 4),
    seed=st.integers(0, 2**16),
)
def test_loss_is_cross_entropy_of_the_last_position(batch, num_tokens, num_classes, seed):
    g = torch.Generator().manual_seed(seed)
    model = TokenLookup(torch.randn(30, num_classes, generator=g))
    inputs = torch.randint(0, 30, (batch, num_tokens), generator=g)
    targets = torch.randint(0, num_classes, (batch,), generator=g)
    loss = impl("loss").calc_loss_batch(inputs, targets, model, "cpu")
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, f"{LOSS} must return a scalar tensor"
    # Cross-entropy written out: -log softmax(logits)[target], averaged over the batch.
    last = model.table[inputs[:, -1]]
    expected = (torch.logsumexp(last, dim=-1) - last[torch.arange(batch), targets]).mean()
    assert torch.allclose(loss, expected, atol=1e-5), (
        f"{LOSS} gave {loss.item():.5f}, but cross-entropy on the last position's logits "
        f"is {expected.item():.5f}"
    )


def test_loss_can_be_backpropagated():
    g = golden("loss")
    model = TokenLookup(g["batch.table"])
    impl("loss").calc_loss_batch(g["batch.inputs"], g["batch.targets"], model, "cpu").backward()
    assert model.table.grad is not None, f"{LOSS}: the loss must stay connected to the model's parameters"
    touched = model.table.grad.abs().sum(dim=-1).nonzero().flatten().tolist()
    last_tokens = sorted(set(g["batch.inputs"][:, -1].tolist()))
    assert touched == last_tokens, (
        f"{LOSS}: the gradient reached tokens {touched}, but only the last tokens {last_tokens} should matter"
    )
