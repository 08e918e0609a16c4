"""A message as a classifier reads it: its token ids, padded to the length training padded to."""

from __future__ import annotations

import tiktoken

from ..errors import DataError
from .tokenizer import PAD_TOKEN_ID


def encode_for_classifier(
    text: str,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
    truncate: bool = False,
    pad: bool = True,
) -> list[int]:
    """Token ids padded to max_length, the length every training example was padded to (if pad)."""
    ids = token_ids(text, tokenizer)
    if len(ids) > max_length:
        if not truncate:
            raise DataError(
                f"the message is {len(ids)} tokens long, but this classifier was trained on messages "
                f"of at most {max_length} tokens. Shorten it, or pass --truncate to classify its "
                f"first {max_length} tokens."
            )
        ids = ids[:max_length]
    if not pad:  # a classifier trained on unpadded messages (--context none) reads them as they are
        return ids
    return pad_to(ids, max_length, pad_token_id)


def pad_to(ids: list[int], length: int, pad_token_id: int = PAD_TOKEN_ID) -> list[int]:
    """The ids followed by pad tokens up to length (the book pads on the right)."""
    return ids + [pad_token_id] * (length - len(ids))


def token_ids(text: str, tokenizer: tiktoken.Encoding, where: str = "") -> list[int]:
    """The message's tokens; DataError for an empty message or one the tokenizer refuses.

    where ('train.csv, row 3') names the message in the error, as SpamDataset reads its files.
    """
    if not isinstance(text, str) or not text.strip():
        if where:
            raise DataError(f"{where}: the message is empty; fix or delete this row")
        raise DataError("the message is empty: give the text to classify, e.g. 'Call now to win!'")
    try:
        return tokenizer.encode(text)
    except ValueError as err:  # tiktoken refuses text holding a special token such as <|endoftext|>
        reason = str(err).splitlines()[0]
        if where:
            raise DataError(f"{where}: the tokenizer refused this message ({reason}); edit it") from err
        raise DataError(f"the tokenizer refused this message ({reason}): edit it") from err
