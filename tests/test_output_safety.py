"""A run never damages an earlier one: checks first, a lock, a staging folder, one replacement at the end."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from huggingface_hub import constants as hub_constants

import gpt_from_scratch.finetune as finetune_module
from gpt_from_scratch.cli import main
from gpt_from_scratch.config import FinetuneConfig
from gpt_from_scratch.errors import DownloadError, OptionError
from gpt_from_scratch.files import LockHeld, exclusive_lock, lock_path, recover_leftovers, replace_folder
from gpt_from_scratch.finetune import finetune
from gpt_from_scratch.preflight import check_inputs


class Stop(Exception):
    """Stands for anything that goes wrong in the middle of training."""


def quick(data: Path, out: Path | str, **overrides) -> FinetuneConfig:
    """A tiny run of a few seconds."""
    values = dict(
        model_size="tiny",
        weights="random",
        data_file=str(data),
        out_dir=str(out),
        max_steps=2,
        num_epochs=1,
        eval_freq=1,
        eval_iter=1,
        device="cpu",
        max_length=24,
    )
    return FinetuneConfig(**(values | overrides))


def cli_args(cfg: FinetuneConfig) -> list[str]:
    """The command line that asks for cfg (its options that differ from the defaults)."""
    return [
        "finetune", "--model-size", cfg.model_size, "--weights", cfg.weights, "--data-file", cfg.data_file,
        "--max-steps", "2", "--epochs", "1", "--eval-freq", "1", "--eval-iter", "1", "--device", "cpu",
        "--max-length", "24", "--out", cfg.out_dir,
    ]  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def short_file(sms_file, tmp_path_factory) -> Path:
    """The first 400 lines of the SMS Spam Collection: a run in seconds."""
    cut = tmp_path_factory.mktemp("data") / "SMSSpamCollection-400"
    cut.write_bytes(b"".join(sms_file.read_bytes().splitlines(keepends=True)[:400]))
    return cut


@pytest.fixture(scope="module")
def earlier_run(short_file, tokenizer, tmp_path_factory) -> Path:
    """The output of an earlier run, trained once (into an existing, empty folder, which is allowed)."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    out.mkdir()
    finetune(quick(short_file, out, seed=1), log=lambda _: None)
    return out


@pytest.fixture
def old(earlier_run, tmp_path) -> Path:
    """A copy of the earlier run's output at tmp_path/out, alone in its folder."""
    return Path(shutil.copytree(earlier_run, tmp_path / "out"))


def test_the_earlier_run_wrote_a_classifier_its_splits_and_metrics(earlier_run):
    names = set(snapshot(earlier_run))
    assert {"config.json", "metrics.json", "data/train.csv", "data/validation.csv", "data/test.csv"} <= names
    assert sorted(p.name for p in earlier_run.parent.iterdir()) == [earlier_run.name]  # no staging, no lock


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"num_epochs": 0}, OptionError, "--epochs 0: must be at least 1"),
        ({"bf16": True}, OptionError, "--bf16 is for CUDA devices"),
        ({"data_file": "no-such-file"}, DownloadError, "no file at --data-file no-such-file"),
    ],
    ids=["check_config", "plan_speed", "inputs"],
)
def test_a_refused_run_touches_nothing(old, short_file, tmp_path, overrides, error, message):
    before = snapshot(old)
    for out, overwrite in ((old, True), (tmp_path / "new", False)):
        with pytest.raises(error, match=message):
            finetune(quick(short_file, out, overwrite=overwrite, **overrides), log=lambda _: None)
    assert snapshot(old) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no new folder, no staging folder, no lock


