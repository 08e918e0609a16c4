"""GPT-2's tokenizer ships in the package: it loads with no network, no cache and no environment variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tiktoken

from gpt_from_scratch.predict.tokenizer import get_tokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
TIKTOKEN_CACHE = REPO_ROOT / "tests" / "data" / "tiktoken_cache"  # tiktoken's own download, cached
# Run in a clean interpreter: any attempt to open a connection fails, as on a machine with no network.
NO_NETWORK = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
import json
from gpt_from_scratch.predict import tokenizer
ids = tokenizer.get_tokenizer().encode("Hi there <|endoftext|>", allowed_special="all")
print(json.dumps({"file": tokenizer.__file__, "ids": ids}))
"""
TEXT = "Hi there <|endoftext|>"


def bare_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """os.environ without tiktoken's cache variables; an empty temp folder (where its default cache is)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    (tmp_path / "tmp").mkdir()
    return env | {"TMPDIR": str(tmp_path / "tmp"), **extra}


def run_bare(env: dict[str, str], cwd: Path) -> dict:
    """NO_NETWORK's output: where it imported the tokenizer from, and TEXT's ids."""
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def expected_ids(monkeypatch) -> list[int]:
    """tiktoken's own 'gpt2' encoding of TEXT, read from its cached download."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))
    return tiktoken.get_encoding("gpt2").encode(TEXT, allowed_special="all")


def test_the_shipped_tokenizer_is_tiktokens_gpt2(monkeypatch, sms_file):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))
    reference = tiktoken.get_encoding("gpt2")
    shipped = get_tokenizer()
    assert shipped.n_vocab == reference.n_vocab == 50257
    assert shipped.special_tokens_set == reference.special_tokens_set == {"<|endoftext|>"}
    assert shipped._mergeable_ranks == reference._mergeable_ranks
    texts = sms_file.read_text(encoding="utf-8").splitlines()
    texts += ["  two  spaces\n\n\ttab", "I'll've it's", "emoji 😀 and 日本語", "<|endoftext|> inside"]
    for text in texts:
        assert shipped.encode(text, allowed_special="all") == reference.encode(text, allowed_special="all")


@pytest.mark.slow
def test_the_tokenizer_loads_without_network_cache_or_environment(tmp_path, expected_ids):
    loaded = run_bare(bare_environment(tmp_path, PYTHONPATH=str(REPO_ROOT)), tmp_path)
    assert loaded["file"] == str(REPO_ROOT / "gpt_from_scratch" / "predict" / "tokenizer.py")
    assert loaded["ids"] == expected_ids
    assert not any((tmp_path / "tmp").iterdir()), "tiktoken wrote a cache"


@pytest.mark.slow
def test_a_wheel_install_holds_the_tokenizer_files_and_their_licence(tmp_path, expected_ids):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(tmp_path / "wheel")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("vocab.bpe", "encoder.json", "LICENSE"):
        assert f"gpt_from_scratch/predict/gpt2_bpe/{name}" in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "installed")  # a wheel is installed by unpacking it
    loaded = run_bare(bare_environment(tmp_path, PYTHONPATH=str(tmp_path / "installed")), tmp_path)
    assert loaded["file"] == str(tmp_path / "installed" / "gpt_from_scratch" / "predict" / "tokenizer.py")
    assert loaded["ids"] == expected_ids
