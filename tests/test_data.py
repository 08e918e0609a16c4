"""The data pipeline on the real SMS Spam Collection: both readings, the book's splits, SpamDataset."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch

from gpt_from_scratch.data import (
    SpamDataset,
    check_evaluable,
    create_balanced_dataset,
    prepare_splits,
    random_split,
    read_heldout,
    read_split_info,
)
from gpt_from_scratch.errors import DataError
from gpt_from_scratch.sms_spam import LABELS, READINGS, read_sms_spam
from gpt_from_scratch.trust import describe_data

# External facts. The raw file's counts come from tests/data/README.md. The book's reading
# (pd.read_csv with default quoting) gives 5,572 rows, 4,825 ham and 747 spam, as printed in chapter 6;
# its published code writes these three CSVs (sha256 prefixes, rows, spam rows).
RAW_LINES, RAW_HAM, RAW_SPAM = 5574, 4827, 747
BOOK_ROWS, BOOK_HAM, BOOK_SPAM = 5572, 4825, 747
BOOK_SPLITS = {
    "train": ("c89a1156b8476e6f", 1045, 517),
    "validation": ("0ac7a07215729476", 149, 79),
    "test": ("a5764d4eed041dad", 300, 151),
}
PAD = 50256  # GPT-2's <|endoftext|>
# From the issue, measured on the book's splits: test messages that appear verbatim in training (and
# how many of them are spam), validation messages that do; and the raw file's distinct texts.
BOOK_TEST_IN_TRAIN, BOOK_TEST_IN_TRAIN_SPAM, BOOK_VALIDATION_IN_TRAIN = 37, 33, 13
RAW_DISTINCT_TEXTS = 5171
WRITTEN = [
    "heldout-test.csv",
    "heldout-validation.csv",
    "splits.json",
    "test.csv",
    "train.csv",
    "validation.csv",
]


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_lines(sms_file: Path) -> list[str]:
    # split("\n"), not splitlines(): the latter also splits on characters such as \x85 inside messages.
    return sms_file.read_bytes().decode("utf-8").split("\n")[:-1]


def read_back(path: Path) -> pd.DataFrame:
    """Read a split CSV without any NA guessing, so texts come back as written."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def key(text: str) -> str:
    """The test's own whitespace- and case-blind form of a message, for duplicate checks."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def raw_rows(sms_file: Path) -> list[tuple[str, str]]:
    return [tuple(line.removesuffix("\r").split("\t", 1)) for line in raw_lines(sms_file)]


@pytest.fixture(scope="module")
def correct_splits(sms_file, tmp_path_factory) -> dict[str, Path]:
    return prepare_splits(sms_file, tmp_path_factory.mktemp("correct"), reading="correct")


@pytest.fixture(scope="module")
def book_splits(sms_file, tmp_path_factory) -> dict[str, Path]:
    return prepare_splits(sms_file, tmp_path_factory.mktemp("book"), reading="book")


# --- reading the raw file ---------------------------------------------------------------------------


def test_correct_reading_has_one_row_per_line(sms_file):
    df = read_sms_spam(sms_file)
    assert list(df.columns) == ["Label", "Text"]
    assert len(df) == RAW_LINES
    assert (df["Label"] == "ham").sum() == RAW_HAM
    assert (df["Label"] == "spam").sum() == RAW_SPAM


def test_book_reading_reproduces_the_books_row_counts(sms_file):
    df = read_sms_spam(sms_file, reading="book")
    assert len(df) == BOOK_ROWS
    assert (df["Label"] == "ham").sum() == BOOK_HAM
    assert (df["Label"] == "spam").sum() == BOOK_SPAM


def test_correct_reading_keeps_quotes_verbatim(sms_file):
    df = read_sms_spam(sms_file)
    lines = raw_lines(sms_file)
    quoted = [i for i, line in enumerate(lines) if '"' in line]
    assert quoted, "the real file has messages with double quotes"
    for i in quoted:
        label, text = lines[i].split("\t", 1)
        assert (df["Label"].iloc[i], df["Text"].iloc[i]) == (label, text)


def test_book_reading_alters_quoted_messages(sms_file):
    # Why the readings differ: the book's read_csv strips quotes, so some raw messages never appear.
    book_texts = set(read_sms_spam(sms_file, reading="book")["Text"])
    quoted_texts = [line.split("\t", 1)[1] for line in raw_lines(sms_file) if '"' in line]
    assert any(text not in book_texts for text in quoted_texts)


# --- the book's balancing and split -----------------------------------------------------------------


@pytest.mark.parametrize("reading", READINGS)
def test_balance_and_split_sizes(sms_file, reading):
    balanced = create_balanced_dataset(read_sms_spam(sms_file, reading))
    assert (balanced["Label"] == "ham").sum() == (balanced["Label"] == "spam").sum() == RAW_SPAM
    parts = random_split(balanced, 0.7, 0.1)
    expected = [(rows, spam) for _, rows, spam in BOOK_SPLITS.values()]
    assert [(len(part), int((part["Label"] == "spam").sum())) for part in parts] == expected


def test_book_reading_splits_are_byte_identical_to_the_books(book_splits):
    assert set(book_splits) == set(BOOK_SPLITS)
    for name, (prefix, rows, spam) in BOOK_SPLITS.items():
        assert sha256_hex(book_splits[name]).startswith(prefix), name
        df = read_back(book_splits[name])
        assert list(df.columns) == ["Label", "Text"]
        assert (len(df), int((df["Label"] == "1").sum())) == (rows, spam)


def test_correct_reading_splits_differ_from_the_books_but_keep_the_sizes(correct_splits):
    for name, (prefix, rows, spam) in BOOK_SPLITS.items():
        assert not sha256_hex(correct_splits[name]).startswith(prefix), name
        df = read_back(correct_splits[name])
        assert (len(df), int((df["Label"] == "1").sum())) == (rows, spam)


def test_correct_reading_splits_hold_raw_lines_verbatim(sms_file, correct_splits):
    lines = set(raw_lines(sms_file))
    label_names = {str(number): name for name, number in LABELS.items()}
    for path in correct_splits.values():
        for label, text in read_back(path).itertuples(index=False):
            assert f"{label_names[label]}\t{text}" in lines


def test_prepare_splits_is_deterministic_and_leaves_no_temp_files(sms_file, correct_splits, tmp_path):
    again = prepare_splits(sms_file, tmp_path)
    assert list(again) == ["train", "validation", "test"]
    first_dir = correct_splits["train"].parent
    for name in WRITTEN:
        assert (tmp_path / name).read_bytes() == (first_dir / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == WRITTEN


# --- leakage, duplicates and the held-out rows ------------------------------------------------------


def test_book_splits_leak_verbatim_copies_into_evaluation(book_splits):
    # The measurement, by exact text: duplicates in the file land on both sides of the split.
    train = set(read_back(book_splits["train"])["Text"])
    test = read_back(book_splits["test"])
    leaked = test[test["Text"].isin(train)]
    assert (len(leaked), int((leaked["Label"] == "1").sum())) == (BOOK_TEST_IN_TRAIN, BOOK_TEST_IN_TRAIN_SPAM)
    assert read_back(book_splits["validation"])["Text"].isin(train).sum() == BOOK_VALIDATION_IN_TRAIN


def test_the_file_holds_fewer_distinct_texts_than_messages(sms_file):
    # 5,574 lines but 5,171 distinct texts on the correct (one line, one message) reading.
    texts = [text for _, text in raw_rows(sms_file)]
    assert (len(texts), len(set(texts))) == (RAW_LINES, RAW_DISTINCT_TEXTS)
    assert len(set(read_sms_spam(sms_file)["Text"])) == RAW_DISTINCT_TEXTS


@pytest.fixture(scope="module")
def deduped_splits(sms_file, tmp_path_factory) -> dict[str, Path]:
    return prepare_splits(sms_file, tmp_path_factory.mktemp("dedupe"), dedupe=True, log=lambda _: None)


def test_dedupe_leaves_no_message_in_two_places(deduped_splits):
    parts = {name: [key(text) for text in read_back(path)["Text"]] for name, path in deduped_splits.items()}
    assert not set(parts["test"]) & set(parts["train"])
    assert not set(parts["test"]) & set(parts["validation"])
    assert not set(parts["validation"]) & set(parts["train"])
    every_row = [k for rows in parts.values() for k in rows]
    assert len(every_row) == len(set(every_row))


def test_dedupe_counts_what_it_removed(sms_file, deduped_splits):
    first_label, conflicting = {}, 0
    for label, text in raw_rows(sms_file):
        conflicting += first_label.setdefault(key(text), label) != label
    info = read_split_info(deduped_splits["train"].parent)
    assert info["dedupe"] is True
    assert info["duplicates_removed"] == RAW_LINES - len(first_label)
    assert info["conflicting_duplicates"] == conflicting
    labels = list(first_label.values())
    assert info["class_counts"] == {"not spam": labels.count("ham"), "spam": labels.count("spam")}
    balanced = 2 * labels.count("spam")  # ham is undersampled to the spam that is left
    train, validation = int(balanced * 0.7), int(balanced * 0.1)
    assert info["splits"] == {"train": train, "validation": validation, "test": balanced - train - validation}


def test_heldout_rows_are_the_ham_balancing_left_out_minus_any_seen(sms_file, correct_splits):
    data_dir = correct_splits["train"].parent
    splits = {name: read_back(path) for name, path in correct_splits.items()}
    in_splits = Counter(text for split in splits.values() for text in split["Text"][split["Label"] == "0"])
    left_out = Counter(text for label, text in raw_rows(sms_file) if label == "ham") - in_splits
    assert left_out.total() == RAW_HAM - RAW_SPAM
    seen = {key(text) for name in ("train", "validation") for text in splits[name]["Text"]}
    expected = Counter({text: n for text, n in left_out.items() if key(text) not in seen})
    validation, test = read_heldout(data_dir, "validation"), read_heldout(data_dir, "test")
    assert set(validation["Label"]) == set(test["Label"]) == {0}
    assert not {key(text) for part in (validation, test) for text in part["Text"]} & seen
    assert Counter(validation["Text"]) + Counter(test["Text"]) == expected
    assert len(validation) == expected.total() // 3
    assert read_split_info(data_dir)["heldout"] == {"validation": len(validation), "test": len(test)}


def test_splits_json_describes_the_default_run(sms_file, book_splits):
    info = read_split_info(book_splits["train"].parent)
    expected = {
        "source": "sms-spam-collection",
        "data_file": str(sms_file),
        "reading": "book",
        "text_column": None,
        "label_column": None,
        "labels": ["not spam", "spam"],
        "seed": 123,
        "dedupe": False,
        "balance": True,
        "messages": BOOK_ROWS,
        "duplicates_removed": 0,
        "conflicting_duplicates": 0,
        "class_counts": {"not spam": BOOK_HAM, "spam": BOOK_SPAM},
        "splits": {name: rows for name, (_, rows, _) in BOOK_SPLITS.items()},
    }
    assert {name: info[name] for name in expected} == expected
    assert info["positive_share"] == pytest.approx(BOOK_SPAM / BOOK_ROWS)
    assert set(info["heldout"]) == {"validation", "test"}


def test_without_balancing_the_splits_keep_the_natural_mix(sms_file, tmp_path):
    paths = prepare_splits(sms_file, tmp_path, balance=False)
    share = RAW_SPAM / RAW_LINES
    sizes = {"train": int(RAW_LINES * 0.7), "validation": int(RAW_LINES * 0.1)}
    sizes["test"] = RAW_LINES - sizes["train"] - sizes["validation"]
    for name, path in paths.items():
        df = read_back(path)
        assert len(df) == sizes[name]
        assert (df["Label"] == "1").mean() == pytest.approx(share, abs=0.04), name
    for part in ("validation", "test"):
        assert (tmp_path / f"heldout-{part}.csv").read_text(encoding="utf-8") == "Label,Text\n"
        assert read_heldout(tmp_path, part).empty
    info = read_split_info(tmp_path)
    assert (info["balance"], info["heldout"]) == (False, {"validation": 0, "test": 0})


def test_read_split_info_and_heldout_say_what_to_do_when_missing(tmp_path):
    with pytest.raises(DataError, match="splits.json.*prepare_splits"):
        read_split_info(tmp_path)
    with pytest.raises(DataError, match="prepare_splits"):
        read_heldout(tmp_path, "test")
    with pytest.raises(ValueError, match="validation, test"):
        read_heldout(tmp_path, "train")


# --- SpamDataset ------------------------------------------------------------------------------------


def test_dataset_pads_to_the_longest_training_message(correct_splits, tokenizer):
    dataset = SpamDataset(correct_splits["train"], tokenizer)
    df = read_back(correct_splits["train"])
    encoded = [tokenizer.encode(text) for text in df["Text"]]
    longest = max(len(ids) for ids in encoded)
    assert len(dataset) == len(df)
    assert dataset.max_length == longest
    for i, ids in enumerate(encoded):
        x, y = dataset[i]
        assert x.dtype == y.dtype == torch.long
        assert x.shape == (longest,)
        assert x[: len(ids)].tolist() == ids
        assert x[len(ids) :].tolist() == [PAD] * (longest - len(ids))
        assert y.item() == int(df["Label"].iloc[i])


def test_book_training_split_is_at_most_120_tokens_long(book_splits, tokenizer):
    # Chapter 6 prints train_dataset.max_length: 120.
    assert SpamDataset(book_splits["train"], tokenizer).max_length == 120


def test_dataset_truncates_to_max_length(correct_splits, tokenizer):
    dataset = SpamDataset(correct_splits["validation"], tokenizer, max_length=10)
    texts = read_back(correct_splits["validation"])["Text"]
    assert dataset.max_length == 10
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text)[:10]
        assert dataset[i][0].tolist() == ids + [PAD] * (10 - len(ids))


def test_dataset_refuses_messages_longer_than_the_context(correct_splits, tokenizer):
    longest = SpamDataset(correct_splits["train"], tokenizer).max_length
    with pytest.raises(DataError, match=rf"{longest} tokens.*max_length"):
        SpamDataset(correct_splits["train"], tokenizer, context_length=longest - 1)
    with pytest.raises(DataError, match="context_length"):
        SpamDataset(correct_splits["train"], tokenizer, max_length=longest, context_length=longest - 1)
    truncated = SpamDataset(
        correct_splits["train"], tokenizer, max_length=longest - 1, context_length=longest - 1
    )
    assert truncated[0][0].shape == (longest - 1,)


def test_na_like_messages_survive_the_csv_round_trip(tmp_path, tokenizer):
    na_like = ["NA", "null", "N/A", "nan", "None", "NULL", "#N/A", "n/a", "NaN", "-nan"]
    raw = tmp_path / "SMSSpamCollection"
    rows = na_like * 6  # enough messages for a validation and a test split worth evaluating
    raw.write_text(
        "".join(f"ham\t{text}\n" for text in rows) + "".join(f"spam\t{text} WIN\n" for text in rows),
        encoding="utf-8",
    )
    assert read_sms_spam(raw)["Text"].tolist()[: len(na_like)] == na_like
    paths = prepare_splits(raw, tmp_path / "splits", log=lambda _: None)
    texts = [text for path in paths.values() for text in SpamDataset(path, tokenizer).data["Text"]]
    assert sorted(texts) == sorted(rows + [f"{text} WIN" for text in rows])


# --- errors -----------------------------------------------------------------------------------------


def write(tmp_path: Path, content: str, name: str = "SMSSpamCollection") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("ham\thello\nspam no tab here\n", r"line 2 \('spam no tab here'\).*tab"),
        ("ham\thello\nhma\ttypo\n", r"line 2 .*'hma'.*'ham' or 'spam'"),
        ("ham\thello\nspam\t\n", r"line 2 .*empty"),
        ("ham\thello\nham\thi\nspam\t   \n", r"line 3 .*empty"),
        ("ham\thello\n\nham\thi\n", r"line 2 .*tab"),
        ("", "empty"),
    ],
)
def test_read_rejects_malformed_lines(tmp_path, content, match):
    with pytest.raises(DataError, match=match):
        read_sms_spam(write(tmp_path, content))


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("cut_at", ["ham\tSorry, I'll call la", "sp", "spam\t"])
def test_a_file_cut_off_mid_line_is_refused_naming_the_cut_line(sms_file, tmp_path, reading, cut_at):
    whole = sms_file.read_text(encoding="utf-8").splitlines(keepends=True)[:300]
    cut = write(tmp_path, "".join(whole) + cut_at)
    message = re.escape(f"{cut}: the file ends in the middle of line 301 ({cut_at!r}), with no newline")
    with pytest.raises(DataError, match=message):
        read_sms_spam(cut, reading)


def test_read_shortens_a_long_offending_line(tmp_path):
    with pytest.raises(DataError) as caught:
        read_sms_spam(write(tmp_path, "ham\tok\n" + "x" * 500 + "\n"))
    assert "line 2" in str(caught.value)
    assert "x" * 500 not in str(caught.value)
    assert "..." in str(caught.value)


def test_read_missing_file_says_what_to_do(tmp_path):
    missing = tmp_path / "nowhere" / "SMSSpamCollection"
    with pytest.raises(DataError, match="--data-file") as caught:
        read_sms_spam(missing)
    assert str(missing) in str(caught.value)


def test_read_unknown_reading_lists_the_choices(sms_file):
    with pytest.raises(ValueError, match="correct, book"):
        read_sms_spam(sms_file, reading="pandas")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("Label,Text\n0,hello\n1,\n", r"row 2.*empty"),
        ('Label,Text\n0,hello\n1,"  "\n', r"row 2.*empty"),
        ("Label,Message\n0,hello\n", "columns"),
        ("Text\nhello\n", "columns"),
        ("Label,Text\n0,hello\nspam,win\n", r"row 2.*'spam'.*not a class id"),
        ("Label,Text\n-1,hello\n", r"row 1.*'-1'"),
        ("Label,Text\n0,hello\n1.0,hi\n", r"row 2.*'1.0'"),
        ("Label,Text\n", "no rows"),
        ("", "not a readable CSV"),
    ],
)
def test_dataset_rejects_malformed_csv(tmp_path, tokenizer, content, match):
    with pytest.raises(DataError, match=match):
        SpamDataset(write(tmp_path, content, "train.csv"), tokenizer)


def test_dataset_checks_class_ids_against_num_classes(tmp_path, tokenizer):
    three = write(tmp_path, "Label,Text\n0,hello\n2,hi there\n1,win\n", "train.csv")
    assert SpamDataset(three, tokenizer).labels == [0, 2, 1]
    assert SpamDataset(three, tokenizer, num_classes=3).labels == [0, 2, 1]
    with pytest.raises(DataError, match=r"row 2.*'2'.*from 0 to 1"):
        SpamDataset(three, tokenizer, num_classes=2)


def test_dataset_reports_a_message_the_tokenizer_refuses(tmp_path, tokenizer):
    with pytest.raises(DataError, match=r"row 2.*refused"):
        SpamDataset(write(tmp_path, "Label,Text\n0,hi\n1,win <|endoftext|>\n", "train.csv"), tokenizer)


def test_read_accepts_windows_line_endings(tmp_path):
    df = read_sms_spam(write(tmp_path, "ham\thello\r\nspam\tWIN now\r\n"))
    assert df.values.tolist() == [["ham", "hello"], ["spam", "WIN now"]]


def test_dataset_missing_file(tmp_path, tokenizer):
    with pytest.raises(DataError, match="prepare_splits"):
        SpamDataset(tmp_path / "train.csv", tokenizer)


# --- a file that is not the published one ------------------------------------------------------------


def test_the_published_file_gets_no_note(sms_file, tmp_path):
    notes = []
    prepare_splits(sms_file, tmp_path, log=notes.append)
    assert notes == []


def test_a_cut_of_the_file_is_named_with_its_counts(sms_file, tmp_path):
    lines = sms_file.read_text(encoding="utf-8").splitlines(keepends=True)[:2000]
    cut = write(tmp_path, "".join(lines), name="cut.txt")
    notes = []
    prepare_splits(cut, tmp_path / "splits", log=notes.append)
    ham = sum(line.startswith("ham\t") for line in lines)
    assert len(notes) == 1
    assert "is not the published SMS Spam Collection" in notes[0]
    assert f"2,000 messages, {ham:,} ham and {2000 - ham:,} spam" in notes[0]
    described = describe_data(read_split_info(tmp_path / "splits"))
    assert described.startswith(f"{cut}, a modified copy of the SMS Spam Collection: 2 classes"), described


def test_the_published_file_is_described_by_its_name(sms_file, tmp_path):
    prepare_splits(sms_file, tmp_path, log=lambda _: None)
    assert describe_data(read_split_info(tmp_path)).startswith("the SMS Spam Collection: 2 classes")


def test_a_file_without_spam_is_refused(tmp_path):
    only_ham = write(tmp_path, "".join(f"ham\tmessage {i}\n" for i in range(100)))
    with pytest.raises(DataError, match="no messages of class 'spam'"):
        prepare_splits(only_ham, tmp_path / "splits", log=lambda _: None)


def test_a_class_missing_from_training_is_refused():
    def split(labels):
        return pd.DataFrame({"Label": labels, "Text": [f"m{i}" for i in range(len(labels))]})

    evaluable = split([0, 1] * 5)
    with pytest.raises(DataError, match=r"training split holds no messages of class 'spam'.*SMS Spam"):
        check_evaluable((split([0] * 20), evaluable, evaluable), "cut.txt")
    with pytest.raises(
        DataError, match=r"no messages of class 'b', 'c'\. Give more messages of these"
    ) as caught:
        check_evaluable((split([0] * 20), evaluable, evaluable), "mine.csv", ("a", "b", "c"), table=True)
    assert "SMS Spam" not in str(caught.value)
    check_evaluable((split([0, 1, 2] * 5), evaluable, evaluable), "mine.csv", ("a", "b", "c"), table=True)


def test_splits_too_small_to_evaluate_are_refused(sms_file, tmp_path):
    # About 20 kB of the file: 46 balanced messages, a validation split of 4 (as a user once trained on).
    text = sms_file.read_text(encoding="utf-8")
    cut = write(tmp_path, text[: text.rindex("\n", 0, 20_000) + 1], name="cut.txt")  # whole lines
    with pytest.raises(DataError, match=r"validation split of \d messages .* too few to evaluate"):
        prepare_splits(cut, tmp_path / "splits", log=lambda _: None)
    assert not (tmp_path / "splits").exists()  # refused before anything was written
