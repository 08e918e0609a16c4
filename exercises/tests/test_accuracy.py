# Do not edit: these tests check exercises/accuracy.py, the file you write.
"""Exercise 5: classification accuracy over a batch and over a data loader (exercises/accuracy.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from gpt_from_scratch.grading.checks import (
    DeviceCheckingLookup,
    GradModeRecorder,
    TokenLookup,
    assert_matches_golden,
    golden,
    impl,
    where,
)

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
    if result == (correct, batch):
        return
    # The same call on a batch of 5 messages of 3 tokens: right there and wrong here points at a size-1 axis.
    larger = torch.randint(0, 10, (5, 3), generator=g), torch.randint(0, 3, (5,), generator=g)
    larger_correct = int((model.table[larger[0][:, -1]].argmax(dim=-1) == larger[1]).sum())
    right_when_larger = impl("accuracy").calc_accuracy_batch(*larger, model, "cpu") == (larger_correct, 5)
    pytest.fail(
        f"{BATCH} on batch={batch}, num_tokens={num_tokens}: expected ({correct}, {batch}), got {result!r}."
        + (
            " It is right on a batch of 5 messages of 3 tokens: an axis of size one was dropped "
            "(.squeeze() or indexing with [0]): keep every dimension."
            if right_when_larger
            else ""
        ),
        pytrace=False,
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


def test_batch_counts_are_python_ints():
    g, model, _ = golden_setup()
    result = impl("accuracy").calc_accuracy_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    kinds = tuple(type(count).__name__ for count in result) if isinstance(result, tuple) else None
    assert kinds == ("int", "int"), (
        f"{BATCH} returned counts of types {kinds or type(result).__name__}: return two Python ints "
        "(int(tensor.sum().item())), not floats or tensors, so that the caller can add them up exactly"
    )


def test_loader_accuracy_is_a_python_float():
    _, model, loader = golden_setup()
    accuracy = impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    assert type(accuracy) is float, (
        f"{LOADER} returned a {type(accuracy).__name__}: return a Python float (correct / total of two ints)"
    )


@pytest.mark.parametrize("function", ["calc_accuracy_batch", "calc_accuracy_loader"])
def test_accuracy_builds_no_graph(function):
    # Evaluating needs no gradients: recording the graph would only cost memory and time.
    g, _, loader = golden_setup()
    model = GradModeRecorder(g["batch.table"])
    if function == "calc_accuracy_batch":
        impl("accuracy").calc_accuracy_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    else:
        impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    assert model.grad_enabled and not any(model.grad_enabled), (
        f"{where('accuracy', function)} ran the model with gradient recording on: run the forward pass "
        "inside `with torch.no_grad():` (torch.no_grad() on a line of its own does nothing)"
    )


class LookupWithDropout(TokenLookup):
    """A TokenLookup whose logits go through dropout inside a submodule, as GPTModel's do."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__(table)
        self.inner = torch.nn.Sequential(torch.nn.Dropout(0.5))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.inner(super().forward(input_ids))


def test_loader_puts_every_submodule_in_eval_mode():
    g, _, loader = golden_setup()
    model = LookupWithDropout(g["batch.table"]).train()
    impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    training = [name or "the model itself" for name, m in model.named_modules() if m.training]
    assert training == [], (
        f"{LOADER}: after the call, {training} are still in training mode, so dropout stays on: call "
        "model.eval(), which switches every submodule; setting model.training = False switches only the top"
    )


@pytest.mark.parametrize("num_batches", [None, 1, 2, 3, 4, 100])
def test_loader_accuracy_for_every_num_batches(num_batches):
    # 10 examples in batches of 4, 4 and 2: num_batches=None or anything from 3 up means all of them.
    g, model, loader = golden_setup()
    accuracy = impl("accuracy").calc_accuracy_loader(loader, model, "cpu", num_batches)
    used = 10 if num_batches is None else min(4 * num_batches, 10)
    predicted = g["batch.table"][g["batch.inputs"][:used, -1]].argmax(dim=-1)
    expected = (predicted == g["batch.targets"][:used]).sum().item() / used
    assert accuracy == pytest.approx(expected, abs=1e-12), (
        f"{LOADER}(num_batches={num_batches}) on 3 batches (4, 4 and 2 examples) returned {accuracy!r}; "
        f"the first {used} examples give {expected!r}."
        + (" num_batches beyond the loader's length means all batches." if (num_batches or 0) > 3 else "")
    )


@pytest.mark.parametrize("case", ["num_batches=0", "an empty loader"])
def test_loader_refuses_to_average_no_examples(case):
    g, model, loader = golden_setup()
    if case == "an empty loader":
        loader = DataLoader(TensorDataset(g["batch.inputs"][:0], g["batch.targets"][:0]), batch_size=4)
    num_batches = 0 if case == "num_batches=0" else None
    try:
        result = impl("accuracy").calc_accuracy_loader(loader, model, "cpu", num_batches)
    except ValueError:
        return
    except ZeroDivisionError:
        pytest.fail(
            f"{LOADER} with {case} divided by zero: check for no examples and raise a ValueError that "
            "says so",
            pytrace=False,
        )
    pytest.fail(
        f"{LOADER} with {case} returned {result!r}, but no example was classified: an accuracy of nothing "
        "is undefined, so raise ValueError (0.0 or nan would read as a real result)",
        pytrace=False,
    )


def test_batch_runs_the_model_on_the_device_asked_for():
    # PyTorch's "meta" device holds shapes but no values: it shows, without a GPU, where the model runs.
    # Counting needs values, so on meta the call may stop after the forward pass with PyTorch's error.
    g, _, _ = golden_setup()
    model = DeviceCheckingLookup(g["batch.table"], "meta", BATCH)
    try:
        impl("accuracy").calc_accuracy_batch(g["batch.inputs"], g["batch.targets"], model, "meta")
    except (RuntimeError, NotImplementedError) as error:
        if "meta" not in str(error):
            raise


def test_loader_accuracy_follows_the_model_between_calls():
    # The same loader and model, evaluated again after training changed the weights (and left the model
    # in training mode): the answer is about the model as it is now.
    model = TokenLookup(torch.eye(2))
    loader = DataLoader(
        TensorDataset(torch.tensor([[0], [1], [0], [1]]), torch.tensor([0, 1, 1, 1])), batch_size=2
    )
    first = impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    assert first == pytest.approx(0.75), f"{LOADER}: 3 of the 4 examples are right, got {first!r}"
    with torch.no_grad():
        model.table.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # now every token says class 0
    model.train()
    second = impl("accuracy").calc_accuracy_loader(loader, model, "cpu")
    assert second == pytest.approx(0.25), (
        f"{LOADER}: after the weights changed, 1 of the 4 examples is right (0.25), got {second!r}: compute "
        "the accuracy anew on every call (no cache)"
    )
    assert not model.training, f"{LOADER}: the second call left the model in training mode: call model.eval()"


@pytest.mark.parametrize("training", [True, False], ids=["train mode", "eval mode"])
def test_batch_leaves_the_model_in_its_mode(training):
    # calc_accuracy_batch is called inside calc_accuracy_loader, which chose the mode: it keeps it.
    g, model, _ = golden_setup()
    model.train(training)
    impl("accuracy").calc_accuracy_batch(g["batch.inputs"], g["batch.targets"], model, "cpu")
    assert model.training == training, f"{BATCH} changed the model's mode: leave it to the caller"
