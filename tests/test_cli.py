"""The command line, called as a user calls it: real subprocesses, real exit codes, real messages."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpt_from_scratch.cli import EXPERIMENT_OVERRIDES, build_parser, main
from gpt_from_scratch.config import command_line_fields
from gpt_from_scratch.experiments import DEFAULT_SEEDS
from gpt_from_scratch.grading.stubs import write_checkout

BOOK_SPLIT_SHA256_PREFIXES = {  # what the book's own chapter 6 code writes
    "train.csv": "c89a1156b8476e6f",
    "validation.csv": "0ac7a07215729476",
    "test.csv": "a5764d4eed041dad",
}


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m gpt_from_scratch ARGS` with the offline test environment."""
    return subprocess.run(
        [sys.executable, "-m", "gpt_from_scratch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | (env or {}),
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, sms_file, tokenizer) -> Path:
    """A tiny classifier finetuned offline through the CLI, shared by the classify tests."""
    out = tmp_path_factory.mktemp("classifier")
    options = [
        "--weights",
        "random",
        "--model-size",
        "tiny",
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--device",
        "cpu",
    ]
    result = run_cli("finetune", *options, "--data-file", str(sms_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "exercises/" not in result.stdout  # the learner's code is mentioned only when it runs
    assert re.search(r"Test accuracy: \d+\.\d\d%", result.stdout)
    return out


def test_console_script_and_module_both_answer_help():
    script = Path(sys.executable).with_name("gpt-from-scratch")
    assert script.exists(), "the console script is not installed beside this Python"
    for command in ([str(script), "--help"], [sys.executable, "-m", "gpt_from_scratch", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0
        for sub in ("finetune", "classify", "prepare-data"):
            assert sub in result.stdout


def test_experiments_help_names_every_default_file(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # argparse wraps help to the terminal: one line an option
    with pytest.raises(SystemExit):
        main(["experiments", "--help"])
    shown = capsys.readouterr().out
    assert "the JSON-lines results file (default: experiment-results.jsonl)" in shown
    assert "folder for the --report files (default: the --results folder)" in shown


def test_offline_finetune_writes_model_metrics_and_plots(trained_dir):
    for name in ("config.json", "metrics.json", "loss-plot.png", "accuracy-plot.png"):
        assert (trained_dir / name).is_file(), name


def test_classify_prints_label_and_probability(trained_dir):
    result = run_cli(
        "classify", "You are a winner! Call now to claim your prize", "--model-dir", str(trained_dir)
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"(spam|not spam) \(probability (0\.\d{3}|1\.000)\)\n", result.stdout)


def test_classify_refuses_an_empty_message(trained_dir):
    result = run_cli("classify", "   ", "--model-dir", str(trained_dir))
    assert result.returncode == 1
    assert "the message is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_classify_refuses_a_message_longer_than_training_unless_truncated(trained_dir):
    long_message = "win a prize now " * 100
    refused = run_cli("classify", long_message, "--model-dir", str(trained_dir))
    assert refused.returncode == 1
    assert "--truncate" in refused.stderr
    truncated = run_cli("classify", long_message, "--model-dir", str(trained_dir), "--truncate")
    assert truncated.returncode == 0, truncated.stderr


def test_classify_with_a_folder_that_holds_no_model(tmp_path):
    result = run_cli("classify", "hello", "--model-dir", str(tmp_path))
    assert result.returncode == 1
    assert "holds no finetuned classifier" in result.stderr
    assert "gpt-from-scratch finetune" in result.stderr


def test_finetune_offline_without_data_file_names_the_download_and_the_fix(tmp_path):
    env = {"GPT_FROM_SCRATCH_CACHE": str(tmp_path / "cache")}
    result = run_cli(
        "finetune", "--weights", "random", "--model-size", "tiny", "--out", str(tmp_path / "o"), env=env
    )
    assert result.returncode == 1
    assert "SMS Spam Collection" in result.stderr
    assert "--data-file" in result.stderr
    assert "Traceback" not in result.stderr


def test_finetune_offline_without_weights_dir_names_the_checkpoint_and_the_fix(tmp_path, sms_file, tokenizer):
    env = {"HF_HOME": str(tmp_path / "hf")}
    result = run_cli(
        "finetune", "--data-file", str(sms_file), "--out", str(tmp_path / "o"), env=env, timeout=60
    )
    assert result.returncode == 1
    assert "openai-community/gpt2" in result.stderr
    assert "--weights-dir" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-size", "gpt2-huge"], "invalid choice: 'gpt2-huge'"),
        (["--trainable", "everything"], "invalid choice: 'everything'"),
        (["--epochs", "zero"], "invalid int value"),
    ],
)
def test_bad_arguments_are_usage_errors(args, message, tmp_path):
    result = run_cli("finetune", "--weights", "random", "--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_zero_epochs_is_refused(tmp_path):
    result = run_cli("finetune", "--weights", "random", "--epochs", "0", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "--epochs 0: must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "-1"], "--lr -1: the learning rate must be positive"),
        (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
        (["--weight-decay", "-0.1"], "--weight-decay -0.1: the weight decay must be 0 or more"),
        (["--context", "none"], "use --batch-size 1"),
        (["--max-steps", "0"], "--max-steps 0: must be at least 1"),
    ],
)
def test_options_that_cannot_work_are_refused_naming_the_flag_typed(args, message, tmp_path, capsys):
    assert main(["finetune", "--weights", "random", "--out", str(tmp_path), *args]) == 1
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything ran


def test_finetune_options_and_defaults_come_from_finetune_config():
    args = build_parser().parse_args(["finetune"])
    for f in command_line_fields():
        assert getattr(args, f.name) == f.default, f.name
    args = build_parser().parse_args(
        ["finetune", "--no-causal-mask", "--exact", "--no-sdpa", "--epochs", "2"]
    )
    assert (args.causal, args.exact, args.sdpa, args.num_epochs) == (False, True, False, 2)


def test_experiments_overrides_default_to_the_rows_own_options_and_seeds_to_default_seeds():
    args = build_parser().parse_args(["experiments"])
    assert args.seeds == list(DEFAULT_SEEDS)
    assert all(getattr(args, name) is None for name in EXPERIMENT_OVERRIDES)
    args = build_parser().parse_args(["experiments", "--epochs", "2", "--model-size", "tiny", "--lr", "1e-3"])
    assert (args.num_epochs, args.model_size, args.lr) == (2, "tiny", 1e-3)


def test_a_bad_experiments_override_is_refused_before_any_run(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    assert main(["experiments", "row01-book", "--epochs", "0", "--results", str(results)]) == 1
    assert "--epochs 0: must be at least 1" in capsys.readouterr().err
    assert not results.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU, so cuda is not missing")
def test_asking_for_a_missing_gpu_says_so(tmp_path, sms_file):
    options = ["--weights", "random", "--model-size", "tiny", "--device", "cuda"]
    result = run_cli("finetune", *options, "--data-file", str(sms_file), "--out", str(tmp_path))
    assert result.returncode == 1
    assert "no CUDA GPU" in result.stderr
    assert "--device cpu" in result.stderr


def test_prepare_data_with_the_books_reading_matches_the_book_byte_for_byte(tmp_path, sms_file):
    result = run_cli(
        "prepare-data", "--out", str(tmp_path), "--data-file", str(sms_file), "--reading", "book"
    )
    assert result.returncode == 0, result.stderr
    for name, prefix in BOOK_SPLIT_SHA256_PREFIXES.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest().startswith(prefix), name


def test_prepare_data_reports_a_malformed_line(tmp_path):
    bad = tmp_path / "SMSSpamCollection"
    bad.write_text("ham\tfine\nspam without a tab\n")
    result = run_cli("prepare-data", "--out", str(tmp_path / "o"), "--data-file", str(bad))
    assert result.returncode == 1
    assert "line 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_finetune_runs_on_the_learners_exercises_once_they_are_written(tmp_path, sms_file, tokenizer):
    # A learner whose exercises/ holds working code (here: a copy of the solutions) trains with it.
    learner = tmp_path / "learner"
    shutil.copytree(Path(__file__).resolve().parent.parent / "solutions", learner / "exercises")
    env = {"PYTHONPATH": str(learner)}  # before the installed package: this exercises/ wins
    options = ["--impl", "exercises", "--weights", "random", "--model-size", "tiny", "--epochs", "1"]
    options += ["--max-length", "24", "--data-file", str(sms_file), "--out", str(tmp_path / "o")]
    result = run_cli("finetune", *options, env=env, cwd=tmp_path)  # not the checkout's exercises/
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Running your exercises/ code" in result.stdout
    assert "Attention: your exercises/ code" in result.stdout
    assert re.search(r"Test accuracy: \d+\.\d\d%", result.stdout)


def test_finetune_on_untouched_stubs_says_which_exercises_do_not_pass_before_training(tmp_path, sms_file):
    # Pristine stubs, generated from solutions/ (the checkout's exercises/ may hold a learner's work).
    write_checkout(tmp_path / "learner")
    env = {"PYTHONPATH": str(tmp_path / "learner")}
    options = [
        "--impl",
        "exercises",
        "--weights",
        "random",
        "--model-size",
        "tiny",
        "--data-file",
        str(sms_file),
    ]
    result = run_cli("finetune", *options, "--out", str(tmp_path / "o"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "exercises not passing yet: 1. scaled dot-product" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()

    # Past the check, the first stub reached names the function to write.
    options.append("--skip-exercise-check")
    result = run_cli("finetune", *options, "--out", str(tmp_path / "o"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "not implemented yet: exercises/" in result.stderr
    assert "pytest exercises/" in result.stderr
    assert "Traceback" not in result.stderr
