"""Your own labelled messages (.csv, .tsv, .jsonl, any number of classes): read, split, finetuned on,
and classified with their label names.

The first part runs the files through the data pipeline. The second finetunes the tiny model a few
steps on three classes of support messages written here, in CSV, TSV and JSON lines: it checks the
plumbing (labels, reports, errors), not accuracy.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import tiny_finetune

from gpt_from_scratch.cli import main
from gpt_from_scratch.data import (
    SpamDataset,
    class_names,
    drop_duplicates_normalised,
    normalise,
    prepare_splits,
    read_heldout,
    read_split_info,
)
from gpt_from_scratch.data.message_files import is_table_file, read_labelled_table
from gpt_from_scratch.errors import DataError, OptionError

# 45 billing, 40 bug and 50 praise messages, all distinct: balancing keeps 40 of each, 120 in all,
# which the 70/10/20 split cuts into 84, 12 and 24.
COUNTS = {"billing": 45, "bug": 40, "praise": 50}
NAMES = ["billing", "bug", "praise"]  # sorted as strings
SPLIT_SIZES = {"train": 84, "validation": 12, "test": 24}


def messages(counts: dict[str, int] = COUNTS) -> list[tuple[str, str]]:
    """(label, text) pairs; the smallest class holds the message "NA", which must stay a message."""
    rows = [
        (label, f"{label} message number {i}, with a comma") for label, n in counts.items() for i in range(n)
    ]
    smallest = min(counts, key=counts.get)
    at = next(i for i, (label, _) in enumerate(rows) if label == smallest)
    rows[at] = (smallest, "NA")
    return rows


def write_table(path: Path, rows: list[tuple], columns: tuple[str, str] = ("text", "label")) -> Path:
    """Write (label, text) rows as .csv, .tsv or .jsonl, by path's suffix, with the csv and json modules."""
    if path.suffix == ".jsonl":
        lines = [json.dumps({columns[0]: text, columns[1]: label}) for label, text in rows]
        path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")  # blank lines between: skipped
        return path
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writerow(columns)
        writer.writerows((text, label) for label, text in rows)
    return path


