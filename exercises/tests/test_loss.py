# Do not edit: these tests check exercises/loss.py, the file you write.
"""Exercise 4: the last-token cross-entropy loss (exercises/loss.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import (
    DeviceCheckingLookup,
    TokenLookup,
    assert_gradients_match_golden,
    assert_matches_golden,
    golden,
    impl,
    where,
)

pytestmark = pytest.mark.loss

LOSS = where("loss", "calc_loss_batch")


def check_a_loss(loss: object) -> None:
    """The properties every loss has, stated in the concept's terms before any comparison."""
    if not isinstance(loss, torch.Tensor):
        pytest.fail(f"{LOSS} returned a {type(loss).__name__}: return the loss as a tensor", pytrace=False)
    if loss.dim() != 0:
        pytest.fail(
            f"{LOSS} returned shape {tuple(loss.shape)}: the loss is one number for the batch, shape ()",
            pytrace=False,
        )
    if loss.item() < 0:
        pytest.fail(
            f"{LOSS} returned {loss.item():.4g}: the loss is negative, but the cross-entropy of a "
            "probability (-log p, with p <= 1) is never below 0",
            pytrace=False,
        )


def test_loss_matches_golden():
    g = golden("loss")
    model = TokenLookup(g["batch.table"])
    loss = impl("loss").calc_loss_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    check_a_loss(loss)
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


def cross_entropy_in_float64(
    table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """-log softmax(logits)[target] of the last position, averaged: written out, in float64."""
    last = table.double()[inputs[:, -1]]
    return (torch.logsumexp(last, dim=-1) - last[torch.arange(len(targets)), targets]).mean()


def test_loss_stays_finite_for_logits_far_past_exp_overflow():
    # Logits of size ~1e3: exp overflows float32 past 88.7, and softmax rounds small probabilities to 0.
    g = torch.Generator().manual_seed(21)
    model = TokenLookup(torch.randn(20, 3, generator=g) * 1000)
    inputs = torch.randint(0, 20, (8, 4), generator=g)
    targets = torch.randint(0, 3, (8,), generator=g)
    loss = impl("loss").calc_loss_batch(inputs, targets, model, "cpu")
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, f"{LOSS} must return a scalar tensor"
    expected = cross_entropy_in_float64(model.table.detach(), inputs, targets)
    assert torch.isfinite(loss), (
        f"{LOSS} gave {loss.item()} on logits of size ~1e3, where the cross-entropy is "
        f"{expected.item():.6g}. "
        "exp(logits) overflows float32 past 88.7, and log(softmax(...)) is -inf where a probability "
        "rounds to 0: call cross_entropy on the raw logits (it uses log-softmax, which is stable)."
    )
    assert loss.item() >= 0, f"{LOSS} gave {loss.item():.6g}: a cross-entropy is never below 0"
    assert torch.allclose(loss.double(), expected, rtol=1e-4), (
        f"{LOSS} gave {loss.item():.6g} on logits of size ~1e3, but the cross-entropy of the last position "
        f"is {expected.item():.6g}"
    )


def test_float64_logits_give_a_float64_loss():
    g = torch.Generator().manual_seed(22)
    model = TokenLookup(torch.randn(20, 3, generator=g, dtype=torch.float64))
    inputs = torch.randint(0, 20, (5, 3), generator=g)
    targets = torch.randint(0, 3, (5,), generator=g)
    loss = impl("loss").calc_loss_batch(inputs, targets, model, "cpu")
    assert isinstance(loss, torch.Tensor) and loss.dtype == torch.float64, (
        f"{LOSS}: float64 logits must give a float64 loss, got "
        f"{getattr(loss, 'dtype', type(loss).__name__)}: do not convert with .float()"
    )
    expected = cross_entropy_in_float64(model.table.detach(), inputs, targets)
    assert torch.allclose(loss, expected, atol=1e-12), (
        f"{LOSS} gave {loss.item():.10g} on float64 logits, but the cross-entropy is {expected.item():.10g}"
    )


@pytest.mark.parametrize(("batch", "num_tokens"), [(1, 1), (1, 5), (4, 1)])
def test_loss_with_one_example_or_one_token(batch, num_tokens):
    g = torch.Generator().manual_seed(23)
    model = TokenLookup(torch.randn(20, 3, generator=g))
    inputs = torch.randint(0, 20, (batch, num_tokens), generator=g)
    targets = torch.randint(0, 3, (batch,), generator=g)
    loss = impl("loss").calc_loss_batch(inputs, targets, model, "cpu")
    if not isinstance(loss, torch.Tensor):
        pytest.fail(f"{LOSS} returned a {type(loss).__name__}: return the loss tensor", pytrace=False)
    assert loss.dim() == 0, (
        f"{LOSS} returned shape {tuple(loss.shape)} for batch={batch}, num_tokens={num_tokens}: the loss is "
        "one number, shape (); the logits keep their batch dimension when the batch has one example"
    )
    expected = cross_entropy_in_float64(model.table.detach(), inputs, targets)
    assert torch.allclose(loss.double(), expected, atol=1e-5), (
        f"{LOSS} gave {loss.item():.5f} for batch={batch}, num_tokens={num_tokens}; the cross-entropy "
        f"is {expected.item():.5f}"
    )


def test_gradient_of_the_loss_matches_golden():
    g = golden("loss")
    model = TokenLookup(g["batch.table"])
    loss = impl("loss").calc_loss_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    check_a_loss(loss)
    assert_gradients_match_golden(
        (loss,),
        {"table": model.table},
        g,
        "batch.loss",
        what=LOSS,
        atol=1e-6,
        rtol=1e-5,
        values=("batch.loss",),
    )


@pytest.mark.parametrize("training", [True, False], ids=["train mode", "eval mode"])
def test_loss_leaves_the_model_as_it_found_it(training):
    # The loss runs in training (train mode) and in evaluation (eval mode): the caller chooses, and the
    # contract check fails the call if the mode, the weights or their .grad changed.
    g = golden("loss")
    for earlier_gradient in (None, torch.ones_like(g["batch.table"])):  # a caller adding up gradients
        model = TokenLookup(g["batch.table"]).train(training)
        model.table.grad = earlier_gradient
        impl("loss").calc_loss_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
        assert model.training == training, f"{LOSS} changed the model's mode: leave it to the caller"
        kept = (
            model.table.grad is None
            if earlier_gradient is None
            else torch.equal(model.table.grad, earlier_gradient)
        )
        assert kept, f"{LOSS} changed the model's .grad: leave gradients to the training loop"


@pytest.mark.parametrize("device", ["meta", torch.device("meta")], ids=["string", "torch.device"])
def test_loss_is_computed_on_the_device_asked_for(device):
    # PyTorch's "meta" device holds shapes but no values: it shows, without a GPU, where the work runs.
    g = golden("loss")
    model = DeviceCheckingLookup(g["batch.table"], "meta", LOSS)
    loss = impl("loss").calc_loss_batch(g["batch.inputs"], g["batch.targets"], model, device)
    assert isinstance(loss, torch.Tensor) and loss.device.type == "meta", (
        f"{LOSS}(..., device={device!r}) returned a loss on "
        f"{getattr(loss, 'device', type(loss).__name__)}: move input_batch and target_batch to `device`"
    )
