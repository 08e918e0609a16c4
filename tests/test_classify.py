"""Classifying: a message encoded exactly as training encoded them, and the `classify` command."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from gpt_from_scratch import seam
from gpt_from_scratch.checkpoint import save_classifier
from gpt_from_scratch.cli import main
from gpt_from_scratch.errors import DataError
from gpt_from_scratch.model import GPTModel, model_config
from gpt_from_scratch.predict import classify_text, classify_texts, encode_for_classifier, load_saved
from gpt_from_scratch.predict.batching import Batching
from gpt_from_scratch.predict.tokenizer import PAD_TOKEN_ID


def test_a_message_is_padded_to_the_training_length(tokenizer):
    ids = tokenizer.encode("Call now to win")
    encoded = encode_for_classifier("Call now to win", tokenizer, max_length=10)
    assert encoded == ids + [PAD_TOKEN_ID] * (10 - len(ids))


def test_a_classifier_trained_without_padding_reads_the_message_as_it_is(tokenizer):
    encoded = encode_for_classifier("Call now to win", tokenizer, max_length=10, pad=False)
    assert encoded == tokenizer.encode("Call now to win")


def test_too_long_is_refused_unless_truncated(tokenizer):
    text = "win " * 20
    with pytest.raises(DataError, match="--truncate"):
        encode_for_classifier(text, tokenizer, max_length=5)
    assert encode_for_classifier(text, tokenizer, max_length=5, truncate=True) == tokenizer.encode(text)[:5]


def test_an_empty_message_is_refused(tokenizer):
    with pytest.raises(DataError, match="empty"):
        encode_for_classifier(" \n", tokenizer, max_length=5)


# The command: `classify` with several messages, a file, standard input, a table or JSON lines.

MAX_LENGTH = 32  # the saved classifier's training length: a message of 33 tokens is too long
ERROR = "gpt-from-scratch classify: error: "


def save_tiny_classifier(model_dir: Path, labels: list[str] | None = None) -> Path:
    """A seeded tiny classifier saved as finetune saves one (untrained: these tests check the plumbing)."""
    torch.manual_seed(0)
    model = GPTModel(model_config("tiny"))
    seam.replace_head(model, 2)
    info = {"max_length": MAX_LENGTH, "pad_token_id": PAD_TOKEN_ID}
    return save_classifier(model, model_dir, info | ({"labels": labels} if labels else {}))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """One tiny classifier for the whole module; saving it takes milliseconds, no training."""
    return save_tiny_classifier(tmp_path_factory.mktemp("classifier"), ["not spam", "spam"])


@pytest.fixture
def classify(model_dir, tokenizer, capsys):
    """Run `gpt-from-scratch classify ARGS --model-dir DIR` in-process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["classify", *args, "--model-dir", str(model_dir)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def table_rows(out: str) -> list[tuple[str, float, str]]:
    """(label, probability, message) of each row of classify's table, under its header."""
    header, *rows = out.splitlines()
    assert header.split() == ["label", "probability", "message"]
    found = [re.fullmatch(r"(spam|not spam) +(\d\.\d{3})  (.*)", row) for row in rows]
    assert all(found), out
    return [(m.group(1), float(m.group(2)), m.group(3)) for m in found]


def test_one_message_prints_one_line(classify):
    code, out, _ = classify("Call now to win a prize")
    assert code == 0
    assert re.fullmatch(r"(spam|not spam) \(probability (0\.\d{3}|1\.000)\)\n", out)


def test_several_messages_print_a_table_in_input_order(classify):
    messages = ["Call now to win a prize", "See you at dinner?", "Free entry: text WIN to 87121"]
    code, out, _ = classify(*messages)
    assert code == 0
    assert [message for _, _, message in table_rows(out)] == messages


def test_a_long_message_is_shortened_in_the_table_but_not_in_json(classify, tmp_path):
    message = "Congratulations, you have been selected\nfor our exclusive holiday offer today"
    file = tmp_path / "long.jsonl"
    file.write_text(json.dumps({"text": message}) + "\n" + json.dumps({"text": "hi"}) + "\n")
    _, out, _ = classify("--file", str(file))
    shown = table_rows(out)[0][2]
    assert len(shown) == 60 and shown.endswith("...") and "\n" not in shown
    _, out, _ = classify("--file", str(file), "--json")
    assert json.loads(out.splitlines()[0])["message"] == message


def test_json_lines_hold_the_message_label_and_both_probabilities(classify):
    messages = ["Call now to win a prize", "See you at dinner?"]
    code, out, _ = classify(*messages, "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["message"] for r in records] == messages
    for record in records:
        assert set(record) == {"message", "label", "probability", "spam_probability"}
        assert 0.5 <= record["probability"] <= 1  # the chosen label's: never the less likely one
        assert 0 <= record["spam_probability"] <= 1
        expected = record["probability"] if record["label"] == "spam" else 1 - record["probability"]
        assert record["spam_probability"] == pytest.approx(expected, abs=1e-6)
    code, out, _ = classify("See you at dinner?", "--json")  # one message: still a JSON line
    assert json.loads(out)["message"] == "See you at dinner?"


def test_a_text_file_is_read_one_message_a_line(classify, tmp_path):
    file = tmp_path / "msgs.txt"
    file.write_text("Call now to win a prize\r\nSee you at dinner?\n")
    code, out, err = classify("--file", str(file))
    assert code == 0, err
    assert [m for _, _, m in table_rows(out)] == ["Call now to win a prize", "See you at dinner?"]
    assert err == ""


def test_empty_lines_of_a_file_are_skipped_and_named_on_stderr(classify, tmp_path):
    file = tmp_path / "msgs.txt"
    file.write_text("Call now\n\nSee you\n   \nBye\n")
    code, out, err = classify("--file", str(file))
    assert code == 0
    assert [m for _, _, m in table_rows(out)] == ["Call now", "See you", "Bye"]
    assert err == f"skipped empty lines 2, 4 of {file}\n"
    file.write_text("\n \n")
    code, out, err = classify("--file", str(file))
    assert code == 1 and out == ""
    assert err == f"{ERROR}no messages in {file}: it is empty or holds only empty messages\n"


def test_a_csv_file_by_its_text_column_or_the_column_named(classify, tmp_path):
    file = tmp_path / "msgs.csv"
    table = {"Label": [1, 0], "Text": ["Call now, win", "NA"], "note": ["x", "y"]}
    pd.DataFrame(table).to_csv(file, index=False)
    code, out, _ = classify("--file", str(file))  # the default column: Text
    assert code == 0
    assert [m for _, _, m in table_rows(out)] == ["Call now, win", "NA"]  # "NA" is a message, not missing
    code, out, _ = classify("--file", str(file), "--column", "note")
    assert [m for _, _, m in table_rows(out)] == ["x", "y"]
    tsv = tmp_path / "msgs.tsv"
    tsv.write_text("message\tid\nCall now, win\t1\n")
    code, out, _ = classify("--file", str(tsv))
    assert [m for _, _, m in table_rows(out)] == ["Call now, win"]


def test_a_missing_column_is_one_line_that_lists_the_columns(classify, tmp_path):
    file = tmp_path / "msgs.csv"
    file.write_text("id,body\n1,Call now\n")
    code, out, err = classify("--file", str(file))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "its columns are id, body" in err and "--column" in err
    code, _, err = classify("--file", str(file), "--column", "Text")
    assert code == 1
    assert "no column 'Text': its columns are id, body" in err and err.count("\n") == 1


def test_an_empty_csv_cell_is_skipped_and_named_by_its_row(classify, tmp_path):
    file = tmp_path / "msgs.csv"
    file.write_text('id,text\n1,Call now\n\n3,See you\n4,\n5,"two\nlines"\n')  # rows as a spreadsheet counts
    code, out, err = classify("--file", str(file))
    assert code == 0
    assert [m for _, _, m in table_rows(out)] == ["Call now", "See you", "two lines"]
    assert err == f"skipped empty rows 3, 5 of {file}\n"


def test_a_jsonl_file_by_its_text_key_or_the_column_named(classify, tmp_path):
    file = tmp_path / "msgs.jsonl"
    records = [{"id": 1, "message": "Call now to win"}, {"id": 2, "message": "See you"}]
    file.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    code, out, _ = classify("--file", str(file))
    assert code == 0
    assert [m for _, _, m in table_rows(out)] == ["Call now to win", "See you"]
    code, _, err = classify("--file", str(file), "--column", "id")
    assert code == 1 and "line 1" in err and "not a string" in err
    file.write_text('{"message": "ok"}\nnot json\n')
    code, _, err = classify("--file", str(file))
    assert code == 1 and f"{file}, line 2: not JSON" in err


@pytest.mark.slow
def test_standard_input_through_dash_in_a_real_pipe(model_dir, tokenizer):
    result = subprocess.run(
        [sys.executable, "-m", "gpt_from_scratch", "classify", "-", "--model-dir", str(model_dir), "--json"],
        input="Call now to win\nSee you at dinner?\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == [
        "Call now to win",
        "See you at dinner?",
    ]


def test_standard_input_when_piped_with_no_messages_or_through_file_dash(classify, monkeypatch):
    for args in ([], ["--file", "-"]):
        monkeypatch.setattr(sys, "stdin", io.StringIO("Call now to win\n\nSee you\n"))
        code, out, err = classify(*args)
        assert code == 0
        assert [m for _, _, m in table_rows(out)] == ["Call now to win", "See you"]
        assert err == "skipped empty line 2 of standard input\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_messages_at_a_terminal_is_a_one_line_usage_error(classify, monkeypatch):
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, out, err = classify()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "nothing to classify" in err and "--file" in err


def test_dash_cannot_be_mixed_with_messages_nor_messages_with_a_file(classify, tmp_path):
    code, _, err = classify("hello", "-")
    assert code == 1 and "cannot be mixed" in err
    code, _, err = classify("hello", "--file", str(tmp_path / "x.txt"))
    assert code == 1 and "not both" in err


def test_a_message_that_names_a_file_is_classified_as_text_with_a_hint(classify, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("msgs.txt").write_text("Call now to win\nSee you\n")
    code, out, err = classify("msgs.txt")
    assert code == 0
    assert re.fullmatch(r"(spam|not spam) \(probability \d\.\d{3}\)\n", out)  # one message: the name
    assert err == "'msgs.txt' is classified as a message; to classify its lines use --file msgs.txt\n"


def test_a_file_that_is_not_utf8_is_named(classify, tmp_path, monkeypatch):
    file = tmp_path / "latin1.txt"
    file.write_bytes("Café offer: win now\n".encode("latin-1"))
    code, out, err = classify("--file", str(file))
    assert code == 1 and out == ""
    assert err == f"{ERROR}{file}, line 1: not UTF-8 text; save the file as UTF-8 and try again\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9\n"), encoding="utf-8"))
    code, _, err = classify("-")
    assert code == 1 and "standard input is not UTF-8" in err


