"""The whole recipe of the book's chapter 6: data, model, new head, training, evaluation, saving."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from . import distributed, seam
from .batching import collate_trimmed, padding_is_never_read
from .checkpoint import save_classifier
from .data import SpamDataset, download_sms_spam, prepare_splits
from .device import resolve_device
from .errors import OptionError
from .files import atomic_path
from .lora import merge_lora, replace_linear_with_lora
from .model import GPTModel, count_parameters, model_config
from .pooling import check_choice, select_tokens
from .prefix_cache import PrefixCache
from .speed import autocast_if_asked, skips_unread, speed_up
from .tokenizer import PAD_TOKEN_ID, get_tokenizer
from .train import train_classifier_simple
from .weights import load_pretrained_gpt

WEIGHTS_CHOICES = ("pretrained", "random")
TRAINABLE_CHOICES = ("last_layer", "last_block", "last_two_blocks", "all", "lora")
CONTEXT_CHOICES = ("longest", "full", "none")
IGNORE_INDEX_EXPLANATION = (
    "ignore_index cannot reach a classification loss: cross_entropy compares it with the labels, "
    "and here the labels are class ids (0 ham, 1 spam), one per message, never token ids, so "
    "ignore_index=50256 would match nothing and change nothing (the reference's row 18 repeats row "
    "1's numbers for that reason). It masks padding *targets* in next-token training (chapter 7). To "
    "keep padding out of what the classifier reads, use --position flexible or --pooling mean."
)


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
    # The knobs of the book's chapter 6 bonus experiments; the defaults are the book's recipe.
    position: str = "last"  # the token the classifier reads: "last", "first", "flexible"
    pooling: str = "token"  # "token" (the position above), "mean" (of real tokens), "mean_with_padding"
    context: str = "longest"  # pad to the longest training message, "full" context, or "none"
    accumulation_steps: int = 1  # batches whose gradients are summed before each optimizer step
    causal: bool = True  # False: every token attends to every other one
    ignore_index: int | None = None  # refused: see IGNORE_INDEX_EXPLANATION
    lora_rank: int = 16  # with trainable="lora"
    lora_alpha: float = 16.0
    lora_scaling: str = "book"  # "book": update * alpha; "paper" (and peft): update * alpha / rank
    max_steps: int | None = None  # stop after this many batches in all (a budget for experiments)
    data_seed: int | None = None  # the split's seed; None: seed. Fixed, it pairs runs on one test set
    # Speed (see speed.py): sdpa, fused_layers, skip_unread and prefix_cache change the answer by
    # float rounding only; exact=True turns them off for the book's computation bit for bit.
    # bf16/compile: CUDA only.
    sdpa: bool = True
    fused_layers: bool = True
    skip_unread: bool = True  # the last block computes only the position the classifier reads
    prefix_cache: bool = True
    trim_padding: bool = True  # pad each batch to its longest message when padding is never read
    exact: bool = False
    bf16: bool = False
    compile: bool = False


def check_config(cfg: FinetuneConfig) -> None:
    """Raise OptionError for an option, or a combination of options, that cannot do what it says."""
    if cfg.trainable not in TRAINABLE_CHOICES:
        raise OptionError(f"trainable must be one of {TRAINABLE_CHOICES}, got {cfg.trainable!r}")
    try:
        check_choice(cfg.position, cfg.pooling)
    except ValueError as err:
        raise OptionError(str(err)) from err
    if cfg.context not in CONTEXT_CHOICES:
        raise OptionError(f"context must be one of {CONTEXT_CHOICES}, got {cfg.context!r}")
    if cfg.context == "full" and cfg.max_length is not None:
        raise OptionError("context='full' pads to the model's context length: leave max_length unset")
    if cfg.context == "none" and cfg.batch_size != 1:
        raise OptionError(
            f"context='none' leaves messages at their own lengths, which cannot be stacked into a batch "
            f"of {cfg.batch_size}: use batch_size=1, with accumulation_steps=8 for an effective batch of 8"
        )
    if cfg.accumulation_steps < 1:
        raise OptionError(f"accumulation_steps must be at least 1, got {cfg.accumulation_steps}")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise OptionError(f"max_steps must be at least 1 (or None for no limit), got {cfg.max_steps}")
    if cfg.ignore_index is not None:
        raise OptionError(IGNORE_INDEX_EXPLANATION)


def build_classifier(cfg: FinetuneConfig, log: Callable[[str], None] = print) -> GPTModel:
    """GPT-2 (pretrained or random) with a fresh classification head and the chosen layers trainable."""
    if cfg.weights not in WEIGHTS_CHOICES:
        raise ValueError(f"weights must be one of {WEIGHTS_CHOICES}, got {cfg.weights!r}")
    if cfg.weights == "pretrained":
        model = load_pretrained_gpt(cfg.model_size, weights_dir=cfg.weights_dir)
    else:
        torch.manual_seed(cfg.seed)
        model = GPTModel(model_config(cfg.model_size))
    if not cfg.causal:
        set_causal(model, False)
    # Seeded right before the new head, as in the book, so the head starts from the same numbers.
    torch.manual_seed(cfg.seed)
    seam.replace_head(model, cfg.num_classes)
    if cfg.trainable == "lora":
        # As in the book's bonus script: everything frozen but the new head, then LoRA on every Linear.
        seam.freeze_all_but(model, "last_layer")
        replace_linear_with_lora(model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_scaling)
    else:
        seam.freeze_all_but(model, cfg.trainable)
    log(
        f"Model: {cfg.model_size} ({cfg.weights} weights), {count_parameters(model):,} parameters, "
        f"{count_parameters(model, trainable_only=True):,} trainable ({cfg.trainable})"
    )
    return model


def set_causal(model: GPTModel, causal: bool) -> GPTModel:
    """Switch the causal mask of every attention layer on or off (the config records it for saving)."""
    model.cfg = dataclasses.replace(model.cfg, causal=causal)
    for block in model.trf_blocks:
        block.att.causal = causal
    return model


def make_loaders(
    data_dir: Path, context_length: int, cfg: FinetuneConfig
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders; every split is padded to the training set's length."""
    tokenizer = get_tokenizer()
    max_length = context_length if cfg.context == "full" else cfg.max_length
    pad = cfg.context != "none"
    train_ds = SpamDataset(
        data_dir / "train.csv", tokenizer, max_length, PAD_TOKEN_ID, context_length=context_length, pad=pad
    )
    val_ds = SpamDataset(data_dir / "validation.csv", tokenizer, train_ds.max_length, PAD_TOKEN_ID, pad=pad)
    test_ds = SpamDataset(data_dir / "test.csv", tokenizer, train_ds.max_length, PAD_TOKEN_ID, pad=pad)
    eval_batch_size = cfg.batch_size if pad else 1  # unpadded messages of different lengths: one at a time
    # Each batch cut to its longest message when the classifier never reads padding (batching.py).
    trim = cfg.trim_padding and not cfg.exact and padding_is_never_read(cfg.position, cfg.pooling, cfg.causal)
    collate = collate_trimmed if trim else None
    torch.manual_seed(cfg.seed)
    train_loader = DataLoader(
        train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, collate_fn=collate
    )
    val_loader = DataLoader(val_ds, batch_size=eval_batch_size, collate_fn=collate)
    test_loader = DataLoader(test_ds, batch_size=eval_batch_size, collate_fn=collate)
    return train_loader, val_loader, test_loader


