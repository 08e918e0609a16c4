"""Shared fixtures: the offline data in tests/data, and small models that build in milliseconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
# The data ships with the repository (tests/data/README.md: sources and licences); the env var
# points the tests at another copy with the same layout.
SHARED_DATA = Path(os.environ.get("GPT_FROM_SCRATCH_SHARED_DATA", REPO_ROOT / "tests" / "data"))
SMS_FILE = SHARED_DATA / "sms_spam_collection" / "SMSSpamCollection"


def _require(path: Path) -> Path:
    # Fail, never skip: a suite that silently skips its real-data tests proves nothing.
    if not path.exists():
        pytest.fail(
            f"offline test data missing: {path}. It ships in the repository's tests/data folder "
            "(see tests/data/README.md): restore it from git, or set GPT_FROM_SCRATCH_SHARED_DATA to a copy.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def sms_file() -> Path:
    """The real SMS Spam Collection file (5,574 lines)."""
    return _require(SMS_FILE)


@pytest.fixture(scope="session")
def tokenizer():
    """GPT-2's encoding, built from the BPE files inside the package."""
    from gpt_from_scratch.tokenizer import get_tokenizer

    return get_tokenizer()


@pytest.fixture
def tiny_model():
    """A freshly initialised tiny GPTModel (2 layers, 32 dims), seeded."""
    from gpt_from_scratch.model import GPTModel, model_config

    torch.manual_seed(0)
    return GPTModel(model_config("tiny"))


# The app's tests (test_serve.py, test_serve_browser.py) share one trained classifier and one server.


@pytest.fixture(scope="session")
def served_model_dir(tmp_path_factory, sms_file, tokenizer) -> Path:
    """A tiny classifier finetuned through the CLI for the app's tests."""
    from serving import tiny_classifier

    return tiny_classifier(tmp_path_factory, sms_file)


@pytest.fixture(scope="session")
def served(served_model_dir):
    """That classifier loaded as the app loads it."""
    from gpt_from_scratch.app.inference import ServedClassifier

    return ServedClassifier.load(served_model_dir)


@pytest.fixture(scope="session")
def server(served_model_dir, tmp_path_factory):
    """`gpt-from-scratch serve` over that classifier, started once, stopped (and checked) at the end."""
    from serving import start_server

    yield from start_server(served_model_dir, tmp_path_factory.mktemp("server") / "serve.log")
