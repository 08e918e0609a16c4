"""The results file: one JSON line per finished run, appended as each run ends, read back whole.

No record is dropped silently: a line that is not a record stops the reading with its line number.
The one exception is a half-written last line without its newline, what a run interrupted while
appending leaves: it holds no whole record, so it is reported (warn) and left out, and the runner
removes it before it appends again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DataError


def _record(line: bytes) -> dict[str, Any] | None:
    """The record a line holds, or None if it holds none (not JSON, not an object, not UTF-8)."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    return record if isinstance(record, dict) else None


def _half_written(data: bytes) -> bool:
    """Whether a file's bytes end in a line without its newline that holds no record."""
    last = data[data.rfind(b"\n") + 1 :]  # empty when the file ends with its newline
    return bool(last.strip()) and _record(last) is None


def read_results(path: str | os.PathLike, warn: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every record in a results file, in file order; a missing file has none.

    Raises DataError naming the lines that hold no record. A half-written last line (an interrupted
    run) is the exception: warn is told, and the line is left out.
    """
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    half_written = len(lines) if _half_written(data) else None
    records, bad = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or number == half_written:  # an empty line holds no record to lose
            continue
        record = _record(line)
        if record is None:
            bad.append(number)
        else:
            records.append(record)
    if bad:
        numbers = ", ".join(map(str, bad))
        raise DataError(
            f"{path} line {numbers} is not a JSON record: fix or delete that line"
            if len(bad) == 1
            else f"{path} lines {numbers} are not JSON records: fix or delete those lines"
        )
    if half_written:
        warn(
            f"{path} line {half_written} is half-written (a run interrupted while recording): "
            "it holds no whole record and is left out"
        )
    return records


def drop_half_written_line(path: str | os.PathLike) -> int | None:
    """Remove a half-written last line, so the next record starts a line of its own; return its number."""
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    if not _half_written(data):
        return None
    with path.open("r+b") as out:
        out.truncate(data.rfind(b"\n") + 1)
        os.fsync(out.fileno())
    return data.count(b"\n") + 1


def append_record(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one record as a JSON line, flushed to disk: a crash loses at most the run in flight."""
    path = Path(path)
    # A whole last record whose newline is missing (an edited file): end its line, so ours stays whole.
    ends_cleanly = not path.is_file() or path.stat().st_size == 0 or path.read_bytes()[-1:] == b"\n"
    with path.open("a") as out:
        out.write(("" if ends_cleanly else "\n") + json.dumps(record) + "\n")
        out.flush()
        os.fsync(out.fileno())
