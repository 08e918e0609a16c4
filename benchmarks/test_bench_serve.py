"""The app's speed, through `gpt-from-scratch serve` on CPU: one message's answer, and a 1,000-message upload.

Two classifiers: the tests' tiny one (finetuned here, offline, in seconds) and one of GPT-2 small's
size with random weights, padded to the book's 120 tokens: what a finetuned GPT-2 small costs. Each
is served on 127.0.0.1 and a free port, and called through Gradio's client as the page calls it.
GPT-2 small's occlusion and its 1,000-message upload take minutes on a laptop CPU: they run with
GPT_FROM_SCRATCH_BENCH_FULL=1.

The last two benchmarks call the page's handlers in this process, GPT-2 small's shape, the path
before the inference plan (the plain model, eight messages at a time, a message's prediction and
the prefix curve's verdict each from passes of their own) against today's, interleaved in one run
so that both see the same load: one message's gradient x input (goal: at most 0.5 s), and an
upload of UPLOAD_SMALL messages (UPLOAD with GPT_FROM_SCRATCH_BENCH_FULL=1).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import Client, handle_file

from conftest import FULL_RECIPE, NUM_TOKENS, ROUNDS, gpt2_small_classifier, record
from gpt_from_scratch.checkpoint import save_classifier
from gpt_from_scratch.cli import main
from gpt_from_scratch.serving.inference import ServedClassifier
from gpt_from_scratch.serving.page import many_messages, one_message

# A spam message of the SMS Spam Collection: 59 tokens, so occlusion classifies 60 copies of it.
MESSAGE = (
    "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt the word: CLAIM to "
    "No: 81010 T&C www.dbuk.net LCCLTD POBOX 4403LDNW1A7RW18"
)
UPLOAD = 1_000  # messages
UPLOAD_SMALL = 64  # messages of the in-process upload, unless GPT_FROM_SCRATCH_BENCH_FULL=1
GRADIENT_GOAL_S = 0.5  # issue 22: one message's gradient x input through the app, GPT-2 small


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
    assert answer[0].startswith('<p class="verdict ')  # the verdict, as the page shows it
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


@pytest.fixture(scope="module")
def gpt2_small_served(tmp_path_factory) -> dict[str, ServedClassifier]:
    """GPT-2 small's shape served two ways: the plain path (before the plan) and the inference plan."""
    model_dir = gpt2_small_dir(tmp_path_factory.mktemp("served") / "classifier")
    return {"before": ServedClassifier.load(model_dir, exact=True), "now": ServedClassifier.load(model_dir)}


def interleaved(
    benchmark, variants: dict[str, Callable[[], object]], rounds: int, warm_up: bool = True
) -> dict[str, float]:
    """Each variant's median seconds over rounds, run A, B, A, B... (after one warm-up each)."""
    seconds: dict[str, list[float]] = {name: [] for name in variants}

    def run() -> None:
        for variant in variants.values() if warm_up else ():
            variant()
        for _ in range(rounds):
            for name, variant in variants.items():
                start = time.perf_counter()
                variant()
                seconds[name].append(time.perf_counter() - start)

    benchmark.pedantic(run, rounds=1, iterations=1)
    medians = {name: sorted(times)[len(times) // 2] for name, times in seconds.items()}
    benchmark.extra_info.update({f"{name}_s": median for name, median in medians.items()})
    benchmark.extra_info["load_average"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return medians


def test_one_message_gradient_before_and_now(benchmark, gpt2_small_served):
    """The One message tab with gradient x input: verdict, reasons and prefix curve, GPT-2 small."""
    before, now = gpt2_small_served["before"], gpt2_small_served["now"]

    def as_before() -> None:
        # Before: a prediction of its own, the gradient pass, the curve's pass and its verdict's.
        before.predict([MESSAGE])
        before.predict([MESSAGE])
        one_message(before, MESSAGE, "gradient")

    medians = interleaved(
        benchmark, {"before": as_before, "now": lambda: one_message(now, MESSAGE, "gradient")}, ROUNDS
    )
    ratio = medians["before"] / medians["now"]
    benchmark.extra_info["ratio"] = ratio
    print(
        f"\none message, gradient x input, GPT-2 small: before {medians['before']:.2f} s, now "
        f"{medians['now']:.2f} s ({ratio:.1f}x; goal {GRADIENT_GOAL_S} s); "
        f"load {benchmark.extra_info['load_average']}"
    )


def test_upload_before_and_now(benchmark, gpt2_small_served, sms_file, tmp_path):
    """The Many messages tab: an uploaded CSV's sorted table and its CSV, GPT-2 small."""
    count = UPLOAD if FULL_RECIPE else UPLOAD_SMALL
    lines = sms_file.read_text(encoding="utf-8").splitlines()[:count]
    path = tmp_path / "upload.csv"
    pd.DataFrame({"text": [line.split("\t", 1)[1] for line in lines]}).to_csv(path, index=False)
    variants = {
        name: (lambda served=served: many_messages(served, tmp_path, "", str(path), ""))
        for name, served in gpt2_small_served.items()
    }
    medians = interleaved(benchmark, variants, 1 if FULL_RECIPE else ROUNDS, warm_up=not FULL_RECIPE)
    rates = {name: count / seconds for name, seconds in medians.items()}
    ratio = medians["before"] / medians["now"]
    benchmark.extra_info.update({"messages": count, "ratio": ratio})
    benchmark.extra_info.update({f"{name}_messages_per_s": rate for name, rate in rates.items()})
    print(
        f"\nupload of {count:,} messages, GPT-2 small: before {medians['before']:.1f} s "
        f"({rates['before']:.1f} a second), now {medians['now']:.1f} s ({rates['now']:.1f} a second), "
        f"{ratio:.1f}x; load {benchmark.extra_info['load_average']}"
    )
