# Do not edit: these tests check exercises/accuracy.py, the file you write.
"""Exercise 5: classification accuracy over a batch and over a data loader (exercises/accuracy.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from gpt_from_scratch.grading.checks import TokenLookup, assert_matches_golden, golden, impl, where

pytestmark = pytest.mark.accuracy

BATCH = where("accuracy", "calc_accuracy_batch")
LOADER = where("accuracy", "calc_accuracy_loader")


def golden_setup():
    g = golden("accuracy")
    model = TokenLookup(g["batch.table"])
    loader = DataLoader(TensorDataset(g["batch.inputs"], g["batch.targets"]), batch_size=4)  # 4 + 4 + 2
    return g, model, loader


def test_batch_counts_match_golden():
    g, model, _ = golden_setup()
    result = impl("accuracy").calc_accuracy_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail(
            f"{BATCH} must return (number correct, number of examples), got {result!r}", pytrace=False
        )
    correct, total = result
    batch = len(g["batch.targets"])
    if total != batch:
        pytest.fail(
            f"{BATCH} returned {total!r} as the number of examples, but the batch has {batch}",
            pytrace=False,
        )
    if not float(correct).is_integer() or not 0 <= correct <= total:
        pytest.fail(
            f"{BATCH} returned {correct!r} as the number correct: a count of examples, a whole number "
            f"from 0 to {total} (the fraction is calc_accuracy_loader's job)",
            pytrace=False,
        )
    assert_matches_golden(
        torch.tensor(result, dtype=torch.float64),
        g,
        "batch.counts",
        what=f"{BATCH} (correct, total)",
        atol=0,
        rtol=0,
        hint="argmax over the classes of the last token's logits, compared with the targets",
        recognise_mistakes=False,  # two counts: many different mistakes give the same pair
    )


@pytest.mark.parametrize(("num_batches", "key"), [(None, "loader.all"), (2, "loader.first2")])
def test_loader_accuracy_matches_golden(num_batches, key):
    g, model, loader = golden_setup()
    accuracy = impl("accuracy").calc_accuracy_loader(loader, model, "cpu", num_batches)
    if isinstance(accuracy, (int, float)) and not 0 <= accuracy <= 1:
        pytest.fail(
            f"{LOADER}(num_batches={num_batches}) returned {accuracy!r}: accuracy "
            f"{accuracy!r} is {'above 1' if accuracy > 1 else 'below 0'}: return a fraction, "
            "correct / total, between 0 and 1",
            pytrace=False,
        )
    assert_matches_golden(
        torch.tensor(accuracy, dtype=torch.float64),
        g,
        key,
        what=f"{LOADER}(num_batches={num_batches})",
        atol=1e-12,
        rtol=0,
        hint="total correct / total examples over the first num_batches batches",
        recognise_mistakes=False,  # one fraction of 10 examples: different mistakes give the same one
    )


def test_hand_checkable_batch():
    # Token 0 says class 0, token 1 says class 1, token 2 says class 2; only the last token counts.
    model = TokenLookup(torch.eye(3))
    inputs = torch.tensor([[1, 0], [2, 1], [0, 2], [2, 2]])  # predictions: 0, 1, 2, 2
    targets = torch.tensor([0, 1, 1, 2])
    assert impl("accuracy").calc_accuracy_batch(inputs, targets, model, "cpu") == (3, 4), (
        f"{BATCH}: last tokens predict classes [0, 1, 2, 2] against targets [0, 1, 1, 2]: expected (3, 4)"
    )


@example(size=10, batch_size=4, seed=0)  # checked first: fails fast
@given(size=st.integers(1, 12), batch_size=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_loader_accuracy_is_a_fraction_that_ignores_batch_order(size, batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    model = TokenLookup(torch.randn(10, 2, generator=g))
    inputs = torch.randint(0, 10, (size, 3), generator=g)
    targets = torch.randint(0, 2, (size,), generator=g)
    order = torch.randperm(size, generator=g)
    forward = impl("accuracy").calc_accuracy_loader(
        DataLoader(TensorDataset(inputs, targets), batch_size=batch_size), model, "cpu"
    )
    shuffled = impl("accuracy").calc_accuracy_loader(
        DataLoader(TensorDataset(inputs[order], targets[order]), batch_size=batch_size), model, "cpu"
    )
    assert 0.0 <= forward <= 1.0, f"{LOADER} returned {forward}, but an accuracy lies in [0, 1]"
    predicted = model.table[inputs[:, -1]].argmax(dim=-1)
    exact = (predicted == targets).float().mean().item()
    assert forward == pytest.approx(exact), (
        f"{LOADER} returned {forward}, but {exact} of the examples are right"
    )
    assert forward == pytest.approx(shuffled), f"{LOADER} depends on the order of the examples"


def test_loader_leaves_the_model_in_eval_mode():
    _, model, loader = golden_setup()
    model.train()
    impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    assert not model.training, f"{LOADER}: call model.eval() before evaluating (it switches off dropout)"


def test_batch_with_logits_far_past_exp_overflow():
    # The largest logit wins however large the logits are; exp(1000) is inf in float32, so a softmax
    # written as exp / sum gives nan, and argmax of nan is not the largest logit.
    model = TokenLookup(torch.tensor([[1000.0, 2000.0], [3000.0, 1000.0], [-2000.0, -1000.0]]))
    inputs = torch.tensor([[2, 0], [0, 1], [1, 2]])  # last tokens 0, 1, 2: predictions 1, 0, 1
    targets = torch.tensor([1, 0, 1])
    result = impl("accuracy").calc_accuracy_batch(inputs, targets, model, "cpu")
    assert result == (3, 3), (
        f"{BATCH}: logits [1000, 2000], [3000, 1000], [-2000, -1000] predict classes [1, 0, 1], which are "
        f"all right: expected (3, 3), got {result!r}. The prediction is the argmax of the logits: no softmax "
        "is needed, and exp(logits) overflows float32 past 88.7."
    )


@pytest.mark.parametrize(("batch", "num_tokens"), [(1, 1), (1, 3), (4, 1)])
def test_batch_with_one_example_or_one_token(batch, num_tokens):
    g = torch.Generator().manual_seed(31)
    model = TokenLookup(torch.randn(10, 3, generator=g))
    inputs = torch.randint(0, 10, (batch, num_tokens), generator=g)
    targets = torch.randint(0, 3, (batch,), generator=g)
    correct = int((model.table[inputs[:, -1]].argmax(dim=-1) == targets).sum())
    result = impl("accuracy").calc_accuracy_batch(inputs, targets, model, "cpu")
    assert result == (correct, batch), (
        f"{BATCH} on batch={batch}, num_tokens={num_tokens}: expected ({correct}, {batch}), got {result!r}. "
        "Do not .squeeze(): a batch of 1 keeps its dimension."
    )


def test_loader_accuracy_counts_the_last_partial_batch_and_gives_the_same_answer_twice():
    # 7 examples in batches of 3: 3 + 3 + 1. The lone last example is right, all others wrong.
    model = TokenLookup(torch.eye(2))
    inputs = torch.tensor([[0]] * 6 + [[1]])  # predictions: 0 six times, then 1
    targets = torch.tensor([1] * 6 + [1])
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=3)
    first = impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    second = impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    assert first == pytest.approx(1 / 7), (
        f"{LOADER}: 1 of 7 examples is right (batches of 3, 3 and 1), so the accuracy is {1 / 7:.4f}; "
        f"got {first!r}. Divide the total correct by the total number of examples."
    )
    assert second == first, f"{LOADER} gave {first!r}, then {second!r} on the same loader: keep no state"