@pytest.mark.parametrize("interruption", [Stop, KeyboardInterrupt])
def test_a_run_that_fails_mid_training_leaves_the_old_output_byte_for_byte(
    old, short_file, tmp_path, monkeypatch, interruption
):
    before = snapshot(old)
    staged = []

    def train(*args, **kwargs):
        staged.extend(tmp_path.glob(".out.staging-*/data/train.csv"))
        raise interruption

    monkeypatch.setattr(finetune_module, "train_classifier_simple", train)
    with pytest.raises(interruption):
        finetune(quick(short_file, old, overwrite=True), log=lambda _: None)
    # Seed 123, not the earlier run's 1: other splits, written to a staging folder beside --out.
    assert len(staged) == 1
    assert snapshot(old) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("lr", ["1e6", "1e30"])
def test_a_learning_rate_too_high_stops_at_the_first_non_finite_loss(old, short_file, tmp_path, capsys, lr):
    before = snapshot(old)
    for out, overwrite in ((old, ["--overwrite"]), (tmp_path / "new", [])):
        args = cli_args(quick(short_file, out)) + ["--lr", lr, "--max-steps", "20", "--eval-freq", "50"]
        assert main(args + overwrite) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith("gpt-from-scratch finetune: error: training stopped at step "), err
        assert "not a finite number" in err
        assert f"the learning rate (--lr {float(lr):g}) is likely too high" in err
    assert snapshot(old) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no new folder, no staging folder, no lock


