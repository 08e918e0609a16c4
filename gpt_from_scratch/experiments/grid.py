"""The grid: named finetuning configurations, the published numbers of the reference rows, the split.

The grid holds the 19 rows of the published reference table for the book's chapter 6 bonus
experiments (rasbt/LLMs-from-scratch, ch06/02_bonus_additional-experiments/README.md), each with its
published accuracies, plus our own extra rows and the baselines (baselines.py). Every knob of a GPT
row is a FinetuneConfig option, so a row runs exactly what `gpt-from-scratch finetune` with the same
options runs.

Runs are paired: every seed's run uses the book's split (data_seed 123, the book's reading of the
file), so all configurations are tested on the same 300 messages.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..config import FinetuneConfig
from ..weights import DEFAULT_MODEL_SIZE
from .baselines import ENCODERS, BaselineConfig

REFERENCE_SOURCE = (
    "rasbt/LLMs-from-scratch, ch06/02_bonus_additional-experiments/README.md "
    "(19-row table; single runs on an A100)"
)
BASELINE = "row01-book"  # the row the report tests every other one against (McNemar)
DEFAULT_SEEDS = (123, 124, 125)
BOOK_SPLIT = {"reading": "book", "data_seed": 123}  # the reference's split, row for row


@dataclass(frozen=True)
class Experiment:
    """One named configuration: FinetuneConfig options, and the published numbers if it is a reference row."""

    name: str
    options: dict[str, Any]
    reference: tuple[float, float, float] | None = None  # published train/validation/test accuracy, %
    reference_row: int | None = None
    note: str = ""
    baseline: bool = False  # options are BaselineConfig options (baselines.py), not FinetuneConfig ones


def _row(
    n: int, name: str, options: dict, train: float, val: float, test: float, note: str = ""
) -> Experiment:
    return Experiment(f"row{n:02d}-{name}", options, (train, val, test), n, note)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        _row(1, "book", {}, 96.63, 99.33, 95.00),
        _row(2, "first-token", {"position": "first"}, 78.46, 80.54, 75.00),
        _row(3, "last-layer", {"trainable": "last_layer"}, 78.65, 79.87, 72.00),
        _row(4, "last-two-blocks", {"trainable": "last_two_blocks"}, 98.85, 98.66, 98.33),
        _row(5, "all-layers", {"trainable": "all"}, 99.62, 96.64, 96.67),
        _row(6, "gpt2-medium", {"model_size": "gpt2-medium"}, 87.50, 91.28, 84.67),
        _row(7, "gpt2-large", {"model_size": "gpt2-large"}, 99.52, 98.66, 96.67),
        _row(8, "gpt2-xl", {"model_size": "gpt2-xl"}, 99.81, 99.81, 98.33),
        _row(9, "gpt2-xl-all", {"model_size": "gpt2-xl", "trainable": "all"}, 100.00, 98.66, 98.67),
        _row(10, "random-all", {"weights": "random", "trainable": "all"}, 100.00, 96.64, 93.67),
        _row(11, "lora", {"trainable": "lora", "lora_rank": 16, "lora_alpha": 16.0}, 100.00, 97.32, 96.67),
        _row(
            12,
            "gpt2-xl-lora",
            {"model_size": "gpt2-xl", "trainable": "lora", "lora_rank": 16, "lora_alpha": 8.0},
            100.00,
            98.66,
            98.33,
        ),
        _row(13, "full-context", {"context": "full"}, 83.08, 87.92, 78.33),
        _row(14, "no-padding", {"context": "none", "batch_size": 1}, 100.00, 98.66, 98.00),
        _row(
            15,
            "no-padding-accumulate-8",
            {"context": "none", "batch_size": 1, "accumulation_steps": 8},
            99.33,
            98.66,
            98.33,
        ),
        _row(16, "flexible", {"position": "flexible"}, 99.42, 98.66, 98.33),
        _row(17, "no-causal-mask", {"causal": False}, 99.23, 98.66, 95.33),
        _row(
            18,
            "ignore-index",
            {},
            96.63,
            99.33,
            95.00,
            "the reference's --ignore_index never reached its loss, and could not matter for class-id "
            "labels (FinetuneConfig refuses it, saying why): this row runs row 1's configuration",
        ),
        _row(
            19,
            "mean-with-padding",
            {"pooling": "mean_with_padding"},
            97.79,
            99.33,
            96.33,
            "the reference averaged every position, padding included",
        ),
        Experiment("mean-real-tokens", {"pooling": "mean"}, note="row 19 without averaging padding in"),
        Experiment(
            "lora-paper-scaling",
            {"trainable": "lora", "lora_rank": 16, "lora_alpha": 16.0, "lora_scaling": "paper"},
            note="row 11 with the LoRA paper's alpha/rank scaling (16x smaller updates)",
        ),
        Experiment("tfidf-word", {"model": "tfidf-word"}, note="word 1-2-grams", baseline=True),
        Experiment("tfidf-char", {"model": "tfidf-char"}, note="character 1-5-grams", baseline=True),
        Experiment(
            "minilm",
            {"model": "minilm"},
            note="all-MiniLM-L6-v2 from its PyPI package, no download; the GPT rows' 5 epochs",
            baseline=True,
        ),
        Experiment(
            "minilm-1-epoch",
            {"model": "minilm", "num_epochs": 1},
            note="the minilm row with a fifth of the budget",
            baseline=True,
        ),
        *[
            Experiment(name, {"model": name}, note=f"downloads {hub_name}", baseline=True)
            for name, hub_name in ENCODERS.items()
        ],
    ]
}
# Overrides that only mean something for GPT-2 (model size, its weights): baseline rows leave them out.
BASELINE_OPTIONS = {f.name for f in fields(BaselineConfig)}


RunConfig = FinetuneConfig | BaselineConfig


def experiment_config(experiment: Experiment, seed: int, overrides: dict[str, Any]) -> RunConfig:
    """The run's config: the book's split, the row's options, then the caller's (e.g. tiny random offline)."""
    if experiment.baseline:
        overrides = {key: value for key, value in overrides.items() if key in BASELINE_OPTIONS}
        return BaselineConfig(**(BOOK_SPLIT | experiment.options | overrides | {"seed": seed}))
    options = BOOK_SPLIT | experiment.options | overrides | {"seed": seed}
    if options.get("model_size") is None and options.get("weights_dir") is None:
        options["model_size"] = DEFAULT_MODEL_SIZE  # recorded by name: what ran, as earlier records say
    return FinetuneConfig(**options)
