"""`gpt-from-scratch serve`: the app's answers and their reasons, bad input, and a real server under load.

One tiny classifier is finetuned for real and one server started with the real command, both shared
with test_serve_browser.py (the session's fixtures served_model_dir, served and server: serving.py).
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import huggingface_hub.constants
import pandas as pd
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from serving import HAM, SPAM, free_port
from test_inference_plan import TOLERANCE

from gpt_from_scratch.checkpoint import load_classifier
from gpt_from_scratch.cli import main
from gpt_from_scratch.errors import DataError
from gpt_from_scratch.predict import encode_for_classifier
from gpt_from_scratch.predict.readout import select_tokens
from gpt_from_scratch.serving import inference
from gpt_from_scratch.serving.card import card_markdown, curves
from gpt_from_scratch.serving.inference import (
    ServedClassifier,
    gradient_changes,
    occlusion_changes,
    pasted_messages,
    results_csv,
    uploaded_messages,
)
from gpt_from_scratch.serving.page import (
    explanation_html,
    note_markdown,
    opacity,
    strongest_table,
    verdict_html,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio")]


VERDICT = re.compile(  # the verdict's colour (its class), its label, and P(spam)
    r'<p class="verdict (spam|not-spam)"><span class="label">(spam|not spam)</span> '
    r"P\(spam\) = ([01]\.\d{3})</p>"
)


@pytest.fixture(scope="module")
def client(server) -> Client:
    # Gradio's client builds Hugging Face Hub headers, which look up huggingface.co (an agent
    # registry, telemetry) unless the Hub is offline: these tests talk to 127.0.0.1 only.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield Client(server.url, verbose=False)


def verdict_of(served: ServedClassifier, text: str) -> str:
    """What the page shows as the verdict of text, computed in this process."""
    return verdict_html(served.answer(text))


def visible_text(explanation_html: str) -> str:
    """The text a browser shows of the explanation's message (its tags dropped, entities decoded)."""
    message = re.search(r'<div class="message">(.*?)</div>', explanation_html, flags=re.DOTALL).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", message))


# ---------------------------------------------------------------------------------------------
# One message: the same prediction as `classify`, and reasons computed by the real model
# ---------------------------------------------------------------------------------------------


def test_one_message_gets_the_label_and_probability_classify_prints(served, served_model_dir, capsys):
    for text in (SPAM, HAM):
        assert main(["classify", text, "--model-dir", str(served_model_dir)]) == 0
        label, probability = re.fullmatch(
            r"(.+) \(probability (.+)\)", capsys.readouterr().out.strip()
        ).groups()
        kind, shown_label, spam = VERDICT.fullmatch(verdict_of(served, text)).groups()
        assert shown_label == label and kind == label.replace(" ", "-")
        # One probability on the page, P(spam); classify prints the chosen label's.
        assert float(spam) == pytest.approx(float(probability) if label == "spam" else 1 - float(probability))
    # The tiny model is 83% accurate (mostly by length: see the README); these two it gets right.
    assert served.answer(SPAM).prediction.label == "spam"
    assert served.answer(HAM).prediction.label == "not spam"


def test_occlusion_scores_are_the_change_in_spam_probability_of_the_real_model(served, served_model_dir):
    answer = served.answer(SPAM, "occlusion")
    model, config = load_classifier(served_model_dir)  # the plain GPTModel, read at the last position by hand
    ids = encode_for_classifier(SPAM, served.tokenizer, config["max_length"], truncate=True)

    def p_spam(token_ids: list[int]) -> float:
        with torch.inference_mode():
            return torch.softmax(model(torch.tensor([token_ids]))[0, -1], dim=-1)[1].item()

    assert p_spam(ids) == pytest.approx(answer.prediction.spam_probability, abs=1e-5)
    for piece in answer.pieces:
        occluded = [config["pad_token_id"] if i in piece.positions else t for i, t in enumerate(ids)]
        assert piece.change == pytest.approx(p_spam(ids) - p_spam(occluded), abs=1e-5), piece
    assert any(abs(piece.change) > 1e-3 for piece in answer.pieces)  # the reasons are not all zero


