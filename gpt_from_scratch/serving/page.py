"""The Gradio page: one message with its reasons, many messages as a table, and the model card."""

from __future__ import annotations

import html
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read when gradio is imported: it never phones home

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from ..errors import DataError  # noqa: E402
from .card import card_markdown, curves  # noqa: E402
from .inference import (  # noqa: E402
    UNREAD_SHOWN,
    Answer,
    Batch,
    Piece,
    ServedClassifier,
    pasted_messages,
    prefix_curve,
    results_csv,
    uploaded_messages,
)

TITLE = "Spam or not spam: GPT-2 from scratch"
EXAMPLES = (  # a spam message of the SMS Spam Collection, and a message no one would call spam
    "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt the word: CLAIM to "
    "No: 81010 T&C www.dbuk.net LCCLTD POBOX 4403LDNW1A7RW18",
    "Are we still meeting for dinner tonight? I'll be there at 7",
)
SPAM_RGB, HAM_RGB = "220, 38, 38", "37, 99, 235"  # red pushes towards spam, blue away from it
FAINTEST = 0.15  # the colour's opacity for the smallest change: faint, but still red or blue
STRONGEST_ALPHA = 0.8  # the opacity for the largest change; the text stays readable over it
STRONGEST = 10  # rows of the table of the tokens that moved P(spam) most
SHOWN_MESSAGE = 200  # characters of a message that the table of many shows; the CSV holds all
RESULTS_KEPT_S = 3600  # how long a results CSV stays on the server for its download link
METHODS = {
    "gradient": "gradient × input: an estimate, from one forward and one backward pass",
    "occlusion": "occlusion: the change itself, one forward pass per token",
}
HOW = """**Why: how much each token moved P(spam).** A token's score is how much P(spam) falls when the
token is replaced by the padding token `<|endoftext|>` (id 50256): red tokens pushed the message
towards spam, blue ones away from it, and the strongest colour is the largest score (the table gives
the numbers; hover over a token for its own). The real model computes it, in one of two ways:

- **gradient × input** (the default): the gradient of P(spam) with respect to the token's embedding,
  times the token's embedding minus the padding token's. It is the first-order estimate of the fall,
  from one forward and one backward pass, whatever the message's length.
- **occlusion**: the fall itself: each token replaced in turn, and the message classified again. One
  forward pass per token: with GPT-2 small on a CPU, a long message takes tens of seconds.

An emoji, or another character split over several tokens, is scored whole. Grey text lies past the
length the classifier was trained on: it never read it."""
THEME = gr.themes.Default()  # its fonts ship with Gradio: the page loads nothing from outside
CSS = f"""
#explanation .token {{ border-radius: 3px; padding: 1px 0; }}
#explanation .unread {{ color: #9ca3af; }}
#explanation .message {{ white-space: pre-wrap; line-height: 1.9; font-size: 1.05em; }}
#explanation .swatch {{ border-radius: 3px; padding: 0 0.4em; }}
#verdict .verdict {{ font-size: 1.4em; margin: 0.2em 0; }}
#verdict .label {{ color: white; font-weight: 700; border-radius: 6px; padding: 0.1em 0.5em; }}
#verdict .spam .label {{ background-color: rgb({SPAM_RGB}); }}
#verdict .not-spam .label {{ background-color: rgb({HAM_RGB}); }}
"""
LEGEND = (
    f'<p class="legend"><span class="swatch" style="background-color: rgba({SPAM_RGB}, 0.6)">red</span> '
    "pushed P(spam) up, towards spam; "
    f'<span class="swatch" style="background-color: rgba({HAM_RGB}, 0.6)">blue</span> pushed it down, '
    'towards not spam; the stronger the colour, the larger the change; <span class="unread">grey</span>: '
    "past the trained length, never read</p>"
)


