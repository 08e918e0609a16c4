"""Shared pieces of the benchmark suite: the GPT-2 small batch of the issue, FLOP counts, and records.

Run with `tox -e bench` (or `pytest benchmarks`); a plain `pytest` (testpaths = exercises) never
collects this folder. Environment variables:
  GPT_FROM_SCRATCH_BENCH_ROUNDS   timed rounds per benchmark (default 3, after one warm-up round)
  GPT_FROM_SCRATCH_BENCH_FULL=1   also run the book's full recipe end to end (about half an hour on CPU)
  GPT_FROM_SCRATCH_PEAK_FLOPS     the peak FLOP/s that MFU is measured against (default: measured,
                                  as the best fp32 matmul rate on this machine)
  GPT_FROM_SCRATCH_BENCH_FILL_MESSAGES  messages per prefix-cache fill (default 256; "all")
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt_from_scratch import seam
from gpt_from_scratch.model import GPTConfig, GPTModel, model_config

# The offline data's locations are the tests' (tests/offline_data.py), not a copy of them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from offline_data import SMS_FILE, require  # noqa: E402

BATCH_SIZE, NUM_TOKENS = 8, 120  # the book's batch; its longest training message is 120 tokens
ROUNDS = int(os.environ.get("GPT_FROM_SCRATCH_BENCH_ROUNDS", "3"))
FULL_RECIPE = os.environ.get("GPT_FROM_SCRATCH_BENCH_FULL") == "1"
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="CUDA variant: no CUDA GPU on this machine")


def gpt2_small_classifier(trainable: str, seed: int = 123, **model_options: bool) -> GPTModel:
    """GPT-2 small with random weights, a 2-class head and the chosen layers trainable."""
    torch.manual_seed(seed)
    model = GPTModel(model_config("gpt2-small"), **model_options)
    seam.replace_head(model, 2)
    return seam.freeze_all_but(model, trainable)


def hf_classifier(trainable: str, seed: int = 123) -> torch.nn.Module:
    """Hugging Face's GPT2ForSequenceClassification, same architecture and freezing, SDPA attention."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(seed)
    config = GPT2Config(
        n_embd=768, n_layer=12, n_head=12, num_labels=2, pad_token_id=50256,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="sdpa",
    )  # fmt: skip
    model = GPT2ForSequenceClassification(config)
    if trainable != "all":
        for param in model.parameters():
            param.requires_grad = False
        for module in (model.transformer.h[-1], model.transformer.ln_f, model.score):
            for param in module.parameters():
                param.requires_grad = True
    return model


@pytest.fixture(scope="session")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """One batch as the issue measures it: 8 rows of 120 token ids (no padding id), 8 labels."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50256, (BATCH_SIZE, NUM_TOKENS), generator=g)
    return ids, torch.randint(0, 2, (BATCH_SIZE,), generator=g)


@pytest.fixture(scope="session")
def sms_file() -> Path:
    """The real SMS Spam Collection file (5,574 lines)."""
    return require(SMS_FILE)


def block_forward_flops(cfg: GPTConfig, num_tokens: int) -> int:
    """Forward FLOPs of one transformer block per token: the 12 d² weights, and QKᵀ and AV."""
    return 2 * 12 * cfg.emb_dim**2 + 2 * 2 * num_tokens * cfg.emb_dim


def step_flops(
    cfg: GPTConfig,
    num_tokens: int,
    computed_blocks: int,
    trained_blocks: int,
    rows: int = BATCH_SIZE,
    skip_unread: bool = False,
) -> int:
    """FLOPs one step computes for a batch (nanoGPT's estimate): backward costs twice the forward.

    computed_blocks run forward (a frozen prefix served from a cache is not computed); the top
    trained_blocks of them also run backward. With skip_unread the last block computes its keys and
    values at every position (4 d² per token) and everything else at one position per row. The
    2-class head and the embeddings are negligible.
    """
    per_block = block_forward_flops(cfg, num_tokens)
    tokens = rows * num_tokens
    if not skip_unread or computed_blocks == 0:
        return tokens * (computed_blocks + 2 * trained_blocks) * per_block
    last_backward = 2 if trained_blocks > 0 else 0
    below = tokens * ((computed_blocks - 1) + 2 * max(trained_blocks - 1, 0)) * per_block
    last = (tokens * 2 * 2 * cfg.emb_dim**2 + rows * per_block) * (1 + last_backward)
    return below + last


@pytest.fixture(scope="session")
def peak_flops() -> float:
    """FLOP/s that MFU is measured against: the env var, or the best fp32 matmul rate measured here."""
    return matmul_rate(tries=5)


def matmul_rate(tries: int = 3) -> float:
    """GPT_FROM_SCRATCH_PEAK_FLOPS, or the best FLOP/s of a 2048 x 2048 fp32 matmul over tries, now."""
    if "GPT_FROM_SCRATCH_PEAK_FLOPS" in os.environ:
        return float(os.environ["GPT_FROM_SCRATCH_PEAK_FLOPS"])
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best


def record(benchmark, *, examples: int, tokens: int, flops: float | None = None, peak: float | None = None):
    """Store throughput (and achieved FLOP/s and MFU) in the benchmark's extra_info, from its mean time."""
    seconds = benchmark.stats.stats.mean
    info = benchmark.extra_info
    info["examples_per_s"] = examples / seconds
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = os.getloadavg()[0]  # other processes sharing the cores
    info["tokens_per_s"] = tokens / seconds
    if flops is not None and peak is not None:
        info["achieved_flops_per_s"] = flops / seconds
        info["peak_flops_per_s"] = peak
        info["mfu"] = flops / seconds / peak


def pytest_benchmark_update_machine_info(config, machine_info):
    """Add what the figures depend on: CPU model, core count, torch build, the load at the end."""
    machine_info["cpu_model"] = _cpu_model()
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["cuda_device"] = torch.cuda.get_device_name(0) if HAS_CUDA else None
    if hasattr(os, "getloadavg"):
        machine_info["load_average_at_end"] = os.getloadavg()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
