"""The `classify` command: messages in (arguments, a file, standard input), labels and probabilities out.

The probabilities come from the prediction core (predict/), read exactly as the model read its
training messages, through the fast paths fast.plan_inference picks (--exact: the book's plain
computation); this module chooses what to read and how to print it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence

from ..config import resolve_device
from ..data.message_files import STDIN, Message, read_messages
from ..errors import DataError, OptionError
from ..evaluation import class_report, class_report_markdown
from ..fast import load_for_inference
from ..predict import ClassifierInfo, Prediction, check_threshold, classify_texts


def run_classify(args: argparse.Namespace) -> None:
    """Classify what the arguments name and print one line, a table, or JSON lines (--json)."""
    messages, one_line = messages_to_classify(args)  # before the model loads: bad input fails fast
    info = ClassifierInfo.read(args.model_dir)
    if args.threshold is not None:
        check_threshold(args.threshold, len(info.labels))
    true_labels = check_labels(messages, info) if args.label_column else None
    # Reads the token (or mean) the classifier was trained to read, through the fast paths unless --exact.
    classifier, info, plan = load_for_inference(
        args.model_dir, resolve_device(args.device), exact=args.exact, quantize=args.quantize
    )
    texts = [m.text for m in messages]
    names = None if one_line else [m.where() for m in messages]  # a lone message's errors need no name
    predictions = classify_texts(
        texts,
        classifier,
        info,
        truncate=args.truncate,
        names=names,
        batching=plan.batching,
        threshold=args.threshold,
    )
    if args.json:
        for text, prediction in zip(texts, predictions, strict=True):
            print(json.dumps({"message": text, **dataclasses.asdict(prediction)}))
    elif one_line:
        print(f"{predictions[0].label} (probability {predictions[0].probability:.3f})")
    else:
        print(predictions_table(texts, predictions), end="")
    if true_labels is not None:
        print(labelled_report(true_labels, predictions, info.labels, args.json))


def check_labels(messages: Sequence[Message], info: ClassifierInfo) -> list[int]:
    """The class id of each message's label; DataError for a label the classifier was not trained with.

    A label may be written as the classifier prints it ('spam', 'not spam') or as its training data
    wrote it ('ham').
    """
    known = {name: index for index, name in enumerate(info.labels)}
    known |= {name: index for index, name in enumerate(info.data_labels)}
    unknown = [m for m in messages if m.label not in known]
    if unknown:
        first = unknown[0]
        where = ", ".join(m.where() for m in unknown[:3]) + (" and more" if len(unknown) > 3 else "")
        if not (first.label or "").strip():
            raise DataError(f"{where}: no label; give every message its label, or leave --label-column out")
        raise DataError(
            f"{where}: label {first.label!r} is not one this classifier was trained with "
            f"({', '.join(sorted(known))}); fix the label, or finetune on data that has it"
        )
    return [known[m.label] for m in messages]


def labelled_report(
    true_labels: list[int], predictions: Sequence[Prediction], names: Sequence[str], as_json: bool
) -> str:
    """Per-class precision, recall and F1 and the confusion matrix, as Markdown or one JSON line."""
    predicted = [list(names).index(p.label) for p in predictions]
    report = class_report(true_labels, predicted, names)
    return json.dumps({"class_report": report}) if as_json else "\n" + class_report_markdown(report)


def messages_to_classify(args: argparse.Namespace) -> tuple[list[Message], bool]:
    """The messages the arguments name (a file's empty ones skipped), and whether to answer in one line."""
    if args.messages and args.file is not None:
        raise OptionError("give messages or --file, not both: put the messages in the file")
    if STDIN in args.messages and args.messages != [STDIN]:
        raise OptionError("- (standard input) cannot be mixed with messages: give one or the other")
    for option, value in (("--column", args.column), ("--label-column", args.label_column)):
        if value is not None and args.file is None:
            raise OptionError(f"{option} names a column of a --file: give the .csv, .tsv or .jsonl file too")
    if args.messages and args.messages != [STDIN]:  # typed: each one, even an empty one, was asked about
        for text in args.messages:
            if len(text) < 4096 and os.path.isfile(text):  # a message is never silently read as a path
                note(f"{text!r} is classified as a message; to classify its lines use --file {text}")
        typed = [Message(text, number) for number, text in enumerate(args.messages, start=1)]
        return typed, len(typed) == 1
    if not args.messages and args.file is None and sys.stdin.isatty():  # no input would ever come
        raise OptionError("nothing to classify: give messages, --file PATH, or pipe messages in, one a line")
    source = args.file if args.file is not None else STDIN
    messages = read_messages(source, args.column, label_column=args.label_column)
    name = "standard input" if source == STDIN else source
    empty = [m.number for m in messages if not m.text.strip()]
    messages = [m for m in messages if m.text.strip()]
    if not messages:
        raise DataError(f"no messages in {name}: it is empty or holds only empty messages")
    if empty:  # a blank line or cell is no message: say so, and classify the others
        unit = messages[0].unit + ("s" if len(empty) > 1 else "")
        note(f"skipped empty {unit} {', '.join(map(str, empty))} of {name}")
    return messages, False


def predictions_table(texts: list[str], predictions: Sequence[Prediction]) -> str:
    """label, probability and the message (shortened to fit a line), one row a message, in order."""
    width = max(len("label"), *(len(p.label) for p in predictions))
    rows = [f"{'label':<{width}}  probability  message"]
    for text, prediction in zip(texts, predictions, strict=True):
        rows.append(f"{prediction.label:<{width}}  {prediction.probability:>11.3f}  {shorten(text)}")
    return "\n".join(rows) + "\n"


def shorten(text: str, width: int = 60) -> str:
    """The message on one line, cut to width characters."""
    text = " ".join(text.split())  # a message's own newlines would break the table's rows
    return text if len(text) <= width else text[: width - 3] + "..."


def note(message: str) -> None:
    """A word to the user on standard error: standard output holds only the answers."""
    print(message, file=sys.stderr)
