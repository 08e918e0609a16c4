"""The experiment runner: the reference grid, resuming, records, McNemar's test and the report."""

from __future__ import annotations

import json

import pytest
from stand_ins import TEST_LABELS, TEST_TEXTS, fake_finetune, keyword_spam_probability

from gpt_from_scratch import experiments
from gpt_from_scratch.config import check_config
from gpt_from_scratch.errors import OptionError
from gpt_from_scratch.experiments import EXPERIMENTS, mcnemar_exact, read_results, report, run_experiments
from gpt_from_scratch.rewording import reword_all


def test_the_grid_holds_the_19_reference_rows_with_their_published_numbers():
    rows = {e.reference_row: e for e in EXPERIMENTS.values() if e.reference_row is not None}
    assert sorted(rows) == list(range(1, 20))
    # Spot checks against the published table (the issue quotes these rows too).
    assert rows[1].reference[2] == 95.00 and rows[2].reference[2] == 75.00
    assert rows[11].options == {"trainable": "lora", "lora_rank": 16, "lora_alpha": 16.0}
    assert rows[13].reference[2] == 78.33 and rows[16].reference[2] == 98.33


def test_every_gpt_experiment_is_a_valid_finetune_config():
    for experiment in EXPERIMENTS.values():
        if not experiment.baseline:  # baseline rows: tests/test_baselines.py
            check_config(experiments.experiment_config(experiment, 123, {}))


@pytest.mark.parametrize(
    ("only_reference", "only_other", "expected"),
    [
        (0, 0, 1.0),
        (1, 1, 1.0),  # 2 * (1 + 2) / 4, capped at 1
        (0, 6, 2 / 2**6),  # all six disagreements one way
        (2, 8, 2 * (1 + 10 + 45) / 2**10),  # 2 * P(X <= 2), X ~ Binomial(10, 1/2)
    ],
)
def test_mcnemar_is_the_exact_binomial_test_on_the_disagreements(only_reference, only_other, expected):
    both = 5  # agreements, right or wrong, do not enter the test
    reference = [True] * only_reference + [False] * only_other + [True] * both + [False] * both
    other = [False] * only_reference + [True] * only_other + [True] * both + [False] * both
    assert mcnemar_exact(reference, other) == pytest.approx(expected)


def test_runs_are_recorded_and_a_resumed_grid_skips_finished_runs(tmp_path, monkeypatch):
    calls = []
    row_2_misses_one = fake_finetune(
        lambda cfg: [1, 0, 1] if cfg.position == "last" else [0, 0, 1], calls=calls
    )
    monkeypatch.setattr(experiments.runner, "finetune", row_2_misses_one)
    results = tmp_path / "results.jsonl"
    names = ["row01-book", "row02-first-token"]
    run_experiments(names, [1, 2], results, {"model_size": "tiny"}, log=lambda _: None)
    assert len(calls) == 4
    assert all(cfg.model_size == "tiny" and cfg.reading == "book" and cfg.data_seed == 123 for cfg in calls)

    with results.open("a") as out:
        out.write('{"half a line')  # an interrupted write
    run_experiments(names, [1, 2, 3], results, {"model_size": "tiny"}, log=lambda _: None)
    assert len(calls) == 6  # only seed 3 of each ran
    records = read_results(results)
    assert len(records) == 6
    first = records[0]
    for key in (
        "test_predictions",
        "test_probabilities",
        "test_labels",
        "reworded_test_accuracy",
        "reworded_test_predictions",
        "reworded_test_probabilities",
        "trainable_parameters",
        "wall_seconds",
        "peak_memory_bytes",
    ):
        assert key in first, key
    assert first["config"]["position"] == "last" and first["config"]["seed"] == 1
    json.dumps(first)  # plain JSON
    assert first["test_labels"] == TEST_LABELS
    # finetune scored what the runner handed it: the reworded test messages, in memory.
    reworded = reword_all(TEST_TEXTS)
    assert first["reworded_test_probabilities"] == [keyword_spam_probability(t) for t in reworded]
    assert "cla.im" in reworded[2]  # the third spam message lost its "claim": one message fewer right
    assert first["reworded_test_predictions"] == [1, 0, 0]
    assert first["reworded_test_accuracy"] == pytest.approx(2 / 3)

    table = report(records)
    assert "| row02-first-token | tiny, pretrained | 3 | 90.00 ± 0.00 |" in table
    # Row 2 gets one message wrong that row 1 gets right: one disagreement, p = 1.
    assert "| 1, 1, 1 |" in table
    # Row 1's stand-in says P(spam) 0.8, 0.3, 0.8 for labels 1, 0, 1: Brier (0.04 + 0.09 + 0.04) / 3;
    # confidences 0.8, 0.7, 0.8, all right: ECE (2 x 0.2 + 1 x 0.3) / 3.
    assert f"| {0.17 / 3:.3f} / {0.7 / 3:.3f} |" in table


def test_the_report_says_when_overrides_made_two_rows_one_configuration(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1]))
    results = tmp_path / "results.jsonl"
    names = ["row01-book", "row06-gpt2-medium", "row18-ignore-index", "row16-flexible"]
    run_experiments(names, [1], results, {"model_size": "tiny"}, log=lambda _: None)
    table = report(read_results(results))
    assert "| row06-gpt2-medium (ran the configuration of row01-book) |" in table
    assert "| row18-ignore-index (ran the configuration of row01-book) |" in table
    assert "| row16-flexible |" in table


def test_unknown_experiment_names_are_refused(tmp_path):
    with pytest.raises(OptionError, match="--list"):
        run_experiments(["row99"], [1], tmp_path / "r.jsonl")


def test_a_bad_override_stops_the_grid_before_any_run(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1], calls=calls))
    with pytest.raises(OptionError, match="--lr -1: the learning rate must be positive"):
        run_experiments(["row01-book", "row02-first-token"], [1], tmp_path / "r.jsonl", {"lr": -1.0})
    assert calls == [] and not (tmp_path / "r.jsonl").exists()
