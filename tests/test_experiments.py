"""The experiment runner: the reference grid, resuming, records, McNemar's test and the report."""

from __future__ import annotations

import json

import pytest
from stand_ins import (
    HELDOUT_HAM_SPAM_PROBABILITIES,
    SEEN_IN_TRAINING,
    TEST_LABELS,
    TEST_TEXTS,
    fake_finetune,
    keyword_spam_probability,
)

from gpt_from_scratch import experiments
from gpt_from_scratch.config import FinetuneConfig, check_config
from gpt_from_scratch.errors import DataError, OptionError
from gpt_from_scratch.experiments import (
    EXPERIMENTS,
    mcnemar_exact,
    read_results,
    report,
    run_experiments,
    summarize,
)
from gpt_from_scratch.experiments.rewording import reword_all

TINY_RANDOM = {"model_size": "tiny", "weights": "random", "lr": 1e-3}  # the offline runs


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
    logged = []
    run_experiments(names, [1, 2, 3], results, {"model_size": "tiny"}, log=logged.append)
    assert len(calls) == 6  # only seed 3 of each ran
    # The half-written line was said and removed, so the file reads back whole.
    assert any("line 5 was half-written by an interrupted run: removed" in line for line in logged)
    records = read_results(results, warn=pytest.fail)
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
    assert "| row02-first-token (--model-size tiny) | tiny, pretrained | 3 | 90.00 ± 0.00 |" in table
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
    row_1 = "row01-book (--model-size tiny)"
    assert f"- row06-gpt2-medium (--model-size tiny) ran the same configuration as {row_1}." in table
    assert f"- row18-ignore-index (--model-size tiny) ran the same configuration as {row_1}." in table
    assert "| row16-flexible (--model-size tiny) |" in table
    assert "row16-flexible (--model-size tiny) ran" not in table


def row(table: str, label: str) -> list[str]:
    """The cells of the table row whose experiment column is label."""
    lines = [line for line in table.splitlines() if line.startswith(f"| {label} |")]
    assert len(lines) == 1, (label, table)
    return [cell.strip() for cell in lines[0].split("|")[1:-1]]


HEADER = (
    "experiment",
    "model, weights",
    "runs",
    "train %",
    "validation %",
    "test %",
    "published test %",
    "unseen test %",
    "false positives per 1,000 ham",
    "McNemar p vs row01-book (per seed)",
    "reworded test %",
    "Brier / ECE",
    "budget",
    "lr",
    "trainable params",
    "wall s",
    "device",
)


def column(table: str, label: str, name: str) -> str:
    """One cell of the table: the row labelled label, the column named name."""
    assert tuple(cell.strip() for cell in table.splitlines()[0].split("|")[1:-1]) == HEADER
    return row(table, label)[HEADER.index(name)]


def test_runs_with_other_settings_are_other_rows_never_pooled(tmp_path, monkeypatch):
    # The issue: row01-book with --max-steps 30 (two seeds), then again with --max-steps 60 (seed 123).
    def better_with_more_steps(cfg: FinetuneConfig) -> list[int]:
        return [1, 0, 1] if cfg.max_steps == 60 else [0, 0, 1] if cfg.seed == 123 else [0, 1, 1]

    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(better_with_more_steps))
    results = tmp_path / "results.jsonl"
    for steps, seeds in ((30, [123, 124]), (60, [123])):
        overrides = TINY_RANDOM | {"max_steps": steps}
        run_experiments(["row01-book"], seeds, results, overrides, log=lambda _: None)
    records = read_results(results)
    assert [(s.label, [r["seed"] for r in s.runs]) for s in summarize(records)] == [
        ("row01-book (--model-size tiny, --weights random, --lr 0.001, --max-steps 30)", [123, 124]),
        ("row01-book (--model-size tiny, --weights random, --lr 0.001, --max-steps 60)", [123]),
    ]
    table = report(records)
    short = "row01-book (--model-size tiny, --weights random, --lr 0.001, --max-steps 30)"
    longer = short.replace("30", "60")
    assert [column(table, short, name) for name in ("runs", "test %", "budget", "lr")] == [
        "2",
        "50.00 ± 23.57",
        "30 steps",
        "0.001",
    ]
    assert [column(table, longer, name) for name in ("runs", "test %", "budget", "lr")] == [
        "1",
        "100.00",
        "60 steps",
        "0.001",
    ]
    assert "Notes:" not in table  # two distinct runs of seed 123: nothing ignored


