"""Exercise 2: the causal mask. A token may attend to itself and to the tokens before it, never after.

Book: chapter 3, section 3.5 (hiding future words with causal attention). Check your work with
`pytest exercises/ -m causal_mask`.
"""

from __future__ import annotations

import torch


def causal_mask(num_tokens: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Return a boolean (num_tokens, num_tokens) mask that is True where query i must not see key j.

    Query i may see keys 0 ... i (itself included), so the mask is True strictly above the
    diagonal (j > i) and False on and below it. Create it on `device`.

    Contract: a new boolean tensor on `device` (None: the default device), for any num_tokens
    from 1 up, past GPT-2's 1,024 too: build it for each call and keep nothing between calls.
    torch's global settings (the default device among them) are left alone.

    Hint: `torch.triu` keeps the upper triangle; its `diagonal` argument says where it starts.
    """
    raise NotImplementedError("exercises/causal_mask.py::causal_mask")


def apply_mask(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the attention scores with every masked position set to -inf.

    scores is (..., num_tokens, num_tokens); mask is (num_tokens, num_tokens), True where hidden,
    and broadcasts over the leading dimensions. After softmax, e^-inf = 0: a masked key gets
    weight exactly 0. Do not change `scores` in place: return a new tensor.

    Contract: scores and mask are left unchanged; the result has the scores' shape, dtype and
    device, and the gradient flows back through it to the visible scores (0 for the hidden ones).

    Hint: `Tensor.masked_fill` (without the trailing underscore, which would work in place).
    """
    raise NotImplementedError("exercises/causal_mask.py::apply_mask")
