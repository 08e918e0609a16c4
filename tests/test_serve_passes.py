"""The app through the inference plan: its passes counted, and its answers those of the plain path."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from serving import HAM, SPAM
from test_inference_plan import TOLERANCE, save_reader

from gpt_from_scratch.predict import gpt_model
from gpt_from_scratch.serving.inference import ServedClassifier, pasted_messages
from gpt_from_scratch.serving.page import one_message

TEXTS = [SPAM, HAM, "Ok lar... Joking wif u oni...", "FREE entry! Txt WIN to 87121 now", "k"]
READINGS = [  # (position, pooling, causal, context), as test_inference_plan saves them
    ("last", "token", True, "longest"),  # the book's: reads the padding after the message
    ("flexible", "token", True, "longest"),  # its last real token: batches cut to each message's length
    ("last", "mean", True, "longest"),  # a mean: every position read
]


@pytest.fixture
def passes(monkeypatch) -> Counter:
    """Count the model's forward passes (each embeds its tokens once) and the backward passes."""
    counts = Counter()
    grad, backward = torch.autograd.grad, torch.Tensor.backward

    def counted_grad(*args, **kwargs):
        counts["backward"] += 1
        return grad(*args, **kwargs)

    def counted_backward(*args, **kwargs):
        counts["backward"] += 1
        return backward(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counted_grad)
    monkeypatch.setattr(torch.Tensor, "backward", counted_backward)
    return counts


def count_forwards(served: ServedClassifier, counts: Counter) -> None:
    """Add one to counts["forward"] each time the served model embeds a batch of tokens."""
    gpt_model(served.classifier).tok_emb.register_forward_hook(lambda *_: counts.update(["forward"]))


def test_one_messages_answer_and_reasons_take_one_forward_and_one_backward(tmp_path, passes):
    served = ServedClassifier.load(save_reader(tmp_path, "last", "token", True, "longest"))
    count_forwards(served, passes)
    answer = served.answer(SPAM, "gradient")
    assert passes == {"forward": 1, "backward": 1}
    # The prediction is the gradient pass's own, the one classify gives.
    assert answer.prediction.label == served.predict([SPAM])[0].label
    assert answer.prediction.spam_probability == pytest.approx(
        served.predict([SPAM])[0].spam_probability, abs=TOLERANCE
    )


def test_the_one_message_tab_adds_only_the_prefix_curves_forward(tmp_path, passes):
    served = ServedClassifier.load(save_reader(tmp_path, "last", "token", True, "longest"))
    count_forwards(served, passes)
    verdict, *_, curve = one_message(served, SPAM, "gradient")
    assert passes == {"forward": 2, "backward": 1}  # the answer's pass, and the curve's
    # The book's classifier reads the padding: the curve ends on the answer's own verdict.
    answer = served.answer(SPAM, "gradient")
    assert curve["P(spam)"].iloc[-1] == answer.prediction.spam_probability
    assert f"{answer.prediction.spam_probability:.3f}" in verdict


@pytest.mark.parametrize(("position", "pooling", "causal", "context"), READINGS)
def test_the_served_fast_path_answers_as_the_plain_path(tmp_path, position, pooling, causal, context):
    model_dir = save_reader(tmp_path, position, pooling, causal, context)
    fast, plain = ServedClassifier.load(model_dir), ServedClassifier.load(model_dir, exact=True)
    assert fast.plan.batching.token_budget is not None and plain.plan.batching.token_budget is None
    for want, got in zip(plain.predict(TEXTS), fast.predict(TEXTS), strict=True):
        assert got.label == want.label
        assert got.spam_probability == pytest.approx(want.spam_probability, abs=TOLERANCE)
    for method in ("gradient", "occlusion"):
        for text in (SPAM, HAM):
            want, got = plain.answer(text, method), fast.answer(text, method)
            assert got.prediction.label == want.prediction.label
            assert got.prediction.spam_probability == pytest.approx(
                want.prediction.spam_probability, abs=TOLERANCE
            )
            assert [p.positions for p in got.pieces] == [p.positions for p in want.pieces]
            assert [p.change for p in got.pieces] == pytest.approx(
                [p.change for p in want.pieces], abs=TOLERANCE
            )
    messages = pasted_messages("\n".join(TEXTS * 5))  # 25 messages: several length-sorted batches
    want, got = plain.classify_messages(messages), fast.classify_messages(messages)
    want_p = {row.message.number: row.prediction.spam_probability for row in want.rows}
    got_p = {row.message.number: row.prediction.spam_probability for row in got.rows}
    assert got_p == pytest.approx(want_p, abs=TOLERANCE)
