"""What the app computes, without Gradio: one classifier loaded once, its answers and their reasons.

Every probability comes from the prediction core (predict/), which the `classify` command calls
too, so the page and the command line cannot disagree. A token's reason is how much P(spam) falls
when the token is replaced by the padding token, computed by the real model in one of two ways:
- occlusion: the fall itself; the message classified again with each token replaced in turn, one
  forward pass per token;
- gradient x input: its first-order estimate; the gradient of P(spam) with respect to the token's
  embedding, times (the token's embedding minus the padding token's), from one forward and one
  backward pass. That forward pass also gives the prediction, so a message's answer and reasons
  cost one forward and one backward (its probabilities are classify's to float rounding, not to
  the bit: under a gradient the modules run, where classify may run the fused FrozenBlocks). On
  CPU, GPT-2 small explains a message this way in about a second, where occlusion takes tens.
The classifier is built and its batches grouped as fast.plan_inference decides, as for `classify`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import tiktoken
import torch
from torch import nn

from ..data.message_files import Message, read_messages
from ..errors import DataError
from ..fast import InferencePlan, load_for_inference
from ..predict import (
    ClassifierInfo,
    Prediction,
    class_probabilities,
    classify_texts,
    encode_for_classifier,
    gpt2_tokenizer,
    gpt_model,
    labelled,
    read_probabilities,
    token_embedding,
)
from ..predict.batching import BOOK_BATCHING, Batching
from ..predict.prefixes import spam_after_each_token

MAX_MESSAGES = 10_000  # a larger file is for `gpt-from-scratch classify --file`, not one web request
UNREAD_SHOWN = 300  # characters of a truncated message's unread tail that the page still shows
# Spreadsheets run a cell that starts with one of these as a formula, and spam is written by strangers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
METHODS = ("gradient", "occlusion")  # how a token's effect on P(spam) is computed (see above)


@dataclass(frozen=True)
class Piece:
    """Whole characters of the message, the token positions they were read as, and their effect."""

    text: str
    positions: tuple[int, ...]
    change: float  # P(spam) minus P(spam) with these positions set to the pad token (or its estimate)


@dataclass(frozen=True)
class Answer:
    """One message's prediction, its reasons, and what of it the classifier did not read."""

    prediction: Prediction
    pieces: list[Piece]
    method: str  # "gradient" or "occlusion"
    unread: str  # the text after the tokens the classifier read: "" unless the message was truncated
    num_tokens: int  # the whole message's tokens
    max_length: int  # the most tokens the classifier reads

    @property
    def truncated(self) -> bool:
        """Whether the message was longer than the classifier's trained length."""
        return self.num_tokens > self.max_length


@dataclass(frozen=True)
class Row:
    """One message of many: where it came from, its prediction, and a note if it was truncated."""

    message: Message
    prediction: Prediction
    note: str


@dataclass(frozen=True)
class Batch:
    """Many messages' rows, highest P(spam) first, and what was skipped."""

    rows: list[Row]
    skipped: list[Message]  # the empty ones
    seconds: float


