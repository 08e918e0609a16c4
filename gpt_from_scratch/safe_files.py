"""Write files and folders so that a crash never leaves half of one behind, and check what was written."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

CHUNK_SIZE = 1 << 20  # 1 MiB


def sha256_of(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside dest; if the block succeeds, it becomes dest in one rename.

    Readers of dest see the old file or the complete new one, never a partial write. If the block
    raises (or the process dies), dest is untouched and the temporary file is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as dest, so os.replace is an atomic rename within one filesystem.
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())  # on disk before the rename makes it visible
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# A whole folder, replaced in one step
# ---------------------------------------------------------------------------------------------
#
# A run writes into a fresh staging folder beside its destination and, once it has succeeded,
# renames it into place. Two renames are needed (the old folder aside, then the new one in): a
# crash between them leaves no destination, the old folder at .NAME.old-* and the complete new
# one at .NAME.staging-*. recover_leftovers, called under the folder's lock, puts the old one back.


class LockHeld(Exception):
    """Another process holds the lock; pid is what it wrote into the lock file ('' if not yet)."""

    def __init__(self, pid: str) -> None:
        super().__init__(f"locked by pid {pid or 'unknown'}")
        self.pid = pid


def lock_path(folder: Path) -> Path:
    """The lock file of a folder: beside it, so that the folder itself can be replaced while held."""
    return folder.parent / f".{folder.name}.lock"


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file at path for the block; raise LockHeld if another process has it.

    flock's lock belongs to the open file, so the OS releases it when its process dies: a killed run
    never leaves a stale lock. The file is removed on release while still locked; a process that
    opened it just before sees that it no longer is the file at path, and tries again.
    """
    if fcntl is None:  # Windows has no flock: runs there are not kept from writing at once
        yield
        return
    fd = _lock(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for the message another run shows
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _lock(path: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise LockHeld(pid) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder removed this file as we opened it: lock the one at path now


def make_staging_folder(dest: Path) -> Path:
    """A new empty folder beside dest: on the same filesystem, so it can be renamed onto dest."""
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.staging-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp creates 0700; the published folder gets normal permissions
    return staging


def replace_folder(staging: Path, dest: Path) -> None:
    """Put the staging folder in dest's place; the old dest, if any, is deleted once the new one is in."""
    old = staging.with_name(staging.name.replace(".staging-", ".old-", 1))
    if dest.exists():
        os.replace(dest, old)
    try:
        os.replace(staging, dest)
    except BaseException:
        if old.exists():
            os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def recover_leftovers(dest: Path) -> list[str]:
    """Clean up after runs killed while writing dest (call it holding dest's lock); say what was done.

    A staging folder is an unfinished run, or a finished one whose publication was cut short:
    neither was reported as saved, so it goes. An old folder without a dest is the one that was
    there before such a cut: it is put back.
    """
    done = []
    olds = sorted(dest.parent.glob(f".{glob.escape(dest.name)}.old-*"))
    if olds and not dest.exists():
        old = olds.pop()
        os.replace(old, dest)
        done.append(f"put {dest} back from {old}, where an interrupted run had moved it")
    for leftover in olds + sorted(dest.parent.glob(f".{glob.escape(dest.name)}.staging-*")):
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed {leftover}, left by an interrupted run")
    return done
