"""What a user needs to trust a trained classifier: leakage, the natural distribution, a threshold.

The book's test set is balanced (as many ham as spam) and, because the SMS Spam Collection repeats
messages, shares some texts with the training set. This module measures the trained classifier as a
user will meet it: on the test messages it never saw, and on the ham that balancing set aside, at
the natural share of spam. The arithmetic is scores.py's; here the classifier is run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data import SMS_SOURCE, normalise
from ..predict import ClassifierInfo, loader_probabilities, positive_probabilities, text_probabilities
from ..predict.batching import BOOK_BATCHING, Batching
from .scores import evaluate, seen_flags, threshold_for_fpr


def choose_threshold(
    target_fpr: float,
    classifier: nn.Module,
    validation: DataLoader,
    heldout: pd.DataFrame,
    info: ClassifierInfo,
    device: torch.device | str,
    batching: Batching = BOOK_BATCHING,
) -> dict[str, Any]:
    """The lowest threshold on P(class 1) that flags at most target_fpr of the validation negatives.

    The negatives are the validation split's and those of the held-out third set aside for validation
    (data.prepare_splits), so the choice never looks at a test message. batching groups the set-aside
    messages (fast.plan_inference chooses it).
    """
    _, rows = loader_probabilities(classifier, validation, device, "Choosing the threshold: validation set")
    labels = list(validation.dataset.labels) + heldout["Label"].tolist()
    # The held-out messages read as `classify` reads a message: padded as in training, a longer one truncated.
    set_aside = positive_probabilities(
        heldout["Text"].tolist(),
        classifier,
        info,
        batching,
        description="Choosing the threshold: validation messages set aside",
    )
    scores = [row[info.positive] for row in rows] + set_aside
    negatives = [p for p, y in zip(scores, labels, strict=True) if y == 0]
    positives = [p for p, y in zip(scores, labels, strict=True) if y == 1]
    value = threshold_for_fpr(negatives, target_fpr)
    return {
        "value": value,
        "target_false_positive_rate": target_fpr,
        "validation_false_positive_rate": sum(p >= value for p in negatives) / len(negatives),
        "validation_recall": sum(p >= value for p in positives) / len(positives) if positives else None,
        "validation_negatives": len(negatives),
        "validation_positives": len(positives),
        "chosen_on": "the validation split and the held-out messages set aside for validation",
    }


def natural_applies(info: ClassifierInfo) -> bool:
    """Whether the classifier can be measured at the natural share of spam (two classes, a known share)."""
    return len(info.labels) == 2 and info.data.get("positive_share") is not None


def score_set_aside(
    classifier: nn.Module, heldout: pd.DataFrame, info: ClassifierInfo, batching: Batching = BOOK_BATCHING
) -> tuple[list[int], list[list[float]]]:
    """The labels and class probabilities of the held-out test messages balancing set aside.

    Read as `classify` reads a message: padded as in training, a longer one truncated; batching
    groups them (fast.plan_inference chooses it).
    """
    if not len(heldout):
        return [], []
    texts = heldout["Text"].tolist()
    rows = text_probabilities(texts, classifier, info, batching, description="Scoring the ham set aside")
    return heldout["Label"].tolist(), rows


def evaluate_test(
    loaders: Sequence[DataLoader],
    test_rows: list[list[float]],
    info: ClassifierInfo,
    heldout_labels: Sequence[int] = (),
    heldout_probabilities: Sequence[Sequence[float]] = (),
    skipped: str | None = None,
) -> dict[str, Any]:
    """evaluation.evaluate of the test set: leakage from training, and with two classes the natural
    distribution (the test set with the held-out test messages, score_set_aside's).

    skipped, when given, says why the natural distribution was left out (e.g. "skipped (--score
    book)"): the result records it under "skipped" instead of leaving the figures silently absent.
    """
    train, _, test = (loader.dataset.data["Text"].tolist() for loader in loaders)
    natural = natural_applies(info) and skipped is None
    result = evaluate(
        loaders[2].dataset.labels,
        test_rows,
        info.labels,
        threshold=info.threshold_value,
        seen_exact=seen_in(test, train, exact=True),
        seen_normalised=seen_in(test, train, exact=False),
        heldout_labels=heldout_labels,
        heldout_probabilities=heldout_probabilities,
        positive_share=info.data["positive_share"] if natural else None,
    )
    if natural_applies(info) and skipped is not None:
        result["skipped"] = {"natural": skipped}
    return result


def seen_in(texts: Sequence[str], training_texts: Sequence[str], exact: bool) -> list[bool]:
    """Whether each text is also a training text: verbatim, or up to whitespace and case."""
    return seen_flags(texts, training_texts, (lambda text: text) if exact else normalise)


def describe_data(data: dict[str, Any]) -> str:
    """One line on what was trained and tested on: the file, its classes, balancing, duplicates."""
    source = data["data_file"]
    if data["source"] == SMS_SOURCE:  # no "published": a splits.json from before it was recorded
        modified = data.get("published") is False
        source = (
            f"{source}, a modified copy of the SMS Spam Collection" if modified else "the SMS Spam Collection"
        )
    duplicates = (
        f"{data['duplicates_removed']:,} repeated messages removed before splitting (--dedupe)"
        if data["dedupe"]
        else "repeated messages kept" + (" (the book's split)" if data["source"] == SMS_SOURCE else "")
    )
    balance = "balanced by undersampling" if data["balance"] else "not balanced (--no-balance)"
    splits = ", ".join(f"{n:,} {name}" for name, n in data["splits"].items())
    classes = f"{len(data['labels'])} classes ({', '.join(data['labels'])})"
    return f"{source}: {classes}, {balance}, {duplicates}; {splits}"


def describe_threshold(threshold: dict[str, Any], labels: Sequence[str]) -> str:
    """One line on the threshold finetune --target-fpr chose."""
    return (
        f"Threshold: {labels[1]} when P({labels[1]}) >= {threshold['value']:.4f}, chosen for at most "
        f"{threshold['target_false_positive_rate']:.2%} of {labels[0]} flagged: "
        f"{threshold['validation_false_positive_rate']:.2%} of {threshold['validation_negatives']:,} "
        f"validation {labels[0]} messages flagged"
    )


def summary_lines(evaluation: dict[str, Any]) -> list[str]:
    """What the log says of the test set beyond its accuracy: leakage and the natural distribution."""
    lines = []
    leakage = evaluation.get("leakage")
    if leakage:
        unseen = leakage["unseen_normalised_accuracy"]
        lines.append(
            f"Test messages also in training: {leakage['seen_exact']} of {leakage['test_messages']} "
            f"verbatim, {leakage['seen_normalised']} up to whitespace and case; accuracy on the "
            f"{leakage['unseen_normalised_messages']} others: "
            + ("-" if unseen is None else f"{unseen * 100:.2f}%")
        )
    negative, positive = evaluation["names"][:2]
    if evaluation["threshold"] is not None:
        lines.append(f"Test accuracy at the threshold: {evaluation['accuracy'] * 100:.2f}%")
    natural = evaluation.get("natural")
    skipped = evaluation.get("skipped", {}).get("natural")
    if skipped:
        lines.append(f"At the natural share of {positive}: {skipped}")
    if natural and natural.get("false_positive_rate") is not None:
        low, high = natural["false_positives_per_1000_interval"]
        lines.append(
            f"At the natural share of {positive} ({natural['positive_share']:.1%}): "
            f"{natural['false_positives_per_1000']:.1f} of every 1,000 {negative} messages flagged "
            f"(95% interval {low:.1f}-{high:.1f}; {natural['negatives']:,} {negative} messages scored), "
            f"precision {_percent(natural['precision'])}, recall {_percent(natural['recall'])}"
        )
    return lines


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
