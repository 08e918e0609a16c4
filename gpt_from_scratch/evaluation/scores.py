"""Evaluation: a classifier as its user meets it: per class, on unseen messages, at the natural spam share."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from statistics import NormalDist
from typing import Any


@dataclass(kw_only=True)
class RunMetrics:
    """What one training run measured: finetune and the baselines both return it.

    metrics.json holds it (to_dict); the experiment runner records its fields. The training curves,
    labels, threshold and options are finetune's: a baseline leaves them empty.
    """

    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    train_accs: list[float] = field(default_factory=list)
    val_accs: list[float] = field(default_factory=list)
    examples_seen: int = 0
    training_seconds: float
    device: str
    trainable_parameters: int
    total_parameters: int
    test_predictions: list[int]  # the most probable class, as the accuracy counts
    test_class_probabilities: list[list[float]] = field(default_factory=list)
    test_labels: list[int]
    labels: list[str] = field(default_factory=list)
    evaluation: dict  # leakage, per-class scores, the natural distribution (evaluate)
    data: dict  # the splits (data.read_split_info)
    threshold: dict | None = None
    config: dict = field(default_factory=dict)
    test_probabilities: list[float] | None = (
        None  # P(spam) of every test message (two classes), for calibration
    )
    also_probabilities: list[float] | None = None  # P(spam) of the texts also_score asked about; not saved
    # finetune's phases in the order they ran (run/phases.py): seconds, and why any was left out.
    # Older metrics.json files have neither: read them with .get.
    phase_seconds: dict[str, float] = field(default_factory=dict)
    skipped_phases: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What metrics.json holds: every field but also_probabilities (and test_probabilities if none)."""
        record = asdict(self)
        del record["also_probabilities"]
        if record["test_probabilities"] is None:
            del record["test_probabilities"]
        return record


def seen_flags(
    texts: Sequence[str], training_texts: Iterable[str], normalise: Callable[[str], str]
) -> list[bool]:
    """Whether each text appears among training_texts once both are normalised."""
    seen = {normalise(text) for text in training_texts}
    return [normalise(text) in seen for text in texts]


def _check_rows(probabilities: Sequence[Sequence[float]], columns: int | None = None) -> None:
    for row in probabilities:
        if columns is not None and len(row) != columns:
            raise ValueError(f"every row needs {columns} class probabilities, got a row of {len(row)}")
        if not row or any(not 0 <= p <= 1 for p in row):  # also catches NaN
            raise ValueError("probabilities must lie between 0 and 1: pass softmax outputs, not logits")