def test_gradient_x_input_is_the_slope_of_spam_probability_towards_the_padding_token(
    served_model_dir, tokenizer
):
    model, config = load_classifier(served_model_dir)
    model = model.double()  # float64, so that a finite difference can check the gradient closely
    pad = config["pad_token_id"]
    ids = encode_for_classifier(SPAM, tokenizer, config["max_length"], truncate=True)
    positions = (0, 7, 30)
    changes, probabilities = gradient_changes(
        ids, [(i,) for i in positions], model, model.tok_emb, pad, spam_index=1
    )

    def p_spam(position: int, step: float) -> float:
        """P(spam) with the embedding at position moved step of the way to the padding token's."""

        def move(module, inputs, output):
            output = output.clone()
            output[0, position] += step * (module.weight[pad] - output[0, position])
            return output

        hook = model.tok_emb.register_forward_hook(move)
        try:
            with torch.inference_mode():
                return torch.softmax(model(torch.tensor([ids]))[0, -1], dim=-1)[1].item()
        finally:
            hook.remove()

    assert probabilities[1].item() == pytest.approx(p_spam(0, 0.0), abs=1e-12)  # from the same pass
    h = 1e-4
    for position, change in zip(positions, changes, strict=True):
        slope = (p_spam(position, -h) - p_spam(position, h)) / (2 * h)  # minus dP/dstep at step 0
        assert change == pytest.approx(slope, rel=1e-5, abs=1e-9), position
    assert any(abs(change) > 1e-4 for change in changes)


def test_a_token_the_read_position_cannot_see_gets_no_reason_either_way(served, served_model_dir):
    model, config = load_classifier(served_model_dir)
    pad = config["pad_token_id"]
    ids = encode_for_classifier(HAM, served.tokenizer, config["max_length"], truncate=True)
    real = len(served.tokenizer.encode(HAM))
    each = [(i,) for i in range(real)]
    # Read at the first position, the causal mask hides every later token from the classifier.
    first = select_tokens(model, "first", "token", pad)
    occluded = occlusion_changes(ids, each, first, pad, spam_index=1)
    gradient, _ = gradient_changes(ids, each, first, model.tok_emb, pad, spam_index=1)
    for changes in (occluded, gradient):
        assert changes[0] != 0.0
        assert all(abs(change) < 1e-7 for change in changes[1:]), changes
    assert all(change == 0.0 for change in gradient[1:])  # no path at all: exactly zero
    # The book's read, the last position, comes after every real token (padding fills the rest), so
    # each one can move P(spam); occluding a padding position changes nothing.
    last = occlusion_changes(ids, [*each, (len(ids) - 2,)], model, pad, spam_index=1)
    assert all(abs(change) > 1e-7 for change in last[:-1]), last
    assert abs(last[-1]) < 1e-7


@pytest.mark.parametrize("method", ["gradient", "occlusion"])
def test_what_lies_past_the_trained_length_changes_neither_the_answer_nor_its_reasons(served, method):
    long = " ".join([SPAM] * 3)  # more than the 64 tokens the tiny classifier reads
    answer_long = served.answer(long, method)
    answer_longer = served.answer(long + " and a great deal more text, none of it read " * 50, method)
    assert answer_long.truncated and answer_longer.truncated
    assert answer_long.prediction == answer_longer.prediction
    assert answer_long.pieces == answer_longer.pieces
    assert sum(len(piece.positions) for piece in answer_long.pieces) == served.max_length


def test_concurrent_requests_share_the_one_model_without_mixing_their_answers(served):
    texts = [SPAM, HAM, "Ok lar... Joking wif u oni...", "FREE entry! Txt WIN to 87121 now"] * 4
    jobs = [(text, ("gradient", "occlusion")[i % 2]) for i, text in enumerate(texts)]
    alone = [served.answer(text, method) for text, method in jobs]
    predicted_alone = [served.predict([text])[0] for text in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda job: served.answer(*job), jobs))
        predictions = list(pool.map(lambda text: served.predict([text])[0], texts))
    for one, other in zip(alone, together, strict=True):
        assert one.prediction == other.prediction
        assert [p.text for p in one.pieces] == [p.text for p in other.pieces]
        assert [p.change for p in one.pieces] == pytest.approx([p.change for p in other.pieces], abs=1e-6)
    assert predictions == predicted_alone  # each path agrees with itself to the bit
    # and the two paths with each other to float rounding: the gradient's modules, classify's FrozenBlocks
    assert [p.label for p in predictions] == [answer.prediction.label for answer in alone]
    assert [p.spam_probability for p in predictions] == pytest.approx(
        [answer.prediction.spam_probability for answer in alone], abs=TOLERANCE
    )


