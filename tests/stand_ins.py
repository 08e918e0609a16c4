"""A stand-in for finetune in the experiment runner's tests: what finetune writes and returns, at once.

It writes a three-message test split and saves a real (tiny, untrained) classifier where finetune
would, so that the runner's own steps after finetune (reading the split, loading the saved model to
score the reworded messages) run for real; the accuracies and predictions it returns are chosen by
the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from gpt_from_scratch import seam
from gpt_from_scratch.checkpoint import save_classifier
from gpt_from_scratch.finetune import FinetuneConfig
from gpt_from_scratch.model import GPTModel, model_config

TEST_LABELS = [1, 0, 1]
TEST_CSV = "Label,Text\n1,WINNER claim your free prize now\n0,see you at lunch\n1,call to claim your reward\n"


def fake_finetune(
    predictions: Callable[[FinetuneConfig], list[int]],
    seconds: Callable[[FinetuneConfig], float] = lambda cfg: 0.1,
    calls: list[FinetuneConfig] | None = None,
) -> Callable[..., dict]:
    """A finetune whose test predictions (and training seconds) are predictions(cfg) (seconds(cfg))."""

    def run(cfg: FinetuneConfig, log: Callable[[str], None] = print) -> dict:
        if calls is not None:
            calls.append(cfg)
        out_dir = Path(cfg.out_dir)
        (out_dir / "data").mkdir(parents=True)
        (out_dir / "data" / "test.csv").write_text(TEST_CSV)
        torch.manual_seed(0)
        model = GPTModel(model_config("tiny"))
        seam.replace_head(model, 2)
        save_classifier(model, out_dir, {"max_length": 16, "pad_token_id": 50256, "finetune": asdict(cfg)})
        predicted = predictions(cfg)
        return {
            "train_accuracy": 0.9,
            "validation_accuracy": 0.8,
            "test_accuracy": sum(p == y for p, y in zip(predicted, TEST_LABELS, strict=True)) / 3,
            "test_predictions": predicted,
            "test_probabilities": [0.8 if p else 0.3 for p in predicted],
            "trainable_parameters": 10,
            "total_parameters": 100,
            "training_seconds": seconds(cfg),
            "device": "cpu",
        }

    return run
