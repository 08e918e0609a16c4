"""The app's test helpers: a tiny classifier finetuned for real, and the real `gpt-from-scratch serve`.

tests/conftest.py makes them the session's fixtures `served_model_dir`, `served` and `server`, shared by
test_serve.py and test_serve_browser.py: one classifier is trained and one server started for both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gpt_from_scratch
from gpt_from_scratch.cli import main

# A spam message of the SMS Spam Collection, and a message any reader knows is not spam.
SPAM = (
    "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt the word: CLAIM "
    "to No: 81010 T&C www.dbuk.net LCCLTD POBOX 4403LDNW1A7RW18"
)
HAM = "Are we still meeting for dinner tonight? I'll be there at 7"
SERVER_START_S = 180  # importing torch and Gradio on a busy 2-core CI machine takes a while


def tiny_classifier(tmp_path_factory: pytest.TempPathFactory, sms_file: Path) -> Path:
    """A tiny classifier finetuned through the CLI (83% test accuracy in a minute)."""
    out = (
        tmp_path_factory.mktemp("serve") / "spam-classifier"
    )  # finetune's default name: the screenshots show it
    options = ["--weights", "random", "--model-size", "tiny", "--trainable", "all", "--lr", "2e-3"]
    options += ["--epochs", "1", "--max-steps", "60", "--max-length", "64", "--eval-freq", "10"]
    options += ["--eval-iter", "2", "--device", "cpu", "--data-file", str(sms_file), "--out", str(out)]
    assert main(["finetune", *options]) == 0
    return out


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gpt-from-scratch serve` in a subprocess on 127.0.0.1 and a free port; stop() ends it with Ctrl+C."""

    def __init__(self, model_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        # Started beside the model, as a user starts it, so that the page names it as they would; on
        # the code these tests import, wherever that is.
        code = str(Path(gpt_from_scratch.__file__).resolve().parent.parent)
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [code, os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "gpt_from_scratch", "serve", "--model-dir", model_dir.name]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(log, "w") as out:  # a file, not a pipe: a full pipe would stall the server
            self.process = subprocess.Popen(
                command, cwd=model_dir.parent, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        deadline = time.monotonic() + SERVER_START_S
        while f"at {self.url}" not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.output()}", pytrace=False)
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"serve did not start in {SERVER_START_S} s:\n{self.output()}", pytrace=False)
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        """Ctrl+C, as a user stops it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_server(model_dir: Path, log: Path):
    """Yield a started Server, then stop it and check that it stopped cleanly."""
    server = Server(model_dir, log)
    yield server
    assert server.stop() == 0, server.output()
    assert "Stopped." in server.output()
    assert "Traceback" not in server.output(), server.output()
