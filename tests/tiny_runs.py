"""A finetuning run of a few seconds: the tiny model, random weights, a few steps on the CPU."""

from __future__ import annotations

from pathlib import Path

from gpt_from_scratch.config import FinetuneConfig
from gpt_from_scratch.evaluation import RunMetrics
from gpt_from_scratch.finetune import finetune


def tiny_config(data: Path, out: Path, **overrides) -> FinetuneConfig:
    """The options of a tiny run: the tiny random model, one epoch on the CPU; overrides on top."""
    values = dict(
        model_size="tiny",
        weights="random",
        data_file=str(data),
        out_dir=str(out),
        num_epochs=1,
        lr=1e-3,  # a random tiny model needs a bolder step than the book's 5e-5
        device="cpu",
    )
    return FinetuneConfig(**(values | overrides))


def tiny_finetune(data_file: Path, out: Path, max_steps: int = 4, **options) -> RunMetrics:
    """finetune on the tiny random model for max_steps batches, silently; the metrics it returns."""
    return finetune(tiny_config(data_file, out, max_steps=max_steps, **options), log=lambda _: None)
