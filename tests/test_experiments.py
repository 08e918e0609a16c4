"""The experiment runner: the reference grid, resuming, records, McNemar's test and the report."""

from __future__ import annotations

import json

import pytest

from gpt_from_scratch import experiments
from gpt_from_scratch.errors import OptionError
from gpt_from_scratch.experiments import EXPERIMENTS, mcnemar_exact, read_results, report, run_experiments
from gpt_from_scratch.finetune import FinetuneConfig, check_config


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


def fake_finetune(calls: list):
    """Stands in for the real finetune: records its config, returns what finetune returns."""

    def run(cfg: FinetuneConfig, log=print):
        calls.append(cfg)
        data = __import__("pathlib").Path(cfg.out_dir) / "data"
        data.mkdir(parents=True)
        (data / "test.csv").write_text("Label,Text\n1,a\n0,b\n1,c\n")
        predictions = [1, 0, 1] if cfg.position == "last" else [0, 0, 1]
        return {
            "train_accuracy": 0.9,
            "validation_accuracy": 0.8,
            "test_accuracy": sum(p == y for p, y in zip(predictions, [1, 0, 1], strict=True)) / 3,
            "test_predictions": predictions,
            "trainable_parameters": 10,
            "total_parameters": 100,
            "training_seconds": 0.1,
            "device": "cpu",
        }

    return run


def test_runs_are_recorded_and_a_resumed_grid_skips_finished_runs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments, "finetune", fake_finetune(calls))
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
        "test_labels",
        "trainable_parameters",
        "wall_seconds",
        "peak_memory_bytes",
    ):
        assert key in first, key
    assert first["config"]["position"] == "last" and first["config"]["seed"] == 1
    json.dumps(first)  # plain JSON

    table = report(records)
    assert "| row02-first-token | tiny, pretrained | 3 | 90.00 ± 0.00 |" in table
    # Row 2 gets one message wrong that row 1 gets right: one disagreement, p = 1.
    assert "| 1, 1, 1 |" in table


def test_unknown_experiment_names_are_refused(tmp_path):
    with pytest.raises(OptionError, match="--list"):
        run_experiments(["row99"], [1], tmp_path / "r.jsonl")
