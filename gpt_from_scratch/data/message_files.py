"""Read messages from a user's file, refusing bad rows clearly: one reader per format.

A .csv or .tsv file is read by the csv module (every cell text: a message "NA" stays "NA"), a
.jsonl file one JSON object a line, any other file one message a line. finetune reads labelled
messages (read_labelled_table); `classify` and the app read messages to classify (read_messages).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from ..errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
# suffix: (separator, what the file is called, what the separator is called)
_DELIMITED = {".csv": (",", "CSV", "comma"), ".tsv": ("\t", "TSV", "tab")}
_MAX_LISTED = 5  # rows named in one error message; more are summed up as "and more"
# The column a CSV, TSV or JSON-lines file's messages are read from when --column names none.
DEFAULT_COLUMNS = ("text", "Text", "message", "Message")
STDIN = "-"


@dataclass(frozen=True)
class Message:
    """A message to classify and where it came from, so that an error or a note can point at it."""

    text: str
    number: int  # its line (or CSV row) in the file; its position among typed messages
    unit: str = "message"  # "line", "row" or "message"
    source: str = ""  # the file's name, "standard input", or "" for typed messages
    label: str | None = None  # the file's label for it, read with --label-column (to evaluate)

    def where(self) -> str:
        """'line 5 of msgs.txt', 'row 3 of msgs.csv', 'message 2'."""
        return f"{self.unit} {self.number}" + (f" of {self.source}" if self.source else "")


def is_table_file(path: str | os.PathLike) -> bool:
    """Whether path names a table read by column (.csv, .tsv or .jsonl, in any case)."""
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def read_labelled_table(
    path: str | os.PathLike, text_column: str = "text", label_column: str = "label"
) -> pd.DataFrame:
    """Read a .csv, .tsv or .jsonl file into a DataFrame with columns Label and Text, both str."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: a table of labelled messages must be a {', '.join(TABLE_SUFFIXES)} file, "
            f"not {suffix or 'a file without a suffix'!r}; save it in one of these formats"
        )
    if not path.is_file():
        raise DataError(f"no file at {path}: pass --data-file PATH to your .csv, .tsv or .jsonl file")
    content = decode(path)
    if suffix == ".jsonl":
        kind, numbers, labels, texts = "line", *_read_jsonl(path, content, text_column, label_column)
    else:
        kind, numbers, labels, texts = (
            "row",
            *_read_delimited(path, content, suffix, text_column, label_column),
        )
    _refuse_empty(path, kind, numbers, texts, "text")
    _refuse_empty(path, kind, numbers, labels, "label")
    if not texts:
        raise DataError(f"{path} holds no messages: add them, one {kind} each")
    # A label with stray spaces ("spam ") would otherwise become a class of its own.
    df = pd.DataFrame({"Label": [label.strip() for label in labels], "Text": texts}, dtype=str)
    classes = df["Label"].unique()
    if len(classes) < 2:
        raise DataError(
            f"{path} holds one class (label {classes[0]!r}): a classifier needs at least two; "
            "add messages of another class"
        )
    return df


