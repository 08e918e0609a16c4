"""The app's speed, through `gpt-from-scratch serve` on CPU: one message's answer, and a 1,000-message upload.

Two classifiers: the tests' tiny one (finetuned here, offline, in seconds) and one of GPT-2 small's
size with random weights, padded to the book's 120 tokens: what a finetuned GPT-2 small costs. Each
is served on 127.0.0.1 and a free port, and called through Gradio's client as the page calls it.
GPT-2 small's occlusion and its 1,000-message upload take minutes on a laptop CPU: they run with
GPT_FROM_SCRATCH_BENCH_FULL=1.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import Client, handle_file

from conftest import FULL_RECIPE, NUM_TOKENS, ROUNDS, gpt2_small_classifier, record
from gpt_from_scratch.checkpoint import save_classifier
from gpt_from_scratch.cli import main

# A spam message of the SMS Spam Collection: 59 tokens, so occlusion classifies 60 copies of it.
MESSAGE = (
    "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt the word: CLAIM to "
    "No: 81010 T&C www.dbuk.net LCCLTD POBOX 4403LDNW1A7RW18"
)
UPLOAD = 1_000  # messages


def tiny_classifier(out: Path, sms_file: Path) -> Path:
    """The tests' tiny classifier (tests/test_serve.py): 60 steps from random weights, 64 tokens."""
    options = ["--weights", "random", "--model-size", "tiny", "--trainable", "all", "--lr", "2e-3"]
    options += ["--epochs", "1", "--max-steps", "60", "--max-length", "64", "--device", "cpu"]
    assert main(["finetune", *options, "--data-file", str(sms_file), "--out", str(out)]) == 0
    return out


def gpt2_small_dir(out: Path) -> Path:
    """GPT-2 small with a 2-class head and random weights, saved as `finetune` saves a classifier."""
    info = {
        "labels": ["not spam", "spam"],
        "max_length": NUM_TOKENS,
        "pad_token_id": 50256,
        "finetune": {"model_size": "gpt2-small", "weights": "random", "position": "last", "pooling": "token"},
    }
    save_classifier(gpt2_small_classifier("last_block"), out, info)
    return out


@pytest.fixture(scope="module", params=["tiny", "gpt2-small"])
def server(request, tmp_path_factory, sms_file):
    """(model name, a Gradio client of `gpt-from-scratch serve` on that model), stopped at the end."""
    out = tmp_path_factory.mktemp("serve") / "classifier"
    model_dir = tiny_classifier(out, sms_file) if request.param == "tiny" else gpt2_small_dir(out)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = out.parent / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gpt_from_scratch", "serve", "--model-dir", str(model_dir)]
            + ["--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while "Serving" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve did not start:\n{log.read_text()}", pytrace=False)
        time.sleep(0.2)
    yield request.param, Client(f"http://127.0.0.1:{port}/", verbose=False)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)


@pytest.mark.parametrize("method", ["gradient", "occlusion"])
def test_one_message_latency(benchmark, server, method):
    """Label, probability and the reasons of one 59-token message, as the page asks for them."""
    model, client = server
    if model == "gpt2-small" and method == "occlusion" and not FULL_RECIPE:
        pytest.skip("GPT-2 small's occlusion: 60 forward passes a round; set GPT_FROM_SCRATCH_BENCH_FULL=1")
    answer = benchmark.pedantic(
        lambda: client.predict(MESSAGE, method, api_name="/classify_message"),
        rounds=ROUNDS,
        warmup_rounds=1,
        iterations=1,
    )
    assert answer[0].startswith("### ")
    record(benchmark, examples=1, tokens=59)
    benchmark.extra_info["latency_s"] = benchmark.stats.stats.mean
    benchmark.extra_info["model"] = model


def test_upload_throughput_1000_messages(benchmark, server, sms_file, tmp_path):
    """A CSV of the SMS Spam Collection's first 1,000 messages: the sorted table and its CSV."""
    model, client = server
    if model == "gpt2-small" and not FULL_RECIPE:
        pytest.skip("GPT-2 small on 1,000 messages takes minutes a round; set GPT_FROM_SCRATCH_BENCH_FULL=1")
    lines = sms_file.read_text(encoding="utf-8").splitlines()[:UPLOAD]
    path = tmp_path / "upload.csv"
    pd.DataFrame({"text": [line.split("\t", 1)[1] for line in lines]}).to_csv(path, index=False)
    rounds = ROUNDS if model == "tiny" else 1
    summary, table, _ = benchmark.pedantic(
        lambda: client.predict("", handle_file(path), "", api_name="/classify_many"),
        rounds=rounds,
        warmup_rounds=1 if model == "tiny" else 0,
        iterations=1,
    )
    assert summary.startswith(f"**{UPLOAD:,} message(s)**") and len(table["data"]) == UPLOAD
    record(benchmark, examples=UPLOAD, tokens=UPLOAD * (64 if model == "tiny" else NUM_TOKENS))
    benchmark.extra_info["model"] = model
