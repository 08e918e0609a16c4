"""The evaluation measures (evaluation.py) against scikit-learn, published values and their definitions."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch.evaluation import (
    class_report,
    evaluate,
    evaluation_markdown,
    natural_metrics,
    precision_recall_curve,
    predict,
    seen_flags,
    threshold_for_fpr,
    wilson_interval,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

probability = st.floats(0, 1)
# Scores drawn from a few values as often as from the whole range, so that ties are common.
score = st.one_of(probability, st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
shares = st.floats(0.001, 0.999)


def labelled_examples(min_classes: int = 2, max_classes: int = 5):
    """(labels, predictions, k): random class ids for k classes, some classes possibly missing."""
    return st.integers(min_classes, max_classes).flatmap(
        lambda k: st.integers(1, 60).flatmap(
            lambda n: st.tuples(
                st.lists(st.integers(0, k - 1), min_size=n, max_size=n),
                st.lists(st.integers(0, k - 1), min_size=n, max_size=n),
                st.just(k),
            )
        )
    )


binary_scores = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n), st.lists(score, min_size=n, max_size=n)
    )
)


def flagged_counts(labels, scores, threshold):
    """(true positives, false positives) when P(class 1) >= threshold flags a message."""
    tp = sum(1 for y, p in zip(labels, scores, strict=True) if p >= threshold and y == 1)
    fp = sum(1 for y, p in zip(labels, scores, strict=True) if p >= threshold and y == 0)
    return tp, fp


def none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# seen_flags and predict


def test_seen_flags_match_exactly_or_after_normalising():
    training = ["Free entry now", "see you  at 5"]
    texts = ["Free entry now", "free entry now", "See you at 5", "something new"]
    assert seen_flags(texts, training, lambda t: t) == [True, False, False, False]
    normalise = lambda t: " ".join(t.split()).casefold()  # noqa: E731 - data.normalise's definition
    assert seen_flags(texts, iter(training), normalise) == [True, True, True, False]


@given(st.lists(st.lists(score, min_size=1, max_size=5), min_size=1, max_size=20))
def test_predict_takes_the_first_of_the_highest_probabilities(rows):
    # torch.argmax's documented rule: among equal maxima, the index of the first.
    assert predict(rows) == [row.index(max(row)) for row in rows]


@given(st.lists(st.tuples(probability, probability), min_size=1, max_size=20), probability)
def test_predict_with_a_threshold_flags_class_1_at_or_above_it(rows, threshold):
    assert predict(rows, threshold) == [1 if p1 >= threshold else 0 for _, p1 in rows]


def test_predict_breaks_ties_towards_the_lower_class_and_thresholds_only_two_classes():
    assert predict([[0.5, 0.5], [0.2, 0.4, 0.4]]) == [0, 1]
    assert predict([[0.5, 0.5]], threshold=0.5) == [1]  # >=, not >
    with pytest.raises(ValueError, match="two classes"):
        predict([[0.2, 0.3, 0.5]], threshold=0.5)
    with pytest.raises(ValueError, match="logits"):
        predict([[-1.0, 2.0]])


# class_report


@given(labelled_examples())
def test_class_report_is_scikit_learns(example):
    import numpy as np
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    labels, predictions, k = example
    names = [f"class {c}" for c in range(k)]
    report = class_report(labels, predictions, names)

    classes = list(range(k))
    assert report["confusion"] == confusion_matrix(labels, predictions, labels=classes).tolist()
    # zero_division=nan: scikit-learn's mark for an undefined value, where the module answers None.
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=np.nan
    )
    for c, row in enumerate(report["per_class"]):
        assert row["name"] == names[c]
        assert row["support"] == support[c]
        for key, expected in (("precision", precision[c]), ("recall", recall[c]), ("f1", f1[c])):
            if math.isnan(expected):
                assert row[key] is None, (key, c)
            else:
                assert row[key] == pytest.approx(expected, abs=1e-12), (key, c)
    macro = f1_score(labels, predictions, labels=classes, average="macro", zero_division=np.nan)
    assert report["macro_f1"] == pytest.approx(macro, abs=1e-12)


@given(labelled_examples())
def test_the_confusion_matrix_adds_up(example):
    labels, predictions, k = example
    report = class_report(labels, predictions, [str(c) for c in range(k)])
    confusion = report["confusion"]
    assert report["accuracy"] == sum(confusion[c][c] for c in range(k)) / len(labels)
    assert [sum(row) for row in confusion] == [labels.count(c) for c in range(k)]
    assert [sum(row[c] for row in confusion) for c in range(k)] == [predictions.count(c) for c in range(k)]
    assert report["messages"] == len(labels)
    json.dumps(report, allow_nan=False)


def test_a_class_never_predicted_has_no_precision_and_scores_f1_zero():
    report = class_report([0, 0, 1, 1], [0, 0, 0, 0], ["ham", "spam"])
    ham, spam = report["per_class"]
    assert spam == {"name": "spam", "precision": None, "recall": 0.0, "f1": 0.0, "support": 2}
    assert ham["precision"] == 0.5 and ham["recall"] == 1.0 and ham["f1"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx(1 / 3)  # the all-ham classifier is not flattered


# wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison of
        # seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_intervals(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=5e-5)


def test_wilson_for_no_successes_by_hand():
    # With p = 0 the score interval's upper end is z² / (n + z²): 1.959964² / (10 + 1.959964²).
    z2 = 1.959963984540054**2
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(z2 / (10 + z2), rel=1e-12)
    assert round(high, 4) == 0.2775


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_observed_proportion(example):
    successes, trials = example
    low, high = wilson_interval(successes, trials)
    assert 0 <= low <= successes / trials <= high <= 1


@given(st.integers(1, 50).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.integers(2, 20))
def test_wilson_narrows_as_the_sample_grows(example, factor):
    successes, trials = example
    low, high = wilson_interval(successes, trials)
    more_low, more_high = wilson_interval(successes * factor, trials * factor)
    assert more_high - more_low < high - low


def test_wilson_for_all_successes_mirrors_none():
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(1 - 0.1611, abs=5e-5)  # Newcombe's 0 of 20, mirrored


def test_wilson_widens_with_the_confidence_and_refuses_no_trials():
    low95, high95 = wilson_interval(3, 40)
    low99, high99 = wilson_interval(3, 40, confidence=0.99)
    assert low99 < low95 and high99 > high95
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


# threshold_for_fpr


@given(st.lists(score, min_size=1, max_size=80), st.floats(0.001, 0.999))
def test_the_threshold_keeps_the_fpr_within_the_target_and_no_lower_one_does(negatives, target):
    threshold = threshold_for_fpr(negatives, target)
    allowed = Fraction(str(target)) * len(negatives)  # exact: the share at most the target
    assert sum(p >= threshold for p in negatives) <= allowed
    below = [p for p in negatives if p < threshold]
    if below:  # the next lower candidate, the highest negative score under the threshold, flags too many
        assert sum(p >= max(below) for p in negatives) > allowed


def test_the_threshold_counts_false_positives_exactly():
    # 0.29 * 100 is 28.999999999999996 in floats; 29 of 100 negatives may still be flagged.
    negatives = [i / 100 for i in range(100)]
    threshold = threshold_for_fpr(negatives, 0.29)
    assert sum(p >= threshold for p in negatives) == 29
    assert threshold == math.nextafter(0.70, math.inf)


def test_tied_negatives_stay_together_below_the_threshold():
    negatives = [0.9, 0.9, 0.9, 0.1]
    # Two may be flagged, but the three tied at 0.9 go together: none is.
    assert sum(p >= threshold_for_fpr(negatives, 0.5) for p in negatives) == 0
    # Three may be flagged: the three at 0.9, not the one at 0.1.
    threshold = threshold_for_fpr(negatives, 0.75)
    assert 0.1 < threshold <= 0.9


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.5])
def test_the_target_must_lie_strictly_between_0_and_1(target):
    with pytest.raises(ValueError):
        threshold_for_fpr([0.2, 0.4], target)


def test_a_threshold_needs_negatives():
    with pytest.raises(ValueError):
        threshold_for_fpr([], 0.01)


# natural_metrics


def test_at_an_even_share_balanced_counts_give_plain_precision():
    # 4 spam, 4 ham; flagged at 0.5: 3 spam (TP) and 1 ham (FP).
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.6, 0.2, 0.7, 0.3, 0.1, 0.0]
    metrics = natural_metrics(labels, scores, 0.5, 0.5)
    assert metrics["true_positives"] == 3 and metrics["false_positives"] == 1
    assert metrics["precision"] == pytest.approx(3 / (3 + 1))
    assert metrics["recall"] == pytest.approx(3 / 4)
    assert metrics["false_positive_rate"] == pytest.approx(1 / 4)
    assert metrics["false_positives_per_1000"] == pytest.approx(250)
    assert metrics["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))


def test_precision_at_a_low_share_by_hand():
    # Recall 0.9 and FPR 0.01 at a spam share of 0.1: 0.09 / (0.09 + 0.009) = 10/11.
    labels = [1] * 10 + [0] * 100
    scores = [0.9] * 9 + [0.1] + [0.9] + [0.1] * 99
    metrics = natural_metrics(labels, scores, 0.5, 0.1)
    assert metrics["precision"] == pytest.approx(10 / 11)
    precision, recall = 10 / 11, 0.9
    assert metrics["f1"] == pytest.approx(2 * precision * recall / (precision + recall))


def test_no_false_positives_among_ten_ham_is_up_to_277_per_1000():
    metrics = natural_metrics([0] * 10 + [1], [0.1] * 10 + [0.9], 0.5, 0.1)
    assert metrics["false_positives_per_1000"] == 0
    low, high = metrics["false_positives_per_1000_interval"]
    assert low == 0 and round(high, 1) == 277.5  # 1000 x the Wilson upper end for 0 of 10, above
    assert metrics["precision"] == 1.0


@given(binary_scores, probability, shares, shares)
def test_a_higher_positive_share_never_lowers_precision(example, threshold, share_a, share_b):
    labels, scores = example
    low, high = sorted((share_a, share_b))
    at_low = natural_metrics(labels, scores, threshold, low)
    at_high = natural_metrics(labels, scores, threshold, high)
    assert (at_low["precision"] is None) == (at_high["precision"] is None)
    if at_low["precision"] is not None:
        assert at_high["precision"] >= at_low["precision"] - 1e-12
    assert at_low["recall"] == at_high["recall"]
    json.dumps(at_low, allow_nan=False)


def test_undefined_rates_are_none():
    no_spam = natural_metrics([0, 0], [0.1, 0.9], 0.5, 0.1)
    assert no_spam["recall"] is None and no_spam["precision"] is None and no_spam["f1"] is None
    assert no_spam["false_positive_rate"] == 0.5
    no_ham = natural_metrics([1, 1], [0.1, 0.9], 0.5, 0.1)
    assert no_ham["false_positive_rate"] is None and no_ham["false_positives_per_1000_interval"] is None
    assert no_ham["recall"] == 0.5 and no_ham["precision"] is None
    nothing_flagged = natural_metrics([0, 1], [0.1, 0.2], 0.5, 0.1)
    assert nothing_flagged["precision"] is None and nothing_flagged["f1"] == 0.0


# precision_recall_curve


@given(binary_scores, shares)
def test_the_curve_goes_down_the_distinct_scores_and_never_loses_recall(example, share):
    labels, scores = example
    curve = precision_recall_curve(labels, scores, share)
    thresholds = [point["threshold"] for point in curve]
    assert thresholds[1:] == sorted(set(scores), reverse=True)
    assert thresholds[0] > max(scores)
    positives, negatives = sum(labels), len(labels) - sum(labels)
    for point in curve:
        tp, fp = flagged_counts(labels, scores, point["threshold"])
        assert point["recall"] == (tp / positives if positives else None)
        assert point["false_positive_rate"] == (fp / negatives if negatives else None)
    for key in ("recall", "false_positive_rate"):
        values = [point[key] for point in curve]
        if None not in values:
            assert values == sorted(values)
    json.dumps(curve, allow_nan=False)


def test_the_curve_runs_from_nothing_flagged_to_everything_flagged():
    labels = [1, 1, 0, 0, 0]
    scores = [0.9, 0.4, 0.4, 0.2, 0.9]
    curve = precision_recall_curve(labels, scores, 0.5)
    first, last = curve[0], curve[-1]
    assert (first["recall"], first["false_positive_rate"], first["precision"]) == (0.0, 0.0, None)
    assert (last["threshold"], last["recall"], last["false_positive_rate"]) == (0.2, 1.0, 1.0)
    # At 0.9: one spam of two and one ham of three; at an even share 0.5 / (0.5 + 1/3) = 0.6.
    assert curve[1]["threshold"] == 0.9 and curve[1]["precision"] == pytest.approx(0.6)
    assert len(curve) == 4  # the end point and the three distinct scores


# evaluate


def test_evaluate_two_classes_with_leakage_and_held_out_ham():
    names = ["ham", "spam"]
    labels = [0, 0, 0, 1, 1, 1]
    p_spam = [0.1, 0.6, 0.2, 0.9, 0.4, 0.8]
    rows = [[1 - p, p] for p in p_spam]
    seen_exact = [True, False, False, False, False, False]
    seen_normalised = [True, True, False, False, True, False]
    heldout = [0.05, 0.7, 0.3, 0.1]
    result = evaluate(
        labels,
        rows,
        names,
        seen_exact=seen_exact,
        seen_normalised=seen_normalised,
        heldout_labels=[0] * 4,
        heldout_probabilities=[[1 - p, p] for p in heldout],
        positive_share=0.15,
    )
    json.dumps(result, allow_nan=False)
    assert result["predictions"] == [0, 1, 0, 1, 0, 1]
    right = [p == y for p, y in zip(result["predictions"], labels, strict=True)]
    assert result["accuracy"] == sum(right) / 6
    assert result["class_report"]["confusion"] == [[2, 1], [1, 2]]

    unseen_exact = [r for r, s in zip(right, seen_exact, strict=True) if not s]
    unseen_normalised = [r for r, s in zip(right, seen_normalised, strict=True) if not s]
    assert result["leakage"] == {
        "test_messages": 6,
        "seen_exact": 1,
        "seen_normalised": 3,
        "unseen_exact_accuracy": sum(unseen_exact) / len(unseen_exact),
        "unseen_exact_messages": 5,
        "unseen_normalised_accuracy": sum(unseen_normalised) / len(unseen_normalised),
        "unseen_normalised_messages": 3,
        "seen_by_class": {"ham": 2, "spam": 1},
    }

    natural = result["natural"]
    # Ham: 3 from the test set (one flagged, 0.6) plus 4 held out (one flagged, 0.7); spam: 2 of 3 caught.
    assert (natural["negatives"], natural["false_positives"]) == (7, 2)
    assert (natural["positives"], natural["true_positives"]) == (3, 2)
    assert natural["heldout_messages"] == 4
    recall, fpr = 2 / 3, 2 / 7
    assert natural["precision"] == pytest.approx(0.15 * recall / (0.15 * recall + 0.85 * fpr))
    assert natural["threshold"] > 0.5  # argmax: a tie at 0.5 goes to ham
    assert len(result["precision_recall_curve"]) == 1 + len(set(p_spam + heldout))

    markdown = evaluation_markdown(result, title="GPT-2 small")
    assert markdown.startswith("## GPT-2 small")
    assert "1 of 6 test messages also appear in training (3 after whitespace/case normalisation)" in markdown
    assert "accuracy on the 3 unseen: 100.0%" in markdown
    assert "| spam | 66.7% | 66.7% | 66.7% | 3 |" in markdown
    assert "| true \\ predicted | ham | spam |" in markdown and "| ham | 2 | 1 |" in markdown
    assert "False positives per 1,000 ham: 285.7" in markdown
    assert "4 held-out messages" in markdown


def test_evaluate_with_a_threshold_predicts_and_measures_by_it():
    labels = [0, 0, 1, 1]
    rows = [[0.9, 0.1], [0.7, 0.3], [0.8, 0.2], [0.1, 0.9]]
    result = evaluate(labels, rows, ["ham", "spam"], threshold=0.25, positive_share=0.5)
    assert result["predictions"] == [0, 1, 0, 1]
    assert result["natural"]["threshold"] == 0.25
    assert result["natural"]["false_positives"] == 1 and result["natural"]["true_positives"] == 1
    assert result["leakage"] is None
    assert "P(spam) ≥ 0.25" in evaluation_markdown(result)


def test_evaluate_three_classes():
    names = ["a", "b", "c"]
    labels = [0, 1, 2, 2, 1]
    rows = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2], [0.3, 0.5, 0.2]]
    seen = [False, True, False, True, False]
    result = evaluate(labels, rows, names, seen_exact=seen, seen_normalised=seen)
    json.dumps(result, allow_nan=False)
    assert result["predictions"] == [0, 2, 2, 0, 1]  # the fourth row's tie goes to class a
    assert result["accuracy"] == 3 / 5
    assert result["class_report"]["confusion"] == [[1, 0, 0], [0, 1, 1], [1, 0, 1]]
    assert result["leakage"]["seen_by_class"] == {"a": 0, "b": 1, "c": 1}
    assert result["leakage"]["unseen_normalised_accuracy"] == 3 / 3  # rows 0, 2 and 4 are right
    assert result["natural"] is None and result["precision_recall_curve"] is None
    markdown = evaluation_markdown(result)
    assert "| b | 100.0% | 50.0% | 66.7% | 2 |" in markdown
    assert "natural" not in markdown


def test_evaluate_refuses_what_it_cannot_measure():
    rows3 = [[0.2, 0.3, 0.5]]
    with pytest.raises(ValueError, match="two classes"):
        evaluate([2], rows3, ["a", "b", "c"], threshold=0.5)
    with pytest.raises(ValueError, match="two classes"):
        evaluate([2], rows3, ["a", "b", "c"], positive_share=0.1)
    with pytest.raises(ValueError, match="positive_share"):
        evaluate([0], [[0.9, 0.1]], ["ham", "spam"], heldout_labels=[0], heldout_probabilities=[[0.8, 0.2]])
    with pytest.raises(ValueError, match="both"):
        evaluate([0], [[0.9, 0.1]], ["ham", "spam"], seen_exact=[True])
    with pytest.raises(ValueError, match="normalisation"):
        evaluate([0], [[0.9, 0.1]], ["ham", "spam"], seen_exact=[True], seen_normalised=[False])


def test_the_markdown_shows_undefined_values_as_a_dash():
    result = evaluate([0, 0], [[0.9, 0.1], [0.8, 0.2]], ["ham", "spam"], positive_share=0.1)
    markdown = evaluation_markdown(result)
    assert "| spam | - | - | - | 0 |" in markdown
    assert "Precision -, recall -, F1 -" in markdown


# plots


def test_the_evaluation_plots_write_pngs(tmp_path):
    from gpt_from_scratch.plots import plot_confusion_matrix, plot_precision_recall

    labels = [1, 1, 1, 0, 0, 0, 0, 0]
    scores = [0.95, 0.7, 0.3, 0.6, 0.2, 0.1, 0.05, 0.01]
    curve = precision_recall_curve(labels, scores, 0.13)
    for path in (
        plot_confusion_matrix([[50, 2], [3, 20]], ["ham", "spam"], tmp_path / "confusion.png"),
        plot_precision_recall(curve, tmp_path / "pr.png", 0.5, "P(spam) > 0.5"),
    ):
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000, path


@pytest.mark.parametrize("threshold", [None, 0.25], ids=["most probable class", "target-fpr"])
def test_the_precision_recall_plot_marks_the_threshold_in_use(tmp_path, monkeypatch, threshold):
    from matplotlib.figure import Figure

    from gpt_from_scratch.finetune import _write_plots

    labels = [1, 1, 1, 0, 0, 0, 0, 0]
    rows = [[1 - p, p] for p in (0.95, 0.7, 0.3, 0.6, 0.2, 0.1, 0.05, 0.01)]
    evaluation = evaluate(labels, rows, ["ham", "spam"], threshold=threshold, positive_share=0.13)
    metrics = {
        "examples_seen": 80,
        **{name: [0.5, 0.4] for name in ("train_losses", "val_losses", "train_accs", "val_accs")},
        "evaluation": evaluation,
        "threshold": None if threshold is None else {"value": threshold},
        "labels": ["ham", "spam"],
    }
    saved = {}
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **_: saved.update({Path(path).name: figure}))
    _write_plots(metrics, 1, tmp_path, log=lambda _: None)
    ax = saved["precision-recall.png"].axes[0]
    (legend,) = [text.get_text() for text in ax.get_legend().get_texts()]
    expected = "P(spam) > 0.5, the most probable class" if threshold is None else "P(spam) >= 0.25, chosen by"
    assert legend.startswith(expected)
    marker = ax.get_lines()[-1]
    natural = evaluation["natural"]  # the precision and recall the report gives at that threshold
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (natural["recall"], natural["precision"])