class ServedClassifier:
    """A finetuned classifier loaded once; every request reads it, none changes it."""

    def __init__(
        self,
        classifier: nn.Module,
        info: ClassifierInfo,
        tokenizer: tiktoken.Encoding,
        model_dir: Path,
        plan: InferencePlan | None = None,
        differentiable: nn.Module | None = None,
    ):
        """differentiable: a float32 copy for gradient x input, when classifier has int8 layers."""
        self.classifier = classifier
        self.plan = plan or InferencePlan()  # None: the plain path
        self.differentiable = classifier if differentiable is None else differentiable
        for module in (self.classifier, self.differentiable):
            module.requires_grad_(False)  # never trained here: gradient x input asks only for the inputs'
        self.embedding = token_embedding(self.differentiable)
        self.info = info
        self.tokenizer = tokenizer
        self.model_dir = model_dir
        self.metrics = read_metrics(model_dir)
        self.max_length: int = info.max_length
        self.pad_token_id: int = info.pad_token_id
        self.spam_index = info.positive

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        device: torch.device | str = "cpu",
        *,
        exact: bool = False,
        quantize: str | None = None,
    ) -> ServedClassifier:
        """Load the classifier `finetune` wrote to model_dir, built as plan_inference decides.

        exact: the plain path, the book's model eight messages at a time (as `classify --exact`).
        quantize="int8" predicts with int8 layers (fast.quantize), and explains with the float32 model.
        """
        device = torch.device(device)
        classifier, info, plan = load_for_inference(model_dir, device, exact=exact)
        if quantize is None:
            return cls(classifier, info, gpt2_tokenizer(), Path(model_dir), plan)
        quantized, _, plan = load_for_inference(model_dir, device, quantize=quantize)
        return cls(quantized, info, gpt2_tokenizer(), Path(model_dir), plan, differentiable=classifier)

    def predict(self, texts: Sequence[str], names: Sequence[str] | None = None) -> list[Prediction]:
        """The `classify` command's predictions; a message longer than training's is truncated."""
        return classify_texts(
            texts, self.classifier, self.info, truncate=True, names=names, batching=self.plan.batching
        )

    def count_tokens(self, text: str) -> int:
        """The message's tokens, encoded exactly as the classifier's input is."""
        return len(encode_for_classifier(text, self.tokenizer, sys.maxsize, self.pad_token_id, pad=False))

    def answer(self, text: str, method: str = "gradient") -> Answer:
        """The prediction for one message, and how much each of its read tokens moved P(spam)."""
        if method not in METHODS:
            raise DataError(f"no method {method!r} of computing the reasons: choose {' or '.join(METHODS)}")
        ids = self.info.encode(text, truncate=True)  # refuses an empty message
        every = encode_for_classifier(text, self.tokenizer, sys.maxsize, self.pad_token_id, pad=False)
        read = every[: self.max_length]
        spans = token_spans(read, self.tokenizer)
        groups = [positions for _, positions in spans]
        if method == "occlusion":
            prediction = self.predict([text])[0]
            changes = occlusion_changes(
                ids, groups, self.classifier, self.pad_token_id, self.spam_index, self.plan.batching
            )
        else:
            changes, probabilities = gradient_changes(
                ids, groups, self.differentiable, self.embedding, self.pad_token_id, self.spam_index
            )
            if self.differentiable is self.classifier:  # the gradient's forward pass gives the prediction
                prediction = labelled(probabilities[None], self.info)[0]
            else:  # int8 predicts: the answer `classify --quantize int8` gives
                prediction = self.predict([text])[0]
        pieces = [Piece(t, p, c) for (t, p), c in zip(spans, changes, strict=True)]
        read_bytes = sum(len(self.tokenizer.decode_single_token_bytes(token)) for token in read)
        unread = text.encode("utf-8")[read_bytes:].decode("utf-8", errors="replace")
        return Answer(prediction, pieces, method, unread, len(every), self.max_length)

    def classify_messages(self, messages: Sequence[Message]) -> Batch:
        """Classify the non-empty messages in one call; rows sorted by P(spam), highest first."""
        start = time.perf_counter()
        kept = [m for m in messages if m.text.strip()]
        skipped = [m for m in messages if not m.text.strip()]
        if not kept:
            raise DataError("no messages: every line is empty; give one message a line")
        if len(kept) > MAX_MESSAGES:
            raise DataError(
                f"{len(kept):,} messages are more than the {MAX_MESSAGES:,} the app classifies at once: "
                "split the file, or use `gpt-from-scratch classify --file`"
            )
        predictions = self.predict([m.text for m in kept], [m.where() for m in kept])
        rows = [
            Row(message, prediction, self.truncation_note(message.text))
            for message, prediction in zip(kept, predictions, strict=True)
        ]
        rows.sort(key=lambda row: -row.prediction.spam_probability)  # stable: ties keep file order
        return Batch(rows, skipped, time.perf_counter() - start)

    def truncation_note(self, text: str) -> str:
        """'' for a message the classifier reads whole, else how much of it it read."""
        num_tokens = self.count_tokens(text)
        if num_tokens <= self.max_length:
            return ""
        return f"truncated: read the first {self.max_length} of its {num_tokens:,} tokens"


def token_spans(ids: Sequence[int], tokenizer: tiktoken.Encoding) -> list[tuple[str, tuple[int, ...]]]:
    """The text of the tokens, each span whole characters, with the token positions it spans."""
    spans, pending, positions = [], b"", []
    for position, token in enumerate(ids):
        pending += tokenizer.decode_single_token_bytes(token)
        positions.append(position)
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a character split across tokens (an emoji, say): read on to its last byte
        spans.append((text, tuple(positions)))
        pending, positions = b"", []
    if positions:  # truncation cut the last character in two
        spans.append((pending.decode("utf-8", errors="replace"), tuple(positions)))
    return spans


def occlusion_changes(
    ids: Sequence[int],
    groups: Sequence[Sequence[int]],
    classifier: nn.Module,
    pad_token_id: int,
    spam_index: int,
    batching: Batching = BOOK_BATCHING,
) -> list[float]:
    """For each group of positions: P(spam) minus P(spam) with those positions set to the pad token.

    batching groups the occluded copies: the book's eight at a time, or the served plan's batches.
    """
    rows = [list(ids)]
    for group in groups:
        occluded = list(ids)
        for position in group:
            occluded[position] = pad_token_id
        rows.append(occluded)
    # The message itself goes through the same call, so that every change compares like with like.
    spam = class_probabilities(rows, classifier, batching)[:, spam_index]
    return (spam[0] - spam[1:]).tolist()


