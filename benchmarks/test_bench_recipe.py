"""The finetuning recipe end to end (GPT-2 small architecture, random weights), exact beside fast.

By default a reduced recipe: the first 400 lines of the SMS Spam Collection (116 balanced messages)
and 2 epochs, so a run takes a few minutes on a laptop CPU. GPT_FROM_SCRATCH_BENCH_FULL=1 adds the
book's full recipe (all 5,574 lines, 5 epochs), about half an hour per exact run on a 2-core CPU.
The figure is the ratio of the variants' times; their final accuracies are recorded beside them,
and every phase's seconds (metrics.phase_seconds: data, model, cache fill, training, each scoring
pass, the save) are recorded and printed (`pytest -s`, or benchmarks/report.py afterwards).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import FULL_RECIPE, needs_cuda
from gpt_from_scratch.finetune import FinetuneConfig, finetune

VARIANTS = {
    "exact": {"exact": True},  # the book's computation bit for bit: the baseline
    "fast": {},  # the defaults: SDPA attention, frozen-prefix cache
    "fast-flexible": {"position": "flexible"},  # reads the last real token: batches trimmed too
    # Like for like with the book's package: only its scoring (train, validation, test accuracy).
    "fast-book": {"score": "book"},
    "fast-flexible-book": {"position": "flexible", "score": "book"},
}
SIZES = [
    pytest.param("reduced", id="reduced"),
    pytest.param(
        "full",
        id="full",
        marks=pytest.mark.skipif(not FULL_RECIPE, reason="full recipe: set GPT_FROM_SCRATCH_BENCH_FULL=1"),
    ),
]
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=needs_cuda)]


def data_file(size: str, sms_file: Path, tmp_path: Path) -> Path:
    if size == "full":
        return sms_file
    reduced = tmp_path / "SMSSpamCollection-400"
    lines = sms_file.read_bytes().split(b"\n")[:400]
    reduced.write_bytes(b"\n".join(lines) + b"\n")
    return reduced


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_recipe(benchmark, sms_file, tmp_path, variant, size, device):
    cfg = FinetuneConfig(
        weights="random",
        data_file=str(data_file(size, sms_file, tmp_path)),
        out_dir=str(tmp_path / "out"),
        num_epochs=5 if size == "full" else 2,
        device=device,
        **VARIANTS[variant],
    )
    quiet = {"log": lambda _: None}
    metrics = benchmark.pedantic(finetune, args=(cfg,), kwargs=quiet, rounds=1, iterations=1)
    info = benchmark.extra_info
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy", "training_seconds"):
        info[key] = getattr(metrics, key)
    info["examples_seen"] = metrics.examples_seen
    info["load_average_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info["val_losses"] = metrics.val_losses
    info["examples_per_s_training"] = metrics.examples_seen / metrics.training_seconds
    info["phase_seconds"] = metrics.phase_seconds
    info["skipped_phases"] = metrics.skipped_phases
    phases = ", ".join(f"{name} {seconds:.1f}" for name, seconds in metrics.phase_seconds.items())
    print(f"\n{variant} {size} {device}: {phases} s (load {info['load_average_1min']})")
