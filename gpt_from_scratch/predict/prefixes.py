"""P(spam) after each token of a message, every prefix at once, from one forward pass.

Under the causal mask, the model's output at token t has seen tokens 0..t and nothing after: it is
what the classifier reads for the message cut after token t. One forward pass over the message
therefore answers for all its prefixes, where classifying each prefix anew would take one pass each.
For a classifier trained to read each message's last real token (--position flexible) the value at
t is exactly its answer for that prefix; for the book's recipe, which reads the padding after the
message, it is how the evidence builds up, read at the real tokens.
"""

from __future__ import annotations

import torch
from torch import nn


def prefix_probabilities(logits: torch.Tensor, class_index: int = 1) -> torch.Tensor:
    """P(class_index) at each position of one message's logits: (tokens, classes) -> (tokens,)."""
    return torch.softmax(logits.detach().float(), dim=-1)[:, class_index]


def spam_after_each_token(model: nn.Module, ids: list[int], spam_index: int = 1) -> torch.Tensor:
    """P(spam) after each of the message's tokens, from one forward pass of the model over all positions."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(torch.tensor([ids], device=device))[0]  # (num_tokens, num_classes)
    return prefix_probabilities(logits, spam_index)