def gradient_changes(
    ids: Sequence[int],
    groups: Sequence[Sequence[int]],
    classifier: nn.Module,
    embedding: nn.Embedding,
    pad_token_id: int,
    spam_index: int,
) -> tuple[list[float], torch.Tensor]:
    """For each group of positions, the first-order estimate of its occlusion change; and every class's
    probability (num_classes,), from the same forward pass.

    The estimate is the gradient of P(spam) with respect to each position's token embedding, dotted
    with (that embedding minus the pad token's): the change if the embedding moved in a straight
    line to the padding token's and P(spam) were linear along the way.
    """
    _watch(embedding)
    device = embedding.weight.device
    _capturing.outputs = []  # this thread's forward pass hands its token embeddings over (_hand_over)
    try:
        with torch.enable_grad():
            probabilities = read_probabilities(classifier, torch.tensor([list(ids)], device=device))
            spam = probabilities[0, spam_index]  # probabilities: (1, num_classes)
            (embedded,) = _capturing.outputs  # (1, num_tokens, emb_dim)
            (gradient,) = torch.autograd.grad(spam, embedded)
    finally:
        _capturing.outputs = None
    moved = embedded[0].detach() - embedding.weight[pad_token_id].detach()  # (num_tokens, emb_dim)
    per_position = (gradient[0] * moved).sum(dim=-1)  # (num_tokens,)
    return [float(per_position[list(group)].sum()) for group in groups], probabilities[0].detach()


# The model is shared by concurrent requests, so the token embeddings of one forward pass are caught
# by a hook that acts only in the thread that asked for them (each request runs in one thread).
_capturing = threading.local()
_watching = threading.Lock()


def _watch(embedding: nn.Embedding) -> None:
    """Hook the embedding, once, so that a thread explaining a message can catch its output."""
    with _watching:
        if not getattr(embedding, "_hands_over", False):
            embedding.register_forward_hook(_hand_over)
            embedding._hands_over = True


def _hand_over(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
    outputs = getattr(_capturing, "outputs", None)
    if outputs is None:
        return None  # a forward pass that explains nothing: the output as it was
    output = output.detach().requires_grad_(True)  # a leaf that P(spam)'s gradient flows back to
    outputs.append(output)
    return output


def pasted_messages(text: str) -> list[Message]:
    """The lines of pasted text as messages, numbered from 1."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [Message(line.removesuffix("\r"), number, "line") for number, line in enumerate(lines, 1)]


def uploaded_messages(path: str | Path, name: str, column: str | None = None) -> list[Message]:
    """The messages of an uploaded file, read as `classify --file` reads it; errors name the file."""
    path = Path(path)
    if b"\x00" in path.read_bytes():
        raise DataError(
            f"{name} is a binary file, not text: upload a .csv, .tsv, .jsonl or text file of messages"
        )
    try:
        messages = read_messages(str(path), column)
    except DataError as err:
        # The errors are written for the command line: here the file has a name and --column a box.
        raise DataError(str(err).replace(str(path), name).replace("--column", "the Column box")) from err
    return [Message(m.text, m.number, m.unit, name) for m in messages]


def results_csv(batch: Batch, path: str | Path) -> Path:
    """Write the batch's rows, in their sorted order, as CSV; cells a spreadsheet would run are quoted."""
    import pandas as pd

    unit = batch.rows[0].message.unit
    table = pd.DataFrame(
        {
            unit: [row.message.number for row in batch.rows],
            "message": [_inert(row.message.text) for row in batch.rows],
            "label": [row.prediction.label for row in batch.rows],
            "probability": [row.prediction.probability for row in batch.rows],
            "spam_probability": [row.prediction.spam_probability for row in batch.rows],
            "note": [row.note for row in batch.rows],
        }
    )
    path = Path(path)
    table.to_csv(path, index=False)
    return path


def _inert(text: str) -> str:
    """The text, with a leading ' if a spreadsheet would read it as a formula (OWASP's CSV advice)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def read_metrics(model_dir: Path) -> dict | None:
    """The metrics.json `finetune` wrote beside the model, or None if there is none (or it is unreadable)."""
    try:
        metrics = json.loads((model_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return metrics if isinstance(metrics, dict) else None


def prefix_curve(served: ServedClassifier, text: str, verdict: float | None = None) -> pd.DataFrame:
    """P(spam) after each token the classifier reads, every prefix from one forward pass (prefixes.py).

    A classifier that does not read a message's last token (the book's recipe reads the padding
    after it; --pooling mean reads an average) gets its verdict as one more point, after the last:
    the message's P(spam) when the caller already has it (its answer), else predicted here.
    """
    read = encode_for_classifier(
        text, served.tokenizer, served.max_length, served.pad_token_id, True, pad=False
    )
    after = spam_after_each_token(gpt_model(served.classifier), read, served.spam_index).tolist()
    rows = [
        (position + 1, served.tokenizer.decode([token]), p, "after this token")
        for position, (token, p) in enumerate(zip(read, after, strict=True))
    ]
    info = served.info
    reads_last_token = info.pooling == "token" and (info.position == "flexible" or not info.padded)
    if not reads_last_token:
        if verdict is None:
            verdict = served.predict([text])[0].spam_probability
        rows.append((len(read) + 1, "(verdict)", verdict, "the verdict, read as the classifier was trained"))
    return pd.DataFrame(rows, columns=["token number", "token", "P(spam)", "read"])
