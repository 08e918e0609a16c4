"""Saving a finetuned classifier: round trip, checksums, and saves interrupted at every step."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import torch

import gpt_from_scratch.checkpoint as checkpoint
from gpt_from_scratch import seam
from gpt_from_scratch.checkpoint import holds_classifier, load_classifier, save_classifier
from gpt_from_scratch.errors import ModelDirError
from gpt_from_scratch.model import GPTModel, model_config

INFO = {"labels": ["not spam", "spam"], "max_length": 12, "pad_token_id": 50256}


def make_classifier(seed: int) -> GPTModel:
    torch.manual_seed(seed)
    model = GPTModel(model_config("tiny"))
    seam.replace_head(model, 2)
    return model.eval()


def outputs(model: GPTModel) -> torch.Tensor:
    ids = torch.arange(12).unsqueeze(0)
    with torch.no_grad():
        return model(ids)


def test_round_trip_gives_the_same_outputs_and_config(tmp_path):
    model = make_classifier(0)
    save_classifier(model, tmp_path, INFO)
    loaded, config = load_classifier(tmp_path)
    torch.testing.assert_close(outputs(loaded), outputs(model), rtol=0, atol=0)
    assert config["max_length"] == 12
    assert config["num_classes"] == 2
    assert config["model"] == model.cfg.to_dict()
    assert len(list(tmp_path.glob("weights-*.safetensors"))) == 1


def test_saving_again_replaces_the_model_and_leaves_one_weights_file(tmp_path):
    save_classifier(make_classifier(0), tmp_path, INFO)
    second = make_classifier(1)
    save_classifier(second, tmp_path, INFO)
    torch.testing.assert_close(outputs(load_classifier(tmp_path)[0]), outputs(second), rtol=0, atol=0)
    assert len(list(tmp_path.glob("weights-*.safetensors"))) == 1
    assert not list(tmp_path.glob(".*part"))
    assert not (tmp_path / checkpoint.UNNAMED_WEIGHTS).exists()  # named by its checksum


class Crash(Exception):
    """Stands for a power cut or Ctrl-C in the middle of a save."""


def crash_during_write(number: int):
    """An atomic_path that dies half-way through the number-th file it writes (1: weights, 2: config)."""
    real_atomic_path = checkpoint.atomic_path
    calls = []

    @contextmanager
    def atomic_path(dest):
        calls.append(dest)
        with real_atomic_path(dest) as tmp:
            yield tmp
            if len(calls) == number:
                tmp.write_bytes(tmp.read_bytes()[:100])  # only part of the file reached the disk
                raise Crash

    return atomic_path


@pytest.mark.parametrize("crash_on", [1, 2], ids=["while-writing-weights", "while-writing-config"])
def test_interrupted_save_keeps_the_old_model(tmp_path, monkeypatch, crash_on):
    old = make_classifier(0)
    save_classifier(old, tmp_path, INFO)
    monkeypatch.setattr(checkpoint, "atomic_path", crash_during_write(crash_on))
    with pytest.raises(Crash):
        save_classifier(make_classifier(1), tmp_path, INFO)
    monkeypatch.undo()
    torch.testing.assert_close(outputs(load_classifier(tmp_path)[0]), outputs(old), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*part"))


def test_corrupt_weights_are_detected(tmp_path):
    save_classifier(make_classifier(0), tmp_path, INFO)
    weights = next(tmp_path.glob("weights-*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelDirError, match="checksum"):
        load_classifier(tmp_path)


def test_missing_weights_file_is_reported(tmp_path):
    save_classifier(make_classifier(0), tmp_path, INFO)
    next(tmp_path.glob("weights-*.safetensors")).unlink()
    with pytest.raises(ModelDirError, match="incomplete"):
        load_classifier(tmp_path)


def test_folder_without_a_model_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelDirError, match="no config.json.*finetune"):
        load_classifier(tmp_path)
    with pytest.raises(ModelDirError, match="does not exist"):
        load_classifier(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("not a classifier")
    with pytest.raises(ModelDirError, match=r"a-file is a file, not a folder: pass the folder finetune"):
        load_classifier(tmp_path / "a-file")


def test_foreign_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelDirError, match="not describe a gpt-from-scratch classifier"):
        load_classifier(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelDirError, match="not valid JSON"):
        load_classifier(tmp_path)


def test_holds_classifier_only_where_a_classifier_was_saved(tmp_path):
    assert not holds_classifier(tmp_path / "nowhere")
    assert not holds_classifier(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))  # a GPT-2 checkpoint's
    assert not holds_classifier(tmp_path)
    save_classifier(make_classifier(0), tmp_path, INFO)
    assert holds_classifier(tmp_path)