def read_back(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def quiet(_: str) -> None:
    pass


# --- reading a table --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_a_table_is_read_as_text_labels_and_messages(tmp_path, suffix):
    rows = messages()
    df = read_labelled_table(write_table(tmp_path / f"mine{suffix}", rows))
    assert list(df.columns) == ["Label", "Text"]
    assert list(zip(df["Label"], df["Text"], strict=True)) == rows
    assert "NA" in set(df["Text"])


def test_a_byte_order_mark_and_other_column_names(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("body,category,id\nhello there,a,1\nwin a prize,b,2\n", encoding="utf-8-sig")
    df = read_labelled_table(path, text_column="body", label_column="category")
    assert df.values.tolist() == [["a", "hello there"], ["b", "win a prize"]]


def test_json_numbers_as_labels_become_text(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"text": "one", "label": 1}\n{"text": "two", "label": 2.5}\n', encoding="utf-8")
    assert read_labelled_table(path)["Label"].tolist() == ["1", "2.5"]


def test_which_files_are_tables():
    assert [is_table_file(name) for name in ("a.csv", "A.TSV", "b.jsonl", "SMSSpamCollection", "c.json")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_class_names_order_numbers_as_numbers():
    assert class_names(pd.Series(["10", "2", "1", "2"])) == ("1", "2", "10")
    assert class_names(pd.Series(["praise", "billing", "bug"])) == ("billing", "bug", "praise")
    assert class_names(pd.Series(["10", "2", "x"])) == ("10", "2", "x")


# --- splitting a table ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_a_three_class_table_is_balanced_and_split(tmp_path, suffix):
    rows = messages()
    paths = prepare_splits(write_table(tmp_path / f"mine{suffix}", rows), tmp_path / "splits", log=quiet)
    assert list(paths) == ["train", "validation", "test"]
    label_of = {text: label for label, text in rows}
    kept = []
    for name, path in paths.items():
        df = read_back(path)
        assert len(df) == SPLIT_SIZES[name]
        # The id in the CSV is the label's position among the sorted names.
        assert all(NAMES[int(i)] == label_of[text] for i, text in zip(df["Label"], df["Text"], strict=True))
        kept += df["Text"].tolist()
    assert {label: [label_of[t] for t in kept].count(label) for label in NAMES} == dict.fromkeys(NAMES, 40)
    assert "NA" in kept  # the smallest class is kept whole, and "NA" is a message, not a missing value

    info = read_split_info(tmp_path / "splits")
    assert info["source"] == "table"
    assert info["reading"] is None
    assert (info["text_column"], info["label_column"]) == ("text", "label")
    assert info["labels"] == NAMES
    assert info["class_counts"] == COUNTS
    assert info["positive_share"] is None  # three classes: no "positive" class
    assert info["messages"] == sum(COUNTS.values())
    assert info["splits"] == SPLIT_SIZES

    # Balancing left out 5 billing and 10 praise messages: 1/3 to held-out validation, 2/3 to test.
    heldout = {part: read_heldout(tmp_path / "splits", part) for part in ("validation", "test")}
    assert (len(heldout["validation"]), len(heldout["test"])) == (5, 10)
    left_out = pd.concat(heldout.values())
    assert sorted(left_out["Text"]) == sorted(text for _, text in rows if text not in kept)
    assert all(NAMES[i] == label_of[t] for i, t in zip(left_out["Label"], left_out["Text"], strict=True))


def test_numeric_labels_are_ordered_as_numbers(tmp_path):
    rows = messages({"10": 40, "2": 40, "1": 40})
    write_table(tmp_path / "mine.jsonl", [(int(label), text) for label, text in rows])
    paths = prepare_splits(tmp_path / "mine.jsonl", tmp_path / "splits", log=quiet)
    assert read_split_info(tmp_path / "splits")["labels"] == ["1", "2", "10"]
    label_of = {text: label for label, text in rows}
    for path in paths.values():
        df = read_back(path)
        assert all(
            ["1", "2", "10"][int(i)] == label_of[t] for i, t in zip(df["Label"], df["Text"], strict=True)
        )


def test_named_columns_are_recorded(tmp_path):
    data = write_table(tmp_path / "mine.csv", messages(), columns=("body", "category"))
    prepare_splits(data, tmp_path / "splits", text_column="body", label_column="category", log=quiet)
    info = read_split_info(tmp_path / "splits")
    assert (info["text_column"], info["label_column"]) == ("body", "category")


def test_two_classes_unbalanced_keep_their_shares(tmp_path):
    rows = messages({"ok": 150, "alert": 50})
    paths = prepare_splits(
        write_table(tmp_path / "mine.csv", rows), tmp_path / "splits", balance=False, log=quiet
    )
    assert [len(read_back(path)) for path in paths.values()] == [140, 20, 40]
    info = read_split_info(tmp_path / "splits")
    assert info["labels"] == ["alert", "ok"]
    assert info["positive_share"] == pytest.approx(150 / 200)  # class 1 is "ok"
    assert info["heldout"] == {"validation": 0, "test": 0}


def test_duplicates_are_removed_before_balancing(tmp_path):
    rows = messages()
    # Two copies differing in spaces and case, one of them with another label, and one exact copy.
    rows += [("bug", "  BILLING message number 0,   with a comma"), ("billing", rows[0][1])]
    notes = []
    prepare_splits(
        write_table(tmp_path / "mine.csv", rows), tmp_path / "splits", dedupe=True, log=notes.append
    )
    info = read_split_info(tmp_path / "splits")
    assert (info["duplicates_removed"], info["conflicting_duplicates"]) == (2, 1)
    assert info["class_counts"] == COUNTS
    assert len(notes) == 1
    assert "2 duplicate" in notes[0]
    assert "1 of them had another label" in notes[0]


def test_drop_duplicates_keeps_the_first_copy():
    df = pd.DataFrame({"Label": ["a", "b", "a", "b"], "Text": ["Hi  there", "hi there\n", "other", "OTHER"]})
    kept, removed, conflicting = drop_duplicates_normalised(df)
    assert removed == 2 and conflicting == 2  # both second copies are labelled b, their first copies a
    assert kept.values.tolist() == [["a", "Hi  there"], ["a", "other"]]
    assert normalise(" Hi\tTHERE \n") == "hi there"


def test_dataset_reads_three_class_splits(tmp_path, tokenizer):
    paths = prepare_splits(write_table(tmp_path / "mine.csv", messages()), tmp_path / "splits", log=quiet)
    dataset = SpamDataset(paths["train"], tokenizer, num_classes=3)
    assert len(dataset) == SPLIT_SIZES["train"]
    assert set(dataset.labels) == {0, 1, 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("Label,Text\n0,hello\n3,goodbye\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2: label '3' is not a class id .*from 0 to 2"):
        SpamDataset(bad, tokenizer, num_classes=3)


# --- bad input --------------------------------------------------------------------------------------


def write_text(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        (
            "m.csv",
            "message,label\nhi,a\n",
            r"no column 'text' \(its columns: 'message', 'label'\).*--text-column",
        ),
        ("m.csv", "text,category\nhi,a\n", r"no column 'label' .*'category'.*--label-column"),
        (
            "m.tsv",
            "text\tlabel\nhi\ta\nhello\ta\n",
            r"holds one class \(label 'a'\): a classifier needs at least two",
        ),
        ("m.csv", "text,label\nhi,a\n   ,b\n", r"m\.csv, row 3: the text is empty; fix or delete this row"),
        ("m.csv", "text,label\n" + ",a\n" * 7, r"rows 2, 3, 4, 5, 6 and more: the text is empty"),
        ("m.csv", "text,label\nhi,a\nhello,\n", r"row 3: the label is empty"),
        ("m.csv", "text,label\nhi,a\n\nhello, there,b\n", r"row 4 has 3 cells but the header 2.*quotes"),
        ("m.csv", 'text,label\nhi,a\n"never closed,b\n', r"row 3 has 1 cell but the header 2"),
        ("m.csv", "", r"m\.csv is empty"),
        ("m.csv", "text,label\n", r"holds no messages"),
        (
            "m.jsonl",
            '{"text": "hi", "label": "a"}\n{"text": null, "label": "b"}\n',
            r"line 2: the text is empty",
        ),
        ("m.jsonl", '{"text": "hi", "label": "a"}\n\n{"label": "b"}\n', r"line 3: the text is empty"),
        (
            "m.jsonl",
            '{"text": "hi", "label": "a"}\n{"text": "yo", "label": null}\n',
            r"line 2: the label is empty",
        ),
        ("m.jsonl", '{"text": 5, "label": "a"}\n', r"line 1: the text is a JSON int, not a string"),
        ("m.jsonl", '{"text": "hi", "label": "a"}\n[1, 2]\n', r"line 2: a JSON list, not an object"),
        ("m.jsonl", '{"text": "hi", "label": "a"}\n{oops\n', r"line 2: not JSON"),
        (
            "m.jsonl",
            '{"message": "hi", "label": "a"}\n',
            r"no column 'text' \(its columns: 'message', 'label'\)",
        ),
        ("m.txt", "text,label\nhi,a\n", r"must be a \.csv, \.tsv, \.jsonl file"),
    ],
)
def test_bad_tables_are_refused_clearly(tmp_path, name, content, match):
    with pytest.raises(DataError, match=match):
        read_labelled_table(write_text(tmp_path, name, content))


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("text,label\nhi,a\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"m\.csv, line 3: not UTF-8"):
        read_labelled_table(path)


def test_a_table_too_small_for_the_split_is_refused(tmp_path):
    rows = messages({"billing": 4, "bug": 4, "praise": 4})
    with pytest.raises(DataError, match="too small for the split") as caught:
        prepare_splits(write_table(tmp_path / "mine.csv", rows), tmp_path / "splits", log=quiet)
    assert "SMS Spam Collection" not in str(caught.value)
    assert not (tmp_path / "splits").exists()


def test_the_books_reading_is_refused_for_a_table(tmp_path):
    data = write_table(tmp_path / "mine.csv", messages())
    with pytest.raises(DataError, match="--reading book.*leave --reading out"):
        prepare_splits(data, tmp_path / "splits", reading="book", log=quiet)


def test_column_options_need_a_table(sms_file, tmp_path):
    with pytest.raises(DataError, match=r"--text-column and --label-column need a \.csv, \.tsv or \.jsonl"):
        prepare_splits(sms_file, tmp_path / "splits", text_column="body", log=quiet)


# ---------------------------------------------------------------------------------------------
# Finetuning on your own file, and classifying with its label names
# ---------------------------------------------------------------------------------------------

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


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_tsv_and_json_lines_train_alike(tmp_path, tokenizer, suffix):
    data_file = write_support_file(tmp_path / f"support{suffix}", per_class=40)
    metrics = tiny_finetune(data_file, tmp_path / "model")
    assert metrics.labels == sorted(CLASSES)


@pytest.mark.slow
def test_other_column_names_are_given_by_option(tmp_path, tokenizer):
    frame = pd.read_csv(write_support_file(tmp_path / "a.csv", per_class=40))
    renamed = tmp_path / "b.csv"
    frame.rename(columns={"text": "body", "label": "topic"}).to_csv(renamed, index=False)
    metrics = tiny_finetune(renamed, tmp_path / "model", text_column="body", label_column="topic")
    assert metrics.labels == sorted(CLASSES)


@pytest.mark.slow
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