def test_a_too_long_message_is_named_unless_truncated(classify, tmp_path, tokenizer):
    long_message = "win a prize now " * 10
    tokens = len(tokenizer.encode(long_message))
    assert tokens > MAX_LENGTH
    file = tmp_path / "msgs.txt"
    file.write_text(f"Call now\n{long_message}\nSee you\n{long_message}\n")
    code, out, err = classify("--file", str(file))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert f"line 2 of {file}: the message is {tokens} tokens long" in err
    assert "--truncate" in err and f"(also refused: line 4 of {file})" in err
    code, _, err = classify("See you", long_message)
    assert code == 1 and f"message 2: the message is {tokens} tokens long" in err
    code, out, _ = classify("--file", str(file), "--truncate")
    assert code == 0 and len(table_rows(out)) == 4


def test_labels_come_from_the_saved_config(tmp_path, tokenizer, capsys):
    model_dir = save_tiny_classifier(tmp_path, ["ham", "junk"])
    assert main(["classify", "Call now", "See you", "--model-dir", str(model_dir), "--json"]) == 0
    labels = {json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()}
    assert labels <= {"ham", "junk"}


def test_batched_classification_matches_one_message_at_a_time(model_dir, tokenizer):
    classifier, info = load_saved(model_dir)
    messages = ["Call now to win a prize", "See you at dinner?", "Free entry", "ok"]
    batched = classify_texts(messages, classifier, info, batching=Batching(batch_size=3))
    for message, prediction in zip(messages, batched, strict=True):
        label, probability = classify_text(message, classifier, tokenizer, MAX_LENGTH)
        assert label == prediction.label
        assert probability == pytest.approx(prediction.probability, abs=1e-6)


def test_a_message_holding_a_special_token_is_refused_in_one_line(tokenizer):
    with pytest.raises(DataError, match=r"the tokenizer refused this message .*<\|endoftext\|>"):
        encode_for_classifier("win a prize <|endoftext|> now", tokenizer, max_length=32)
