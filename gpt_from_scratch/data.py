"""From labelled messages to padded token tensors: balancing, the 70/10/20 split, SpamDataset (chapter 6).

The messages come from the SMS Spam Collection (sms_spam.py) or from your own labelled file (tables.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd
import tiktoken
import torch
from torch.utils.data import Dataset

from .errors import DataError
from .files import atomic_path
from .sms_spam import LABELS, is_published, read_sms_spam, unusual_file_note
from .tables import is_table_file, read_labelled_table
from .tokenizer import PAD_TOKEN_ID

MIN_EVAL_MESSAGES = 10  # a validation or test split smaller than this measures nothing
LABEL_NAMES = ("not spam", "spam")  # what the classifier prints for class 0 (ham) and class 1 (spam)
SPLIT_NAMES = ("train", "validation", "test")
HELDOUT_NAMES = ("validation", "test")
SPLITS_INFO = "splits.json"
SMS_SOURCE, TABLE_SOURCE = "sms-spam-collection", "table"


def normalise(text: str) -> str:
    """The form two messages share when they differ only in whitespace or letter case."""
    return " ".join(text.split()).casefold()


def class_names(labels: pd.Series) -> tuple[str, ...]:
    """The distinct labels in a stable order: as numbers if all are integers (so "2" before "10")."""
    distinct = set(labels)
    try:
        return tuple(sorted(distinct, key=lambda label: (int(label), label)))
    except ValueError:
        return tuple(sorted(distinct))


def create_balanced_dataset(df: pd.DataFrame, seed: int = 123) -> pd.DataFrame:
    """Undersample "ham" to as many rows as "spam" (the book's create_balanced_dataset), or spam if fewer."""
    return balance_classes(df, ("ham", "spam"), seed)


def balance_classes(df: pd.DataFrame, order: Iterable, seed: int = 123) -> pd.DataFrame:
    """Undersample every class to the smallest class's count; the classes follow each other in order."""
    order = list(order)
    groups = [df[df["Label"] == label] for label in order]
    smallest = min(len(group) for group in groups)
    if smallest == 0:
        empty = [repr(label) for label, group in zip(order, groups, strict=True) if group.empty]
        raise DataError(
            f"no messages of class {', '.join(empty)}: cannot balance the classes by undersampling"
        )
    # A class at the minimum is kept whole: this is how the book keeps all of its spam, in file order.
    return pd.concat(
        [group if len(group) == smallest else group.sample(smallest, random_state=seed) for group in groups]
    )


def drop_duplicates_normalised(df: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """The first row of each normalised text, the number removed, and how many of those were relabelled."""
    key = df["Text"].map(normalise)
    repeated = key.duplicated(keep="first")
    first_label = df.groupby(key, sort=False)["Label"].transform("first")
    conflicting = int((repeated & (df["Label"] != first_label)).sum())
    return df[~repeated], int(repeated.sum()), conflicting


def random_split(
    df: pd.DataFrame, train_frac: float, validation_frac: float, seed: int = 123
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Shuffle, then cut into train, validation and test parts (the book's random_split)."""
    df = df.sample(frac=1, random_state=seed).reset_index(drop=True)
    train_end = int(len(df) * train_frac)
    validation_end = train_end + int(len(df) * validation_frac)
    return df[:train_end], df[train_end:validation_end], df[validation_end:]


def prepare_splits(
    data_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    reading: str = "correct",
    seed: int = 123,
    log: Callable[[str], None] = print,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    dedupe: bool = False,
    balance: bool = True,
) -> dict[str, Path]:
    """Read, balance, label and split 70/10/20 into train.csv, validation.csv and test.csv.

    Beside them it writes heldout-validation.csv and heldout-test.csv (the rows balancing left out,
    for measuring on the natural class mix) and splits.json (where the splits came from, and counts).
    """
    table = is_table_file(data_file)
    if table:
        if reading == "book":
            raise DataError(
                "--reading book is how the book parses the SMS Spam Collection; a .csv/.tsv/.jsonl file "
                "is read by column: leave --reading out"
            )
        text_column, label_column = text_column or "text", label_column or "label"
        df = read_labelled_table(data_file, text_column, label_column)
        names = class_names(df["Label"])
        class_ids = {name: number for number, name in enumerate(names)}
    else:
        if text_column is not None or label_column is not None:
            raise DataError(
                f"--text-column and --label-column need a .csv, .tsv or .jsonl --data-file; {data_file} "
                "is read as the SMS Spam Collection (lines of 'ham<TAB>message' or 'spam<TAB>message')"
            )
        df = read_sms_spam(data_file, reading)
        note = unusual_file_note(data_file, df)
        if note:
            log(note)
        names, class_ids = LABEL_NAMES, LABELS
    messages = len(df)
    removed = conflicting = 0
    if dedupe:  # before balancing, so that no copy of a message is left behind to leak into another split
        df, removed, conflicting = drop_duplicates_normalised(df)
        log(_dedupe_note(removed, conflicting))
    # The book's reading checks no labels; like the book's balancing, it leaves out rows of other labels.
    df = df[df["Label"].isin(class_ids)]
    df = df.assign(Label=df["Label"].map(class_ids))
    counts = df["Label"].value_counts()
    _check_every_class(data_file, names, counts, dedupe)
    balanced_df = balance_classes(df, range(len(names)), seed) if balance else df
    splits = random_split(balanced_df, 0.7, 0.1, seed)
    check_evaluable(splits, data_file, names, table=table)
    heldout = _heldout(df.drop(balanced_df.index), splits[:2], seed)
    info = {
        "source": TABLE_SOURCE if table else SMS_SOURCE,
        "data_file": str(data_file),
        "published": None if table else is_published(data_file),  # False: a modified copy
        "reading": None if table else reading,
        "text_column": text_column,
        "label_column": label_column,
        "labels": list(names),
        "seed": seed,
        "dedupe": dedupe,
        "balance": balance,
        "messages": messages,
        "duplicates_removed": removed,
        "conflicting_duplicates": conflicting,
        "class_counts": {name: int(counts.get(number, 0)) for number, name in enumerate(names)},
        "positive_share": int(counts.get(1, 0)) / len(df) if len(names) == 2 else None,
        "splits": {name: len(split) for name, split in zip(SPLIT_NAMES, splits, strict=True)},
        "heldout": {name: len(part) for name, part in zip(HELDOUT_NAMES, heldout, strict=True)},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in zip(HELDOUT_NAMES, heldout, strict=True):
        _write_csv(part, out_dir / f"heldout-{name}.csv")
    with atomic_path(out_dir / SPLITS_INFO) as tmp:
        tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {
        name: _write_csv(split, out_dir / f"{name}.csv")
        for name, split in zip(SPLIT_NAMES, splits, strict=True)
    }


def _dedupe_note(removed: int, conflicting: int) -> str:
    note = f"Removed {removed:,} duplicate messages (the same text up to whitespace and letter case)"
    if conflicting:
        note += (
            f"; {conflicting:,} of them had another label than their first copy, whose label was kept: "
            "check the file's labels"
        )
    return note


def _check_every_class(data_file, names: Sequence[str], counts: pd.Series, dedupe: bool) -> None:
    missing = [repr(name) for number, name in enumerate(names) if counts.get(number, 0) == 0]
    if missing:
        after = " once duplicates are removed" if dedupe else ""
        raise DataError(
            f"{data_file} holds no messages of class {', '.join(missing)}{after}: a classifier needs "
            "messages of every class"
        )


def _heldout(
    discarded: pd.DataFrame, seen_splits: Sequence[pd.DataFrame], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # A held-out message the model trained on, or whose threshold was chosen on, would flatter it.
    seen = {normalise(text) for split in seen_splits for text in split["Text"]}
    unseen = discarded[~discarded["Text"].map(normalise).isin(seen)]
    shuffled = unseen.sample(frac=1, random_state=seed).reset_index(drop=True)
    cut = len(shuffled) // 3  # validation:test as 1:2, as in the 10%/20% split
    return shuffled[:cut], shuffled[cut:]


def read_split_info(data_dir: str | os.PathLike) -> dict:
    """Read the splits.json that prepare_splits wrote in data_dir."""
    path = Path(data_dir) / SPLITS_INFO
    if not path.is_file():
        raise DataError(f"no {SPLITS_INFO} in {data_dir}: create the splits with prepare_splits")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not readable JSON ({err}): create it again with prepare_splits") from err


def read_heldout(data_dir: str | os.PathLike, part: str) -> pd.DataFrame:
    """Read heldout-validation.csv or heldout-test.csv (part "validation" or "test"); it may have no rows."""
    if part not in HELDOUT_NAMES:
        raise ValueError(f"unknown held-out part {part!r}: choose one of {', '.join(HELDOUT_NAMES)}")
    return _read_split_csv(Path(data_dir) / f"heldout-{part}.csv", allow_empty=True)


def check_evaluable(
    splits: tuple[pd.DataFrame, ...],
    data_file: str | os.PathLike,
    labels: Sequence[str] = LABEL_NAMES,
    *,
    table: bool = False,
) -> None:
    """Raise DataError when a split cannot train or measure a classifier of these classes.

    Validation and test need MIN_EVAL_MESSAGES messages of at least two classes; the training split
    needs every class, or the model never sees one of them.
    """
    if table:
        advice = "Give a file with more messages of each class"
    else:
        advice = "Use the whole SMS Spam Collection: leave out --data-file to download it"
    for name, split in zip(SPLIT_NAMES[1:], splits[1:], strict=True):
        classes = split["Label"].nunique()
        if len(split) < MIN_EVAL_MESSAGES or classes < 2:
            raise DataError(
                f"{data_file} is too small for the split: it gives a {name} split of {len(split)} "
                f"messages ({classes} class{'es' if classes != 1 else ''}): too few to evaluate a classifier "
                f"(at least {MIN_EVAL_MESSAGES} messages, of at least two classes, are needed). {advice}"
            )
    present = set(splits[0]["Label"])
    missing = [repr(name) for number, name in enumerate(labels) if number not in present]
    if missing:
        those = "this class" if len(missing) == 1 else "these classes"
        raise DataError(
            f"{data_file} is too small for the split: the training split holds no messages of class "
            f"{', '.join(missing)}. Give more messages of {those}" + ("" if table else f". {advice}")
        )


def _write_csv(df: pd.DataFrame, dest: Path) -> Path:
    # Written beside dest, then renamed: an interrupted run never leaves a half-written split.
    with atomic_path(dest) as tmp:
        df.to_csv(tmp, index=None, lineterminator="\n")  # "\n" so the bytes match the book's on every OS
    return dest


class SpamDataset(Dataset):
    """The book's SpamDataset: token ids of each message, padded (or truncated) to one length."""

    def __init__(
        self,
        csv_file: str | os.PathLike,
        tokenizer: tiktoken.Encoding,
        max_length: int | None = None,
        pad_token_id: int = PAD_TOKEN_ID,
        *,
        context_length: int | None = None,
        pad: bool = True,
        num_classes: int | None = None,
    ) -> None:
        self.data = _read_split_csv(Path(csv_file), num_classes)
        self.labels = self.data["Label"].tolist()
        self.encoded_texts = [
            _encode(tokenizer, text, row, csv_file) for row, text in enumerate(self.data["Text"], start=1)
        ]
        if max_length is None:
            self.max_length = self._longest_encoded_length()
            _check_fits(self.encoded_texts, context_length, csv_file)
        else:
            _check_max_length(max_length, context_length)
            self.max_length = max_length
            self.encoded_texts = [encoded_text[: self.max_length] for encoded_text in self.encoded_texts]
        if not pad:  # each message keeps its own length: batches of one, or a padding collate_fn
            return
        self.encoded_texts = [
            encoded_text + [pad_token_id] * (self.max_length - len(encoded_text))
            for encoded_text in self.encoded_texts
        ]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(self.encoded_texts[index], dtype=torch.long),
            torch.tensor(self.labels[index], dtype=torch.long),
        )

    def __len__(self) -> int:
        return len(self.data)

    def _longest_encoded_length(self) -> int:
        return max((len(encoded_text) for encoded_text in self.encoded_texts), default=0)


def _read_split_csv(path: Path, num_classes: int | None = None, *, allow_empty: bool = False) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"no split file at {path}: create it with prepare_splits")
    try:
        # keep_default_na=False and str: a message reading "NA" or "null" stays that text, not a NaN.
        data = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not a readable CSV file: {err}") from err
    if list(data.columns) != ["Label", "Text"]:
        raise DataError(
            f"{path} has columns {list(data.columns)}, expected ['Label', 'Text']: "
            "create it with prepare_splits"
        )
    ids = (
        "a whole number, 0 or more" if num_classes is None else f"a whole number from 0 to {num_classes - 1}"
    )
    for row, label in enumerate(data["Label"], start=1):
        is_id = label.isascii() and label.isdigit()  # isascii: isdigit alone also accepts digits like "²"
        if not is_id or (num_classes is not None and int(label) >= num_classes):
            raise DataError(
                f"{path}, row {row}: label {label!r} is not a class id ({ids}); "
                "create the file with prepare_splits"
            )
    if data.empty and not allow_empty:
        raise DataError(f"{path} has no rows: create it with prepare_splits")
    data["Label"] = data["Label"].astype(int)
    return data


def _encode(tokenizer, text, row: int, csv_file) -> list[int]:
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{csv_file}, row {row}: the message is empty; fix or delete this row")
    try:
        return tokenizer.encode(text)
    except ValueError as err:  # tiktoken refuses text holding a special token such as <|endoftext|>
        reason = str(err).splitlines()[0]
        raise DataError(
            f"{csv_file}, row {row}: the tokenizer refused this message ({reason}); edit it"
        ) from err


def _check_fits(encoded_texts: list[list[int]], context_length: int | None, csv_file) -> None:
    if context_length is None or not encoded_texts:
        return
    row, longest = max(enumerate(encoded_texts, start=1), key=lambda item: len(item[1]))
    if len(longest) > context_length:
        raise DataError(
            f"{csv_file}, row {row}: this message is {len(longest)} tokens but the model reads at most "
            f"{context_length} (context_length); pass max_length={context_length} (or less) to truncate "
            "longer messages"
        )


def _check_max_length(max_length: int, context_length: int | None) -> None:
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, not {max_length}")
    if context_length is not None and max_length > context_length:
        raise DataError(
            f"max_length={max_length} is longer than the model reads (context_length={context_length}); "
            f"pass max_length={context_length} or less"
        )
