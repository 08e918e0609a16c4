"""Classify one message with a finetuned model, exactly as the model saw messages in training."""

from __future__ import annotations

from pathlib import Path

import tiktoken
import torch
from torch import nn

from .checkpoint import load_classifier
from .errors import DataError
from .fast.trunk import select_tokens
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
    # The last position, the one the loss trained: in the book's recipe it is often padding.
    probabilities = class_probabilities([ids], model)[0]  # (num_classes,)
    label = int(torch.argmax(probabilities))
    return LABEL_NAMES[label], float(probabilities[label])


def class_probabilities(encoded: list[list[int]], classifier: nn.Module, batch_size: int = 8) -> torch.Tensor:
    """Softmax of the logits the classifier reads for each encoded message: (messages, num_classes)."""
    # Messages of different lengths (unpadded, --context none) cannot share a batch: one at a time.
    step = batch_size if len({len(ids) for ids in encoded}) == 1 else 1
    device = next(classifier.parameters()).device
    classifier.eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(encoded), step):
            batch = torch.tensor(encoded[start : start + step], device=device)  # (batch, num_tokens)
            logits = classifier(batch)[:, -1, :]  # (batch, num_classes)
            rows.append(torch.softmax(logits, dim=-1))
    return torch.cat(rows)


def load_for_classifying(model_dir: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """A saved classifier reading what it was trained to read (token or mean), and its config dict."""
    model, config = load_classifier(model_dir, device)
    trained = config.get("finetune", {})  # older models recorded no options: the book's last token
    classifier = select_tokens(
        model, trained.get("position", "last"), trained.get("pooling", "token"), config["pad_token_id"]
    )
    return classifier, config


def trained_padded(config: dict) -> bool:
    """Whether the saved classifier was trained on padded messages (every --context but 'none')."""
    return config.get("finetune", {}).get("context", "longest") != "none"


def spam_probabilities(
    texts: list[str],
    classifier: nn.Module,
    tokenizer: tiktoken.Encoding,
    config: dict,
    batch_size: int = 8,
) -> list[float]:
    """P(spam) for every text, read as in training; a text longer than training's is truncated."""
    pad = trained_padded(config)
    encoded = [
        encode_for_classifier(text, tokenizer, config["max_length"], config["pad_token_id"], True, pad)
        for text in texts
    ]
    return class_probabilities(encoded, classifier, batch_size)[:, 1].tolist()