def test_the_reasons_cover_the_message_in_whole_characters(served):
    emoji_text = "Call now 😀 to claim"
    for text in (SPAM, emoji_text, "naïve café ☕ 🇬🇧 ok", "two\nlines\r\n and  spaces "):
        answer = served.answer(text)
        assert "".join(piece.text for piece in answer.pieces) + answer.unread == text
        assert all(piece.positions for piece in answer.pieces)
    emoji = next(piece for piece in served.answer(emoji_text).pieces if "😀" in piece.text)
    assert len(emoji.positions) > 1  # GPT-2 splits the emoji's four bytes over tokens: scored together


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_an_empty_or_whitespace_message_is_refused_with_the_reason(served, text):
    with pytest.raises(DataError, match="the message is empty"):
        served.answer(text)


def test_a_message_of_100000_characters_is_truncated_with_a_visible_note(served):
    text = ("WIN a free holiday now! " * 5000)[:100_000]
    start = time.perf_counter()
    answer = served.answer(text)
    assert time.perf_counter() - start < 30
    assert answer.truncated and answer.num_tokens > 20_000
    assert sum(len(piece.positions) for piece in answer.pieces) == served.max_length
    note = note_markdown(answer)
    assert f"{answer.num_tokens:,} tokens long" in note and f"only the first {served.max_length}" in note
    shown = explanation_html(answer)
    assert f"and {len(answer.unread) - inference.UNREAD_SHOWN:,} more characters" in shown
    assert len(shown) < 20_000  # the page is not sent the whole unread tail
    assert "Truncated" not in note_markdown(served.answer(HAM))  # a message read whole carries no such note


def test_the_smallest_change_is_still_coloured_and_no_change_is_not():
    assert opacity(-1e-6, biggest=0.5) >= 0.15  # a faint blue, but blue
    assert opacity(0.5, biggest=0.5) == pytest.approx(0.8)
    assert opacity(0.25, biggest=0.5) < opacity(-0.3, biggest=0.5) < opacity(0.5, biggest=0.5)
    assert opacity(0.0, biggest=0.5) == 0


def test_the_page_has_a_colour_legend_and_the_strongest_tokens_their_positions(served):
    answer = served.answer("Hi Ann!! see you at 7, ok. ok. ok.")
    assert "red</span> pushed P(spam) up" in explanation_html(answer)
    assert "blue</span> pushed it down" in explanation_html(answer)
    table = strongest_table(answer)
    assert list(table.columns) == ["position", "token", "change in P(spam)"]
    ok = [row for row in table.itertuples() if row.token == "' ok'"]
    assert len(ok) >= 2 and len({row.position for row in ok}) == len(ok)  # the same token, told apart
    for row in table.itertuples():
        (piece,) = [p for p in answer.pieces if str(p.positions[0] + 1) == row.position]
        assert repr(piece.text) == row.token


def test_a_not_spam_message_with_every_token_red_is_explained_on_the_page(served):
    answer = served.answer(HAM)  # the tiny classifier's reasons (see the README): every token red
    assert answer.prediction.label == "not spam" and all(piece.change > 0 for piece in answer.pieces)
    note = note_markdown(answer)
    assert note.startswith("**Every token is red, and the verdict is not spam:**")
    assert f"P(spam), {answer.prediction.spam_probability:.3f}, is still too low for spam" in note


def test_the_explanation_is_html_that_shows_the_message_as_text(served):
    text = "<b>bold</b> & ${value} {{x}} <script>alert(1)</script>"
    shown = explanation_html(served.answer(text))
    assert "<script>" not in shown and "<b>" not in shown and "${" not in shown and "{{" not in shown
    assert visible_text(shown) == text


# ---------------------------------------------------------------------------------------------
# Many messages: pasted or uploaded, a sorted table and a CSV
# ---------------------------------------------------------------------------------------------


