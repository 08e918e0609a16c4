"""A saved classifier: its description (config.json, read once), loading it, and asking it about texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tiktoken
import torch
from torch import nn

from ..checkpoint import load_classifier, read_config
from ..errors import DataError, OptionError
from .batching import BOOK_BATCHING, Batching
from .encode import encode_for_classifier
from .probabilities import LABEL_NAMES, Prediction, class_probabilities, positive_class, predictions
from .readout import select_tokens
from .tokenizer import PAD_TOKEN_ID, get_tokenizer


@dataclass(frozen=True)
class ClassifierInfo:
    """What a classifier reads and answers: the length and padding it was trained on, its labels.

    finetune saves it in config.json; from_config reads it back, with the defaults for models saved
    before a field existed applied here and nowhere else.
    """

    max_length: int
    pad_token_id: int = PAD_TOKEN_ID
    labels: tuple[str, ...] = LABEL_NAMES
    data_labels: tuple[str, ...] = ()  # the labels as the data file wrote them (e.g. ham), if other
    options: dict[str, Any] = field(default_factory=dict)  # the FinetuneConfig it was trained with
    data: dict[str, Any] = field(default_factory=dict)  # the splits it was trained on (data.read_split_info)
    threshold: dict[str, Any] | None = None  # chosen by finetune --target-fpr
    model: dict[str, Any] = field(default_factory=dict)  # GPTConfig's fields, written by checkpoint
    num_classes: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ClassifierInfo:
        """The description in a config.json dict; older models recorded no options, labels or threshold."""
        return cls(
            max_length=config["max_length"],
            pad_token_id=config["pad_token_id"],
            labels=tuple(config.get("labels") or LABEL_NAMES),  # older models: the book's two
            data_labels=tuple(config.get("data_labels") or ()),
            options=config.get("finetune") or {},  # older models: the book's recipe
            data=config.get("data") or {},
            threshold=config.get("threshold"),
            model=config.get("model") or {},
            num_classes=config.get("num_classes"),
        )

    @classmethod
    def read(cls, model_dir: str | Path) -> ClassifierInfo:
        """The description in model_dir's config.json, without loading the weights."""
        return cls.from_config(read_config(model_dir))

    def to_config(self) -> dict[str, Any]:
        """What finetune adds to config.json (checkpoint writes the model and num_classes itself)."""
        config = {
            "labels": list(self.labels),
            "data_labels": list(self.data_labels),
            "max_length": self.max_length,
            "pad_token_id": self.pad_token_id,
            "finetune": self.options,
            "data": self.data,
        }
        return config if self.threshold is None else config | {"threshold": self.threshold}

    @property
    def position(self) -> str:
        """The position the classifier reads (--position)."""
        return self.options.get("position", "last")

    @property
    def pooling(self) -> str:
        """Whether it reads one token or a mean (--pooling)."""
        return self.options.get("pooling", "token")

    @property
    def padded(self) -> bool:
        """Whether it was trained on padded messages (every --context but 'none')."""
        return self.options.get("context", "longest") != "none"

    @property
    def causal(self) -> bool:
        """Whether its attention is causal (--no-causal turns it off)."""
        return self.model.get("causal", True)

    @property
    def threshold_value(self) -> float | None:
        """The decision threshold on P(spam) saved with the model (None: the more probable label)."""
        return None if self.threshold is None else float(self.threshold["value"])

    @property
    def positive(self) -> int:
        """The class whose probability is P(spam)."""
        return positive_class(self.labels)

    def encode(self, text: str, truncate: bool = False) -> list[int]:
        """The message's token ids as the classifier read its training messages."""
        return encode_for_classifier(
            text, gpt2_tokenizer(), self.max_length, self.pad_token_id, truncate, self.padded
        )


def gpt2_tokenizer() -> tiktoken.Encoding:
    """GPT-2's tokenizer, the one every classifier here was trained with."""
    return get_tokenizer()


def load_saved(
    model_dir: str | Path, device: torch.device | str = "cpu", **model_options: bool
) -> tuple[nn.Module, ClassifierInfo]:
    """A saved classifier reading what it was trained to read (token or mean), and its description.

    model_options are the kernels GPTModel picks at construction (fast.InferencePlan.model_options).
    """
    model, config = load_classifier(model_dir, device, **model_options)
    info = ClassifierInfo.from_config(config)
    return select_tokens(model, info.position, info.pooling, info.pad_token_id), info


