"""Which messages share a batch when a classifier scores many: in order, or sorted by length.

The plain path scores eight messages at a time in the order given, as the book does. A batch's
cost is its rows times its longest row, so the fast path (chosen by fast.plan_inference) sorts the
messages by length and fills each batch up to a token budget: short messages go many to a batch,
long ones few. Where the classifier reads no padding, each batch is also cut to its longest
message, so a 25-token SMS costs 25 tokens, not the 120 of the longest training message. Either
way every message is scored exactly once, and the answers come back in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .tokenizer import PAD_TOKEN_ID


@dataclass(frozen=True)
class Batching:
    """How messages are grouped into batches; Batching() is the book's: 8 at a time, in order."""

    batch_size: int = 8  # rows per batch when token_budget is None
    token_budget: int | None = None  # else: sorted by length, about this many tokens per batch
    cut_padding: bool = False  # each message cut to its own length (a classifier that reads no padding)
    pad_token_id: int = PAD_TOKEN_ID

    def length(self, ids: Sequence[int]) -> int:
        """How many of a message's tokens its batch must hold: all, or those before its trailing padding."""
        if not self.cut_padding:
            return len(ids)
        end = len(ids)
        while end > 1 and ids[end - 1] == self.pad_token_id:
            end -= 1
        return end

    def batches(self, encoded: Sequence[Sequence[int]]) -> list[list[int]]:
        """The messages' indices, grouped into batches; every index appears exactly once."""
        lengths = [self.length(ids) for ids in encoded]
        if self.token_budget is None:
            # Messages of different lengths (unpadded, --context none) cannot share a batch: one at a time.
            step = self.batch_size if len(set(lengths)) <= 1 else 1
            starts = range(0, len(encoded), step)
            return [list(range(start, min(start + step, len(encoded)))) for start in starts]
        # Padding a shorter message is only harmless when the classifier never reads padding.
        return length_batches(lengths, self.token_budget, mixed_lengths=self.cut_padding)

    def tensor(self, rows: Sequence[Sequence[int]], device: torch.device | str) -> torch.Tensor:
        """One batch as token ids (batch, longest row), each row cut to its length and padded after it."""
        lengths = [self.length(ids) for ids in rows]
        longest = max(lengths)
        padding = self.pad_token_id
        padded = [[*ids[:n], *[padding] * (longest - n)] for ids, n in zip(rows, lengths, strict=True)]
        return torch.tensor(padded, device=device)  # (batch, longest)


BOOK_BATCHING = Batching()


def length_batches(lengths: Sequence[int], token_budget: int, mixed_lengths: bool = True) -> list[list[int]]:
    """Indices sorted by length, shortest first, in batches of at most token_budget tokens (rows x longest).

    A message longer than the budget gets a batch of its own. mixed_lengths False keeps messages of
    different lengths apart, for a classifier whose answer would change with padding.
    """
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])  # stable: ties keep their order
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        # Sorted, so this message is the batch's longest: the batch would cost (rows + 1) x its length.
        fits = batch is not None and (len(batch) + 1) * lengths[index] <= token_budget
        if fits and (mixed_lengths or lengths[batch[0]] == lengths[index]):
            batch.append(index)
        else:
            batches.append([index])
    return batches
