"""FrozenBlocks (the prefix cache's runner of the frozen blocks) gives the blocks' own outputs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from gpt_from_scratch import seam
from gpt_from_scratch.fast.frozen_blocks import FrozenBlocks
from gpt_from_scratch.fast.prefix_cache import PrefixCache
from gpt_from_scratch.fast.quantize import quantize_linear_int8
from gpt_from_scratch.fast.trunk import embed
from gpt_from_scratch.model import GPTConfig, GPTModel

PAD = 50256
CFG = GPTConfig(vocab_size=PAD + 1, context_length=24, emb_dim=32, n_heads=4, n_layers=3)


def fast_model(dtype: torch.dtype = torch.float32, **overrides) -> GPTModel:
    """A random model built with the fast kernels, as finetune builds it, all but its last block frozen."""
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(**(CFG.to_dict() | overrides)), sdpa=True, fused_layers=True).to(dtype).eval()
    seam.replace_head(model, 2)
    return seam.freeze_all_but(model, "last_block")


def messages(lengths: list[int], seed: int = 0) -> torch.Tensor:
    """Random messages, each padded to the longest: (len(lengths), max(lengths))."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(0, 1000, (length,), generator=g)
    return ids


MESSAGE_LENGTHS = st.lists(st.integers(1, CFG.context_length), min_size=1, max_size=7)  # one call's messages


def assert_matches(ours: torch.Tensor, blocks_output: torch.Tensor) -> None:
    # fp32 rounding only: a few units in the last place of the activations' scale (about 1e-7 each).
    scale = blocks_output.abs().max().item()
    torch.testing.assert_close(ours, blocks_output, rtol=1e-5, atol=1e-5 * scale)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(lengths=MESSAGE_LENGTHS, causal=st.booleans(), qkv_bias=st.booleans())
def test_frozen_blocks_give_each_messages_blocks_output(lengths, causal, qkv_bias):
    model = fast_model(causal=causal, qkv_bias=qkv_bias)
    blocks = model.trf_blocks[:2]
    assert FrozenBlocks.supported(blocks, torch.device("cpu"))
    ids = messages(lengths)
    with torch.no_grad():
        # Independently: each message alone through the blocks' own forward, at its own length.
        alone = [blocks(embed(model, ids[row : row + 1, :n]))[0] for row, n in enumerate(lengths)]
        expected = torch.cat(alone)  # (total_tokens, emb_dim)
        real = torch.arange(ids.shape[1]) < torch.tensor(lengths)[:, None]
        ours = FrozenBlocks(blocks)(embed(model, ids)[real], lengths)  # the messages' tokens, flat
    assert ours.shape == expected.shape
    assert_matches(ours, expected)


# Among other messages an int8 layer quantizes the whole flat input with one scale, not one message's:
# 7-bit steps of 1/127 of a larger range. Through two tiny blocks the change measured at most 0.9% of
# the activations' scale over 40 random draws; 3% leaves room and still fails on a wrong int8 weight.
INT8_AMONG_OTHERS = 0.03


@settings(max_examples=30, deadline=None, derandomize=True)
@given(lengths=MESSAGE_LENGTHS, causal=st.booleans(), qkv_bias=st.booleans())
def test_int8_frozen_blocks_give_each_messages_int8_blocks_output(lengths, causal, qkv_bias):
    model = quantize_linear_int8(fast_model(causal=causal, qkv_bias=qkv_bias))
    blocks = model.trf_blocks[:2]
    assert FrozenBlocks.supported(blocks, torch.device("cpu"))
    frozen = FrozenBlocks(blocks)
    ids = messages(lengths)
    with torch.no_grad():
        x = embed(model, ids)
        alone = [blocks(x[row : row + 1, :n])[0] for row, n in enumerate(lengths)]  # the int8 modules
        # A message alone: the same int8 values, scales and input, so float rounding at most.
        for row, n in enumerate(lengths):
            assert_matches(frozen(x[row, :n], [n]), alone[row])
        real = torch.arange(ids.shape[1]) < torch.tensor(lengths)[:, None]
        together = frozen(x[real], lengths)
    expected = torch.cat(alone)
    scale = expected.abs().max().item()
    torch.testing.assert_close(together, expected, rtol=0, atol=INT8_AMONG_OTHERS * scale)


@pytest.mark.parametrize("never_read", [False, True])
def test_the_cache_fills_and_serves_through_frozen_blocks_without_running_the_modules(never_read):
    model = fast_model()
    cached = PrefixCache(model, pad_token_id=PAD, padding_never_read=never_read)
    calls = []
    for block in model.trf_blocks:
        block.register_forward_hook(lambda module, inputs, output: calls.append(module))
    lengths = [3, 12, 5, 3, 9, 14, 1, 7, 24, 2]
    ids = messages(lengths)
    dataset = TensorDataset(ids[:6], torch.zeros(6, dtype=torch.long))
    with torch.no_grad():
        assert cached.fill([dataset], max_tokens=32) == 6
        served = cached.prefix(ids)  # the last four are misses, computed now
        assert calls == []  # neither the fill nor the misses ran the blocks' modules
        expected = model.trf_blocks[: cached.start](embed(model, ids))
    for row, length in enumerate(lengths):
        read = slice(0, length) if never_read else slice(None)
        assert_matches(served[row, read], expected[row, read])


def test_frozen_blocks_apply_only_to_fp32_or_int8_blocks_built_with_the_fast_kernels():
    cpu = torch.device("cpu")
    assert FrozenBlocks.supported(fast_model().trf_blocks, cpu)
    assert FrozenBlocks.supported(quantize_linear_int8(fast_model()).trf_blocks, cpu)
    assert not FrozenBlocks.supported(fast_model(torch.float64).trf_blocks, cpu)
    assert not FrozenBlocks.supported(fast_model().trf_blocks, torch.device("cuda"))
    torch.manual_seed(0)
    book = GPTModel(CFG)  # the book's attention, LayerNorm and GELU: the plain blocks run them
    assert not FrozenBlocks.supported(book.trf_blocks, cpu)
    assert not FrozenBlocks.supported(GPTModel(CFG, sdpa=True).trf_blocks, cpu)
