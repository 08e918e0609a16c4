"""finetune times every phase, and --score book scores only what the book scores, saying what it skipped."""

from __future__ import annotations

import json

import pytest
from tiny_runs import tiny_config, tiny_finetune

from gpt_from_scratch.errors import OptionError
from gpt_from_scratch.finetune import REPORT_FILE, finetune

TRAINING = ["data", "model", "cache_fill", "training"]
BOOK_SCORING = ["score_train", "score_validation", "score_test"]
SKIPPED = "skipped (--score book)"


def reworded(texts: list[str]) -> list[str]:
    """A stand-in for the experiments' rewording: every test message in capitals."""
    return [text.upper() for text in texts]


@pytest.fixture(scope="module")
def full_and_book(sms_file, tmp_path_factory):
    """Two tiny runs on one seed: the full scoring with a threshold, and --score book; both reworded."""
    runs = {}
    for score, options in (("full", {"target_fpr": 0.05}), ("book", {})):
        out = tmp_path_factory.mktemp(score) / "out"
        lines = []
        cfg = tiny_config(sms_file, out, max_steps=4, score=score, **options)
        metrics = finetune(cfg, log=lines.append, also_score=reworded)
        runs[score] = out, metrics, lines
    return runs


@pytest.mark.slow
def test_every_phase_is_timed_in_order_logged_and_saved(full_and_book):
    out, metrics, lines = full_and_book["full"]
    expected = [*TRAINING, *BOOK_SCORING, "threshold", "score_set_aside", "score_reworded", "save"]
    assert list(metrics.phase_seconds) == expected
    assert all(seconds >= 0 for seconds in metrics.phase_seconds.values())
    assert metrics.skipped_phases == {}
    for name in expected:
        assert sum(line.startswith(f"Time, {name}: ") for line in lines) == 1, name
    # training_seconds still counts the cache fill with the training, as before the phases were apart.
    assert metrics.training_seconds == metrics.phase_seconds["cache_fill"] + metrics.phase_seconds["training"]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["phase_seconds"] == metrics.phase_seconds
    assert saved["skipped_phases"] == {}


@pytest.mark.slow
def test_book_scoring_gives_the_same_accuracies_and_says_what_it_skipped(full_and_book):
    _, full, _ = full_and_book["full"]
    out, book, lines = full_and_book["book"]
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy", "test_predictions"):
        assert getattr(book, key) == getattr(full, key), key
    # The reworded copy is not the book's scoring but an experiment's question: it is still answered.
    assert book.also_probabilities == pytest.approx(full.also_probabilities, rel=1e-5, abs=1e-6)
    assert list(book.phase_seconds) == [*TRAINING, *BOOK_SCORING, "score_reworded", "save"]
    assert book.skipped_phases == {"score_set_aside": SKIPPED}
    assert f"Time, score_set_aside: {SKIPPED}" in lines
    # The natural-share figures need the ham set aside: recorded as skipped, never silently absent.
    assert full.evaluation["natural"] is not None and "skipped" not in full.evaluation
    assert book.evaluation["natural"] is None and book.evaluation["skipped"] == {"natural": SKIPPED}
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["skipped_phases"] == {"score_set_aside": SKIPPED}
    assert saved["evaluation"]["skipped"] == {"natural": SKIPPED}
    assert SKIPPED in (out / REPORT_FILE).read_text()
    assert any(line.startswith("At the natural share of spam: ") and SKIPPED in line for line in lines)


def test_book_scoring_with_a_threshold_is_refused_before_any_work(sms_file, tmp_path):
    with pytest.raises(OptionError, match=r"--score book --target-fpr 0\.05: .*leave one of them out"):
        tiny_finetune(sms_file, tmp_path / "out", score="book", target_fpr=0.05)
    assert not (tmp_path / "out").exists()
