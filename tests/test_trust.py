"""A classifier's user can trust its numbers: leakage measured, the natural distribution, a threshold.

Trained for a few steps on the tiny model: these tests check what is measured and where it goes,
not how good the tiny model is. Expected numbers come from the issue that asked for them or are
recomputed here from the files the run wrote, never copied from the code's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import tiny_finetune

from gpt_from_scratch import seam
from gpt_from_scratch.checkpoint import save_classifier
from gpt_from_scratch.cli import main
from gpt_from_scratch.config import FinetuneConfig
from gpt_from_scratch.errors import OptionError
from gpt_from_scratch.model import GPTModel, model_config

# The issue's measurement on the book's split (book reading, seed 123).
SEEN_VERBATIM, SEEN_SPAM = 37, 33


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"Text": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def book_run(sms_file, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("book") / "model"
    return out, tiny_finetune(sms_file, out, reading="book", target_fpr=0.05)


def test_leakage_on_the_books_split_is_what_the_issue_measured(book_run):
    _, metrics = book_run
    leakage = metrics.evaluation["leakage"]
    assert leakage["test_messages"] == 300
    assert leakage["seen_exact"] == SEEN_VERBATIM
    assert leakage["seen_by_class"]["spam"] >= SEEN_SPAM  # normalising can only find more
    assert leakage["seen_normalised"] >= SEEN_VERBATIM
    assert leakage["unseen_normalised_messages"] == 300 - leakage["seen_normalised"]


def test_unseen_accuracy_is_recomputed_from_the_written_splits(book_run):
    out, metrics = book_run
    train = set(read_csv(out / "data" / "train.csv")["Text"])
    test = read_csv(out / "data" / "test.csv")
    unseen = [i for i, text in enumerate(test["Text"]) if text not in train]
    predictions = metrics.evaluation["predictions"]  # at the chosen threshold
    right = sum(predictions[i] == metrics.test_labels[i] for i in unseen)
    leakage = metrics.evaluation["leakage"]
    assert leakage["unseen_exact_messages"] == len(unseen)
    assert leakage["unseen_exact_accuracy"] == pytest.approx(right / len(unseen))


def test_the_natural_distribution_adds_the_set_aside_ham_never_seen_in_training(book_run):
    out, metrics = book_run
    data = out / "data"
    heldout = read_csv(data / "heldout-test.csv")
    assert set(heldout["Label"]) == {0}  # balancing set aside ham only
    seen = {
        " ".join(t.split()).casefold()
        for name in ("train", "validation")
        for t in read_csv(data / f"{name}.csv")["Text"]
    }
    assert not any(" ".join(t.split()).casefold() in seen for t in heldout["Text"])
    natural = metrics.evaluation["natural"]
    test_ham = sum(label == 0 for label in metrics.test_labels)
    assert natural["negatives"] == test_ham + len(heldout)
    assert natural["positives"] == 300 - test_ham
    low, high = natural["false_positives_per_1000_interval"]
    assert low <= natural["false_positives_per_1000"] <= high
    # The published file's spam share: 747 of 5,574 lines (book reading: of 5,572 rows).
    assert natural["positive_share"] == pytest.approx(747 / 5572)


def test_the_threshold_is_chosen_on_validation_data_and_saved_with_the_model(book_run):
    out, _ = book_run
    config = json.loads((out / "config.json").read_text())
    threshold = config["threshold"]
    assert threshold["target_false_positive_rate"] == 0.05
    assert threshold["validation_false_positive_rate"] <= 0.05
    validation_ham = sum(read_csv(out / "data" / "validation.csv")["Label"] == 0)
    heldout_ham = sum(read_csv(out / "data" / "heldout-validation.csv")["Label"] == 0)
    assert threshold["validation_negatives"] == validation_ham + heldout_ham


def test_the_run_writes_a_report_and_its_plots(book_run):
    out, metrics = book_run
    report = (out / "report.md").read_text()
    assert "per 1,000" in report and "training" in report
    assert (out / "confusion-matrix.png").stat().st_size > 0
    assert (out / "precision-recall.png").stat().st_size > 0
    written = json.loads((out / "metrics.json").read_text())
    assert written["evaluation"]["leakage"] == metrics.evaluation["leakage"]


@pytest.mark.slow
def test_dedupe_leaves_no_test_message_in_training(sms_file, tmp_path):
    metrics = tiny_finetune(sms_file, tmp_path / "m", reading="book", dedupe=True)
    leakage = metrics.evaluation["leakage"]
    assert leakage["seen_exact"] == leakage["seen_normalised"] == 0
    assert metrics.data["dedupe"] and metrics.data["duplicates_removed"] > 0
    assert "--dedupe" in (tmp_path / "m" / "report.md").read_text()


# --- the saved threshold at classify time ------------------------------------------------------------

MESSAGES = ["Call now to win a prize", "See you at dinner?", "Free entry in a weekly draw", "ok", "URGENT!"]


def save_tiny(model_dir: Path, labels: list[str], threshold: float | None = None) -> Path:
    model = GPTModel(model_config("tiny"))
    seam.replace_head(model, len(labels))
    info = {"max_length": 16, "pad_token_id": 50256, "labels": labels}
    if threshold is not None:
        info["threshold"] = {"value": threshold, "target_false_positive_rate": 0.01}
    return save_classifier(model, model_dir, info)


def classify_json(capsys, model_dir: Path, *args: str) -> list[dict]:
    assert main(["classify", *MESSAGES, "--model-dir", str(model_dir), "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_classify_uses_the_saved_threshold_and_threshold_overrides_it(tmp_path, tokenizer, capsys):
    import torch

    torch.manual_seed(0)
    plain = classify_json(capsys, save_tiny(tmp_path / "plain", ["not spam", "spam"]))
    spam = sorted(row["spam_probability"] for row in plain)
    middle = (spam[1] + spam[2]) / 2  # two messages below it, three above
    torch.manual_seed(0)
    saved = classify_json(capsys, save_tiny(tmp_path / "saved", ["not spam", "spam"], threshold=middle))
    assert [row["spam_probability"] for row in saved] == [row["spam_probability"] for row in plain]
    assert [row["label"] == "spam" for row in saved] == [row["spam_probability"] >= middle for row in saved]
    overridden = classify_json(capsys, tmp_path / "saved", "--threshold", "0")
    assert all(row["label"] == "spam" for row in overridden)


def test_a_threshold_is_refused_for_more_than_two_classes_or_outside_0_1(tmp_path, tokenizer, capsys):
    three = save_tiny(tmp_path / "three", ["billing", "bug", "praise"])
    assert main(["classify", "hello", "--model-dir", str(three), "--threshold", "0.5"]) == 1
    assert "has 3" in capsys.readouterr().err
    two = save_tiny(tmp_path / "two", ["not spam", "spam"])
    assert main(["classify", "hello", "--model-dir", str(two), "--threshold", "1.5"]) == 1
    assert "between 0 and 1" in capsys.readouterr().err


def test_target_fpr_is_a_share_and_columns_need_a_data_file():
    from gpt_from_scratch.config import check_config

    with pytest.raises(OptionError, match="--target-fpr 5: a false-positive rate"):
        check_config(FinetuneConfig(target_fpr=5))
    with pytest.raises(OptionError, match="--text-column body names a column of your own --data-file"):
        check_config(FinetuneConfig(text_column="body"))
