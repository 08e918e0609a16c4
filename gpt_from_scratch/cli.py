"""The command line: `gpt-from-scratch finetune | classify | prepare-data`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields

from . import seam
from .device import DEVICE_CHOICES
from .errors import GPTFromScratchError
from .model import MODEL_CONFIGS

DEFAULT_MODEL_DIR = "spam-classifier"


def _add_finetune_parser(subparsers: argparse._SubParsersAction) -> None:
    from .finetune import WEIGHTS_CHOICES, FinetuneConfig

    d = FinetuneConfig()
    p = subparsers.add_parser(
        "finetune",
        help="finetune GPT-2 as a spam classifier (the book's recipe by default)",
        description="Download GPT-2 and the SMS Spam Collection, finetune the classifier, and write "
        "the model, metrics.json and plots to --out.",
    )
    p.add_argument("--model-size", choices=list(MODEL_CONFIGS), default=d.model_size)
    p.add_argument(
        "--weights",
        choices=WEIGHTS_CHOICES,
        default=d.weights,
        help="start from OpenAI's weights, or from random ones (offline, for tests)",
    )
    p.add_argument("--weights-dir", help="folder holding GPT-2's model.safetensors (skips the download)")
    p.add_argument("--data-file", help="the SMSSpamCollection file (skips the download)")
    p.add_argument(
        "--reading",
        choices=["correct", "book"],
        default=d.reading,
        help="'book' parses the file as the book does (it merges a few messages), "
        "reproducing its split row for row",
    )
    p.add_argument("--out", dest="out_dir", default=DEFAULT_MODEL_DIR, help="output folder")
    p.add_argument(
        "--trainable", default=d.trainable, choices=["last_layer", "last_block", "last_two_blocks", "all"]
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=d.max_length,
        help="pad/truncate messages to this many tokens (default: the longest training message)",
    )
    p.add_argument("--epochs", dest="num_epochs", type=int, default=d.num_epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--eval-freq", type=int, default=d.eval_freq, help="evaluate every N steps")
    p.add_argument("--eval-iter", type=int, default=d.eval_iter, help="batches per evaluation")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help=f"one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    p.add_argument(
        "--impl",
        choices=seam.IMPLEMENTATIONS,
        default=d.impl,
        help="run the learner concepts from solutions/ or from your own exercises/",
    )
    p.set_defaults(run=_run_finetune, config_fields=[f.name for f in fields(FinetuneConfig)])


def _run_finetune(args: argparse.Namespace) -> None:
    from .finetune import FinetuneConfig, finetune

    values = {name: getattr(args, name) for name in args.config_fields if hasattr(args, name)}
    for name in ("num_epochs", "batch_size", "eval_freq", "eval_iter"):
        if values[name] < 1:
            raise GPTFromScratchError(f"--{name.replace('_', '-')} must be at least 1, got {values[name]}")
    finetune(FinetuneConfig(**values))


def _add_classify_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="classify a message as spam or not spam")
    p.add_argument("text", help="the message to classify")
    p.add_argument(
        "--model-dir",
        default=DEFAULT_MODEL_DIR,
        help=f"folder written by `finetune` (default: {DEFAULT_MODEL_DIR})",
    )
    p.add_argument(
        "--truncate",
        action="store_true",
        help="classify only the first tokens of a message longer than the model was trained on",
    )
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=_run_classify)


def _run_classify(args: argparse.Namespace) -> None:
    from .checkpoint import load_classifier
    from .classify import classify_text
    from .device import resolve_device
    from .tokenizer import get_tokenizer

    model, config = load_classifier(args.model_dir, resolve_device(args.device))
    label, probability = classify_text(
        args.text, model, get_tokenizer(), config["max_length"], config["pad_token_id"], args.truncate
    )
    print(f"{label} (probability {probability:.3f})")


def _add_prepare_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare-data", help="write the balanced train/validation/test CSV files")
    p.add_argument("--out", required=True, help="folder for train.csv, validation.csv, test.csv")
    p.add_argument("--data-file", help="the SMSSpamCollection file (skips the download)")
    p.add_argument("--reading", choices=["correct", "book"], default="correct")
    p.add_argument("--seed", type=int, default=123)
    p.set_defaults(run=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .data import download_sms_spam, prepare_splits

    data_file = Path(args.data_file) if args.data_file else download_sms_spam()
    for split, path in prepare_splits(data_file, args.out, reading=args.reading, seed=args.seed).items():
        print(f"{split}: {path}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its three subcommands."""
    parser = argparse.ArgumentParser(
        prog="gpt-from-scratch", description="GPT-2 from scratch, finetuned as an SMS spam classifier."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_finetune_parser(subparsers)
    _add_classify_parser(subparsers)
    _add_prepare_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gpt-from-scratch` command."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except GPTFromScratchError as err:
        print(f"gpt-from-scratch {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
