"""The SMS Spam Collection: its download (checksummed), and its file read into labelled messages."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import pandas as pd

from .download import default_cache_dir, download_file
from .errors import DataError, DownloadError
from .files import atomic_path, sha256_of

SMS_SPAM_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
SMS_SPAM_SHA256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"  # the extracted file
SMS_SPAM_COUNTS = {"ham": 4827, "spam": 747}  # the published file's labels, 5,574 lines
LABELS = {"ham": 0, "spam": 1}
READINGS = ("correct", "book")

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
    _refuse_a_cut_file(path)
    if reading == "book":
        return pd.read_csv(path, sep="\t", header=None, names=["Label", "Text"])
    return _read_lines(path)


def _refuse_a_cut_file(path: Path) -> None:
    """Raise DataError if the file's last line has no newline: an interrupted copy or download."""
    raw = path.read_bytes()
    if not raw or raw.endswith(b"\n"):
        return
    last = raw[raw.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")
    line_number = raw.count(b"\n") + 1
    raise DataError(
        f"{path}: the file ends in the middle of line {line_number} ({_shorten(last)!r}), with no "
        "newline: it looks cut off (an interrupted download or copy); get the whole file, or end that "
        "line with a newline if it is complete"
    )


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


def is_published(data_file: str | os.PathLike) -> bool:
    """Whether the file is, byte for byte, the SMS Spam Collection as published (its checksum)."""
    return sha256_of(Path(data_file)) == SMS_SPAM_SHA256


def unusual_file_note(data_file: str | os.PathLike, df: pd.DataFrame) -> str | None:
    """A note with the file's counts when it is not the published SMS Spam Collection, else None."""
    if is_published(data_file):
        return None
    counts = df["Label"].value_counts()
    published = ", ".join(f"{n:,} {label}" for label, n in SMS_SPAM_COUNTS.items())
    return (
        f"Note: {data_file} is not the published SMS Spam Collection ({published}; the checksum "
        f"differs): it holds {len(df):,} messages, {counts.get('ham', 0):,} ham and "
        f"{counts.get('spam', 0):,} spam"
    )
