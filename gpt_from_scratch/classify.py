"""Classify one message with a finetuned model, exactly as the model saw messages in training."""

from __future__ import annotations

import tiktoken
import torch

from .errors import DataError
from .model import GPTModel
from .tokenizer import PAD_TOKEN_ID

LABEL_NAMES = ("not spam", "spam")


def encode_for_classifier(
    text: str,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
    truncate: bool = False,
    pad: bool = True,
) -> list[int]:
    """Token ids padded to max_length, the length every training example was padded to (if pad)."""
    if not text.strip():
        raise DataError("the message is empty: give the text to classify, e.g. 'Call now to win!'")
    ids = tokenizer.encode(text)
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
    return ids + [pad_token_id] * (max_length - len(ids))


def classify_text(
    text: str,
    model: GPTModel,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
    truncate: bool = False,
    pad: bool = True,
) -> tuple[str, float]:
    """Return ('spam' or 'not spam', the model's probability for that label)."""
    ids = encode_for_classifier(text, tokenizer, max_length, pad_token_id, truncate, pad)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        # The last position, the one the loss trained: in the book's recipe it is often padding.
        logits = model(torch.tensor([ids], device=device))[0, -1, :]  # (num_classes,)
        probabilities = torch.softmax(logits, dim=-1)
    label = int(torch.argmax(probabilities))
    return LABEL_NAMES[label], float(probabilities[label])