def build_page(served: ServedClassifier) -> gr.Blocks:
    """The three tabs over one loaded classifier; handlers turn bad input into a one-line error."""
    results = tempfile.TemporaryDirectory(prefix="gpt-from-scratch-results-")  # removed at exit
    device = next(served.classifier.parameters()).device
    with gr.Blocks(
        title=TITLE, analytics_enabled=False, delete_cache=(RESULTS_KEPT_S, RESULTS_KEPT_S)
    ) as page:
        gr.Markdown(
            f"# {TITLE}\nThe classifier `gpt-from-scratch finetune` wrote to `{served.model_dir}`, "
            f"on {device}: it reads at most {served.max_length} tokens of a message."
        )
        with gr.Tab("One message", id="one"):
            message = gr.Textbox(  # one line to start, so that Enter classifies; it grows as you type
                label="Message (Enter classifies it; Shift+Enter starts a new line)",
                lines=1,
                max_lines=12,
                placeholder="Type or paste an SMS message",
                elem_id="message",
            )
            gr.Examples([[example] for example in EXAMPLES], inputs=message, label="Try")
            method = gr.Radio(
                [(label, key) for key, label in METHODS.items()],
                value="gradient",
                label="Reasons by",
                elem_id="method",
            )
            classify = gr.Button("Classify", variant="primary", elem_id="classify")
            verdict = gr.HTML(elem_id="verdict")
            note = gr.Markdown(elem_id="note")
            explanation = gr.HTML(elem_id="explanation")
            curve = prefix_plot()
            strongest = gr.Dataframe(
                headers=["position", "token", "change in P(spam)"],
                label="The tokens that moved P(spam) most",
                interactive=False,
                elem_id="strongest",
            )
            gr.Markdown(HOW)
        with gr.Tab("Many messages", id="many"):
            pasted = gr.Textbox(label="Messages, one a line", lines=6, elem_id="pasted")
            upload = gr.File(
                label="... or a file: .csv, .tsv or .jsonl by column, any other text file a message a line",
                type="filepath",
                elem_id="upload",
            )
            column = gr.Textbox(
                label="Column (.csv, .tsv, .jsonl)", placeholder="text, Text or message", elem_id="column"
            )
            classify_all = gr.Button("Classify all", variant="primary", elem_id="classify-all")
            summary = gr.Markdown(elem_id="summary")
            table = gr.Dataframe(label="Highest P(spam) first", interactive=False, elem_id="results")
            download = gr.File(label="The results as CSV", elem_id="download")
        with gr.Tab("Model card", id="card"):
            gr.Markdown(card_markdown(served.info, served.metrics, served.model_dir), elem_id="card")
            for name, frame in curves(served.metrics, served.info.options.get("num_epochs") or 1).items():
                if frame.groupby("split").size().min() > 1:
                    gr.LinePlot(
                        frame,
                        x="epoch",
                        y=name,
                        color="split",
                        title=f"Training {name}",
                        elem_id=f"{name}-curve",
                    )
                else:  # one value a split (one epoch): a line needs two points
                    values = ", ".join(f"{row.split} {getattr(row, name):.3f}" for row in frame.itertuples())
                    gr.Markdown(
                        f"Training {name}, measured once, at epoch {frame['epoch'].max():g}: {values}"
                    )
            if served.metrics:
                gr.Markdown(
                    "The curves are metrics.json's: each split's loss and accuracy on "
                    f"{served.info.options.get('eval_iter', 'a few')} batches, measured as training went. "
                    "The accuracies above are on the whole splits, after training."
                )

        def one(text: str, how: str) -> tuple[str, str, str, pd.DataFrame, pd.DataFrame]:
            return one_message(served, text, how)

        def many(text: str, path: str | None, column_name: str) -> tuple[str, pd.DataFrame, str]:
            # Naming `results` here keeps it, and so its folder, alive as long as the page.
            return many_messages(served, Path(results.name), text, path, column_name)

        # Each request first blanks its outputs, so that a refused one leaves no earlier answer showing
        # (a CSV link among them), then computes; its progress, or "Error", shows in the first output
        # only. Typed Enter and the button share one queue: four messages at a time, as for uploads.
        outputs = [verdict, note, explanation, strongest, curve]
        for trigger, api_name in ((classify.click, "classify_message"), (message.submit, False)):
            trigger(blank_one, None, outputs, queue=False, api_name=False, show_progress="hidden").then(
                one,
                [message, method],
                outputs,
                api_name=api_name,
                concurrency_id="one",
                show_progress_on=verdict,
            )
        all_outputs = [summary, table, download]
        classify_all.click(
            blank_many, None, all_outputs, queue=False, api_name=False, show_progress="hidden"
        ).then(
            many, [pasted, upload, column], all_outputs, api_name="classify_many", show_progress_on=summary
        )
    return page


def one_message(
    served: ServedClassifier, text: str, how: str
) -> tuple[str, str, str, pd.DataFrame, pd.DataFrame]:
    """The One message tab's answer: verdict, note, coloured reasons, strongest tokens, prefix curve."""
    with refusing_bad_input():
        answer = served.answer(text or "", how or "gradient")
        # The curve's verdict point is the answer's own P(spam): no second pass for it.
        after_each = prefix_curve(served, text or "", answer.prediction.spam_probability)
    return (
        verdict_html(answer),
        note_markdown(answer),
        explanation_html(answer),
        strongest_table(answer),
        after_each,
    )


