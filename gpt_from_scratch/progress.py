"""Progress bars for every phase that can take more than a few seconds, drawn on a terminal only.

A bar goes to standard error, and only when that is a terminal (tqdm's disable=None), so piped or
captured output holds exactly the lines a run prints. It is cleared once its phase ends (leave=False):
what stays on screen are those lines, written through `say`, which keeps them clear of a bar.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress(
    iterable: Iterable[Any] | None, description: str, total: int | None = None, unit: str = "batch"
) -> tqdm:
    """iterable with a bar that advances as it is read (or, with None, a bar that .update(n) advances)."""
    return tqdm(
        iterable, desc=description, total=total, unit=unit, leave=False, disable=None, dynamic_ncols=True
    )


def say(line: str) -> None:
    """Print a line of a run's output to standard output, above any bar that is being drawn."""
    tqdm.write(line)
