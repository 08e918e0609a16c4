"""The One message tab's prefix curve: P(spam) after each token, every prefix from one forward pass."""

from __future__ import annotations

import torch

from gpt_from_scratch.model import GPTModel
from gpt_from_scratch.serving.inference import prefix_curve

SPAM = "Congratulations! You have won a FREE prize. Call 09061701461 now to claim"


def test_the_curve_gives_each_prefix_what_the_model_says_for_it_alone(served):
    curve = prefix_curve(served, SPAM)
    ids = served.tokenizer.encode(SPAM)
    model = next(m for m in served.classifier.modules() if isinstance(m, GPTModel))
    after = curve[curve["read"] == "after this token"]
    assert after["token number"].tolist() == list(range(1, len(ids) + 1))
    assert "".join(after["token"]) == SPAM
    with torch.no_grad():
        alone = [
            torch.softmax(model(torch.tensor([ids[:t]]))[0, -1], dim=-1)[served.spam_index]
            for t in range(1, len(ids) + 1)
        ]
    assert torch.allclose(torch.tensor(after["P(spam)"].tolist()), torch.stack(alone), atol=1e-5)


def test_a_classifier_that_reads_the_padding_shows_its_verdict_after_the_last_token(served):
    # The app's test classifier is trained the book's way: it reads the padding after the message.
    curve = prefix_curve(served, SPAM)
    verdict = curve[curve["read"] != "after this token"]
    assert len(verdict) == 1
    assert verdict["token number"].item() == len(served.tokenizer.encode(SPAM)) + 1
    assert verdict["P(spam)"].item() == served.predict([SPAM])[0].spam_probability
