"""The inference plan: length-sorted batches and fast kernels give the plain path's probabilities."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch import seam
from gpt_from_scratch.checkpoint import save_classifier
from gpt_from_scratch.data.sms_spam import read_sms_spam
from gpt_from_scratch.fast import load_for_inference, plan_inference
from gpt_from_scratch.fast.quantize import Int8Linear
from gpt_from_scratch.fast.trunk import FrozenTrunk, Trunk
from gpt_from_scratch.model import GPTModel, model_config
from gpt_from_scratch.predict import class_probabilities, classify_texts
from gpt_from_scratch.predict.batching import BOOK_BATCHING, Batching, length_batches
from gpt_from_scratch.predict.readout import TokenSelector
from gpt_from_scratch.predict.tokenizer import PAD_TOKEN_ID

# fp32 kernels that sum in another order (SDPA, fused layer_norm/gelu, one position of the last block,
# another batch shape) move a tiny model's probabilities by ~1e-7; 1e-5 leaves room and still fails
# on any real difference, such as reading a padding position.
TOLERANCE = 1e-5

READINGS = [  # (position, pooling, causal, context): the readouts finetune can train
    ("last", "token", True, "longest"),  # the book's: reads padding, so batches keep it
    ("flexible", "token", True, "longest"),  # each message's last real token: cut to its own length
    ("first", "token", True, "longest"),
    ("last", "mean", True, "longest"),
    ("last", "mean_with_padding", True, "longest"),
    ("flexible", "token", False, "longest"),  # --no-causal: real tokens attend to padding, so no cutting
    ("last", "token", True, "none"),  # unpadded: only messages of one length share a batch
]


def save_reader(model_dir: Path, position: str, pooling: str, causal: bool, context: str) -> Path:
    """A seeded tiny classifier saved with the options finetune records for this readout."""
    torch.manual_seed(0)
    model = GPTModel(model_config("tiny", causal=causal))
    seam.replace_head(model, 2)
    options = {"position": position, "pooling": pooling, "context": context}
    return save_classifier(
        model, model_dir, {"max_length": 64, "pad_token_id": PAD_TOKEN_ID, "finetune": options}
    )


@pytest.fixture(scope="module")
def messages(sms_file) -> list[str]:
    """120 real SMS messages of every length, from a few tokens to 60 and more."""
    return read_sms_spam(sms_file)["Text"].tolist()[:120]


@pytest.mark.parametrize(("position", "pooling", "causal", "context"), READINGS)
def test_the_fast_path_gives_the_plain_paths_probabilities(
    tmp_path, messages, position, pooling, causal, context
):
    model_dir = save_reader(tmp_path, position, pooling, causal, context)
    device = torch.device("cpu")
    fast, info, plan = load_for_inference(model_dir, device)
    plain, _, exact = load_for_inference(model_dir, device, exact=True)
    assert plan.batching.token_budget is not None and exact.batching == BOOK_BATCHING
    texts = (
        messages[:60] if context == "none" else messages
    )  # unpadded: one message a batch on the plain path
    want = classify_texts(texts, plain, info, truncate=True, batching=exact.batching)
    got = classify_texts(texts, fast, info, truncate=True, batching=plan.batching)
    for a, b in zip(want, got, strict=True):
        assert a.label == b.label
        assert b.spam_probability == pytest.approx(a.spam_probability, abs=TOLERANCE)


def test_the_plan_turns_on_what_applies_to_the_reading():
    cpu = torch.device("cpu")
    book = plan_inference("last", "token", True, cpu)
    assert book.sdpa and book.fused_layers and book.skip_unread
    assert not book.batching.cut_padding  # the book's classifier reads padding
    assert plan_inference("flexible", "token", True, cpu).batching.cut_padding
    assert not plan_inference("flexible", "token", False, cpu).batching.cut_padding  # attends to padding
    assert not plan_inference("last", "mean", True, cpu).skip_unread  # a mean reads every position
    assert plan_inference("last", "token", True, cpu, exact=True) == plan_inference(
        "flexible", "mean", False, cpu, exact=True
    )


def test_the_fast_classifier_skips_the_unread_positions(tmp_path):
    classifier, _, _ = load_for_inference(
        save_reader(tmp_path, "last", "token", True, "longest"), torch.device("cpu")
    )
    assert isinstance(classifier, TokenSelector) and isinstance(classifier.backbone, FrozenTrunk)
    assert classifier.backbone.skip_unread
    plain, _, _ = load_for_inference(tmp_path, torch.device("cpu"), exact=True)
    assert isinstance(plain, GPTModel)  # the book's model itself, read at its last position


def test_frozen_blocks_run_where_they_can_and_the_modules_elsewhere(tmp_path):
    model_dir = save_reader(tmp_path, "last", "token", True, "longest")
    cpu = torch.device("cpu")
    assert plan_inference("last", "token", True, cpu).frozen_blocks
    fp32, _, _ = load_for_inference(model_dir, cpu)
    assert type(fp32.backbone) is FrozenTrunk
    int8, _, _ = load_for_inference(model_dir, cpu, quantize="int8")  # FrozenBlocks run int8 layers in int8
    assert type(int8.backbone) is FrozenTrunk
    assert all(isinstance(layer.fc1, Int8Linear) for layer in int8.backbone.frozen.layers)
    # Attention as the concept computes it (the learner's, under --impl exercises): never FrozenBlocks.
    concept = GPTModel(model_config("tiny"), sdpa=False, fused_layers=True)
    seam.replace_head(concept, 2)
    book = plan_inference("last", "token", True, cpu)
    assert type(book.classifier(concept, "last", "token").backbone) is Trunk


class CountingCalls:
    """Wraps a callable and counts its calls."""

    def __init__(self, wrapped) -> None:
        self.wrapped, self.calls = wrapped, 0

    def __call__(self, *args):
        self.calls += 1
        return self.wrapped(*args)


@pytest.mark.parametrize("position", ["last", "flexible"])
def test_frozen_blocks_run_without_a_gradient_and_the_modules_under_one(tmp_path, messages, position):
    model_dir = save_reader(tmp_path, position, "token", True, "longest")
    classifier, info, plan = load_for_inference(model_dir, torch.device("cpu"))
    trunk = classifier.backbone
    trunk.frozen = CountingCalls(trunk.frozen)
    batch = plan.batching.tensor([info.encode(text, truncate=True) for text in messages[:16]], "cpu")
    with torch.inference_mode():
        fast = classifier(batch)[:, -1]  # (batch, num_classes)
    assert trunk.frozen.calls == 1
    with torch.enable_grad():  # as the app's gradient x input asks: the modules, so autograd sees them
        embedded = trunk.model.tok_emb(batch).detach().requires_grad_(True)
        trunk.model.tok_emb.register_forward_hook(lambda module, inputs, output: embedded)
        graded = classifier(batch)[:, -1]
        (gradient,) = torch.autograd.grad(graded.sum(), embedded)
    assert trunk.frozen.calls == 1 and gradient.abs().sum() > 0
    torch.testing.assert_close(fast, graded.detach(), atol=TOLERANCE, rtol=0)


def test_the_plan_keeps_the_learners_attention_under_exercises():
    with seam.using("solutions"):
        assert plan_inference("last", "token", True, torch.device("cpu")).sdpa
    with seam.using("exercises"):
        assert not plan_inference("last", "token", True, torch.device("cpu")).sdpa


@given(st.lists(st.integers(min_value=1, max_value=130), min_size=1, max_size=60), st.integers(1, 600))
def test_length_batches_hold_every_message_once_within_the_budget(lengths, budget):
    batches = length_batches(lengths, budget)
    assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[index] for index in batch)
        assert len(batch) == 1 or len(batch) * longest <= budget  # a message over the budget goes alone
    flat = [lengths[index] for batch in batches for index in batch]
    assert flat == sorted(flat)  # shortest first: each batch pads little


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=30))
def test_without_mixed_lengths_a_batch_holds_one_length(lengths):
    for batch in length_batches(lengths, 64, mixed_lengths=False):
        assert len({lengths[index] for index in batch}) == 1


def test_a_batch_is_cut_to_its_longest_real_message():
    batching = Batching(token_budget=100, cut_padding=True, pad_token_id=0)
    rows = [[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]]
    assert batching.tensor(rows, "cpu").tolist() == [[5, 6], [7, 0]]
    assert Batching(pad_token_id=0).tensor(rows, "cpu").shape == (2, 5)  # the plain path keeps the padding


def test_probabilities_come_back_in_the_order_given(tiny_model):
    seam.replace_head(tiny_model, 2)
    encoded = [[1] * n for n in (9, 2, 30, 5, 2, 17)]  # sorting by length reorders them
    in_order = torch.cat([class_probabilities([ids], tiny_model) for ids in encoded])
    sorted_batches = Batching(token_budget=40)
    torch.testing.assert_close(class_probabilities(encoded, tiny_model, sorted_batches), in_order)


def test_no_messages_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="no messages"):
        class_probabilities([], tiny_model)