def decode(path: Path) -> str:
    """The file's text; DataError naming the first line that is not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # -sig: drops the byte-order mark some spreadsheet programs write
    except UnicodeDecodeError as err:
        line_number = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line_number}: not UTF-8 text; save the file as UTF-8 and try again"
        ) from err


def _read_delimited(
    path: Path, content: str, suffix: str, text_column: str, label_column: str
) -> tuple[list[int], list[str], list[str]]:
    header, rows = delimited_rows(path, content, suffix)
    rows = [(number, cells) for number, cells in rows if cells]  # a blank row holds no message
    _require_columns(path, header, text_column, label_column)
    text_at, label_at = header.index(text_column), header.index(label_column)
    return [number for number, _ in rows], [c[label_at] for _, c in rows], [c[text_at] for _, c in rows]


def delimited_rows(path: Path, content: str, suffix: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A .csv or .tsv file's header and its rows numbered as a spreadsheet shows them (a blank row: [])."""
    separator, file_kind, separator_name = _DELIMITED[suffix]
    # The csv module reads every cell as text: a message reading "NA" or "null" stays that text.
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=separator)
    try:
        rows = list(enumerate(reader, start=1))  # the header is row 1
    except csv.Error as err:
        raise DataError(f"{path} is not a readable {file_kind} file ({err}); fix it") from err
    while rows and not rows[0][1]:
        rows.pop(0)  # blank lines before the header
    if not rows:
        raise DataError(f"{path} is empty: it needs a header row naming its columns, then one row a message")
    (_, header), rows = rows[0], rows[1:]
    for number, cells in rows:
        if cells and len(cells) != len(header):
            raise DataError(
                f"{path}, row {number} has {len(cells)} cell{'s' if len(cells) != 1 else ''} but the header "
                f"{len(header)}; check the row's quotes, and put a text that holds a {separator_name} in "
                "double quotes"
            )
    return header, rows


def _read_jsonl(
    path: Path, content: str, text_column: str, label_column: str
) -> tuple[list[int], list[str | None], list[str | None]]:
    numbers, labels, texts, columns = [], [], [], {}
    for line_number, record in json_records(path, content):
        columns.update(dict.fromkeys(record))  # every key seen, in order, to list if a column is missing
        numbers.append(line_number)
        labels.append(_json_label(path, line_number, record.get(label_column)))
        texts.append(_json_text(path, line_number, record.get(text_column)))
    if numbers:
        _require_columns(path, list(columns), text_column, label_column)
    return numbers, labels, texts


def json_records(path: Path | str, content: str) -> list[tuple[int, dict]]:
    """A .jsonl file's objects with their line numbers; a blank line between them holds no record."""
    records = []
    # split("\n"), not splitlines(): a JSON string may hold U+2028, which splitlines breaks at.
    for line_number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}, line {line_number}: not JSON ({err.msg}); write one JSON object a line"
            ) from err
        if not isinstance(record, dict):
            raise DataError(
                f"{path}, line {line_number}: a JSON {type(record).__name__}, not an object; write one "
                "JSON object a line"
            )
        records.append((line_number, record))
    return records


