"""Where a run writes: --out is checked first, written through a staging folder, replaced in one step.

A run never writes into --out directly. It takes a lock beside --out (a second run into the same
folder is refused), writes the splits, the model, metrics.json and the plots into a fresh staging
folder beside it, and only once everything is written swaps that folder in for --out. A failed or
interrupted run leaves --out exactly as it was; writing over an earlier classifier needs --overwrite.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch.distributed

from ..checkpoint import CONFIG_FILE, WEIGHTS_PATTERN, holds_classifier
from ..config import FinetuneConfig
from ..errors import OptionError
from ..safe_files import (
    LockHeld,
    exclusive_lock,
    lock_path,
    make_staging_folder,
    recover_leftovers,
    replace_folder,
)
from . import distributed
from .preflight import check_inputs

OUTPUT_FILES = (  # what a run writes into --out (".*.part": a write cut short by an older version)
    CONFIG_FILE,
    WEIGHTS_PATTERN,
    "data",
    "metrics.json",
    "report.md",
    "loss-plot.png",
    "accuracy-plot.png",
    "confusion-matrix.png",
    "precision-recall.png",
    ".*.part",
)


@contextmanager
def staged_output(
    cfg: FinetuneConfig, parallel: distributed.Distributed, log: Callable[[str], None]
) -> Iterator[Path]:
    """The folder this run writes into: a fresh staging folder that replaces --out once the run succeeds.

    Only rank 0 checks, locks, stages and publishes; under torchrun the other processes get the
    staging folder from it, to read its data splits. Should rank 0 fail first, torchrun stops them all.
    """
    if not parallel.is_main:
        yield _from_main(parallel, None)
        return
    check_output(cfg)
    check_inputs(cfg)
    out_dir = Path(cfg.out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(lock_path(out_dir)):  # held to the end: no other run writes --out meanwhile
            for note in recover_leftovers(out_dir):
                log(f"Note: {note}")
            replacing = check_output(cfg)  # again: another run may have written --out since
            if replacing:
                log(f"{cfg.out_dir}/ holds {replacing}: --overwrite replaces it once this run succeeds")
            stage = make_staging_folder(out_dir)
            try:
                yield _from_main(parallel, stage)
                replace_folder(stage, out_dir)
            finally:
                shutil.rmtree(stage, ignore_errors=True)  # a failed run's files (nothing, once published)
    except LockHeld as err:
        raise OptionError(
            f"another finetune is writing to --out {cfg.out_dir} (pid {err.pid or 'unknown'}): "
            "wait for it to finish, or choose another --out"
        ) from None


def _from_main(parallel: distributed.Distributed, path: Path | None) -> Path:
    """Rank 0's path, on every process (every process must call this)."""
    if not parallel.active:
        return path
    shared = [str(path) if path is not None else None]
    torch.distributed.broadcast_object_list(shared, src=0)
    return Path(shared[0])


def check_output(cfg: FinetuneConfig) -> str:
    """What of an earlier run --out holds, to be replaced ('' if nothing); OptionError if it may not be."""
    out_dir, where = Path(cfg.out_dir).resolve(), f"--out {cfg.out_dir}"
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(f"{where} is a file, not a folder: choose a new folder's name for --out")
    blocking = next((above for above in out_dir.parents if above.exists() and not above.is_dir()), None)
    if blocking:
        raise OptionError(f"{where} lies inside {blocking}, a file, not a folder: choose --out outside it")
    if Path.cwd().resolve().is_relative_to(out_dir):
        raise OptionError(
            f"{where} holds the current folder, which a run would replace: choose another --out"
        )
    if os.path.ismount(out_dir):
        raise OptionError(f"{where} is a mount point, which cannot be replaced: choose a folder inside it")
    if not out_dir.is_dir():
        return ""
    names = sorted(path.name + ("/" if path.is_dir() else "") for path in out_dir.iterdir())
    foreign = [name for name in names if not _is_output_file(name.rstrip("/"))]
    if foreign:
        raise OptionError(
            f"{where} holds files finetune did not write ({_listed(foreign)}), and a run replaces the "
            "whole folder: choose a new or empty folder for --out"
        )
    if not names:
        return ""
    kind = "a classifier" if holds_classifier(out_dir) else "an earlier run's files"
    names.sort(key=_output_rank)  # the model and its data first: what a user would lose
    what = f"{kind} ({_listed(names)})"
    if not cfg.overwrite:
        raise OptionError(
            f"{where} already holds {what}: pass --overwrite to replace it, or choose another --out"
        )
    return what


def _is_output_file(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in OUTPUT_FILES)


def _output_rank(name: str) -> int:
    return next(i for i, pattern in enumerate(OUTPUT_FILES) if fnmatch.fnmatchcase(name.rstrip("/"), pattern))


def _listed(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most] + ([f"and {len(names) - most} more"] if len(names) > most else []))
