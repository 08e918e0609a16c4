"""The classifier's probabilities: run the model, read the last position, softmax, written once here.

Training's evaluation, `classify`, the app and the experiments all read a classifier through
these functions, so that a message gets the same probabilities wherever it is asked about.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..progress import progress
from .batching import BOOK_BATCHING, Batching

LABEL_NAMES = ("not spam", "spam")  # what the classifier prints for class 0 (ham) and class 1 (spam)
POSITIVE_LABEL = "spam"


def positive_class(labels: Sequence[str]) -> int:
    """The class whose probability is P(spam): class 1 of two, as the evaluation and a threshold read
    it (spam in the SMS data); of more classes, the one named spam, else the last."""
    if len(labels) != 2 and POSITIVE_LABEL in labels:
        return list(labels).index(POSITIVE_LABEL)
    return len(labels) - 1


def read_logits(classifier: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The logits the classifier reads for each message: (batch, num_tokens) -> (batch, num_classes)."""
    # The last position, the one the loss trained: in the book's recipe it is often padding.
    return classifier(batch)[:, -1, :]


def read_probabilities(classifier: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Softmax of the logits the classifier reads: (batch, num_tokens) -> (batch, num_classes)."""
    return torch.softmax(read_logits(classifier, batch), dim=-1)


def class_probabilities(
    encoded: list[list[int]],
    classifier: nn.Module,
    batching: Batching = BOOK_BATCHING,
    description: str | None = None,
) -> torch.Tensor:
    """Every class's probability for each encoded message, in the order given: (messages, num_classes).

    batching groups the messages (the book's 8 in order, or fast.plan_inference's length-sorted
    batches); description, when given, names a progress bar (drawn on a terminal only) over them.
    """
    if not encoded:
        raise ValueError("no messages to score: give at least one encoded message")
    device = next(classifier.parameters()).device
    groups = batching.batches(encoded)
    batches = (
        batching.tensor([encoded[index] for index in group], device)  # (batch, num_tokens)
        for group in (groups if description is None else progress(groups, description))
    )
    logits = torch.cat(list(logits_of_batches(classifier, batches)))  # (messages, num_classes), batch order
    order = torch.tensor([index for group in groups for index in group], device=logits.device)
    probabilities = torch.empty_like(logits)
    probabilities[order] = torch.softmax(logits, dim=-1)  # back in the order given
    return probabilities


def loader_probabilities(
    classifier: nn.Module, loader: Iterable, device: torch.device | str, description: str | None = None
) -> tuple[list[int], list[list[float]]]:
    """The most probable class and every class's probability for each example, read as the accuracy is.

    description, when given, names a progress bar over the batches.
    """
    batches = loader if description is None else progress(loader, description)
    predicted, probabilities = [], []
    for logits in logits_of_batches(classifier, (input_batch.to(device) for input_batch, _ in batches)):
        predicted += torch.argmax(logits, dim=-1).tolist()
        probabilities += torch.softmax(logits, dim=-1).tolist()
    return predicted, probabilities


def logits_of_batches(classifier: nn.Module, batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    """read_logits of each batch, in eval mode and without gradients."""
    classifier.eval()
    with torch.inference_mode():
        for batch in batches:
            yield read_logits(classifier, batch)


@dataclass(frozen=True)
class Prediction:
    """The label the model chose, its probability, and P(spam) (the same when the label is spam)."""

    label: str
    probability: float
    spam_probability: float


def predictions(
    probabilities: torch.Tensor, labels: Sequence[str], threshold: float | None
) -> list[Prediction]:
    """One Prediction per row of probabilities (messages, num_classes).

    threshold None picks the most probable class; a threshold (two classes only) picks the positive
    class (spam) when its probability is at least the threshold.
    """
    positive = positive_class(labels)
    if threshold is None:
        chosen = torch.argmax(probabilities, dim=-1).tolist()
    else:
        chosen = [positive if p >= threshold else 1 - positive for p in probabilities[:, positive].tolist()]
    return [
        Prediction(labels[label], float(row[label]), float(row[positive]))
        for label, row in zip(chosen, probabilities, strict=True)
    ]