def predict(probabilities: Sequence[Sequence[float]], threshold: float | None = None) -> list[int]:
    """The class of each row of class probabilities: argmax, or class 1 iff P(class 1) >= threshold."""
    _check_rows(probabilities)
    if threshold is None:
        # max() keeps the first of equal values: ties go to the lower class id, as torch.argmax.
        return [max(range(len(row)), key=row.__getitem__) for row in probabilities]
    if any(len(row) != 2 for row in probabilities):
        raise ValueError("a threshold applies to two classes only: P(class 1) >= threshold")
    return [int(row[1] >= threshold) for row in probabilities]


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """The share of predictions equal to their label."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError(
            f"need as many predictions as labels, at least one: {len(predictions)}, {len(labels)}"
        )
    return sum(p == y for p, y in zip(predictions, labels, strict=True)) / len(labels)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def class_report(labels: Sequence[int], predictions: Sequence[int], names: Sequence[str]) -> dict:
    """Confusion matrix (rows true, columns predicted), per-class precision/recall/F1, accuracy, macro F1."""
    k = len(names)
    if len(labels) != len(predictions) or not labels:
        raise ValueError(
            f"need one prediction per label, and at least one: {len(predictions)}, {len(labels)}"
        )
    if any(not 0 <= c < k for c in (*labels, *predictions)):
        raise ValueError(f"class ids must lie in 0..{k - 1} ({k} names)")
    confusion = [[0] * k for _ in range(k)]
    for y, p in zip(labels, predictions, strict=True):
        confusion[y][p] += 1
    per_class = []
    for c, name in enumerate(names):
        tp = confusion[c][c]
        predicted = sum(confusion[r][c] for r in range(k))
        support = sum(confusion[c])
        # F1 = 2TP / (2TP + FP + FN): the harmonic mean where both are defined, and 0 for a class that
        # is present but never predicted (or predicted but absent); undefined only for a class in neither.
        per_class.append(
            {
                "name": name,
                "precision": _ratio(tp, predicted),
                "recall": _ratio(tp, support),
                "f1": _ratio(2 * tp, predicted + support),
                "support": support,
            }
        )
    defined = [row["f1"] for row in per_class if row["f1"] is not None]
    return {
        "names": list(names),
        "confusion": confusion,
        "per_class": per_class,
        "accuracy": sum(confusion[c][c] for c in range(k)) / len(labels),
        "macro_f1": sum(defined) / len(defined),  # never empty: every label's class is in one of them
        "messages": len(labels),
    }


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion successes / trials."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0: {successes} of {trials}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1: {confidence}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    scale = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    # At 0 or n successes an end is exactly 0 or 1; the floats would leave it a rounding error off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def threshold_for_fpr(negative_probabilities: Sequence[float], target_fpr: float) -> float:
    """The lowest threshold on P(class 1) that flags at most target_fpr of the negatives."""
    if not 0 < target_fpr < 1:
        raise ValueError(f"the target false positive rate must lie strictly between 0 and 1: {target_fpr}")
    n = len(negative_probabilities)
    if n == 0:
        raise ValueError("need at least one negative to set a threshold on")
    # Exact: in floats 0.29 * 100 = 28.999999999999996, which would allow one false positive too few.
    allowed = math.floor(Fraction(str(target_fpr)) * n)  # below n, as the target is below 1
    ordered = sorted(negative_probabilities, reverse=True)
    # Just above the (allowed+1)-th highest score: it and every negative tied with it stay below.
    return math.nextafter(ordered[allowed], math.inf)


def _check_binary(labels: Sequence[int], scores: Sequence[float], positive_share: float) -> None:
    if len(labels) != len(scores) or not labels:
        raise ValueError(f"need one probability per label, and at least one: {len(scores)}, {len(labels)}")
    if any(y not in (0, 1) for y in labels):
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    if any(not 0 <= p <= 1 for p in scores):
        raise ValueError("probabilities must lie between 0 and 1: pass softmax outputs, not logits")
    if not 0 < positive_share < 1:
        raise ValueError(f"the positive share must lie strictly between 0 and 1: {positive_share}")


def _natural_precision(recall: float | None, fpr: float | None, share: float) -> float | None:
    if recall is None or fpr is None:
        return None
    return _ratio(share * recall, share * recall + (1 - share) * fpr)


def _natural_f1(recall: float | None, fpr: float | None, share: float) -> float | None:
    if recall is None or fpr is None:
        return None
    # 2TP / (2TP + FP + FN) with the counts per message at the natural share; 0 when nothing is caught.
    return _ratio(2 * share * recall, share * recall + share + (1 - share) * fpr)


def natural_metrics(
    labels: Sequence[int], positive_probabilities: Sequence[float], threshold: float, positive_share: float
) -> dict:
    """False positives per 1,000 negatives, and precision/recall/F1 at the natural positive share.

    The sample holds spam at whatever share the test split happened to get (and held-out ham
    lowers it further), so its plain precision says little about what a user sees. Recall and the
    false positive rate do not depend on the share; precision does, so it is recomputed from them
    at the natural share π: π·recall / (π·recall + (1−π)·fpr).
    """
    _check_binary(labels, positive_probabilities, positive_share)
    flagged = [p >= threshold for p in positive_probabilities]
    positives = sum(labels)
    negatives = len(labels) - positives
    false_positives = sum(f and y == 0 for f, y in zip(flagged, labels, strict=True))
    true_positives = sum(f and y == 1 for f, y in zip(flagged, labels, strict=True))
    fpr = _ratio(false_positives, negatives)
    recall = _ratio(true_positives, positives)
    interval = None
    if negatives:
        low, high = wilson_interval(false_positives, negatives)
        interval = [1000 * low, 1000 * high]
    return {
        "threshold": float(threshold),
        "negatives": negatives,
        "false_positives": false_positives,
        "false_positive_rate": fpr,
        "false_positives_per_1000": None if fpr is None else 1000 * fpr,
        "false_positives_per_1000_interval": interval,
        "positives": positives,
        "true_positives": true_positives,
        "recall": recall,
        "positive_share": float(positive_share),
        "precision": _natural_precision(recall, fpr, positive_share),
        "f1": _natural_f1(recall, fpr, positive_share),
    }


def precision_recall_curve(
    labels: Sequence[int], positive_probabilities: Sequence[float], positive_share: float
) -> list[dict]:
    """Recall, false positive rate and natural-share precision at each distinct score, highest first."""
    _check_binary(labels, positive_probabilities, positive_share)
    positives = sum(labels)
    negatives = len(labels) - positives
    pairs = sorted(zip(positive_probabilities, labels, strict=True), reverse=True)

    def point(threshold: float, tp: int, fp: int) -> dict:
        recall, fpr = _ratio(tp, positives), _ratio(fp, negatives)
        return {
            "threshold": float(threshold),
            "recall": recall,
            "false_positive_rate": fpr,
            "precision": _natural_precision(recall, fpr, positive_share),
        }

    curve = [point(math.nextafter(pairs[0][0], math.inf), 0, 0)]  # flags nothing
    tp = fp = 0
    for i, (score, label) in enumerate(pairs):
        tp += label
        fp += 1 - label
        if i + 1 == len(pairs) or pairs[i + 1][0] != score:  # all messages tied at this score are in
            curve.append(point(score, tp, fp))
    return curve


def evaluate(
    labels: Sequence[int],
    probabilities: Sequence[Sequence[float]],
    names: Sequence[str],
    *,
    threshold: float | None = None,
    seen_exact: Sequence[bool] | None = None,
    seen_normalised: Sequence[bool] | None = None,
    heldout_labels: Sequence[int] = (),
    heldout_probabilities: Sequence[Sequence[float]] = (),
    positive_share: float | None = None,
) -> dict:
    """The whole evaluation of a test set: predictions, class report, leakage and natural-share metrics."""
    k = len(names)
    if len(labels) != len(probabilities):
        raise ValueError(f"need one row of probabilities per label: {len(probabilities)}, {len(labels)}")
    _check_rows(probabilities, k)
    predictions = predict(probabilities, threshold)
    report = class_report(labels, predictions, names)
    right = [p == y for p, y in zip(predictions, labels, strict=True)]
    result: dict = {
        "names": list(names),
        "threshold": None if threshold is None else float(threshold),
        "predictions": predictions,
        "accuracy": report["accuracy"],
        "class_report": report,
        "leakage": None,
        "natural": None,
        "precision_recall_curve": None,
    }

    if (seen_exact is None) != (seen_normalised is None):
        raise ValueError("pass both seen_exact and seen_normalised, or neither")
    if seen_exact is not None and seen_normalised is not None:
        if not len(seen_exact) == len(seen_normalised) == len(labels):
            raise ValueError("need one seen flag per test message")
        # An exact match is a match after any normalisation: otherwise the flags were swapped.
        if any(e and not n for e, n in zip(seen_exact, seen_normalised, strict=True)):
            raise ValueError("a message seen exactly must also be seen after normalisation")

        def unseen(flags: Sequence[bool]) -> tuple[float | None, int]:
            kept = [r for r, seen in zip(right, flags, strict=True) if not seen]
            return _ratio(sum(kept), len(kept)), len(kept)

        exact_accuracy, exact_messages = unseen(seen_exact)
        normalised_accuracy, normalised_messages = unseen(seen_normalised)
        seen_by_class = dict.fromkeys(names, 0)
        for y, seen in zip(labels, seen_normalised, strict=True):
            seen_by_class[names[y]] += bool(seen)
        result["leakage"] = {
            "test_messages": len(labels),
            "seen_exact": sum(map(bool, seen_exact)),
            "seen_normalised": sum(map(bool, seen_normalised)),
            "unseen_exact_accuracy": exact_accuracy,
            "unseen_exact_messages": exact_messages,
            "unseen_normalised_accuracy": normalised_accuracy,
            "unseen_normalised_messages": normalised_messages,
            "seen_by_class": seen_by_class,
        }

    if positive_share is None:
        if heldout_labels or heldout_probabilities:
            raise ValueError("held-out messages only count towards the natural metrics: pass positive_share")
        return result
    if k != 2:
        raise ValueError(f"the natural-share metrics need two classes, not {k}")
    if len(heldout_labels) != len(heldout_probabilities):
        raise ValueError("need one row of probabilities per held-out label")
    _check_rows(heldout_probabilities, 2)
    all_labels = [*labels, *heldout_labels]
    scores = [row[1] for row in (*probabilities, *heldout_probabilities)]
    # Argmax of two probabilities that sum to 1 flags P(class 1) > 0.5 (a tie goes to class 0).
    used = math.nextafter(0.5, math.inf) if threshold is None else threshold
    result["natural"] = {
        **natural_metrics(all_labels, scores, used, positive_share),
        "heldout_messages": len(heldout_labels),
    }
    result["precision_recall_curve"] = precision_recall_curve(all_labels, scores, positive_share)
    return result


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def class_report_markdown(report: dict) -> str:
    """class_report()'s result as two Markdown tables: per-class scores, then the confusion matrix."""
    names = report["names"]
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for row in report["per_class"]:
        lines.append(
            f"| {row['name']} | {_percent(row['precision'])} | {_percent(row['recall'])} "
            f"| {_percent(row['f1'])} | {row['support']} |"
        )
    lines.append(f"| macro average | | | {_percent(report['macro_f1'])} | {report['messages']} |")
    lines += ["", "Confusion matrix (rows: true class, columns: predicted class):", ""]
    lines.append("| true \\ predicted | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for name, counts in zip(names, report["confusion"], strict=True):
        lines.append(f"| {name} | " + " | ".join(map(str, counts)) + " |")
    return "\n".join(lines) + "\n"


def evaluation_markdown(evaluation: dict, title: str = "Evaluation") -> str:
    """A Markdown section for evaluate()'s result: accuracy, leakage, per-class and natural-share figures."""
    names = evaluation["names"]
    report = evaluation["class_report"]
    lines = [
        f"## {title}",
        "",
        f"Accuracy: {_percent(evaluation['accuracy'])} of {report['messages']} test messages.",
    ]

    leakage = evaluation.get("leakage")
    if leakage:
        lines += [
            "",
            f"{leakage['seen_exact']} of {leakage['test_messages']} test messages also appear in training "
            f"({leakage['seen_normalised']} after whitespace/case normalisation); "
            f"accuracy on the {leakage['unseen_normalised_messages']} unseen: "
            f"{_percent(leakage['unseen_normalised_accuracy'])}.",
        ]

    lines += ["", class_report_markdown(report).rstrip("\n")]

    natural = evaluation.get("natural")
    skipped = evaluation.get("skipped", {}).get("natural")
    if skipped:
        lines += ["", f"At the natural {names[1]} share (the test set with the ham set aside): {skipped}."]
    if natural:
        negative, positive = names
        interval = natural["false_positives_per_1000_interval"]
        low, high = interval if interval else (None, None)
        rule = (
            f"argmax (P({positive}) > 0.5)"
            if evaluation.get("threshold") is None
            else f"P({positive}) ≥ {natural['threshold']:.4g}"
        )
        lines += [
            "",
            f"At the natural {positive} share of {_percent(natural['positive_share'])}:",
            "",
            f"- False positives per 1,000 {negative}: {_number(natural['false_positives_per_1000'], 1)} "
            f"(95% interval {_number(low, 1)}–{_number(high, 1)}; {natural['false_positives']:,} of "
            f"{natural['negatives']:,} {negative} messages).",
            f"- Precision {_percent(natural['precision'])}, recall {_percent(natural['recall'])}, "
            f"F1 {_percent(natural['f1'])} ({natural['true_positives']:,} of {natural['positives']:,} "
            f"{positive} caught).",
            f"- Decision rule: {rule}.",
            f"- Measured on the {report['messages']:,} test messages plus {natural['heldout_messages']:,} "
            "held-out messages.",
        ]
    return "\n".join(lines) + "\n"
