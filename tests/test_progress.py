"""Every phase of a run that can take more than a few seconds draws a progress bar on a terminal."""

from __future__ import annotations

import io
import sys

import pytest

from gpt_from_scratch.finetune import FinetuneConfig, finetune
from gpt_from_scratch.rewording import reword_all

pytestmark = pytest.mark.slow


class Terminal(io.StringIO):
    """Standard error as a terminal: tqdm draws its bars only there."""

    def isatty(self) -> bool:
        return True


def tiny_run(sms_file, out, **overrides) -> FinetuneConfig:
    values = dict(
        model_size="tiny", weights="random", data_file=str(sms_file), out_dir=str(out), device="cpu"
    )
    return FinetuneConfig(
        **(values | dict(num_epochs=1, max_steps=3, eval_freq=50, eval_iter=1, max_length=32) | overrides)
    )


def test_every_long_phase_of_a_run_draws_a_bar_even_when_nothing_is_logged(sms_file, tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    # As an experiments run calls it: no log lines at all, and a reworded test set to score.
    finetune(tiny_run(sms_file, tmp_path / "out", target_fpr=0.05), log=lambda _: None, also_score=reword_all)
    drawn = terminal.getvalue()
    for phase in (
        "Filling the frozen-prefix cache",  # the default --trainable last_block: the prefix is cached
        "Training, epoch 1 of 1",
        "Scoring the train set",
        "Scoring the validation set",
        "Scoring the test set",
        "Choosing the threshold: validation set",
        "Choosing the threshold: validation messages set aside",
        "Scoring the ham set aside",
        "Scoring the reworded test set",
    ):
        assert f"\r{phase}:" in drawn, phase


def test_without_a_terminal_no_bar_is_drawn_and_the_output_is_the_lines_alone(sms_file, tmp_path, capsys):
    lines = []
    finetune(tiny_run(sms_file, tmp_path / "out"), log=lines.append)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""  # every line went to log
    assert lines[-1] == f"Saved the classifier, metrics.json and plots to {tmp_path / 'out'}/"