def classify_texts(
    texts: Sequence[str],
    classifier: nn.Module,
    info: ClassifierInfo,
    *,
    truncate: bool = False,
    names: Sequence[str] | None = None,
    batching: Batching = BOOK_BATCHING,
    threshold: float | None = None,
) -> list[Prediction]:
    """One Prediction per text, in order; names (e.g. 'line 5 of msgs.txt') point errors at a text.

    batching groups the messages for the model (fast.plan_inference chooses it; the default is the book's).

    threshold None: the one saved with the model, if finetune --target-fpr chose one, else the most
    probable class.
    """
    threshold = info.threshold_value if threshold is None else threshold
    if threshold is not None:
        check_threshold(threshold, len(info.labels))
    encoded, refused = [], []
    for index, text in enumerate(texts):
        try:
            encoded.append(info.encode(text, truncate))
        except DataError as err:
            if len(texts) == 1 and not names:
                raise  # a lone message needs no name
            refused.append((names[index] if names else f"message {index + 1}", err))
    if refused:  # all are checked before any is classified, so one error names every refused message
        (name, err), others = refused[0], [other for other, _ in refused[1:]]
        also = f" (also refused: {', '.join(others[:5])}{' and more' if len(others) > 5 else ''})"
        raise DataError(f"{name}: {err}{also if others else ''}")
    if not encoded:
        return []
    probabilities = class_probabilities(encoded, classifier, batching)  # (messages, num_classes)
    return labelled(probabilities, info, threshold)


def labelled(
    probabilities: torch.Tensor, info: ClassifierInfo, threshold: float | None = None
) -> list[Prediction]:
    """One Prediction per row of probabilities (messages, num_classes), labelled as info names them.

    threshold None: the one saved with the model, if finetune --target-fpr chose one, else the most
    probable class.
    """
    threshold = info.threshold_value if threshold is None else threshold
    if threshold is not None:
        check_threshold(threshold, len(info.labels))
    if probabilities.shape[1] != len(info.labels):
        raise DataError(
            f"the classifier has {probabilities.shape[1]} classes but its config.json names "
            f"{len(info.labels)} labels ({', '.join(info.labels)}): finetune the model again"
        )
    return predictions(probabilities, info.labels, threshold)


def classify_text(
    text: str,
    model: nn.Module,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
) -> tuple[str, float]:
    """The book's classify_review: ('spam' or 'not spam', the model's probability for that label)."""
    encoded = [encode_for_classifier(text, tokenizer, max_length, pad_token_id)]
    prediction = predictions(class_probabilities(encoded, model), LABEL_NAMES, None)[0]
    return prediction.label, prediction.probability


def text_probabilities(
    texts: Sequence[str],
    classifier: nn.Module,
    info: ClassifierInfo,
    batching: Batching = BOOK_BATCHING,
    description: str | None = None,
) -> list[list[float]]:
    """Every class's probability for every text, read as in training; longer texts are truncated.

    description, when given, names a progress bar over the batches (class_probabilities).
    """
    if not texts:
        return []
    encoded = [info.encode(text, truncate=True) for text in texts]
    return class_probabilities(encoded, classifier, batching, description).tolist()


def positive_probabilities(
    texts: Sequence[str],
    classifier: nn.Module,
    info: ClassifierInfo,
    batching: Batching = BOOK_BATCHING,
    description: str | None = None,
) -> list[float]:
    """P(spam) of every text, read as in training; a text longer than training's is truncated."""
    rows = text_probabilities(texts, classifier, info, batching, description)
    return [row[info.positive] for row in rows]


def check_threshold(threshold: float, num_classes: int) -> None:
    """Raise OptionError unless threshold is a probability and the classifier has two classes."""
    if num_classes != 2:
        raise OptionError(
            f"--threshold {threshold:g}: a threshold decides between two classes, and this classifier "
            f"has {num_classes}; leave --threshold out to take the most probable class"
        )
    if not 0 <= threshold <= 1:
        raise OptionError(f"--threshold {threshold:g}: a threshold on a probability is between 0 and 1")
