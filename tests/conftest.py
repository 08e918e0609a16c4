"""Shared fixtures: the offline data in tests/data, and small models that build in milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from offline_data import SMS_FILE, require

# Fixtures that finetune a model or run pytest in a subprocess (a test that starts one itself is marked
# @pytest.mark.slow where it is defined): every test that uses one (directly or
# through another fixture) is marked slow, so that `pytest -m "not slow"` (tox -e fast) leaves it out.
SLOW_FIXTURES = {"runs", "stub_run", "trained_dir", "book_run", "support_model", "served_model_dir"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def sms_file() -> Path:
    """The real SMS Spam Collection file (5,574 lines)."""
    return require(SMS_FILE)


@pytest.fixture(scope="session")
def tokenizer():
    """GPT-2's encoding, built from the BPE files inside the package."""
    from gpt_from_scratch.predict.tokenizer import get_tokenizer

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
    from gpt_from_scratch.serving.inference import ServedClassifier

    return ServedClassifier.load(served_model_dir)


@pytest.fixture(scope="session")
def server(served_model_dir, tmp_path_factory):
    """`gpt-from-scratch serve` over that classifier, started once, stopped (and checked) at the end."""
    from serving import start_server

    yield from start_server(served_model_dir, tmp_path_factory.mktemp("server") / "serve.log")
