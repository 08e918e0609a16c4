"""Calibration measures: the Brier score and the expected calibration error (calibration.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch.evaluation.calibration import brier_score, expected_calibration_error

probabilities_and_labels = st.integers(1, 50).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 1), min_size=n, max_size=n), st.lists(st.integers(0, 1), min_size=n, max_size=n)
    )
)


def test_the_brier_score_is_scikit_learns():
    from sklearn.metrics import brier_score_loss  # the test extra installs scikit-learn

    rng = random.Random(0)
    probabilities = [rng.random() for _ in range(200)]
    labels = [rng.randint(0, 1) for _ in range(200)]
    expected = brier_score_loss(labels, probabilities)
    assert brier_score(probabilities, labels) == pytest.approx(expected, rel=1e-12)


def test_always_answering_one_half_scores_a_quarter():
    assert brier_score([0.5] * 4, [0, 1, 1, 0]) == 0.25  # (0.5)² for every message


def test_the_ece_of_a_worked_example():
    # Confidence 0.9 (bin 9): four predictions of spam, three right: |0.75 - 0.9| = 0.15, weight 4/6.
    # Confidence 0.6 (bin 6): two predictions of spam, one right: |0.5 - 0.6| = 0.1, weight 2/6.
    # ECE = (4 * 0.15 + 2 * 0.1) / 6 = 0.8 / 6.
    probabilities = [0.9, 0.9, 0.9, 0.9, 0.6, 0.6]
    labels = [1, 1, 1, 0, 1, 0]
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.8 / 6)


def test_the_ece_reads_the_confidence_of_the_predicted_class():
    # P(spam) = 0.1 predicts "not spam" with confidence 0.9: the mirror image of P(spam) = 0.9.
    assert expected_calibration_error([0.1, 0.1], [0, 1]) == pytest.approx(
        expected_calibration_error([0.9, 0.9], [1, 0])
    )


@given(probabilities_and_labels)
def test_both_measures_lie_between_0_and_1(data):
    probabilities, labels = data
    assert 0 <= brier_score(probabilities, labels) <= 1
    assert 0 <= expected_calibration_error(probabilities, labels) <= 1


@given(st.lists(st.integers(0, 1), min_size=1, max_size=50))
def test_certain_and_right_is_perfect_for_both(labels):
    probabilities = [float(y) for y in labels]
    assert brier_score(probabilities, labels) == 0
    assert expected_calibration_error(probabilities, labels) == 0


@pytest.mark.parametrize(
    ("probabilities", "labels", "message"),
    [([0.5], [0, 1], "one probability per label"), ([], [], "at least one"), ([2.3], [1], "not logits")],
)
def test_bad_input_is_refused_with_what_to_do(probabilities, labels, message):
    for measure in (brier_score, expected_calibration_error):
        with pytest.raises(ValueError, match=message):
            measure(probabilities, labels)