def test_mcnemar_pairs_only_runs_with_the_same_settings(tmp_path, monkeypatch):
    # Row 2 misses one message that row 1 gets right, whatever the setting.
    monkeypatch.setattr(
        experiments.runner,
        "finetune",
        fake_finetune(lambda cfg: [1, 0, 1] if cfg.position == "last" else [0, 0, 1]),
    )
    results = tmp_path / "results.jsonl"
    log = lambda _: None  # noqa: E731
    run_experiments(
        ["row01-book", "row02-first-token"], [1, 2], results, TINY_RANDOM | {"max_steps": 30}, log=log
    )
    run_experiments(["row02-first-token"], [1, 2], results, TINY_RANDOM | {"max_steps": 60}, log=log)
    # Where the run was made does not change its setting: paired with row 1 of the same steps.
    cpu = TINY_RANDOM | {"max_steps": 30, "device": "cpu"}
    run_experiments(["row16-flexible"], [1], results, cpu, log=log)
    table = report(read_results(results))
    flags = "--model-size tiny, --weights random, --lr 0.001"
    mcnemar = "McNemar p vs row01-book (per seed)"
    assert column(table, f"row01-book ({flags}, --max-steps 30)", mcnemar) == "-"
    assert column(table, f"row02-first-token ({flags}, --max-steps 30)", mcnemar) == "1, 1"
    assert column(table, f"row02-first-token ({flags}, --max-steps 60)", mcnemar) == "-"  # no such row 1
    assert column(table, f"row16-flexible ({flags}, --max-steps 30)", mcnemar) == "1"


def test_labels_name_the_data_file_and_device_only_to_tell_two_rows_apart(tmp_path, monkeypatch, sms_file):
    monkeypatch.setattr(
        experiments.runner,
        "finetune",
        fake_finetune(lambda cfg: [1, 0, 1] if cfg.position == "last" else [0, 0, 1]),
    )
    results = tmp_path / "results.jsonl"
    local = {"model_size": "tiny", "data_file": str(sms_file)}
    for device, seeds in (("auto", [1]), ("cpu", [1, 2])):
        overrides = local | {"device": device}
        run_experiments(["row01-book", "row02-first-token"], seeds, results, overrides, log=lambda _: None)
    run_experiments(["row16-flexible"], [1], results, local | {"device": "cpu"}, log=lambda _: None)
    table = report(read_results(results))
    where = f"--data-file {sms_file}"
    mcnemar = "McNemar p vs row01-book (per seed)"
    # Two rows of row 2, paired with the row-1 runs made on the same device among the two.
    assert column(table, f"row02-first-token (--model-size tiny, {where})", mcnemar) == "1"
    assert column(table, f"row02-first-token (--model-size tiny, {where}, --device cpu)", mcnemar) == "1, 1"
    assert column(table, f"row01-book (--model-size tiny, {where}, --device cpu)", "runs") == "2"
    # One row of row 16: its label needs neither.
    assert column(table, "row16-flexible (--model-size tiny)", mcnemar) == "1"


def test_published_numbers_only_beside_runs_of_the_published_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1]))
    results = tmp_path / "results.jsonl"
    run_experiments(["row01-book", "row10-random-all"], [1], results, TINY_RANDOM, log=lambda _: None)
    run_experiments(["row01-book", "row10-random-all"], [1], results, {"device": "cpu"}, log=lambda _: None)
    run_experiments(["row01-book"], [1], results, {"max_steps": 30}, log=lambda _: None)
    run_experiments(["row01-book"], [1], results, {"weights_dir": "gpt2"}, log=lambda _: None)  # size unknown
    sized = {"weights_dir": "gpt2", "model_size": "gpt2-small"}
    run_experiments(["row01-book"], [1], results, sized, log=lambda _: None)
    summaries = {s.label: s for s in summarize(read_results(results))}
    assert {label: s.published_test for label, s in summaries.items()} == {
        "row01-book (--model-size tiny, --weights random, --lr 0.001)": None,
        "row01-book": 95.00,  # pretrained GPT-2 small, the full recipe: --device cpu is not a setting
        "row01-book (--max-steps 30)": None,
        "row01-book (--weights-dir gpt2)": None,
        "row01-book (--model-size gpt2-small, --weights-dir gpt2)": 95.00,
        "row10-random-all (--model-size tiny, --lr 0.001)": None,
        "row10-random-all": 93.67,  # the published row ran random weights
    }
    table = report(read_results(results))
    published = "published test %"
    assert column(table, "row01-book", published) == "95.00"
    assert column(table, "row01-book (--model-size tiny, --weights random, --lr 0.001)", published) == "-"
    assert "published numbers are shown only beside runs of the published setting: pretrained GPT-2" in table


