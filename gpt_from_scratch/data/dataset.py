"""The book's SpamDataset: the token ids of each message of a split, padded (or truncated) to one length."""

from __future__ import annotations

import os
from pathlib import Path

import tiktoken
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from ..predict.encode import pad_to, token_ids
from ..predict.tokenizer import PAD_TOKEN_ID
from .splits import read_split_csv


class SpamDataset(Dataset):
    """The book's SpamDataset: token ids of each message, padded (or truncated) to one length."""

    def __init__(
        self,
        csv_file: str | os.PathLike,
        tokenizer: tiktoken.Encoding,
        max_length: int | None = None,
        pad_token_id: int = PAD_TOKEN_ID,
        *,
        context_length: int | None = None,
        pad: bool = True,
        num_classes: int | None = None,
    ) -> None:
        self.data = read_split_csv(Path(csv_file), num_classes)
        self.labels = self.data["Label"].tolist()
        self.encoded_texts = [
            token_ids(text, tokenizer, f"{csv_file}, row {row}")
            for row, text in enumerate(self.data["Text"], start=1)
        ]
        if max_length is None:
            self.max_length = self._longest_encoded_length()
            _check_fits(self.encoded_texts, context_length, csv_file)
        else:
            _check_max_length(max_length, context_length)
            self.max_length = max_length
            self.encoded_texts = [encoded_text[: self.max_length] for encoded_text in self.encoded_texts]
        if not pad:  # each message keeps its own length: batches of one, or a padding collate_fn
            return
        self.encoded_texts = [pad_to(ids, self.max_length, pad_token_id) for ids in self.encoded_texts]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(self.encoded_texts[index], dtype=torch.long),
            torch.tensor(self.labels[index], dtype=torch.long),
        )

    def __len__(self) -> int:
        return len(self.data)

    def _longest_encoded_length(self) -> int:
        return max((len(encoded_text) for encoded_text in self.encoded_texts), default=0)


def _check_fits(encoded_texts: list[list[int]], context_length: int | None, csv_file) -> None:
    if context_length is None or not encoded_texts:
        return
    row, longest = max(enumerate(encoded_texts, start=1), key=lambda item: len(item[1]))
    if len(longest) > context_length:
        raise DataError(
            f"{csv_file}, row {row}: this message is {len(longest)} tokens but the model reads at most "
            f"{context_length} (context_length); pass max_length={context_length} (or less) to truncate "
            "longer messages"
        )


def _check_max_length(max_length: int, context_length: int | None) -> None:
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, not {max_length}")
    if context_length is not None and max_length > context_length:
        raise DataError(
            f"max_length={max_length} is longer than the model reads (context_length={context_length}); "
            f"pass max_length={context_length} or less"
        )
