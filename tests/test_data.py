"""The data pipeline on the real SMS Spam Collection: both readings, the book's splits, SpamDataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import torch

from gpt_from_scratch.data import (
    LABELS,
    READINGS,
    SpamDataset,
    create_balanced_dataset,
    prepare_splits,
    random_split,
    read_sms_spam,
)
from gpt_from_scratch.errors import DataError

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


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_lines(sms_file: Path) -> list[str]:
    # split("\n"), not splitlines(): the latter also splits on characters such as \x85 inside messages.
    return sms_file.read_bytes().decode("utf-8").split("\n")[:-1]


def read_back(path: Path) -> pd.DataFrame:
    """Read a split CSV without any NA guessing, so texts come back as written."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


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
    for name in BOOK_SPLITS:
        assert again[name].read_bytes() == correct_splits[name].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv", "train.csv", "validation.csv"]


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
        ("Label,Text\n0,hello\nspam,win\n", r"row 2.*'spam'.*0 \(ham\) or 1 \(spam\)"),
        ("Label,Text\n2,hello\n", r"row 1.*'2'"),
        ("Label,Text\n", "no rows"),
        ("", "not a readable CSV"),
    ],
)
def test_dataset_rejects_malformed_csv(tmp_path, tokenizer, content, match):
    with pytest.raises(DataError, match=match):
        SpamDataset(write(tmp_path, content, "train.csv"), tokenizer)


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


def test_splits_too_small_to_evaluate_are_refused(sms_file, tmp_path):
    # About 20 kB of the file: 46 balanced messages, a validation split of 4 (as a user once trained on).
    cut = write(tmp_path, sms_file.read_text(encoding="utf-8")[:20_000], name="cut.txt")
    with pytest.raises(DataError, match=r"validation split of \d messages .* too few to evaluate"):
        prepare_splits(cut, tmp_path / "splits", log=lambda _: None)
    assert not (tmp_path / "splits").exists()  # refused before anything was written
