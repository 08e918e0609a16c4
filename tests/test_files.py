"""Atomic writes: the file appears whole or not at all, with normal permissions."""

from __future__ import annotations

import os

import pytest

from gpt_from_scratch.safe_files import atomic_path


def test_file_appears_only_when_the_block_succeeds(tmp_path):
    dest = tmp_path / "sub" / "out.txt"
    with atomic_path(dest) as tmp:
        tmp.write_text("new")
        assert not dest.exists()
    assert dest.read_text() == "new"
    assert os.listdir(dest.parent) == ["out.txt"]


def test_a_failing_block_leaves_the_old_file_and_no_litter(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert dest.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_written_file_gets_permissions_from_the_umask(tmp_path):
    old_umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
