"""The command line: `gpt-from-scratch finetune | classify | prepare-data | experiments | serve | course`.

finetune's options are FinetuneConfig's fields: each one's flag, help, choices and group are read
from the field's metadata (config.py), so an option is declared once, there.
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Sequence
from dataclasses import Field
from pathlib import Path
from typing import Any

from .config import OPTION_GROUPS, FinetuneConfig, check_config, command_line_fields, flag
from .errors import GPTFromScratchError
from .fast.quantize import QUANTIZE_CHOICES

DEFAULT_MODEL_DIR = FinetuneConfig.out_dir  # where finetune saves, and so where classify looks
# The FinetuneConfig options `experiments` applies to every run, over the row's own options.
EXPERIMENT_OVERRIDES = (
    "model_size",
    "weights",
    "weights_dir",
    "data_file",
    "dedupe",
    "num_epochs",
    "max_steps",
    "lr",
    "device",
)
OPTIONS = {f.name: f for f in command_line_fields()}
# The options that say which messages are read and how they are split (prepare-data takes them too).
DATA_OPTIONS = ("data_file", "text_column", "label_column", "reading", "dedupe", "balance")


def _value_type(hint: Any) -> type:
    """What argparse converts the typed text to: int for `int` and for `int | None`."""
    return next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))


def _add_option(parser: argparse._ActionsContainer, f: Field, default: Any) -> None:
    """Add a FinetuneConfig field to a parser as its metadata declares it: flag, help, choices."""
    value_type = _value_type(typing.get_type_hints(FinetuneConfig)[f.name])
    text = f.metadata["help"]
    if value_type is bool:  # a switch: typing the flag flips the field's default
        parser.add_argument(
            flag(f), dest=f.name, action="store_const", const=not f.default, default=default, help=text
        )
        return
    if default is not None:
        text += " (default: %(default)s)"
    parser.add_argument(
        flag(f), dest=f.name, type=value_type, choices=f.metadata["choices"], default=default, help=text
    )


def _add_finetune_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="finetune GPT-2 as a spam classifier (the book's recipe by default)",
        description="Download GPT-2 and the SMS Spam Collection, finetune the classifier, and write "
        "the model, metrics.json and plots to --out.",
    )
    groups = {key: p.add_argument_group(title) if title else p for key, title in OPTION_GROUPS.items()}
    for f in OPTIONS.values():
        _add_option(groups[f.metadata["group"]], f, default=f.default)
    p.set_defaults(run=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> None:
    config = FinetuneConfig(**{name: getattr(args, name) for name in OPTIONS})
    check_config(config)  # before finetune's imports: a mistyped option is answered at once
    if config.impl == "exercises" and not config.skip_exercise_check:
        from .grading.precheck import check_exercises

        # Seconds of tests now rather than minutes of training on code that is not finished.
        print("Checking exercises/ with its tests before training (--skip-exercise-check skips this)")
        check_exercises()
    from .finetune import finetune

    finetune(config)


def _add_quantize_option(parser: argparse.ArgumentParser) -> None:
    """--quantize, as classify and serve both take it."""
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        help="int8: the transformer blocks' Linear layers in dynamic int8, faster on the CPU; a few "
        "probabilities move by a little more than float rounding (CPU only; not with --exact)",
    )


def _add_classify_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "classify",
        help="classify messages as spam or not spam",
        description="Classify the messages given as arguments, the messages of --file, or the lines "
        "of standard input (`-`, or piped in with no messages). One message prints "
        "`spam (probability 0.997)`; several print a table; --json prints one JSON object a line.",
    )
    p.add_argument("messages", nargs="*", metavar="MESSAGE", help="a message to classify; - reads stdin")
    p.add_argument(
        "--file",
        metavar="PATH",
        help="classify a file's messages: .csv, .tsv and .jsonl by column (see --column), any other "
        "file one message per line; - reads standard input",
    )
    p.add_argument(
        "--column",
        metavar="NAME",
        help="the .csv, .tsv or .jsonl column holding the messages (default: text, Text or message)",
    )
    p.add_argument(
        "--label-column",
        metavar="NAME",
        help="the .csv, .tsv or .jsonl column holding each message's true label: also print the "
        "per-class precision, recall and F1 and the confusion matrix",
    )
    p.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="call a message spam when P(spam) is at least P (default: the threshold finetune "
        "--target-fpr saved with the model, else the more probable label)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object a message: {"message", "label", "probability", "spam_probability"}',
    )
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
    p.add_argument(
        "--exact",
        action="store_true",
        help="the book's plain computation (no fused kernels, 8 messages a batch in order); the default "
        "fast paths give the same probabilities to float rounding",
    )
    _add_quantize_option(p)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=_run_classify)


def _run_classify(args: argparse.Namespace) -> None:
    from .serving.classify import run_classify

    run_classify(args)


def _add_prepare_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare-data", help="write the balanced train/validation/test CSV files")
    p.add_argument("--out", required=True, help="folder for train.csv, validation.csv, test.csv")
    for name in DATA_OPTIONS:  # the same options as finetune's
        _add_option(p, OPTIONS[name], default=OPTIONS[name].default)
    p.add_argument(
        "--seed", type=int, default=FinetuneConfig.seed, help="the split's seed (default: %(default)s)"
    )
    p.set_defaults(run=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> None:
    from .data import prepare_splits
    from .data.sms_spam import download_sms_spam

    config = FinetuneConfig(**{name: getattr(args, name) for name in DATA_OPTIONS})
    check_config(config)
    data_file = Path(args.data_file) if args.data_file else download_sms_spam()
    options = {name: getattr(args, name) for name in DATA_OPTIONS if name not in ("data_file", "reading")}
    paths = prepare_splits(data_file, args.out, reading=args.reading, seed=args.seed, **options)
    for split, path in paths.items():
        print(f"{split}: {path}")


def _add_experiments_parser(subparsers: argparse._SubParsersAction) -> None:
    from .experiments import DEFAULT_SEEDS

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
    p.add_argument(
        "--results",
        default="experiment-results.jsonl",
        help="the JSON-lines results file (default: %(default)s)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_SEEDS),
        help="one run per seed (default: %(default)s)",
    )
    overrides = p.add_argument_group("applied to every run, over the row's own options")
    for name in EXPERIMENT_OVERRIDES:
        _add_option(overrides, OPTIONS[name], default=None)  # None: the row's own value
    p.set_defaults(run=_run_experiments)


def _run_experiments(args: argparse.Namespace) -> None:
    from .experiments import EXPERIMENTS, read_results, run_experiments, write_report

    if args.list:
        for experiment in EXPERIMENTS.values():
            note = f"  ({experiment.note})" if experiment.note else ""
            print(f"{experiment.name}: {experiment.options or 'the book recipe'}{note}")
        return
    if args.report:
        warnings: list[str] = []  # a half-written last line: told now, and noted under the table
        records = read_results(args.results, warn=warnings.append)
        for warning in warnings:
            _note(warning)
        if not records:
            raise GPTFromScratchError(f"no results in {args.results}: run the experiments first")
        out_dir = Path(args.report_dir) if args.report_dir else Path(args.results).parent
        table, written = write_report(records, out_dir, note=_note, notes=warnings)
        print(table, end="")
        _note(f"wrote {', '.join(str(path) for path in written)}")
        return
    overrides = {
        name: getattr(args, name) for name in EXPERIMENT_OVERRIDES if getattr(args, name) is not None
    }
    run_experiments(args.names or list(EXPERIMENTS), args.seeds, args.results, overrides)


def _add_serve_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a browser app over a finetuned classifier (needs the app extra)",
        description="Start a Gradio app over the classifier in --model-dir: one message with the "
        "reasons for its label, many messages (pasted or uploaded) as a table and a CSV, and the "
        'model card. Needs `pip install "gpt-from-scratch[app]"`; Ctrl+C stops it.',
    )
    p.add_argument(
        "--model-dir",
        default=DEFAULT_MODEL_DIR,
        help=f"folder written by `finetune` (default: {DEFAULT_MODEL_DIR})",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 opens the app to the network (default: %(default)s)",
    )
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="where the model runs (default: %(default)s)")
    _add_quantize_option(p)
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> None:
    from .serving.serve import serve

    serve(args.model_dir, args.host, args.port, args.device, args.quantize)


def _add_course_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "course",
        help="build a course: the student release or the Gradescope autograder zip",
        description="For instructors. `release OUT` writes a student repository: the package, "
        "the exercises as stubs generated from solutions/, the public tests, the notebooks, no "
        "solutions. `autograder OUT.zip` writes the zip Gradescope takes: setup.sh, run_autograder, "
        "the public and the instructor-only tests.",
    )
    what = p.add_subparsers(dest="what", required=True)
    release = what.add_parser("release", help="write the student repository into OUT (new or empty)")
    release.add_argument("out", metavar="OUT")
    autograder = what.add_parser("autograder", help="write the Gradescope autograder zip OUT.zip")
    autograder.add_argument("out", metavar="OUT.zip")
    autograder.add_argument(
        "--wheels",
        metavar="DIR",
        help="put DIR's wheels in the zip, for a setup.sh that installs offline: fill DIR with `pip "
        "download torch==2.13.0 'gpt-from-scratch[grading]' --index-url https://download.pytorch.org/whl/cpu "
        "--extra-index-url https://pypi.org/simple -d DIR`",
    )
    p.set_defaults(run=_run_course)


def _run_course(args: argparse.Namespace) -> None:
    if args.what == "release":
        from .course.release import solution_leaks, write_release

        out = write_release(args.out)
        for leak in solution_leaks(out):  # a test file or notebook that spells out an answer
            _note(f"warning: {leak}: a solution's body appears in the release")
        print(f"wrote the student release to {out}")
    else:
        from .course.autograder import write_autograder

        out = write_autograder(args.out, args.wheels)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): upload it as the Gradescope autograder")


def _note(message: str) -> None:
    print(message, file=sys.stderr)  # stdout holds only the table


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its six subcommands."""
    parser = argparse.ArgumentParser(
        prog="gpt-from-scratch", description="GPT-2 from scratch, finetuned as an SMS spam classifier."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_finetune_parser(subparsers)
    _add_classify_parser(subparsers)
    _add_prepare_parser(subparsers)
    _add_experiments_parser(subparsers)
    _add_serve_parser(subparsers)
    _add_course_parser(subparsers)
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
