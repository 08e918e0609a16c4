"""The results file: one JSON line per finished run, appended as each run ends, read back whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record in a results file; a half-written last line (an interrupted run) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def append_record(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one record as a JSON line, flushed to disk: a crash loses at most the run in flight."""
    path = Path(path)
    # A run interrupted mid-write leaves a line without its newline: end it, so ours stays whole.
    ends_cleanly = not path.is_file() or path.stat().st_size == 0 or path.read_bytes()[-1:] == b"\n"
    with path.open("a") as out:
        out.write(("" if ends_cleanly else "\n") + json.dumps(record) + "\n")
        out.flush()
        os.fsync(out.fileno())