def test_a_failed_first_run_leaves_no_output_folder(short_file, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(finetune_module, "train_classifier_simple", _raise(Stop))
    with pytest.raises(Stop):
        finetune(quick(short_file, tmp_path / "out"), log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def _raise(error: type[BaseException]):
    def train(*args, **kwargs):
        raise error

    return train


def test_writing_over_a_classifier_needs_overwrite_and_then_replaces_it(old, short_file, tmp_path, capsys):
    before = snapshot(old)
    cfg = quick(short_file, old)
    assert main(cli_args(cfg)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"--out {old} already holds a classifier (" in err
    assert "config.json" in err and "weights-" in err and "data/" in err and "pass --overwrite" in err
    assert snapshot(old) == before

    assert main([*cli_args(cfg), "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert f"{old}/ holds a classifier" in out and "--overwrite replaces it" in out
    after = snapshot(old)
    assert after.keys() == before.keys() - _weights(before) | _weights(after)
    assert after["config.json"] != before["config.json"]  # seed 123 now, not 1: other weights
    assert after["data/train.csv"] != before["data/train.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _weights(files: dict[str, bytes]) -> set[str]:
    return {name for name in files if name.startswith("weights-")}


def test_an_existing_folder_with_other_files_is_refused_even_with_overwrite(short_file, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OptionError, match=r"holds files finetune did not write \(notes.txt\)"):
        finetune(quick(short_file, out, overwrite=True), log=lambda _: None)
    assert snapshot(out) == {"notes.txt": b"mine"}


def test_a_second_run_into_a_folder_being_written_is_refused(old, short_file, capsys):
    fcntl = pytest.importorskip("fcntl", reason="Windows has no flock, so no lock")
    before = snapshot(old)
    # Held as another finetune holds it: the lock file beside the folder, flock'ed, with its pid.
    fd = os.open(lock_path(old), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        assert main([*cli_args(quick(short_file, old)), "--overwrite"]) == 1
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"another finetune is writing to --out {old} (pid 4242): wait for it" in err
    assert snapshot(old) == before


def test_out_naming_a_file_is_one_line_naming_the_flag(short_file, tmp_path, capsys):
    existing = tmp_path / "a-file"
    existing.write_text("not a folder")
    assert main(cli_args(quick(short_file, existing))) == 1
    err = capsys.readouterr().err
    expected = f"--out {existing} is a file, not a folder: choose a new folder's name for --out"
    assert err == f"gpt-from-scratch finetune: error: {expected}\n"
    assert existing.read_text() == "not a folder"


def test_out_inside_a_file_is_one_line_naming_the_file(short_file, tmp_path, capsys):
    existing = tmp_path / "a-file"
    existing.write_text("not a folder")
    assert main(cli_args(quick(short_file, existing / "sub" / "out"))) == 1
    err = capsys.readouterr().err
    expected = (
        f"--out {existing / 'sub' / 'out'} lies inside {existing}, a file, not a folder: choose --out "
        "outside it"
    )
    assert err == f"gpt-from-scratch finetune: error: {expected}\n"
    assert existing.read_text() == "not a folder"


def test_offline_every_missing_input_is_reported_at_once(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GPT_FROM_SCRATCH_CACHE", str(empty))  # no cached SMS Spam Collection
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))  # no cached tokenizer files: it ships, none needed
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(empty))  # no cached GPT-2 weights
    monkeypatch.setattr(socket, "create_connection", _no_network)
    out = tmp_path / "out"
    assert main(["finetune", "--device", "cpu", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "cannot start: 2 inputs are missing: (1) the SMS Spam Collection" in err
    assert "tokenizer" not in err
    for fix in ("--data-file PATH", "--weights-dir DIR", "openai-community/gpt2"):
        assert fix in err
    assert not out.exists()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the weights module's own offline switch, named as the reason
    with pytest.raises(DownloadError, match="not in the Hugging Face cache, and HF_HUB_OFFLINE is set"):
        check_inputs(FinetuneConfig())


def test_inputs_given_or_cached_are_found_without_the_network(sms_file, tokenizer, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", _no_network)
    check_inputs(quick(sms_file, "unused"))  # data given, random weights
    with pytest.raises(DownloadError, match=r"cannot start: missing the tiny weights \(none are published\)"):
        check_inputs(quick(sms_file, "unused", weights="pretrained"))


def _no_network(*args, **kwargs):
    raise OSError("Name or service not known")


# --- the pieces: the lock, the replacement, and what a killed run leaves -----------------------------


def test_the_lock_is_exclusive_names_its_holder_and_leaves_no_file(tmp_path):
    pytest.importorskip("fcntl", reason="Windows has no flock, so no lock")
    path = lock_path(tmp_path / "out")
    with exclusive_lock(path):
        with pytest.raises(LockHeld) as held, exclusive_lock(path):
            pass
        assert held.value.pid == str(os.getpid())
    assert not path.exists()
    with exclusive_lock(path):  # free again
        pass


def test_replace_folder_swaps_in_the_new_folder_and_deletes_the_old(tmp_path):
    dest, staging = tmp_path / "out", tmp_path / ".out.staging-x"
    for folder, text in ((dest, "old"), (staging, "new")):
        folder.mkdir()
        (folder / "config.json").write_text(text)
    replace_folder(staging, dest)
    assert (dest / "config.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_run_killed_between_its_two_renames_gets_the_old_folder_back(tmp_path):
    (tmp_path / ".out.old-x").mkdir()  # the old output, moved aside
    (tmp_path / ".out.old-x" / "config.json").write_text("old")
    (tmp_path / ".out.staging-x").mkdir()  # the new one, never reported as saved
    notes = recover_leftovers(tmp_path / "out")
    assert (tmp_path / "out" / "config.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert len(notes) == 2


def test_leftovers_of_a_run_killed_before_or_after_publishing_are_removed(tmp_path):
    for name in ("out", ".out.old-a", ".out.staging-b", ".other.staging-c"):
        (tmp_path / name).mkdir()
    (tmp_path / "out" / "config.json").write_text("current")
    recover_leftovers(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.staging-c", "out"]
    assert (tmp_path / "out" / "config.json").read_text() == "current"


def test_a_run_after_a_killed_one_cleans_up_and_succeeds(old, short_file, tmp_path):
    (tmp_path / ".out.staging-killed").mkdir()  # what `kill -9` in mid-training leaves
    notes = []
    finetune(quick(short_file, old, overwrite=True), log=notes.append)
    assert any("removed" in note and ".out.staging-killed" in note for note in notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
