"""From the raw SMS Spam Collection file to padded token tensors (the book's chapter 6 data pipeline)."""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import tiktoken
import torch
from torch.utils.data import Dataset

from .download import default_cache_dir, download_file
from .errors import DataError, DownloadError
from .files import atomic_path, sha256_of
from .tokenizer import PAD_TOKEN_ID

SMS_SPAM_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
SMS_SPAM_SHA256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"  # the extracted file
SMS_SPAM_COUNTS = {"ham": 4827, "spam": 747}  # the published file's labels, 5,574 lines
MIN_EVAL_MESSAGES = 10  # a validation or test split smaller than this measures nothing
LABELS = {"ham": 0, "spam": 1}
READINGS = ("correct", "book")
SPLIT_NAMES = ("train", "validation", "test")

_MEMBER = "SMSSpamCollection"
_OFFLINE_HINT = (
    "To use a copy you already have, pass --data-file PATH to the SMSSpamCollection file (from the UCI zip)."
)


class _CorruptDownload(DownloadError):
    """The zip arrived but is unreadable or its SMSSpamCollection fails the checksum."""


def sms_spam_cache_path(cache_dir: Path | None = None) -> Path:
    """Where download_sms_spam keeps its verified copy of the SMSSpamCollection file."""
    return Path(cache_dir or default_cache_dir()) / "sms_spam_collection" / _MEMBER


def download_sms_spam(cache_dir: Path | None = None, url: str = SMS_SPAM_URL) -> Path:
    """Return the verified SMSSpamCollection file in the cache, downloading the UCI zip if needed."""
    target = sms_spam_cache_path(cache_dir)
    if target.exists():
        if sha256_of(target) == SMS_SPAM_SHA256:
            return target
        target.unlink()  # an edited or damaged copy: never train on it
    problem = None
    for _attempt in range(2):  # a damaged transfer is usually transient: fetch once more, then give up
        try:
            return _fetch_and_extract(url, target)
        except _CorruptDownload as err:
            problem = err
        except DownloadError as err:  # offline, HTTP error, partial body: retrying would not help
            raise DownloadError(f"could not get the SMS Spam Collection: {err}. {_OFFLINE_HINT}") from err
    raise DownloadError(
        f"could not get the SMS Spam Collection: {problem} (on both tries). {_OFFLINE_HINT}"
    ) from problem


def _fetch_and_extract(url: str, target: Path) -> Path:
    zip_path = target.parent / "sms_spam_collection.zip"
    download_file(url, zip_path, description="SMS Spam Collection (zip)")
    try:
        _extract_verified(zip_path, target, url)
    finally:
        zip_path.unlink(missing_ok=True)
    return target


def _extract_verified(zip_path: Path, target: Path, url: str) -> None:
    try:
        with atomic_path(target) as tmp:
            with zipfile.ZipFile(zip_path) as archive:
                tmp.write_bytes(archive.read(_MEMBER))
            if sha256_of(tmp) != SMS_SPAM_SHA256:
                raise _CorruptDownload(
                    f"the {_MEMBER} file inside the zip from {url} does not have the expected sha256 "
                    f"{SMS_SPAM_SHA256} (corrupt or altered download)"
                )
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error) as err:
        raise _CorruptDownload(
            f"the file from {url} is not a readable zip holding {_MEMBER} (corrupt download): {err}"
        ) from err


def read_sms_spam(path: str | os.PathLike, reading: str = "correct") -> pd.DataFrame:
    """Read the raw tab-separated file into a DataFrame with columns Label ("ham"/"spam") and Text.

    reading="correct" takes every line as one message, verbatim: 5,574 rows. reading="book" is the
    book's pd.read_csv(path, sep="\\t", header=None, names=["Label", "Text"]), which treats '"' as a
    CSV quote character although the file has no quoting: it strips quotes and merges the lines
    between some of them into one message, giving 5,572 rows. Keep it only to reproduce the book's
    splits row for row.
    """
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}: choose one of {', '.join(READINGS)}")
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"no SMS Spam Collection file at {path}: pass --data-file PATH to the SMSSpamCollection "
            "file (from the UCI zip), or leave it out to download it"
        )
    if reading == "book":
        return pd.read_csv(path, sep="\t", header=None, names=["Label", "Text"])
    return _read_lines(path)


