"""A user's own labelled messages (.csv, .tsv, .jsonl, any number of classes) through the data pipeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from gpt_from_scratch.data import (
    SpamDataset,
    class_names,
    drop_duplicates_normalised,
    normalise,
    prepare_splits,
    read_heldout,
    read_split_info,
)
from gpt_from_scratch.errors import DataError
from gpt_from_scratch.message_files import is_table_file, read_labelled_table

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
