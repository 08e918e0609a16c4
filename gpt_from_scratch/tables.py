"""Read a user's own labelled messages from a .csv, .tsv or .jsonl file, refusing bad rows clearly."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pandas as pd

from .errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
# suffix: (separator, what the file is called, what the separator is called)
_DELIMITED = {".csv": (",", "CSV", "comma"), ".tsv": ("\t", "TSV", "tab")}
_MAX_LISTED = 5  # rows named in one error message; more are summed up as "and more"


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
    content = _decode(path)
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


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # -sig: drops the byte-order mark some spreadsheet programs write
    except UnicodeDecodeError as err:
        line_number = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line_number}: not UTF-8 text; save the file as UTF-8") from err


def _read_delimited(
    path: Path, content: str, suffix: str, text_column: str, label_column: str
) -> tuple[list[int], list[str], list[str]]:
    separator, file_kind, separator_name = _DELIMITED[suffix]
    # The csv module reads every cell as text: a message reading "NA" or "null" stays that text.
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=separator)
    try:
        # Numbered as a spreadsheet shows them (the header is row 1); a blank row holds no message.
        rows = [(number, cells) for number, cells in enumerate(reader, start=1) if cells]
    except csv.Error as err:
        raise DataError(f"{path} is not a readable {file_kind} file ({err}); fix it") from err
    if not rows:
        raise DataError(f"{path} is empty: it needs a header row naming its columns, then one row a message")
    (_, header), rows = rows[0], rows[1:]
    _require_columns(path, header, text_column, label_column)
    for number, cells in rows:
        if len(cells) != len(header):
            raise DataError(
                f"{path}, row {number} has {len(cells)} cell{'s' if len(cells) != 1 else ''} but the header "
                f"{len(header)}; check the row's quotes, and put a text that holds a {separator_name} in "
                "double quotes"
            )
    text_at, label_at = header.index(text_column), header.index(label_column)
    return [number for number, _ in rows], [c[label_at] for _, c in rows], [c[text_at] for _, c in rows]


def _read_jsonl(
    path: Path, content: str, text_column: str, label_column: str
) -> tuple[list[int], list[str | None], list[str | None]]:
    example = f'{{"{text_column}": "...", "{label_column}": "..."}}'
    numbers, labels, texts, columns = [], [], [], {}
    for line_number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}, line {line_number}: not JSON ({err.msg}); each line must be one object such as "
                f"{example}"
            ) from err
        if not isinstance(record, dict):
            raise DataError(
                f"{path}, line {line_number}: a JSON {type(record).__name__}, not an object; each line must "
                f"be one object such as {example}"
            )
        columns.update(dict.fromkeys(record))  # every key seen, in order, to list if a column is missing
        numbers.append(line_number)
        labels.append(_json_label(path, line_number, record.get(label_column)))
        texts.append(_json_text(path, line_number, record.get(text_column)))
    if numbers:
        _require_columns(path, list(columns), text_column, label_column)
    return numbers, labels, texts


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