def test_a_line_that_is_not_a_record_stops_the_reading_with_its_line_number(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1]))
    results = tmp_path / "experiment-results.jsonl"
    run_experiments(["row01-book"], [1, 2, 3], results, {"model_size": "tiny"}, log=lambda _: None)
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join([lines[0], '{"key": "cut off\n', lines[1], "[]\n", lines[2]]))
    message = f"{results} lines 2, 4 are not JSON records: fix or delete those lines"
    with pytest.raises(DataError, match=message.replace("[", r"\[")):
        read_results(results)
    with pytest.raises(DataError, match="lines 2, 4"):  # the grid does not append to a broken file
        run_experiments(["row01-book"], [4], results, {"model_size": "tiny"}, log=lambda _: None)
    results.write_text("".join([lines[0], "not json\n", lines[1], lines[2]]))
    with pytest.raises(
        DataError, match="experiment-results.jsonl line 2 is not a JSON record: fix or delete that line"
    ):
        read_results(results)


def test_a_half_written_last_line_is_reported_not_dropped_silently(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1]))
    results = tmp_path / "results.jsonl"
    run_experiments(["row01-book"], [1, 2], results, {"model_size": "tiny"}, log=lambda _: None)
    with results.open("a") as out:
        out.write('{"key": "0123", "name": "row01-book", "se')  # a run interrupted while recording
    warnings = []
    records = read_results(results, warn=warnings.append)
    assert len(records) == 2
    assert warnings == [
        f"{results} line 3 is half-written (a run interrupted while recording): it holds no whole "
        "record and is left out"
    ]
    table = report(records, notes=warnings)
    assert f"Notes:\n\n- {warnings[0]}\n" in table
    # A whole last record whose newline is missing is a record, not a half-written line.
    results.write_text(results.read_text().rsplit("\n", 1)[0])
    assert len(read_results(results, warn=pytest.fail)) == 2


def test_a_seed_recorded_twice_with_one_configuration_counts_once_and_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1]))
    results = tmp_path / "results.jsonl"
    run_experiments(["row01-book"], [1, 2], results, {"model_size": "tiny"}, log=lambda _: None)
    first, second = read_results(results)
    again = first | {"test_accuracy": 0.0, "test_predictions": [0, 1, 0]}  # e.g. two files joined
    records = [first, second, again]
    (summary,) = summarize(records)
    assert summary.runs == [again, second] and summary.duplicates == 1  # the latest of seed 1 is kept
    table = report(records)
    assert column(table, "row01-book (--model-size tiny)", "runs") == "2"
    assert column(table, "row01-book (--model-size tiny)", "test %") == "50.00 ± 70.71"
    assert (
        "- row01-book (--model-size tiny): 1 duplicate(s) ignored (a seed recorded again with this "
        "configuration: the same run twice); the latest in the file is kept." in table
    )


def test_unknown_experiment_names_are_refused(tmp_path):
    with pytest.raises(OptionError, match="--list"):
        run_experiments(["row99"], [1], tmp_path / "r.jsonl")


def test_a_bad_override_stops_the_grid_before_any_run(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: [1, 0, 1], calls=calls))
    with pytest.raises(OptionError, match="--lr -1: the learning rate must be positive"):
        run_experiments(["row01-book", "row02-first-token"], [1], tmp_path / "r.jsonl", {"lr": -1.0})
    assert calls == [] and not (tmp_path / "r.jsonl").exists()


def test_the_table_gives_unseen_accuracy_and_false_positives_per_1000_ham(tmp_path, monkeypatch):
    predicted = [1, 1, 0]  # right, wrong (ham flagged), wrong
    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(lambda cfg: predicted))
    results = tmp_path / "r.jsonl"
    run_experiments([experiments.BASELINE], [1], results, {}, log=lambda _: None)
    table = report(read_results(results))
    unseen = [i for i, seen in enumerate(SEEN_IN_TRAINING) if not seen]
    right = sum(predicted[i] == TEST_LABELS[i] for i in unseen)
    assert (
        column(table, experiments.BASELINE, "unseen test %")
        == f"{100 * right / len(unseen):.2f} ({len(unseen)})"
    )
    # The test set's ham and the ham set aside, each flagged when its P(spam) is above 0.5.
    ham_flagged = [p for p, y in zip(predicted, TEST_LABELS, strict=True) if y == 0] + [
        int(p > 0.5) for p in HELDOUT_HAM_SPAM_PROBABILITIES
    ]
    per_1000 = 1000 * sum(ham_flagged) / len(ham_flagged)
    assert column(table, experiments.BASELINE, "false positives per 1,000 ham").startswith(
        f"{per_1000:.1f} ("
    )