def many_messages(
    served: ServedClassifier, results_dir: Path, text: str, path: str | None, column_name: str
) -> tuple[str, pd.DataFrame, str]:
    """The Many messages tab's answer: the summary, the sorted table, and its CSV under results_dir."""
    with refusing_bad_input():
        if path and (text or "").strip():
            raise DataError("give pasted messages or a file, not both: clear one of them")
        if path:
            messages = uploaded_messages(path, Path(path).name, (column_name or "").strip() or None)
        elif (text or "").strip():
            messages = pasted_messages(text)
        else:
            raise DataError("nothing to classify: paste messages, one a line, or upload a file")
        batch = served.classify_messages(messages)
    _forget_old_results(results_dir)
    stem = Path(path).stem if path else "pasted"
    folder = results_dir / uuid.uuid4().hex  # one a request: the file keeps its name
    folder.mkdir()
    csv = results_csv(batch, folder / f"{stem}-classified.csv")
    return summary_markdown(batch, served.max_length), results_table(batch), str(csv)


def prefix_plot() -> gr.LinePlot:
    """P(spam) after each token of the message, beside its colours (inference.prefix_curve)."""
    return gr.LinePlot(
        x="token number",
        y="P(spam)",
        color="read",
        tooltip=["token", "P(spam)"],
        y_lim=[0, 1],
        title="P(spam) after each token: under the causal mask, one forward pass answers for every prefix",
        elem_id="prefix-curve",
    )


def blank_one() -> tuple[str, str, str, pd.DataFrame, pd.DataFrame]:
    """The One message tab's outputs, emptied."""
    no_curve = pd.DataFrame(columns=["token number", "token", "P(spam)", "read"])
    return "", "", "", pd.DataFrame(columns=["position", "token", "change in P(spam)"]), no_curve


def blank_many() -> tuple[str, pd.DataFrame, None]:
    """The Many messages tab's outputs, emptied: no summary, no table, no CSV to download."""
    return "", pd.DataFrame(columns=["label", "P(spam)", "message", "note"]), None


@contextmanager
def refusing_bad_input() -> Iterator[None]:
    """Turn the DataError of a bad message or file into the page's one-line error message."""
    try:
        yield
    except DataError as err:
        # Gradio shows an error's text as HTML: a file's column names must stay text.
        raise gr.Error(html.escape(str(err), quote=False), print_exception=False) from err


def verdict_html(answer: Answer) -> str:
    """The label on red (spam) or blue (not spam), and P(spam): one probability, the one the colours move."""
    p = answer.prediction
    kind = "spam" if p.label == "spam" else "not-spam"
    return (
        f'<p class="verdict {kind}"><span class="label">{_text(p.label)}</span> '
        f"P(spam) = {p.spam_probability:.3f}</p>"
    )


def note_markdown(answer: Answer) -> str:
    """The truncation note, and why the colours can all point one way and the verdict the other; or ''."""
    notes = []
    if answer.truncated:
        notes.append(
            f"**Truncated:** this message is {answer.num_tokens:,} tokens long, and the classifier was "
            f"trained on messages of at most {answer.max_length}: it read only the first "
            f"{answer.max_length} (the grey text below it never saw)."
        )
    changes = [piece.change for piece in answer.pieces]
    spam, is_spam = answer.prediction.spam_probability, answer.prediction.label == "spam"
    if changes and all(change > 0 for change in changes) and not is_spam:
        notes.append(
            "**Every token is red, and the verdict is not spam:** a token's colour says how much P(spam) "
            "falls when that one token is replaced by padding, not how spammy the token is on its own. "
            f"Each token here holds P(spam) up a little, and the whole message's P(spam), {spam:.3f}, is "
            "still too low for spam. A classifier that mostly learned that long messages are spam "
            "scores every token red this way: without any one of them, the message looks shorter."
        )
    if changes and all(change < 0 for change in changes) and is_spam:
        notes.append(
            "**Every token is blue, and the verdict is spam:** a token's colour says how much P(spam) "
            "falls when that one token is replaced by padding, not how spammy the token is on its own. "
            f"Each token here holds P(spam) down a little, and the whole message's P(spam), {spam:.3f}, "
            "is still high enough for spam."
        )
    return "\n\n".join(notes)


