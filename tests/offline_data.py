"""Where the offline test data lives (tests/data, or $GPT_FROM_SCRATCH_SHARED_DATA): the tests and the
benchmarks both read it from here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The data ships with the repository (tests/data/README.md: sources and licences); the env var
# points the tests at another copy with the same layout.
SHARED_DATA = Path(os.environ.get("GPT_FROM_SCRATCH_SHARED_DATA", REPO_ROOT / "tests" / "data"))
SMS_FILE = SHARED_DATA / "sms_spam_collection" / "SMSSpamCollection"


def require(path: Path) -> Path:
    """The path, or a failed test saying how to restore it (never a skip)."""
    # Fail, never skip: a suite that silently skips its real-data tests proves nothing.
    if not path.exists():
        pytest.fail(
            f"offline test data missing: {path}. It ships in the repository's tests/data folder "
            "(see tests/data/README.md): restore it from git, or set GPT_FROM_SCRATCH_SHARED_DATA to a copy.",
            pytrace=False,
        )
    return path
