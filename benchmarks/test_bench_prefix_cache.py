"""The prefix cache's fill against this CPU's fp32 matmul peak: the plain blocks beside FrozenBlocks.

GPT-2 small (random weights), the last block trainable: the fill computes blocks 0-10 for every
message. Two workloads of real SMS messages: the book's, each padded to 120 tokens and computed
at all of them (it reads the last position, padding), and the flexible position's, each computed
at its own length only. "plain" runs the blocks' modules on length-sorted padded chunks (the path
before FrozenBlocks, still used where FrozenBlocks does not apply); "frozen" is FrozenBlocks.

Each round fills a fresh cache with each path, in alternating order, and measures the matmul peak
just before each fill: MFU is the fill's useful FLOP/s over that peak, so load from other processes
sharing the cores hits both alike. The FLOPs are those of the computed (non-padding) positions:
padding computed for nothing counts as lost time. Environment variable:
  GPT_FROM_SCRATCH_BENCH_FILL_MESSAGES   messages of the SMS-length fill (default 512; "all": the 5,574
                                         of the file); the book's fill takes a quarter of them, which
                                         at 120 tokens each makes about as many tokens
"""

from __future__ import annotations

import os
import random
import statistics
import time

import pytest
import torch
from torch.utils.data import TensorDataset

from conftest import ROUNDS, block_forward_flops, gpt2_small_classifier, matmul_rate
from gpt_from_scratch.fast.prefix_cache import PrefixCache
from gpt_from_scratch.predict.tokenizer import PAD_TOKEN_ID, get_tokenizer

BOOK_LENGTH = 120  # the book pads every message to its longest training message
MESSAGES = os.environ.get("GPT_FROM_SCRATCH_BENCH_FILL_MESSAGES", "512")


@pytest.fixture(scope="module")
def model():
    return gpt2_small_classifier("last_block", sdpa=True, fused_layers=True).eval()


@pytest.fixture(scope="module")
def sms_ids(sms_file) -> list[list[int]]:
    """Token ids of a seeded sample of the SMS messages (all of them with MESSAGES=all), cut to 120."""
    texts = [line.split("\t", 1)[1] for line in sms_file.read_text(encoding="utf-8").splitlines()]
    if MESSAGES != "all":
        texts = random.Random(0).sample(texts, int(MESSAGES))
    tokenizer = get_tokenizer()
    return [tokenizer.encode(text)[:BOOK_LENGTH] for text in texts]


def fill_flops(model, lengths: list[int]) -> int:
    """Forward FLOPs of the frozen blocks over the computed positions of messages of these lengths."""
    start = PrefixCache(model).start
    return sum(length * start * block_forward_flops(model.cfg, length) for length in lengths)


@pytest.mark.parametrize("workload", ["book-120", "sms-lengths"])
def test_fill(benchmark, model, sms_ids, workload):
    never_read = workload == "sms-lengths"  # the flexible position reads no padding: none computed
    sample = sms_ids if never_read else sms_ids[: len(sms_ids) // 4]
    ids = torch.full((len(sample), BOOK_LENGTH), PAD_TOKEN_ID)
    for row, message in enumerate(sample):
        ids[row, : len(message)] = torch.tensor(message)
    dataset = TensorDataset(ids, torch.zeros(len(ids), dtype=torch.long))
    distinct = {tuple(message) for message in sample}
    lengths = [len(m) for m in distinct] if never_read else [BOOK_LENGTH] * len(distinct)
    flops = fill_flops(model, lengths)
    mfu: dict[str, list[float]] = {"plain": [], "frozen": []}
    seconds: dict[str, list[float]] = {"plain": [], "frozen": []}

    def fill(path: str) -> None:
        peak = matmul_rate()
        cache = PrefixCache(model, padding_never_read=never_read)
        if path == "plain":
            cache._frozen_blocks = None  # the plain blocks' path, as where FrozenBlocks does not apply
        start = time.perf_counter()
        with torch.inference_mode():
            cache.fill([dataset])
        seconds[path].append(time.perf_counter() - start)
        mfu[path].append(flops / seconds[path][-1] / peak)

    rounds = iter(range(ROUNDS + 1))

    def one_round() -> None:
        paths = ["plain", "frozen"] if next(rounds) % 2 == 0 else ["frozen", "plain"]
        for path in paths:
            fill(path)

    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    info = benchmark.extra_info
    info.update(messages=len(distinct), tokens=sum(lengths), gflop=flops / 1e9)
    for path in mfu:  # the warm-up round is left out
        info[f"{path}_seconds_median"] = statistics.median(seconds[path][1:])
        info[f"{path}_mfu_median"] = statistics.median(mfu[path][1:])
        info[f"{path}_mfu_rounds"] = mfu[path][1:]
    info["load_average"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"\n{workload}: {len(distinct)} messages, {sum(lengths)} tokens, {flops / 1e9:.0f} GFLOP; "
        f"MFU plain {info['plain_mfu_median']:.2f}, FrozenBlocks {info['frozen_mfu_median']:.2f} "
        f"(medians of {ROUNDS}; rounds {[round(m, 2) for m in mfu['frozen'][1:]]}); "
        f"load {info['load_average']}"
    )
