"""The command line: `gpt-from-scratch finetune | classify | prepare-data`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from . import seam
from .device import DEVICE_CHOICES
from .errors import GPTFromScratchError
from .model import MODEL_CONFIGS

if TYPE_CHECKING:
    from .finetune import FinetuneConfig

DEFAULT_MODEL_DIR = "spam-classifier"


def _add_finetune_parser(subparsers: argparse._SubParsersAction) -> None:
    from .finetune import TRAINABLE_CHOICES, WEIGHTS_CHOICES, FinetuneConfig

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
        "--trainable",
        default=d.trainable,
        choices=TRAINABLE_CHOICES,
        help="which weights train besides the new head; 'lora' freezes them all and adds LoRA updates",
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
    _add_experiment_options(p, d)
    _add_speed_options(p, d)
    p.set_defaults(run=_run_finetune, config_fields=[f.name for f in fields(FinetuneConfig)])


def _add_experiment_options(p: argparse.ArgumentParser, d: FinetuneConfig) -> None:
    from .finetune import CONTEXT_CHOICES
    from .lora import SCALINGS
    from .pooling import POOLINGS, POSITIONS

    g = p.add_argument_group("experiment options (the book's chapter 6 bonus experiments)")
    g.add_argument("--position", choices=POSITIONS, default=d.position, help="the token the classifier reads")
    g.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=d.pooling,
        help="'mean' averages the real tokens' vectors; 'mean_with_padding' averages padding in too",
    )
    g.add_argument(
        "--context",
        choices=CONTEXT_CHOICES,
        default=d.context,
        help="pad to the longest training message, to the model's full context, or not at all "
        "(needs --batch-size 1); a fixed length is --max-length",
    )
    g.add_argument("--accumulation-steps", type=int, default=d.accumulation_steps)
    g.add_argument(
        "--no-causal-mask", dest="causal", action="store_false", help="let every token attend to every other"
    )
    g.add_argument(
        "--ignore-index", type=int, default=d.ignore_index, help="refused, with the reason (see the docs)"
    )
    g.add_argument("--lora-rank", type=int, default=d.lora_rank)
    g.add_argument("--lora-alpha", type=float, default=d.lora_alpha)
    g.add_argument(
        "--lora-scaling",
        choices=SCALINGS,
        default=d.lora_scaling,
        help="'book': the update times alpha; 'paper' (LoRA paper, peft): times alpha / rank",
    )
    g.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after this many batches")


def _add_speed_options(p: argparse.ArgumentParser, d: FinetuneConfig) -> None:
    g = p.add_argument_group("speed (docs/performance.md)")
    g.add_argument(
        "--no-sdpa",
        dest="sdpa",
        action="store_false",
        help="run attention through the seam (solutions/ code) instead of PyTorch's fused kernel; "
        "always so with --impl exercises",
    )
    g.add_argument(
        "--no-fused-layers",
        dest="fused_layers",
        action="store_false",
        help="compute LayerNorm and GELU with the book's formulas instead of PyTorch's fused kernels",
    )
    g.add_argument(
        "--no-skip-unread",
        dest="skip_unread",
        action="store_false",
        help="compute the last block at every position, then pick the one the classifier reads",
    )
    g.add_argument(
        "--no-prefix-cache",
        dest="prefix_cache",
        action="store_false",
        help="recompute the frozen blocks at every step instead of once per message",
    )
    g.add_argument(
        "--no-trim-padding",
        dest="trim_padding",
        action="store_false",
        help="keep every batch padded to the longest training message (trimmed by default when the "
        "classifier never reads padding: --position flexible/first or --pooling mean)",
    )
    g.add_argument(
        "--exact",
        action="store_true",
        default=d.exact,
        help="the book's computation bit for bit: none of the speed options above",
    )
    g.add_argument("--bf16", action="store_true", default=d.bf16, help="bf16 autocast (CUDA only)")
    g.add_argument(
        "--compile", action="store_true", default=d.compile, help="torch.compile the blocks (CUDA only)"
    )


def _run_finetune(args: argparse.Namespace) -> None:
    from .finetune import FinetuneConfig, check_config, finetune

    values = {name: getattr(args, name) for name in args.config_fields if hasattr(args, name)}
    for name in ("num_epochs", "batch_size", "eval_freq", "eval_iter"):
        if values[name] < 1:
            raise GPTFromScratchError(f"--{name.replace('_', '-')} must be at least 1, got {values[name]}")
    config = FinetuneConfig(**values)
    check_config(config)
    finetune(config)


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
    from .classify import classify_text, load_for_classifying, trained_padded
    from .device import resolve_device
    from .tokenizer import get_tokenizer

    # Reads the token (or mean) the classifier was trained to read, padded as its training messages were.
    classifier, config = load_for_classifying(args.model_dir, resolve_device(args.device))
    label, probability = classify_text(
        args.text,
        classifier,
        get_tokenizer(),
        config["max_length"],
        config["pad_token_id"],
        args.truncate,
        trained_padded(config),
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
    from .data import download_sms_spam, prepare_splits

    data_file = Path(args.data_file) if args.data_file else download_sms_spam()
    for split, path in prepare_splits(data_file, args.out, reading=args.reading, seed=args.seed).items():
        print(f"{split}: {path}")


def _add_experiments_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "experiments",
        help="run the chapter 6 bonus experiments over seeds, or --report their results",
        description="Run named finetuning configurations (the 19 rows of the book's reference table, "
        "and ours) for several seeds, appending one JSON line per run to --results; finished runs "
        "are skipped when the grid is run again. --report prints a Markdown table instead, and "
        "writes it with its plots (report.md, accuracy.png, time-vs-accuracy.png) beside --results.",
    )
    p.add_argument("names", nargs="*", help="experiments to run (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument(
        "--report",
        action="store_true",
        help="print the Markdown table of --results, write it and its plots to --report-dir, and exit",
    )
    p.add_argument("--report-dir", help="folder for the --report files (default: the --results folder)")
    p.add_argument("--results", default="experiment-results.jsonl", help="the JSON-lines results file")
    p.add_argument("--seeds", type=int, nargs="+", default=[123, 124, 125], help="one run per seed")
    overrides = p.add_argument_group("applied to every run, over the row's own options")
    overrides.add_argument("--model-size", choices=list(MODEL_CONFIGS))
    overrides.add_argument("--weights", choices=["pretrained", "random"])
    overrides.add_argument("--weights-dir")
    overrides.add_argument("--data-file")
    overrides.add_argument("--epochs", dest="num_epochs", type=int)
    overrides.add_argument("--max-steps", type=int, help="stop each run after this many batches")
    overrides.add_argument("--lr", type=float)
    overrides.add_argument("--device")
    p.set_defaults(run=_run_experiments)


def _run_experiments(args: argparse.Namespace) -> None:
    from .experiments import EXPERIMENTS, read_results, run_experiments

    if args.list:
        for experiment in EXPERIMENTS.values():
            note = f"  ({experiment.note})" if experiment.note else ""
            print(f"{experiment.name}: {experiment.options or 'the book recipe'}{note}")
        return
    if args.report:
        records = read_results(args.results)
        if not records:
            raise GPTFromScratchError(f"no results in {args.results}: run the experiments first")
        _write_report(records, Path(args.report_dir) if args.report_dir else Path(args.results).parent)
        return
    names = ("model_size", "weights", "weights_dir", "data_file", "num_epochs", "max_steps", "lr", "device")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    run_experiments(args.names or list(EXPERIMENTS), args.seeds, args.results, overrides)


def _write_report(records: list[dict], out_dir: Path) -> None:
    """Print the table; write it, and its plots if matplotlib is installed, to out_dir (notes on stderr)."""
    from .experiments import report

    table = report(records)
    print(table, end="")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.md"]
    written[0].write_text(table, encoding="utf-8")  # the table holds ±
    try:
        from .plots import plot_report
    except ImportError:
        print(
            'matplotlib is not installed: no plots (pip install "gpt-from-scratch[plots]")', file=sys.stderr
        )
    else:
        written += plot_report(records, out_dir)
    print(f"wrote {', '.join(str(path) for path in written)}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its three subcommands."""
    parser = argparse.ArgumentParser(
        prog="gpt-from-scratch", description="GPT-2 from scratch, finetuned as an SMS spam classifier."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_finetune_parser(subparsers)
    _add_classify_parser(subparsers)
    _add_prepare_parser(subparsers)
    _add_experiments_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gpt-from-scratch` command."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except GPTFromScratchError as err:
        print(f"gpt-from-scratch {args.command}: error: {err}", file=sys.stderr)
        return 1
    except NotImplementedError as err:  # an exercise stub reached through --impl exercises
        print(
            f"gpt-from-scratch {args.command}: error: not implemented yet: {err}. "
            "Write it, check it with `pytest exercises/`, then run this again.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
