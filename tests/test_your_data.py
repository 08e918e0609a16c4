"""Finetuning on your own labelled file, any number of classes, and classifying with its label names.

The files are written here: three classes of support messages, in CSV, TSV and JSON lines. The tiny
model trains a few steps; these tests check the plumbing (labels, reports, errors), not accuracy.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import tiny_finetune

from gpt_from_scratch.cli import main
from gpt_from_scratch.errors import OptionError

CLASSES = {
    "billing": ["I was charged twice for {x}", "refund my {x} payment", "my invoice for {x} is wrong"],
    "bug": ["the app crashes when I open {x}", "{x} shows an error", "cannot load {x} since the update"],
    "praise": ["love the new {x}", "{x} works great, thanks", "best {x} I have used"],
}
THINGS = ["settings", "profile", "march", "photos", "the plan", "my account", "search", "the widget"]


def write_support_file(path: Path, per_class: int = 40, seed: int = 0) -> Path:
    """A labelled file of per_class messages a class, in the format its suffix names."""
    rng = random.Random(seed)
    rows = [
        {"text": f"{rng.choice(templates).format(x=rng.choice(THINGS))} #{i}", "label": label}
        for label, templates in CLASSES.items()
        for i in range(per_class)
    ]
    frame = pd.DataFrame(rows)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


@pytest.fixture(scope="module")
def support_model(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("support")
    data_file = write_support_file(root / "support.csv")
    out = root / "model"
    return data_file, out, tiny_finetune(data_file, out, max_steps=3)


def test_the_label_names_are_kept_in_the_models_config(support_model, tokenizer):
    _, out, metrics = support_model
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == sorted(CLASSES) and config["num_classes"] == 3
    assert metrics.labels == sorted(CLASSES)


def test_the_report_gives_per_class_scores_and_a_confusion_matrix(support_model, tokenizer):
    _, out, metrics = support_model
    report = metrics.evaluation["class_report"]
    test = pd.read_csv(out / "data" / "test.csv")
    assert [row["support"] for row in report["per_class"]] == [
        int((test["Label"] == k).sum()) for k in range(3)
    ]
    assert sum(map(sum, report["confusion"])) == len(test)
    written = (out / "report.md").read_text()
    assert all(name in written for name in CLASSES) and "F1" in written
    assert (out / "confusion-matrix.png").stat().st_size > 0
    assert metrics.evaluation["natural"] is None  # three classes: no spam share to reweight


def test_classify_prints_the_trained_label_names(support_model, tokenizer, capsys):
    _, out, _ = support_model
    assert main(["classify", "refund please", "the app crashes", "--model-dir", str(out), "--json"]) == 0
    labels = {json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()}
    assert labels <= set(CLASSES)


def test_classify_with_labels_reports_per_class_scores(support_model, tokenizer, capsys, tmp_path):
    data_file, out, _ = support_model
    code = main(["classify", "--file", str(data_file), "--label-column", "label", "--model-dir", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "precision" in printed and "billing" in printed


def test_a_label_not_in_the_trained_set_is_one_line_at_classify_time(
    support_model, tokenizer, capsys, tmp_path
):
    _, out, _ = support_model
    bad = tmp_path / "new.csv"
    pd.DataFrame({"text": ["refund please", "what a bug"], "label": ["billing", "feature request"]}).to_csv(
        bad, index=False
    )
    code = main(["classify", "--file", str(bad), "--label-column", "label", "--model-dir", str(out)])
    err = capsys.readouterr().err
    assert (
        code == 1
        and "row 3" in err
        and "'feature request' is not one this classifier was trained with" in err
    )
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_tsv_and_json_lines_train_alike(tmp_path, tokenizer, suffix):
    data_file = write_support_file(tmp_path / f"support{suffix}", per_class=40)
    metrics = tiny_finetune(data_file, tmp_path / "model")
    assert metrics.labels == sorted(CLASSES)


def test_other_column_names_are_given_by_option(tmp_path, tokenizer):
    frame = pd.read_csv(write_support_file(tmp_path / "a.csv", per_class=40))
    renamed = tmp_path / "b.csv"
    frame.rename(columns={"text": "body", "label": "topic"}).to_csv(renamed, index=False)
    metrics = tiny_finetune(renamed, tmp_path / "model", text_column="body", label_column="topic")
    assert metrics.labels == sorted(CLASSES)


def test_target_fpr_needs_two_classes(support_model, tmp_path, tokenizer):
    data_file, _, _ = support_model
    with pytest.raises(OptionError, match="has 3 \\(billing, bug, praise\\)"):
        tiny_finetune(data_file, tmp_path / "model", target_fpr=0.01)
    assert not (tmp_path / "model").exists()  # nothing written


def test_bad_files_are_one_line_errors_from_the_command(tmp_path, tokenizer, capsys):
    missing = tmp_path / "m.csv"
    pd.DataFrame({"message": ["a", "b"], "label": ["x", "y"]}).to_csv(missing, index=False)
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"text": [f"m{i}" for i in range(50)], "label": ["x"] * 50}).to_csv(one_class, index=False)
    small = write_support_file(tmp_path / "small.csv", per_class=4)
    for path, expected in ((missing, "text"), (one_class, "one class"), (small, "too")):
        code = main(
            [
                "finetune",
                "--data-file",
                str(path),
                "--model-size",
                "tiny",
                "--weights",
                "random",
                "--out",
                str(tmp_path / "out"),
                "--device",
                "cpu",
            ]
        )
        err = capsys.readouterr().err
        assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err
