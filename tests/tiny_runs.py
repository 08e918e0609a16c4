"""A finetuning run of a few seconds: the tiny model, random weights, a few steps on the CPU."""

from __future__ import annotations

from pathlib import Path

from gpt_from_scratch.config import FinetuneConfig
from gpt_from_scratch.evaluation import RunMetrics
from gpt_from_scratch.finetune import finetune


def tiny_finetune(data_file: Path, out: Path, max_steps: int = 4, **options) -> RunMetrics:
    """finetune on the tiny random model for max_steps batches, silently; the metrics it returns."""
    cfg = FinetuneConfig(
        model_size="tiny",
        weights="random",
        data_file=str(data_file),
        out_dir=str(out),
        max_steps=max_steps,
        num_epochs=1,
        lr=1e-3,
        device="cpu",
        **options,
    )
    return finetune(cfg, log=lambda _: None)
