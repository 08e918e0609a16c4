"""The finetuning recipe end to end (GPT-2 small architecture, random weights), exact beside fast.

By default a reduced recipe: the first 400 lines of the SMS Spam Collection (116 balanced messages)
and 2 epochs, so a run takes a few minutes on a laptop CPU. GPT_FROM_SCRATCH_BENCH_FULL=1 adds the
book's full recipe (all 5,574 lines, 5 epochs), about half an hour per exact run on a 2-core CPU.
The figure is the ratio of the variants' times; their final accuracies are recorded beside them,
and every phase's seconds (metrics.phase_seconds: data, model, cache fill, training, each scoring
pass, the save) are recorded and printed (`pytest -s`, or benchmarks/report.py afterwards). Where the
frozen-prefix cache runs, so are the GFLOP/s and MFU of the two phases that run the frozen blocks:
the cache fill and the scoring of the ham set aside.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import FULL_RECIPE, block_forward_flops, matmul_rate, needs_cuda
from gpt_from_scratch.fast import plan_inference
from gpt_from_scratch.finetune import FinetuneConfig, finetune
from gpt_from_scratch.model import GPTConfig
from gpt_from_scratch.predict import ClassifierInfo

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


def frozen_block_gflop(cfg: FinetuneConfig) -> dict[str, float]:
    """GFLOP of the cache fill and of the set-aside scoring, counted from the run's own files.

    The fill runs the frozen blocks (all but the last, the one that trains) once over each distinct
    message of the three splits, at the positions the classifier needs: all 120 for the book's (it
    reads padding), the message's own for one that reads none. Scoring the set-aside ham runs them
    over each distinct message the cache does not hold, and the last block at every message: its
    keys and values at each position, the rest at the read one. As prefix_cache and Trunk do.
    """
    out_dir = Path(cfg.out_dir)
    config = json.loads((out_dir / "config.json").read_text())
    info = ClassifierInfo.from_config(config)
    batching = plan_inference(info.position, info.pooling, info.causal, torch.device("cpu")).batching
    model = GPTConfig(**config["model"])
    start = model.n_layers - 1

    def rows(name: str) -> list[tuple[int, ...]]:
        texts = pd.read_csv(out_dir / "data" / f"{name}.csv")["Text"]
        return [tuple(ids[: batching.length(ids)]) for ids in (info.encode(t, truncate=True) for t in texts)]

    def prefix_flops(distinct: set[tuple[int, ...]]) -> int:
        return sum(len(ids) * start * block_forward_flops(model, len(ids)) for ids in distinct)

    cached = {ids for name in ("train", "validation", "test") for ids in rows(name)}
    set_aside = rows("heldout-test")
    keys_and_values = 2 * 2 * model.emb_dim**2
    last_block = sum(len(ids) * keys_and_values + block_forward_flops(model, len(ids)) for ids in set_aside)
    return {
        "cache_fill": prefix_flops(cached) / 1e9,
        "score_set_aside": (prefix_flops(set(set_aside) - cached) + last_block) / 1e9,
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_recipe(benchmark, sms_file, tmp_path, peak_flops, variant, size, device):
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
    if variant != "exact" and device == "cpu":  # the cache runs: its fill and the set-aside scoring
        # A shared host's matmul rate drifts over an hour-long session: the peak is the best of the
        # session's first measurement and one taken now, right after this run.
        peak = max(peak_flops, matmul_rate(tries=5))
        info["peak_flops_per_s"] = peak
        info["frozen_block_phases"] = rates = frozen_block_rates(cfg, metrics.phase_seconds, peak)
        lines = (
            f"{p} {r['gflop']:.0f} GFLOP, {r['gflop_per_s']:.0f} GFLOP/s, MFU {r['mfu']:.2f}"
            for p, r in rates.items()
        )
        print(f"  matmul peak {peak / 1e9:.0f} GFLOP/s; " + "; ".join(lines))


def frozen_block_rates(cfg: FinetuneConfig, phase_seconds: dict[str, float], peak: float) -> dict[str, dict]:
    """Each frozen-block phase's GFLOP, GFLOP/s and MFU; a phase that did not run is left out."""
    rates = {}
    for phase, gflop in frozen_block_gflop(cfg).items():
        seconds = phase_seconds.get(phase)
        if seconds:  # absent: skipped (--score book)
            rates[phase] = {
                "gflop": gflop,
                "gflop_per_s": gflop / seconds,
                "mfu": gflop * 1e9 / seconds / peak,
            }
    return rates


@pytest.mark.skipif(not FULL_RECIPE, reason="full recipe: set GPT_FROM_SCRATCH_BENCH_FULL=1")
def test_book_package_recipe(benchmark, sms_file, tmp_path):
    """The book's package running its own ch06 recipe (book_package.py): the baseline of the goals."""
    pytest.importorskip("llms_from_scratch", reason="pip install --no-deps llms-from-scratch==1.0.19")
    from book_package import book_recipe

    accuracies = benchmark.pedantic(book_recipe, args=(sms_file, tmp_path), rounds=1, iterations=1)
    benchmark.extra_info.update(accuracies)
    benchmark.extra_info["load_average_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"\nthe book's package: {accuracies} (load {benchmark.extra_info['load_average_1min']})")