def _read_lines(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_number = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line_number}: not UTF-8 text; is this the SMSSpamCollection file?"
        ) from err
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise DataError(f"{path} is empty: it should hold lines of 'ham<TAB>message' or 'spam<TAB>message'")
    labels, texts = [], []
    for line_number, line in enumerate(lines, start=1):
        label, text = _parse_line(line.removesuffix("\r"), line_number, path)
        labels.append(label)
        texts.append(text)
    return pd.DataFrame({"Label": labels, "Text": texts})


def _parse_line(line: str, line_number: int, path: Path) -> tuple[str, str]:
    where = f"{path}, line {line_number} ({_shorten(line)!r})"
    if "\t" not in line:
        raise DataError(f"{where}: no tab; each line must be 'ham<TAB>message' or 'spam<TAB>message'")
    label, text = line.split("\t", 1)
    if label not in LABELS:
        raise DataError(f"{where}: label {label!r} is not 'ham' or 'spam'; fix or delete this line")
    if not text.strip():
        raise DataError(f"{where}: the message is empty; fix or delete this line")
    return label, text


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def create_balanced_dataset(df: pd.DataFrame, seed: int = 123) -> pd.DataFrame:
    """Undersample "ham" to as many rows as "spam" (the book's create_balanced_dataset)."""
    num_spam = df[df["Label"] == "spam"].shape[0]
    num_ham = df[df["Label"] == "ham"].shape[0]
    if num_ham < num_spam:
        raise DataError(
            f"only {num_ham} ham messages for {num_spam} spam: cannot balance by undersampling ham"
        )
    ham_subset = df[df["Label"] == "ham"].sample(num_spam, random_state=seed)
    return pd.concat([ham_subset, df[df["Label"] == "spam"]])


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
) -> dict[str, Path]:
    """Read, balance, label 0/1 and split 70/10/20 into train.csv, validation.csv and test.csv."""
    df = read_sms_spam(data_file, reading)
    note = unusual_file_note(data_file, df)
    if note:
        log(note)
    balanced_df = create_balanced_dataset(df, seed)
    balanced_df["Label"] = balanced_df["Label"].map(LABELS)
    splits = random_split(balanced_df, 0.7, 0.1, seed)
    check_evaluable(splits, data_file)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        name: _write_csv(split, out_dir / f"{name}.csv")
        for name, split in zip(SPLIT_NAMES, splits, strict=True)
    }


def unusual_file_note(data_file: str | os.PathLike, df: pd.DataFrame) -> str | None:
    """A note with the file's counts when it is not the published SMS Spam Collection, else None."""
    if sha256_of(Path(data_file)) == SMS_SPAM_SHA256:
        return None
    counts = df["Label"].value_counts()
    published = ", ".join(f"{n:,} {label}" for label, n in SMS_SPAM_COUNTS.items())
    return (
        f"Note: {data_file} is not the published SMS Spam Collection ({published}; the checksum "
        f"differs): it holds {len(df):,} messages, {counts.get('ham', 0):,} ham and "
        f"{counts.get('spam', 0):,} spam"
    )


def check_evaluable(splits: tuple[pd.DataFrame, ...], data_file: str | os.PathLike) -> None:
    """Raise DataError when the validation or test split is too small, or one-class, to measure anything."""
    for name, split in zip(SPLIT_NAMES[1:], splits[1:], strict=True):
        classes = split["Label"].nunique()
        if len(split) < MIN_EVAL_MESSAGES or classes < 2:
            raise DataError(
                f"{data_file} gives a {name} split of {len(split)} messages ({classes} class"
                f"{'es' if classes != 1 else ''}): too few to evaluate a classifier (at least "
                f"{MIN_EVAL_MESSAGES} of both classes are needed). Use the whole SMS Spam Collection: "
                "leave out --data-file to download it"
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
    ) -> None:
        self.data = _read_split_csv(Path(csv_file))
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


def _read_split_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"no split file at {path}: create train/validation/test CSVs with prepare_splits")
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
    bad = ~data["Label"].isin(["0", "1"])
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 1
        raise DataError(
            f"{path}, row {row}: label {data['Label'].iloc[row - 1]!r} is not 0 (ham) or 1 (spam); "
            "create the file with prepare_splits"
        )
    if data.empty:
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
