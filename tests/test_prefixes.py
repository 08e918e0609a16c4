"""P(spam) after each token from one forward pass equals each prefix classified on its own."""

from __future__ import annotations

import torch

from gpt_from_scratch.predict.prefixes import spam_after_each_token
from solutions.classification_head import replace_head


def test_one_forward_pass_answers_for_every_prefix(tiny_model):
    model = replace_head(tiny_model, 2).eval()
    ids = torch.randint(0, 50257, (12,), generator=torch.Generator().manual_seed(3)).tolist()
    after_each = spam_after_each_token(model, ids)
    with torch.no_grad():
        one_by_one = [
            torch.softmax(model(torch.tensor([ids[: t + 1]]))[0, -1], dim=-1)[1] for t in range(len(ids))
        ]
    assert after_each.shape == (len(ids),)
    assert torch.allclose(after_each, torch.stack(one_by_one), atol=1e-6)
