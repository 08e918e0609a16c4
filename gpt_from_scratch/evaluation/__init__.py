"""Measuring a classifier as its user meets it: per class, on unseen messages, at the natural spam share.

scores.py holds the arithmetic (no model: lists of labels and probabilities in, numbers out) and
RunMetrics, what a run measured; measure.py runs the trained classifier for it (the threshold for a
false-positive rate, the test set's leakage and natural distribution); calibration.py bins
probabilities; plots.py draws the curves (the plots extra).
"""

from .scores import (
    RunMetrics,
    accuracy,
    class_report,
    class_report_markdown,
    evaluate,
    evaluation_markdown,
    natural_metrics,
    precision_recall_curve,
    predict,
    seen_flags,
    threshold_for_fpr,
    wilson_interval,
)

__all__ = [
    "RunMetrics",
    "accuracy",
    "class_report",
    "class_report_markdown",
    "evaluate",
    "evaluation_markdown",
    "natural_metrics",
    "precision_recall_curve",
    "predict",
    "seen_flags",
    "threshold_for_fpr",
    "wilson_interval",
]
