"""Classify messages with a finetuned model, exactly as the model saw messages in training."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import tiktoken
import torch
from torch import nn

from .checkpoint import load_classifier
from .errors import DataError, OptionError
from .fast.trunk import select_tokens
from .model import GPTModel
from .progress import progress
from .tokenizer import PAD_TOKEN_ID

LABEL_NAMES = ("not spam", "spam")
# The column a CSV, TSV or JSON-lines file's messages are read from when --column names none.
DEFAULT_COLUMNS = ("text", "Text", "message", "Message")
TABLE_FILE_TYPES = (".csv", ".tsv", ".jsonl")
STDIN = "-"


@dataclass(frozen=True)
class Prediction:
    """The label the model chose, its probability, and P(spam) (the same when the label is spam)."""

    label: str
    probability: float
    spam_probability: float


@dataclass(frozen=True)
class Message:
    """A message to classify and where it came from, so that an error or a note can point at it."""

    text: str
    number: int  # its line (or CSV row) in the file; its position among typed messages
    unit: str = "message"  # "line", "row" or "message"
    source: str = ""  # the file's name, "standard input", or "" for typed messages
    label: str | None = None  # the file's label for it, read with --label-column (to evaluate)

    def where(self) -> str:
        """'line 5 of msgs.txt', 'row 3 of msgs.csv', 'message 2'."""
        return f"{self.unit} {self.number}" + (f" of {self.source}" if self.source else "")


def encode_for_classifier(
    text: str,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
    truncate: bool = False,
    pad: bool = True,
) -> list[int]:
    """Token ids padded to max_length, the length every training example was padded to (if pad)."""
    if not text.strip():
        raise DataError("the message is empty: give the text to classify, e.g. 'Call now to win!'")
    try:
        ids = tokenizer.encode(text)
    except ValueError as err:  # tiktoken refuses text holding a special token, as training did
        reason = str(err).splitlines()[0]
        raise DataError(f"the tokenizer refused this message ({reason}): edit it") from err
    if len(ids) > max_length:
        if not truncate:
            raise DataError(
                f"the message is {len(ids)} tokens long, but this classifier was trained on messages "
                f"of at most {max_length} tokens. Shorten it, or pass --truncate to classify its "
                f"first {max_length} tokens."
            )
        ids = ids[:max_length]
    if not pad:  # a classifier trained on unpadded messages (--context none) reads them as they are
        return ids
    return ids + [pad_token_id] * (max_length - len(ids))


def classify_texts(
    texts: Sequence[str],
    model: nn.Module,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
    truncate: bool = False,
    pad: bool = True,
    labels: Sequence[str] = LABEL_NAMES,
    names: Sequence[str] | None = None,
    batch_size: int = 8,
    threshold: float | None = None,
) -> list[Prediction]:
    """One Prediction per text, in order; names (e.g. 'line 5 of msgs.txt') point errors at a text.

    threshold None picks the most probable class; a threshold (two classes only) picks class 1 (spam)
    when its probability is at least the threshold.
    """
    if threshold is not None:
        check_threshold(threshold, len(labels))
    encoded, refused = [], []
    for index, text in enumerate(texts):
        try:
            encoded.append(encode_for_classifier(text, tokenizer, max_length, pad_token_id, truncate, pad))
        except DataError as err:
            if len(texts) == 1 and not names:
                raise  # a lone message needs no name
            refused.append((names[index] if names else f"message {index + 1}", err))
    if refused:  # all are checked before any is classified, so one error names every refused message
        (name, err), others = refused[0], [other for other, _ in refused[1:]]
        also = f" (also refused: {', '.join(others[:5])}{' and more' if len(others) > 5 else ''})"
        raise DataError(f"{name}: {err}{also if others else ''}")
    if not encoded:
        return []
    probabilities = class_probabilities(encoded, model, batch_size)  # (messages, num_classes)
    if probabilities.shape[1] != len(labels):
        raise DataError(
            f"the classifier has {probabilities.shape[1]} classes but its config.json names "
            f"{len(labels)} labels ({', '.join(labels)}): finetune the model again"
        )
    spam = list(labels).index("spam") if "spam" in labels else len(labels) - 1
    if threshold is None:
        chosen = torch.argmax(probabilities, dim=-1).tolist()
    else:
        chosen = (probabilities[:, 1] >= threshold).long().tolist()
    return [
        Prediction(labels[label], float(row[label]), float(row[spam]))
        for label, row in zip(chosen, probabilities, strict=True)
    ]


def classify_text(
    text: str,
    model: GPTModel,
    tokenizer: tiktoken.Encoding,
    max_length: int,
    pad_token_id: int = PAD_TOKEN_ID,
    truncate: bool = False,
    pad: bool = True,
) -> tuple[str, float]:
    """Return ('spam' or 'not spam', the model's probability for that label)."""
    prediction = classify_texts([text], model, tokenizer, max_length, pad_token_id, truncate, pad)[0]
    return prediction.label, prediction.probability


def class_probabilities(
    encoded: list[list[int]], classifier: nn.Module, batch_size: int = 8, description: str | None = None
) -> torch.Tensor:
    """Softmax of the logits the classifier reads for each encoded message: (messages, num_classes).

    description, when given, names a progress bar (drawn on a terminal only) over the batches.
    """
    # Messages of different lengths (unpadded, --context none) cannot share a batch: one at a time.
    step = batch_size if len({len(ids) for ids in encoded}) == 1 else 1
    device = next(classifier.parameters()).device
    classifier.eval()
    rows = []
    starts = range(0, len(encoded), step)
    with torch.inference_mode():
        for start in starts if description is None else progress(starts, description):
            batch = torch.tensor(encoded[start : start + step], device=device)  # (batch, num_tokens)
            # The last position, the one the loss trained: in the book's recipe it is often padding.
            logits = classifier(batch)[:, -1, :]  # (batch, num_classes)
            rows.append(torch.softmax(logits, dim=-1))
    return torch.cat(rows)


def load_for_classifying(model_dir: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """A saved classifier reading what it was trained to read (token or mean), and its config dict."""
    model, config = load_classifier(model_dir, device)
    trained = config.get("finetune", {})  # older models recorded no options: the book's last token
    classifier = select_tokens(
        model, trained.get("position", "last"), trained.get("pooling", "token"), config["pad_token_id"]
    )
    return classifier, config


def trained_padded(config: dict) -> bool:
    """Whether the saved classifier was trained on padded messages (every --context but 'none')."""
    return config.get("finetune", {}).get("context", "longest") != "none"


def check_threshold(threshold: float, num_classes: int) -> None:
    """Raise OptionError unless threshold is a probability and the classifier has two classes."""
    if num_classes != 2:
        raise OptionError(
            f"--threshold {threshold:g}: a threshold decides between two classes, and this classifier "
            f"has {num_classes}; leave --threshold out to take the most probable class"
        )
    if not 0 <= threshold <= 1:
        raise OptionError(f"--threshold {threshold:g}: a threshold on a probability is between 0 and 1")


def saved_threshold(config: dict) -> float | None:
    """The decision threshold finetune --target-fpr chose and saved with the model (None: none chosen)."""
    chosen = config.get("threshold")
    return None if chosen is None else float(chosen["value"])


def trained_labels(config: dict) -> tuple[str, ...]:
    """The class names a saved classifier was trained with, in class order."""
    return tuple(config.get("labels") or LABEL_NAMES)  # older models recorded none: the book's two


def classify_with_config(
    texts: Sequence[str],
    classifier: nn.Module,
    tokenizer: tiktoken.Encoding,
    config: dict,
    truncate: bool = False,
    names: Sequence[str] | None = None,
    batch_size: int = 8,
    threshold: float | None = None,
) -> list[Prediction]:
    """classify_texts with the length, padding, labels and threshold a saved classifier was trained with.

    threshold None: the one saved with the model, if finetune --target-fpr chose one.
    """
    return classify_texts(
        texts,
        classifier,
        tokenizer,
        config["max_length"],
        config["pad_token_id"],
        truncate,
        trained_padded(config),
        trained_labels(config),
        names,
        batch_size,
        saved_threshold(config) if threshold is None else threshold,
    )


def spam_probabilities(
    texts: list[str],
    classifier: nn.Module,
    tokenizer: tiktoken.Encoding,
    config: dict,
    batch_size: int = 8,
    description: str | None = None,
) -> list[float]:
    """P(spam) for every text, read as in training; a text longer than training's is truncated."""
    rows = probability_rows(texts, classifier, tokenizer, config, batch_size, description)
    return [row[-1] for row in rows]


def probability_rows(
    texts: list[str],
    classifier: nn.Module,
    tokenizer: tiktoken.Encoding,
    config: dict,
    batch_size: int = 8,
    description: str | None = None,
) -> list[list[float]]:
    """Every class's probability for every text, read as in training; longer texts are truncated.

    description, when given, names a progress bar over the batches (class_probabilities).
    """
    if not texts:
        return []
    padded = trained_padded(config)
    encoded = [
        encode_for_classifier(text, tokenizer, config["max_length"], config["pad_token_id"], True, padded)
        for text in texts
    ]
    return class_probabilities(encoded, classifier, batch_size, description).tolist()


def read_messages(
    path: str, column: str | None = None, stdin: TextIO | None = None, label_column: str | None = None
) -> list[Message]:
    """The messages of a file ('-': standard input), empty ones included: the caller skips and says so.

    label_column, for a table, also reads each message's label (Message.label), to evaluate on it.
    """
    by_column = "--label-column" if column is None and label_column is not None else "--column"
    if path == STDIN:
        if column is not None or label_column is not None:
            raise DataError(
                f"{by_column} needs a .csv, .tsv or .jsonl --file; standard input is read as lines"
            )
        return _lines(_read_stdin(stdin), "standard input")
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path} is not a file: give --file the path of a file of messages (or - for stdin)")
    suffix = file.suffix.lower()
    if (column is not None or label_column is not None) and suffix not in TABLE_FILE_TYPES:
        raise DataError(
            f"{by_column} needs a .csv, .tsv or .jsonl file, and {path} is read as one message per line"
        )
    try:
        content = file.read_bytes().decode("utf-8-sig")  # -sig: a spreadsheet's byte-order mark
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text: save it as UTF-8 and try again") from err
    if suffix in (".csv", ".tsv"):
        return _table_rows(content, path, column, label_column, sep="\t" if suffix == ".tsv" else ",")
    if suffix == ".jsonl":
        return _json_lines(content, path, column, label_column)
    return _lines(content, path)


def _read_stdin(stdin: TextIO | None) -> str:
    stream = stdin or sys.stdin
    raw = getattr(stream, "buffer", None)  # the bytes, so that any locale still reads UTF-8
    try:
        return raw.read().decode("utf-8-sig") if raw is not None else stream.read()
    except UnicodeDecodeError as err:
        raise DataError("standard input is not UTF-8 text: convert it to UTF-8 and try again") from err


def _lines(content: str, source: str) -> list[Message]:
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()  # what follows the newline that ends the last line is no line
    return [Message(line.removesuffix("\r"), number, "line", source) for number, line in enumerate(lines, 1)]


def _pick_column(columns: Sequence[str], path: str, column: str | None) -> str:
    names = ", ".join(str(c) for c in columns) or "none"
    if column is not None:
        if column not in columns:
            raise DataError(
                f"{path} has no column {column!r}: its columns are {names}; pick one with --column"
            )
        return column
    for name in DEFAULT_COLUMNS:
        if name in columns:
            return name
    raise DataError(
        f"{path} has no text column (text, Text or message): its columns are {names}; "
        "name the one holding the messages with --column"
    )


def _table_rows(
    content: str, path: str, column: str | None, label_column: str | None, sep: str
) -> list[Message]:
    import pandas as pd

    try:
        # Every cell as text: a message "NA" or "123" stays that message, an empty cell stays "";
        # a blank line stays a row, so that the rows keep the numbers a note about them gives.
        table = pd.read_csv(
            io.StringIO(content), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        detail = " ".join(str(err).split())
        raise DataError(
            f"{path} cannot be read as a table ({detail}): check its quoting and separators"
        ) from err
    name = _pick_column(list(table.columns), path, column)
    labels = table[_label_column(list(table.columns), path, label_column)] if label_column else None
    # Row numbers as a spreadsheet shows them: the header is row 1.
    return [
        Message(text, row, "row", path, None if labels is None else labels.iloc[row - 2])
        for row, text in enumerate(table[name], start=2)
    ]


def _label_column(columns: Sequence[str], path: str, label_column: str) -> str:
    if label_column not in columns:
        names = ", ".join(str(c) for c in columns) or "none"
        raise DataError(
            f"{path} has no column {label_column!r}: its columns are {names}; pick the labels' "
            "column with --label-column"
        )
    return label_column


def _json_lines(content: str, path: str, column: str | None, label_column: str | None) -> list[Message]:
    messages, name = [], column
    # split("\n"), not splitlines(): a JSON string may hold U+2028, which splitlines breaks at.
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue  # a blank line between JSON objects holds no record
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"line {number} of {path} is not JSON ({err.msg}): write one object per line"
            ) from err
        if not isinstance(record, dict):
            raise DataError(f"line {number} of {path} is not a JSON object: write one object per line")
        if name is None:
            name = _pick_column(list(record), path, None)
        if name not in record:
            raise DataError(f"line {number} of {path} has no {name!r} key: give every object one")
        if not isinstance(record[name], str):
            raise DataError(f"line {number} of {path}: {name!r} is not a string; messages must be text")
        label = None
        if label_column is not None:
            _label_column(list(record), f"line {number} of {path}", label_column)
            label = "" if record[label_column] is None else str(record[label_column])
        messages.append(Message(record[name], number, "line", path, label))
    return messages


def check_labels(messages: Sequence[Message], config: dict) -> list[int]:
    """The class id of each message's label; DataError for a label the classifier was not trained with.

    A label may be written as the classifier prints it ('spam', 'not spam') or as its training data
    wrote it ('ham').
    """
    known = {name: index for index, name in enumerate(trained_labels(config))}
    known |= {name: index for index, name in enumerate(config.get("data_labels") or ())}
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
