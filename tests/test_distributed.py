"""Data-parallel finetuning under torchrun (gloo, CPU): 2 processes end where 1 process ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from gpt_from_scratch.cli import main
from gpt_from_scratch.run.distributed import Distributed, launched_by_torchrun

ARGS = [
    "--model-size", "tiny", "--weights", "random", "--device", "cpu", "--lr", "1e-3",
    "--batch-size", "8", "--max-length", "24", "--epochs", "1", "--max-steps", "12",
    "--eval-freq", "5", "--eval-iter", "1",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_end_with_the_weights_of_one_with_the_same_global_batch(
    sms_file, tokenizer, tmp_path, monkeypatch, capsys
):
    data = ["--data-file", str(sms_file)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "gpt_from_scratch", "finetune", *ARGS, *data, "--out", str(tmp_path / "nproc2")]
    env = os.environ | {"OMP_NUM_THREADS": "1"}  # one thread per process, as below
    double_run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert double_run.returncode == 0, f"{double_run.stdout}\n{double_run.stderr}"

    # The single process joins a process group of one in this interpreter, as torchrun would set it up.
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    world = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}
    for name, value in (world | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}).items():
        monkeypatch.setenv(name, value)
    try:
        assert main(["finetune", *ARGS, *data, "--out", str(tmp_path / "nproc1")]) == 0
    finally:
        torch.set_num_threads(torch_threads)
    printed = {1: capsys.readouterr().out, 2: double_run.stdout}

    # Only rank 0 prints: each progress line appears once, not once per process.
    assert printed[2].count("Training accuracy:") == printed[1].count("Training accuracy:") == 1
    metrics = [json.loads((tmp_path / f"nproc{n}" / "metrics.json").read_text()) for n in (1, 2)]
    assert metrics[0]["examples_seen"] == metrics[1]["examples_seen"] == 12 * 8
    # Every process evaluates the whole validation set: the same numbers as the single process.
    assert metrics[1]["val_losses"] == pytest.approx(metrics[0]["val_losses"], rel=1e-4)
    assert metrics[1]["val_accs"] == metrics[0]["val_accs"]
    single, double = (load_file(next((tmp_path / f"nproc{n}").glob("weights-*.safetensors"))) for n in (1, 2))
    assert single.keys() == double.keys()
    for name in single:
        # The key bias's gradient is 0 in exact arithmetic (softmax ignores a shift shared by every
        # key), so Adam turns rounding noise into steps of up to lr each: allow lr per step there.
        atol = 1e-3 * 12 if name.endswith("W_key.bias") else 1e-5
        torch.testing.assert_close(double[name], single[name], rtol=1e-4, atol=atol, msg=name)


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not launched_by_torchrun()
    single = Distributed()
    assert single.is_main and not single.active
    loader = torch.utils.data.DataLoader(list(range(10)), batch_size=4)
    module = torch.nn.Linear(2, 2)
    assert single.shard(loader, seed=0) is loader
    assert single.wrap(module, torch.device("cpu")) is module