def explanation_html(answer: Answer) -> str:
    """The message, each token read red if occluding it lowers P(spam), blue if it raises it."""
    spam = answer.prediction.spam_probability
    biggest = max((abs(piece.change) for piece in answer.pieces), default=0.0) or 1.0
    spans = []
    estimated = "about " if answer.method == "gradient" else ""
    for piece in answer.pieces:
        rgb = SPAM_RGB if piece.change > 0 else HAM_RGB
        without = f"{estimated}{spam - piece.change:.4f}"
        title = f"token {_position(piece)}: {piece.change:+.4f}: P(spam) {spam:.4f}, without it {without}"
        spans.append(
            f'<span class="token" data-change="{piece.change:.8f}" title="{title}" '
            f'style="background-color: rgba({rgb}, {opacity(piece.change, biggest):.3f})">'
            f"{_text(piece.text)}</span>"
        )
    if answer.unread:
        shown, more = answer.unread[:UNREAD_SHOWN], len(answer.unread) - UNREAD_SHOWN
        rest = f" … and {more:,} more characters" if more > 0 else ""
        spans.append(
            f'<span class="unread" title="not read: past the trained length">{_text(shown)}{rest}</span>'
        )
    scale = f"{METHODS[answer.method]}; strongest colour: a change of {biggest:.4f} in P(spam)"
    return f'{LEGEND}<div class="message">{"".join(spans)}</div><p class="scale">{scale}</p>'


def opacity(change: float, biggest: float) -> float:
    """How strongly a change is coloured: FAINTEST for the smallest, STRONGEST_ALPHA for the biggest.

    On the square root of the change's share of the biggest, so that a small change still shows
    its colour; no change at all is left uncoloured.
    """
    if change == 0:
        return 0.0
    return FAINTEST + (STRONGEST_ALPHA - FAINTEST) * (abs(change) / biggest) ** 0.5


def strongest_table(answer: Answer) -> pd.DataFrame:
    """The tokens whose occlusion changed P(spam) most, largest change first, each with its position."""
    pieces = sorted(answer.pieces, key=lambda piece: -abs(piece.change))[:STRONGEST]
    return pd.DataFrame(
        {
            "position": [_position(p) for p in pieces],
            "token": [repr(p.text) for p in pieces],
            "change in P(spam)": [round(p.change, 5) for p in pieces],
        }
    )


def _position(piece: Piece) -> str:
    """Where a piece is in the message, counting tokens from 1: '7', or '7-8' for an emoji of two tokens."""
    first, last = piece.positions[0] + 1, piece.positions[-1] + 1
    return str(first) if first == last else f"{first}-{last}"


def summary_markdown(batch: Batch, max_length: int) -> str:
    """How many messages, how fast, how many spam; what was skipped or truncated."""
    count = len(batch.rows)
    spam = sum(row.prediction.label == "spam" for row in batch.rows)
    lines = [
        f"**{count:,} message(s)** classified in {batch.seconds:.2f} s: {spam:,} spam, {count - spam:,} "
        "not spam. Sorted by P(spam), highest first; the CSV holds every message whole."
    ]
    if batch.skipped:
        unit = batch.skipped[0].unit
        numbers = ", ".join(str(m.number) for m in batch.skipped[:20]) + (
            " …" if len(batch.skipped) > 20 else ""
        )
        lines.append(f"Skipped {len(batch.skipped):,} empty message(s): {unit}s {numbers}.")
    truncated = sum(bool(row.note) for row in batch.rows)
    if truncated:
        lines.append(
            f"{truncated:,} message(s) truncated to their first {max_length} tokens (see the note column)."
        )
    return "\n\n".join(lines)


def results_table(batch: Batch) -> pd.DataFrame:
    """The rows as the page shows them: label first, long messages shortened, P(spam) to 4 places."""
    unit = batch.rows[0].message.unit
    return pd.DataFrame(
        {
            unit: [row.message.number for row in batch.rows],
            "label": [row.prediction.label for row in batch.rows],
            "P(spam)": [round(row.prediction.spam_probability, 4) for row in batch.rows],
            "message": [_shorten(row.message.text) for row in batch.rows],
            "note": [row.note for row in batch.rows],
        }
    )


def _shorten(text: str) -> str:
    return text if len(text) <= SHOWN_MESSAGE else text[: SHOWN_MESSAGE - 1] + "…"


def _text(text: str) -> str:
    """Text as HTML that no template reads as code: Gradio's HTML value passes through JS templates."""
    return html.escape(text).replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")


def _forget_old_results(results_dir: Path) -> None:
    """Delete results older than RESULTS_KEPT_S: their download links have expired."""
    for old in results_dir.glob("*/*.csv"):
        if time.time() - old.stat().st_mtime > RESULTS_KEPT_S:
            old.unlink(missing_ok=True)
            old.parent.rmdir()