def finetune(cfg: FinetuneConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the recipe, write model, metrics.json and plots to cfg.out_dir; return the metrics."""
    check_config(cfg)
    # Under torchrun, one of several data-parallel processes (distributed.py); else the only one.
    parallel, device_name = distributed.setup(cfg.device)
    log = parallel.only_main(log)
    seam.use(cfg.impl)
    log(f"Learner concepts run from: {seam.current()}/")
    device = resolve_device(device_name)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    data_file = Path(cfg.data_file) if cfg.data_file else download_sms_spam()
    data_dir = out_dir / "data"
    if parallel.is_main:
        split_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
        prepare_splits(data_file, data_dir, reading=cfg.reading, seed=split_seed)
    parallel.barrier()

    model = build_classifier(cfg, log)
    train_loader, val_loader, test_loader = make_loaders(data_dir, model.cfg.context_length, cfg)
    model.to(device)
    trained = speed_up(model, cfg, device, log)  # model itself, or a PrefixCache serving its frozen blocks
    # What the loss and accuracy read: the model itself for the book's last token, else a TokenSelector.
    classifier = select_tokens(trained, cfg.position, cfg.pooling, PAD_TOKEN_ID, skips_unread(cfg))
    classifier = autocast_if_asked(classifier, cfg, log)
    train_set = train_loader.dataset
    padding = f"padded to {train_set.max_length} tokens" if cfg.context != "none" else "unpadded"

    start = time.perf_counter()
    if isinstance(trained, PrefixCache):
        filled = trained.fill(loader.dataset for loader in (train_loader, val_loader, test_loader))
        log(f"Frozen-prefix cache: {filled} messages computed in {time.perf_counter() - start:.1f} s")
    log(f"Training on {device}: {len(train_set)} messages {padding}")
    # Seeded right before training, as in the book: the loader's shuffles draw from this state.
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_losses, val_losses, train_accs, val_accs, examples_seen = train_classifier_simple(
        parallel.wrap(classifier, device),
        parallel.shard(train_loader, cfg.seed),
        val_loader,
        optimizer,
        device,
        cfg.num_epochs,
        cfg.eval_freq,
        cfg.eval_iter,
        log,
        accumulation_steps=cfg.accumulation_steps,
        max_steps=cfg.max_steps,
    )
    training_seconds = time.perf_counter() - start
    examples_seen *= parallel.world_size  # each process counted only its own share of every batch

    with torch.inference_mode():
        accuracies = {
            f"{split}_accuracy": seam.calc_accuracy_loader(loader, classifier, device)
            for split, loader in (("train", train_loader), ("validation", val_loader), ("test", test_loader))
        }
    test_predictions, test_probabilities = predict_loader(classifier, test_loader, device)
    trainable_parameters = count_parameters(model, trainable_only=True)
    total_parameters = count_parameters(model)
    if cfg.trainable == "lora":
        merge_lora(model)  # saved as a plain GPT-2 classifier: W + the update, same outputs
    for split, value in accuracies.items():
        log(f"{split.replace('_', ' ').capitalize()}: {value * 100:.2f}%")

    info = {
        "labels": ["not spam", "spam"],
        "max_length": train_loader.dataset.max_length,
        "pad_token_id": PAD_TOKEN_ID,
        "finetune": asdict(cfg),
    }
    if parallel.is_main:
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
        "trainable_parameters": trainable_parameters,
        "total_parameters": total_parameters,
        "test_predictions": test_predictions,
        "test_probabilities": test_probabilities,  # P(spam) of every test message, for calibration
        "config": asdict(cfg),
    }
    if parallel.is_main:
        with atomic_path(out_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=2) + "\n")
        _write_plots(metrics, cfg.num_epochs, out_dir, log)
    log(f"Saved the classifier, metrics.json and plots to {out_dir}/")
    parallel.close()
    return metrics


def predict_loader(
    model: torch.nn.Module, loader: DataLoader, device: torch.device | str
) -> tuple[list[int], list[float]]:
    """The predicted class and P(spam) of every example, read at the last position as the accuracy is."""
    model.eval()
    predictions, probabilities = [], []
    with torch.inference_mode():
        for input_batch, _ in loader:
            logits = model(input_batch.to(device))[:, -1, :]  # (batch, num_classes)
            predictions += torch.argmax(logits, dim=-1).tolist()
            probabilities += torch.softmax(logits, dim=-1)[:, 1].tolist()
    return predictions, probabilities


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