def test_pasted_lines_give_a_table_sorted_by_spam_probability_and_a_csv(served, tmp_path):
    lines = [HAM, "", SPAM, '=HYPERLINK("http://example.com")', "   ", "ok see you"]
    batch = served.classify_messages(pasted_messages("\n".join(lines) + "\n"))
    assert [m.number for m in batch.skipped] == [2, 5]
    assert sorted(row.message.number for row in batch.rows) == [1, 3, 4, 6]
    spam = [row.prediction.spam_probability for row in batch.rows]
    assert spam == sorted(spam, reverse=True)
    for row in batch.rows:  # the same numbers as one message at a time
        assert row.prediction.spam_probability == pytest.approx(
            served.answer(row.message.text).prediction.spam_probability, abs=1e-5
        )
    table = pd.read_csv(results_csv(batch, tmp_path / "out.csv"), keep_default_na=False)
    assert list(table.columns) == ["line", "message", "label", "probability", "spam_probability", "note"]
    assert list(table["line"]) == [row.message.number for row in batch.rows]
    assert '\'=HYPERLINK("http://example.com")' in list(table["message"])  # a spreadsheet will not run it
    assert SPAM in list(table["message"])


def test_uploads_are_read_by_column_or_by_line(served, tmp_path):
    files = {
        "msgs.csv": f'id,text\n1,"{HAM}"\n2,"{SPAM}"\n',
        "msgs.tsv": f"text\tid\n{HAM}\t1\n{SPAM}\t2\n",
        "msgs.jsonl": json.dumps({"message": HAM}) + "\n" + json.dumps({"message": SPAM}) + "\n",
        "msgs.txt": f"{HAM}\n{SPAM}\n",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        batch = served.classify_messages(uploaded_messages(path, name))
        assert {row.message.text for row in batch.rows} == {HAM, SPAM}, name
        assert batch.rows[0].message.text == SPAM, name  # the spam sorts first
    other = tmp_path / "other.csv"
    other.write_text(f"id,body\n1,{HAM}\n", encoding="utf-8")
    assert uploaded_messages(other, "other.csv", column="body")[0].text == HAM


def test_a_non_utf8_or_binary_upload_is_refused_with_the_reason(tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text\ncafé crème\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"^latin1.csv, line 2: not UTF-8 text; save the file as UTF-8"):
        uploaded_messages(latin1, "latin1.csv")
    binary = tmp_path / "picture.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DataError, match=r"^picture.txt is a binary file, not text"):
        uploaded_messages(binary, "picture.txt")
    utf8_with_nul = tmp_path / "nul.txt"
    utf8_with_nul.write_bytes(b"hello\x00world\n")  # valid UTF-8, still no text file
    with pytest.raises(DataError, match="binary file"):
        uploaded_messages(utf8_with_nul, "nul.txt")


def test_a_csv_without_a_text_column_is_refused_naming_its_columns(tmp_path):
    path = tmp_path / "upload-9f8e" / "contacts.csv"
    path.parent.mkdir()
    path.write_text("name,phone\nAnn,123\n", encoding="utf-8")
    with pytest.raises(DataError) as refused:
        uploaded_messages(path, "contacts.csv")
    message = str(refused.value)
    assert message.startswith("contacts.csv has no text column")
    assert "name, phone" in message and "the Column box" in message
    assert "upload-9f8e" not in message and "--column" not in message  # no server path, no CLI flag


def test_nothing_to_classify_and_too_many_messages_are_refused(served, monkeypatch):
    with pytest.raises(DataError, match="no messages"):
        served.classify_messages(pasted_messages("\n  \n\n"))
    monkeypatch.setattr(inference, "MAX_MESSAGES", 3)
    with pytest.raises(DataError, match="4 messages are more than the 3 the app classifies at once"):
        served.classify_messages(pasted_messages("a\nb\nc\nd\n"))


# ---------------------------------------------------------------------------------------------
# The model card
# ---------------------------------------------------------------------------------------------


def test_the_model_card_gives_the_recipe_the_accuracies_and_the_curves(served, served_model_dir):
    metrics = json.loads((served_model_dir / "metrics.json").read_text())
    card = card_markdown(served.info, served.metrics, served_model_dir)
    for name in ("train", "validation", "test"):
        assert f"{name} {metrics[name + '_accuracy']:.2%}" in card
    assert "tiny (2 blocks, 32 dims, 2 heads), from random weights" in card
    assert f"`all`: every weight: {metrics['trainable_parameters']:,} of" in card
    assert "the last position's vector (the book's choice)" in card
    assert "at most 60 steps" in card and "AdamW lr 0.002" in card
    frames = curves(served.metrics, 1)
    assert list(frames["loss"]["loss"]) == metrics["train_losses"] + metrics["val_losses"]
    assert list(frames["accuracy"]["accuracy"]) == metrics["train_accs"] + metrics["val_accs"]
    assert frames["loss"]["epoch"].max() == pytest.approx(1.0)
    assert "holds no metrics.json" in card_markdown(served.info, None, served_model_dir)
    assert curves(None, 1) == {}
    natural, leakage = metrics["evaluation"]["natural"], metrics["evaluation"]["leakage"]
    assert f"{natural['false_positives_per_1000']:.1f} per 1,000" in card
    assert f"of the {leakage['unseen_normalised_messages']} test messages not in training" in card
    assert "**decision**: the more probable label" in card


def test_the_app_decides_with_the_threshold_saved_with_the_model(served_model_dir, tmp_path):
    import shutil

    saved = tmp_path / "with-threshold"
    shutil.copytree(served_model_dir, saved)
    config = json.loads((saved / "config.json").read_text())
    texts = ["WINNER! Claim your free prize now", "see you at lunch", "Call 0800 now", "ok thanks"]
    spam = [p.spam_probability for p in ServedClassifier.load(served_model_dir).predict(texts)]
    threshold = sorted(spam)[1] + 1e-9  # the lowest two below it
    config["threshold"] = {
        "value": threshold,
        "target_false_positive_rate": 0.05,
        "validation_false_positive_rate": 0.04,
        "validation_negatives": 100,
    }
    (saved / "config.json").write_text(json.dumps(config))
    served = ServedClassifier.load(saved)
    labels = [p.label for p in served.predict(texts)]
    assert labels == ["spam" if p >= threshold else "not spam" for p in spam]
    assert f"spam when P(spam) >= {threshold:.4f}" in card_markdown(served.info, served.metrics, saved)


# ---------------------------------------------------------------------------------------------
# The server, started by the real command
# ---------------------------------------------------------------------------------------------


def test_serve_refuses_a_model_dir_without_a_model_in_one_line(tmp_path, capsys):
    for folder in (tmp_path / "missing", tmp_path):
        assert main(["serve", "--model-dir", str(folder), "--port", str(free_port())]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gpt-from-scratch serve: error: "), err
        assert "finetune --out DIR" in err


def test_serve_refuses_a_port_in_use_in_one_line(served_model_dir, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model-dir", str(served_model_dir), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    expected = (
        f"cannot serve on 127.0.0.1:{port}: the port is taken (another program listens on it): stop that "
        "program, or pass another --port"
    )
    assert err == f"gpt-from-scratch serve: error: {expected}\n"


def test_the_server_answers_as_the_app_computes(client, served):
    verdict, note, explanation, strongest, curve = client.predict(
        SPAM, "gradient", api_name="/classify_message"
    )
    assert verdict == verdict_of(served, SPAM) and VERDICT.match(verdict)
    assert note == ""
    assert visible_text(explanation) == SPAM
    assert len(strongest["data"]) == 10
    # The prefix curve: one row a token read, and the verdict read after the padding (the book's recipe).
    assert [row[0] for row in curve["data"]] == list(range(1, len(served.tokenizer.encode(SPAM)) + 2))


def test_twenty_concurrent_requests_are_all_answered_and_the_server_keeps_serving(client, served, sms_file):
    texts = [line.split("\t", 1)[1] for line in sms_file.read_text(encoding="utf-8").splitlines()[:20]]
    methods = [("gradient", "occlusion")[i % 2] for i in range(len(texts))]
    expected = [served.answer(text, method) for text, method in zip(texts, methods, strict=True)]
    # All sent at once, on one connection.
    jobs = [client.submit(*job, api_name="/classify_message") for job in zip(texts, methods, strict=True)]
    answers = [job.result(timeout=300) for job in jobs]
    for text, want, (verdict, _, explanation, _, _) in zip(texts, expected, answers, strict=True):
        assert verdict == verdict_html(want), text
        # Each answer is its own message's: its text, and its reasons.
        assert visible_text(explanation).startswith(text[:40].rstrip())
        changes = [float(c) for c in re.findall(r'data-change="([-0-9.e]+)"', explanation)]
        assert changes == pytest.approx([piece.change for piece in want.pieces], abs=1e-6)

    def on_its_own_connection(text: str) -> str:
        return Client(client.src, verbose=False).predict(text, "gradient", api_name="/classify_message")[0]

    with ThreadPoolExecutor(20) as pool:  # and 20 more, each from its own client
        assert list(pool.map(on_its_own_connection, texts)) == [verdict_html(w) for w in expected]
    assert client.predict(HAM, "gradient", api_name="/classify_message")[0] == verdict_of(served, HAM)
    with urllib.request.urlopen(client.src, timeout=30) as page:
        assert page.status == 200


def test_bad_input_through_the_server_is_refused_and_it_keeps_serving(client, served, tmp_path):
    with pytest.raises(AppError, match="the message is empty"):
        client.predict("   ", "gradient", api_name="/classify_message")
    verdict, note, explanation, _, _ = client.predict(
        "Free entry! " * 9000, "occlusion", api_name="/classify_message"
    )
    assert VERDICT.match(verdict) and note.startswith("**Truncated:**")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(os.urandom(4096) + b"\x00")
    with pytest.raises(AppError, match="blob.bin is a binary file"):
        client.predict("", handle_file(binary), "", api_name="/classify_many")
    no_text = tmp_path / "people.csv"
    no_text.write_text("name,phone\nAnn,123\n", encoding="utf-8")
    with pytest.raises(AppError, match="people.csv has no text column"):
        client.predict("", handle_file(no_text), "", api_name="/classify_many")
    with pytest.raises(AppError, match="nothing to classify"):
        client.predict("  ", None, "", api_name="/classify_many")
    with pytest.raises(AppError, match="give pasted messages or a file, not both"):
        client.predict(HAM, handle_file(no_text), "", api_name="/classify_many")
    assert client.predict(HAM, "gradient", api_name="/classify_message")[0] == verdict_of(served, HAM)


def test_an_upload_through_the_server_gives_the_table_and_a_csv_download(client, served, tmp_path):
    path = tmp_path / "inbox.csv"
    path.write_text(f'text,id\n"{HAM}",1\n,2\n"{SPAM}",3\n', encoding="utf-8")
    summary, table, download = client.predict("", handle_file(path), "", api_name="/classify_many")
    assert (
        summary.startswith("**2 message(s)** classified") and "Skipped 1 empty message(s): rows 3." in summary
    )
    assert table["headers"] == ["row", "label", "P(spam)", "message", "note"]  # one probability
    assert [[row[0], row[1], row[3]] for row in table["data"]] == [[4, "spam", SPAM], [2, "not spam", HAM]]
    assert Path(download).name == "inbox-classified.csv"
    assert list(pd.read_csv(download)["message"]) == [SPAM, HAM]


def test_the_app_connects_to_nothing_outside_this_machine(served):
    from gpt_from_scratch.serving.serve import start

    hosts = []

    def audit(event: str, args: tuple) -> None:
        if recording and event == "socket.getaddrinfo":  # a name looked up: an attempt, even offline
            hosts.append(args[0])
        elif recording and event == "socket.connect" and isinstance(args[1], tuple):
            hosts.append(args[1][0])

    recording = True
    sys.addaudithook(audit)  # an audit hook cannot be removed: `recording` switches it off
    try:
        page = start(served, "127.0.0.1", free_port())
        try:
            with urllib.request.urlopen(page.local_url, timeout=30) as response:
                assert b"<html" in response.read().lower()
            # The page's own API, called with the standard library: only the server's traffic is seen.
            verdict = call_api(page.local_url, "classify_message", [HAM, "gradient"])[0]
            assert VERDICT.match(verdict)
        finally:
            page.close()
    finally:
        recording = False
    assert hosts and set(hosts) <= {"127.0.0.1", "::1", "localhost"}, set(hosts)


def call_api(url: str, name: str, data: list) -> list:
    """Call a Gradio endpoint over plain HTTP (POST the inputs, then read the result's event stream)."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/{name}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{name}/{event_id}", timeout=60) as response:
        stream = response.read().decode()
    result = re.search(r"event: complete\ndata: (.*)", stream)
    assert result, stream
    return json.loads(result.group(1))
