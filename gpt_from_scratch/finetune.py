"""The whole recipe of the book's chapter 6: data, model, new head, training, evaluation, saving."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from . import seam
from .checkpoint import save_classifier
from .data import SpamDataset, download_sms_spam, prepare_splits
from .device import resolve_device
from .files import atomic_path
from .model import GPTModel, count_parameters, model_config
from .tokenizer import PAD_TOKEN_ID, get_tokenizer
from .train import train_classifier_simple
from .weights import load_pretrained_gpt

WEIGHTS_CHOICES = ("pretrained", "random")


@dataclass
class FinetuneConfig:
    """Every knob of a finetuning run; the defaults are the book's recipe."""

    model_size: str = "gpt2-small"
    weights: str = "pretrained"  # or "random": no download, for tests and offline demos
    weights_dir: str | None = None  # a folder holding model.safetensors, instead of downloading
    data_file: str | None = None  # the SMSSpamCollection file, instead of downloading
    reading: str = "correct"  # "book" reproduces the book's parsing, and so its split, row for row
    out_dir: str = "spam-classifier"
    trainable: str = "last_block"
    num_classes: int = 2
    max_length: int | None = None  # None: pad to the longest training message
    num_epochs: int = 5
    batch_size: int = 8
    lr: float = 5e-5
    weight_decay: float = 0.1
    eval_freq: int = 50
    eval_iter: int = 5
    seed: int = 123
    device: str = "auto"
    impl: str = "solutions"  # whose code runs the learner concepts: "solutions" or "exercises"


def build_classifier(cfg: FinetuneConfig, log: Callable[[str], None] = print) -> GPTModel:
    """GPT-2 (pretrained or random) with a fresh classification head and the chosen layers trainable."""
    if cfg.weights not in WEIGHTS_CHOICES:
        raise ValueError(f"weights must be one of {WEIGHTS_CHOICES}, got {cfg.weights!r}")
    if cfg.weights == "pretrained":
        model = load_pretrained_gpt(cfg.model_size, weights_dir=cfg.weights_dir)
    else:
        torch.manual_seed(cfg.seed)
        model = GPTModel(model_config(cfg.model_size))
    # Seeded right before the new head, as in the book, so the head starts from the same numbers.
    torch.manual_seed(cfg.seed)
    seam.replace_head(model, cfg.num_classes)
    seam.freeze_all_but(model, cfg.trainable)
    log(
        f"Model: {cfg.model_size} ({cfg.weights} weights), {count_parameters(model):,} parameters, "
        f"{count_parameters(model, trainable_only=True):,} trainable ({cfg.trainable})"
    )
    return model


def make_loaders(
    data_dir: Path, context_length: int, cfg: FinetuneConfig
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders; every split is padded to the training set's length."""
    tokenizer = get_tokenizer()
    train_ds = SpamDataset(
        data_dir / "train.csv", tokenizer, cfg.max_length, PAD_TOKEN_ID, context_length=context_length
    )
    val_ds = SpamDataset(data_dir / "validation.csv", tokenizer, train_ds.max_length, PAD_TOKEN_ID)
    test_ds = SpamDataset(data_dir / "test.csv", tokenizer, train_ds.max_length, PAD_TOKEN_ID)
    torch.manual_seed(cfg.seed)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    val_loader = DataLoader(val_ds, batch_size=cfg.batch_size)
    test_loader = DataLoader(test_ds, batch_size=cfg.batch_size)
    return train_loader, val_loader, test_loader


def finetune(cfg: FinetuneConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the recipe, write model, metrics.json and plots to cfg.out_dir; return the metrics."""
    seam.use(cfg.impl)
    log(f"Learner concepts run from: {seam.current()}/")
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    data_file = Path(cfg.data_file) if cfg.data_file else download_sms_spam()
    data_dir = out_dir / "data"
    prepare_splits(data_file, data_dir, reading=cfg.reading, seed=cfg.seed)

    model = build_classifier(cfg, log)
    train_loader, val_loader, test_loader = make_loaders(data_dir, model.cfg.context_length, cfg)
    model.to(device)
    train_set = train_loader.dataset
    log(f"Training on {device}: {len(train_set)} messages padded to {train_set.max_length} tokens")

    start = time.perf_counter()
    # Seeded right before training, as in the book: the loader's shuffles draw from this state.
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_losses, val_losses, train_accs, val_accs, examples_seen = train_classifier_simple(
        model, train_loader, val_loader, optimizer, device, cfg.num_epochs, cfg.eval_freq, cfg.eval_iter, log
    )
    training_seconds = time.perf_counter() - start

    accuracies = {
        f"{split}_accuracy": seam.calc_accuracy_loader(loader, model, device)
        for split, loader in (("train", train_loader), ("validation", val_loader), ("test", test_loader))
    }
    for split, value in accuracies.items():
        log(f"{split.replace('_', ' ').capitalize()}: {value * 100:.2f}%")

    info = {
        "labels": ["not spam", "spam"],
        "max_length": train_loader.dataset.max_length,
        "pad_token_id": PAD_TOKEN_ID,
        "finetune": asdict(cfg),
    }
    save_classifier(model, out_dir, info)
    metrics = {
        **accuracies,
        "train_losses": train_losses,
        "val_losses": val_losses,
        "train_accs": train_accs,
        "val_accs": val_accs,
        "examples_seen": examples_seen,
        "training_seconds": training_seconds,
        "device": str(device),
        "trainable_parameters": count_parameters(model, trainable_only=True),
        "total_parameters": count_parameters(model),
        "config": asdict(cfg),
    }
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    _write_plots(metrics, cfg.num_epochs, out_dir, log)
    log(f"Saved the classifier, metrics.json and plots to {out_dir}/")
    return metrics


def _write_plots(metrics: dict[str, Any], num_epochs: int, out_dir: Path, log: Callable[[str], None]) -> None:
    try:
        from .plots import plot_values
    except ImportError:
        log("matplotlib is not installed: no plots (pip install 'gpt-from-scratch[plots]')")
        return
    seen = metrics["examples_seen"]
    plot_values(
        num_epochs, seen, metrics["train_losses"], metrics["val_losses"], "loss", out_dir / "loss-plot.png"
    )
    plot_values(
        num_epochs,
        seen,
        metrics["train_accs"],
        metrics["val_accs"],
        "accuracy",
        out_dir / "accuracy-plot.png",
    )