def _json_label(path: Path, line_number: int, value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    raise DataError(
        f"{path}, line {line_number}: the label is a JSON {type(value).__name__}; give a string or a number"
    )


def _json_text(path: Path, line_number: int, value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DataError(
        f"{path}, line {line_number}: the text is a JSON {type(value).__name__}, not a string; "
        "put the message in quotes"
    )


def _require_columns(path: Path, columns: list[str], text_column: str, label_column: str) -> None:
    for column, option, holds in (
        (text_column, "--text-column", "messages"),
        (label_column, "--label-column", "labels"),
    ):
        if column not in columns:
            listed = ", ".join(repr(name) for name in columns) or "none"
            raise DataError(
                f"{path} has no column {column!r} (its columns: {listed}); pass {option} NAME "
                f"to name the column that holds the {holds}"
            )


def _refuse_empty(path: Path, kind: str, numbers: list[int], values: list, what: str) -> None:
    # None is a JSON null or a missing key; "" or spaces an empty cell.
    bad = [
        number for number, value in zip(numbers, values, strict=True) if value is None or not value.strip()
    ]
    if len(bad) == 1:
        raise DataError(f"{path}, {kind} {bad[0]}: the {what} is empty; fix or delete this {kind}")
    if bad:
        listed = ", ".join(str(number) for number in bad[:_MAX_LISTED])
        more = " and more" if len(bad) > _MAX_LISTED else ""
        raise DataError(f"{path}, {kind}s {listed}{more}: the {what} is empty; fix or delete these {kind}s")


def read_messages(
    path: str, column: str | None = None, stdin: TextIO | None = None, label_column: str | None = None
) -> list[Message]:
    """The messages of a file ('-': standard input), empty ones included: the caller skips and says so.

    label_column, for a table, also reads each message's label (Message.label), to evaluate on it.
    """
    by_column = "--label-column" if column is None and label_column is not None else "--column"
    if path == STDIN:
        if column is not None or label_column is not None:
            raise DataError(
                f"{by_column} needs a .csv, .tsv or .jsonl --file; standard input is read as lines"
            )
        return _lines(_read_stdin(stdin), "standard input")
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path} is not a file: give --file the path of a file of messages (or - for stdin)")
    if (column is not None or label_column is not None) and not is_table_file(file):
        raise DataError(
            f"{by_column} needs a .csv, .tsv or .jsonl file, and {path} is read as one message per line"
        )
    content = decode(file)
    suffix = file.suffix.lower()
    if suffix in _DELIMITED:
        return _table_messages(file, content, suffix, column, label_column)
    if suffix == ".jsonl":
        return _json_messages(file, content, column, label_column)
    return _lines(content, path)


def _read_stdin(stdin: TextIO | None) -> str:
    stream = stdin or sys.stdin
    raw = getattr(stream, "buffer", None)  # the bytes, so that any locale still reads UTF-8
    try:
        return raw.read().decode("utf-8-sig") if raw is not None else stream.read()
    except UnicodeDecodeError as err:
        raise DataError("standard input is not UTF-8 text: convert it to UTF-8 and try again") from err


def _lines(content: str, source: str) -> list[Message]:
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()  # what follows the newline that ends the last line is no line
    return [Message(line.removesuffix("\r"), number, "line", source) for number, line in enumerate(lines, 1)]


def _pick_column(columns: Sequence[str], path: Path | str, column: str | None) -> str:
    names = ", ".join(str(c) for c in columns) or "none"
    if column is not None:
        if column not in columns:
            raise DataError(
                f"{path} has no column {column!r}: its columns are {names}; pick one with --column"
            )
        return column
    for name in DEFAULT_COLUMNS:
        if name in columns:
            return name
    raise DataError(
        f"{path} has no text column (text, Text or message): its columns are {names}; "
        "name the one holding the messages with --column"
    )


def _label_column(columns: Sequence[str], path: Path | str, label_column: str) -> str:
    if label_column not in columns:
        names = ", ".join(str(c) for c in columns) or "none"
        raise DataError(
            f"{path} has no column {label_column!r}: its columns are {names}; pick the labels' "
            "column with --label-column"
        )
    return label_column


def _table_messages(
    path: Path, content: str, suffix: str, column: str | None, label_column: str | None
) -> list[Message]:
    header, rows = delimited_rows(path, content, suffix)
    # A blank row stays a row (an empty message), so that the rows keep the numbers a note gives.
    text_at = header.index(_pick_column(header, path, column))
    label_at = header.index(_label_column(header, path, label_column)) if label_column else None
    return [
        Message(
            cells[text_at] if cells else "",
            number,
            "row",
            str(path),
            None if label_at is None else (cells[label_at] if cells else ""),
        )
        for number, cells in rows
    ]


def _json_messages(path: Path, content: str, column: str | None, label_column: str | None) -> list[Message]:
    messages, name = [], column
    for number, record in json_records(path, content):
        if name is None:
            name = _pick_column(list(record), path, None)
        if name not in record:
            raise DataError(f"line {number} of {path} has no {name!r} key: give every object one")
        if not isinstance(record[name], str):
            raise DataError(f"line {number} of {path}: {name!r} is not a string; messages must be text")
        label = None
        if label_column is not None:
            _label_column(list(record), f"line {number} of {path}", label_column)
            label = "" if record[label_column] is None else str(record[label_column])
        messages.append(Message(record[name], number, "line", str(path), label))
    return messages
