"""What the notebooks in notebooks/ share: whose code they show, a tiny trained classifier, the data.

Each notebook calls the learner's functions through the seam, as `finetune --impl exercises` does:
`yours(seam.causal_mask, 6)` runs exercises/causal_mask.py (GPT_FROM_SCRATCH_IMPL=solutions shows
the reference instead). A stub still raising NotImplementedError prints the one line the tests
print and gives None, so the notebook runs on to its end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import tiktoken

from .. import seam
from ..checkpoint import holds_classifier, load_classifier
from ..model import GPTModel

ROOT = Path(__file__).resolve().parents[2]  # the checkout: gpt_from_scratch/course/notebook.py
DATA = ROOT / "tests" / "data"  # the offline SMS Spam Collection and GPT-2's tokenizer files
SMS_FILE = DATA / "sms_spam_collection" / "SMSSpamCollection"
IMPL = seam.check_implementation(os.environ.get(seam.ENV_VAR, "exercises"))
MODEL_DIR_VAR = "GPT_FROM_SCRATCH_NOTEBOOK_MODEL"  # where the tiny classifier is kept (tests: a tmp folder)
MODEL_DIR = Path(os.environ.get(MODEL_DIR_VAR, ROOT / "notebooks" / ".tiny-classifier"))
TRAINING_STEPS = 60

os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(DATA / "tiktoken_cache"))  # before the tokenizer loads
# tqdm in a notebook asks for ipywidgets; the training's progress is not shown here anyway.
warnings.filterwarnings("ignore", message="IProgress not found")


def yours(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """call(*args, **kwargs) with the learner's code in the seam; None (and one line) for a stub."""
    with seam.using(IMPL):
        try:
            return call(*args, **kwargs)
        except NotImplementedError as err:
            print(f"not implemented yet: {err}. Write it, then run this cell again.")
            return None


def train_tiny_classifier(model_dir: Path, steps: int = TRAINING_STEPS) -> subprocess.CompletedProcess:
    """Finetune the tiny model (2 layers, random start, all weights) on the SMS data in seconds.

    It reads each message's last real token (--position flexible), so that under the causal mask
    the output at token t is its answer for the message cut after t. The command runs in a process
    of its own: the notebook's plots stay in the notebook (finetune's own plots write files).
    """
    options = {
        "--model-size": "tiny",
        "--weights": "random",
        "--trainable": "all",  # from a random start, the last block alone learns little in seconds
        "--data-file": str(SMS_FILE),
        "--out": str(model_dir),
        "--max-steps": str(steps),
        "--epochs": "1",
        "--lr": "2e-3",
        "--max-length": "64",
        "--position": "flexible",
        "--eval-iter": "1",
        "--device": "cpu",
    }
    command = [sys.executable, "-m", "gpt_from_scratch", "finetune", "--overwrite", "--skip-exercise-check"]
    command += [part for flag, value in options.items() for part in (flag, value)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def tiny_classifier() -> tuple[GPTModel | None, dict | None]:
    """The tiny classifier, trained once (seconds) and kept in MODEL_DIR; (None, None) while a stub stops it.

    It trains on seam.REFERENCE: solutions/ in the repository, your exercises/ in a student release.
    """
    if not holds_classifier(MODEL_DIR):
        print(f"Training a tiny classifier on the SMS data into {MODEL_DIR} (a few seconds)")
        training = train_tiny_classifier(MODEL_DIR)
        if training.returncode != 0:  # e.g. "not implemented yet: exercises/loss.py::calc_loss_batch"
            print(training.stderr.strip().splitlines()[-1])
            return None, None
    model, config = load_classifier(MODEL_DIR)
    model.eval()
    return model, config


def split_messages(split: str = "test") -> pd.DataFrame:
    """A split the tiny classifier was trained and tested on: Label (1 = spam) and Text."""
    return pd.read_csv(MODEL_DIR / "data" / f"{split}.csv")


def token_labels(ids: list[int], tokenizer: tiktoken.Encoding) -> list[str]:
    """Each token as text, for a plot's axis (spaces shown as '·')."""
    return [tokenizer.decode([i]).replace(" ", "·") for i in ids]
