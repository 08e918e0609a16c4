# Do not edit: these tests check exercises/causal_mask.py, the file you write.
"""Exercise 2: the causal mask, built and applied (exercises/causal_mask.py)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import (
    assert_gradients_match_golden,
    assert_matches_golden,
    check_shape,
    golden,
    impl,
    where,
)

pytestmark = pytest.mark.causal_mask

MASK = where("causal_mask", "causal_mask")
APPLY = where("causal_mask", "apply_mask")
DIM = 8  # each token's vector in the attention below


def self_attention(x: torch.Tensor, seed: int, causal: bool = True) -> torch.Tensor:
    """Two layers of single-head self-attention, masked with your causal_mask and apply_mask.

    Written out here rather than run through GPTModel, so that these tests check your mask alone,
    whatever exercises/attention.py holds. x: (batch, num_tokens, DIM) -> the same shape.
    """
    mine = impl("causal_mask")
    g = torch.Generator().manual_seed(seed)
    for _ in range(2):
        w_query, w_key, w_value = (torch.randn(DIM, DIM, generator=g) / math.sqrt(DIM) for _ in range(3))
        scores = (x @ w_query) @ (x @ w_key).transpose(-2, -1) / math.sqrt(DIM)  # (batch, queries, keys)
        if causal:
            scores = mine.apply_mask(scores, mine.causal_mask(x.shape[1], device=x.device))
        x = x + torch.softmax(scores, dim=-1) @ (x @ w_value)
    return x


@pytest.mark.parametrize("num_tokens", [5, 1])
def test_causal_mask_matches_golden(num_tokens):
    assert_matches_golden(
        impl("causal_mask").causal_mask(num_tokens),
        golden("causal_mask"),
        f"mask.{num_tokens}",
        what=f"{MASK}({num_tokens})",
        atol=0,
        rtol=0,
        hint="True strictly above the diagonal: torch.triu(..., diagonal=1) on a boolean tensor",
    )


@example(num_tokens=4)
@given(num_tokens=st.integers(1, 12))
def test_each_query_sees_itself_and_the_past_only(num_tokens):
    mask = impl("causal_mask").causal_mask(num_tokens)
    check_shape(mask, (num_tokens, num_tokens), what=MASK, hint="one row per query, one column per key")
    assert mask.dtype == torch.bool, f"{MASK} must return a boolean tensor (True = hidden), got {mask.dtype}"
    for i in range(num_tokens):
        visible = (~mask[i]).nonzero().flatten().tolist()
        assert visible == list(range(i + 1)), (
            f"{MASK}({num_tokens}): query {i} sees keys {visible}, but it must see keys 0..{i} exactly"
        )


def test_apply_mask_matches_golden():
    g = golden("causal_mask")
    assert_matches_golden(
        impl("causal_mask").apply_mask(g["apply.scores"], g["apply.mask"]),
        g,
        "apply.masked",
        what=APPLY,
        atol=0,
        rtol=0,
        hint="scores.masked_fill(mask, float('-inf'))",
    )


def test_apply_mask_leaves_the_callers_scores_alone():
    g = golden("causal_mask")
    scores = g["apply.scores"]
    original = scores.clone()
    impl("causal_mask").apply_mask(scores, g["apply.mask"])
    assert torch.equal(scores, original), (
        f"{APPLY} changed the scores it was given: use masked_fill (a new tensor), "
        "not masked_fill_ (in place)"
    )


@example(num_tokens=4, t=1, seed=0)  # checked first: fails fast
@given(num_tokens=st.integers(2, 10), t=st.integers(0, 8), seed=st.integers(0, 2**16))
def test_attention_output_at_t_ignores_tokens_after_t(num_tokens, t, seed):
    t = min(t, num_tokens - 2)  # a position that has later tokens
    x = torch.randn(1, num_tokens, DIM, generator=torch.Generator().manual_seed(seed))
    changed = x.clone()
    changed[0, t + 1 :] += 1.0
    before, after = self_attention(x, seed), self_attention(changed, seed)
    assert torch.allclose(before[:, : t + 1], after[:, : t + 1], atol=1e-5), (
        f"Attention with your mask: the output at position {t} changed when only tokens after {t} changed. "
        "A causal model must not look ahead: check causal_mask and apply_mask."
    )


def test_without_the_mask_earlier_positions_do_see_later_tokens():
    # The same computation unmasked: a check that the test above can fail at all.
    x = torch.randn(1, 6, DIM, generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[0, -1] += 1.0
    outputs = {
        causal: (self_attention(x, 0, causal)[0, 0], self_attention(changed, 0, causal)[0, 0])
        for causal in (True, False)
    }
    assert torch.allclose(*outputs[True], atol=1e-5), "with the mask, position 0 must ignore the last token"
    assert not torch.allclose(*outputs[False], atol=1e-5), (
        "without the mask, position 0 should see the last token"
    )


@example(length=3, padding=2, seed=0)  # checked first: fails fast
@given(length=st.integers(1, 8), padding=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_padding_after_the_last_real_token_does_not_change_its_output(length, padding, seed):
    g = torch.Generator().manual_seed(seed)
    tokens, pad = torch.randn(1, length, DIM, generator=g), torch.randn(1, 1, DIM, generator=g)
    padded = torch.cat([tokens, pad.expand(1, padding, DIM)], dim=1)
    real, with_padding = self_attention(tokens, seed)[0, -1], self_attention(padded, seed)[0, length - 1]
    assert torch.allclose(real, with_padding, atol=1e-5), (
        "Padding appended after a message changed the output at its last real token: with a correct "
        "causal mask, that position cannot see the padding."
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_keys_get_weight_zero_however_negative_the_scores(dtype):
    # Scores far below -1e9: a large negative fill value would then be the largest score of its row.
    g = torch.Generator().manual_seed(41)
    scores = -1e12 - torch.rand(2, 5, 5, generator=g, dtype=dtype) * 1e12
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    masked = impl("causal_mask").apply_mask(scores, mask)
    check_shape(masked, (2, 5, 5), what=APPLY, hint="the same shape as the scores")
    assert masked.dtype == dtype, f"{APPLY}: {dtype} scores must stay {dtype}, got {masked.dtype}"
    weights = torch.softmax(masked, dim=-1)
    assert (weights[..., mask] == 0).all(), (
        f"{APPLY}: on scores near -1e12, softmax gives a masked key weight "
        f"{weights[..., mask].max().item():.3g}. Only -inf is below every score: fill with float('-inf')."
    )


def test_apply_mask_on_non_contiguous_scores():
    # Scores that are a transposed view (as they can be inside a model) are masked the same way.
    g = torch.Generator().manual_seed(42)
    scores = torch.randn(4, 4, 2, generator=g).permute(2, 0, 1)  # (2, 4, 4), non-contiguous
    mask = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    actual = impl("causal_mask").apply_mask(scores, mask)
    expected = impl("causal_mask").apply_mask(scores.contiguous(), mask)  # your function, contiguous input
    check_shape(actual, (2, 4, 4), what=APPLY, hint="the same shape as the scores")
    check_shape(expected, (2, 4, 4), what=APPLY, hint="the same shape as the scores")
    assert torch.allclose(actual, expected, rtol=0, atol=0, equal_nan=True), (
        f"{APPLY}: on a transposed (non-contiguous) view of the scores, the result differs from the same "
        "scores made contiguous"
    )


def test_causal_mask_called_again_with_other_sizes():
    # A model calls causal_mask on every forward pass, with the length of each batch.
    for num_tokens in (6, 3, 1, 6):
        mask = impl("causal_mask").causal_mask(num_tokens, device="cpu")
        check_shape(
            mask,
            (num_tokens, num_tokens),
            what=f"{MASK}({num_tokens}) after calls with other sizes",
            hint="build the mask for this call's num_tokens; keep nothing from an earlier call",
        )
        expected = torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)
        assert torch.equal(mask, expected), f"{MASK}({num_tokens}) differs after calls with other sizes"


def test_gradients_through_the_masked_scores_match_golden():
    # In attention the masked scores go through a softmax, and the gradient must flow back through
    # apply_mask to the visible scores (and be exactly 0 for the hidden ones).
    g = golden("causal_mask")
    scores = g["apply.scores"].requires_grad_()
    weights = torch.softmax(impl("causal_mask").apply_mask(scores, g["apply.mask"]), dim=-1)
    assert_gradients_match_golden(
        (weights,),
        {"scores": scores},
        g,
        "apply.masked",
        what=f"{APPLY} (then softmax)",
        atol=1e-6,
        rtol=1e-5,
    )


@pytest.mark.parametrize("device", ["meta", torch.device("meta")], ids=["string", "torch.device"])
def test_causal_mask_is_made_on_the_device_asked_for(device):
    # PyTorch's "meta" device holds shapes but no values: it shows, without a GPU, where a tensor is made.
    mask = impl("causal_mask").causal_mask(4, device=device)
    check_shape(mask, (4, 4), what=f"{MASK}(4, device={device!r})", hint="one row per query")
    assert mask.device.type == "meta", (
        f"{MASK}(4, device={device!r}) returned a mask on {mask.device}: create it on `device` "
        "(torch.ones(..., device=device)), so that a model on a GPU gets its mask on the GPU"
    )
    masked = impl("causal_mask").apply_mask(torch.empty(2, 4, 4, device="meta"), mask)
    assert masked.device.type == "meta", (
        f"{APPLY}: scores and mask on the meta device gave a result on {masked.device}: keep the "
        "scores' device"
    )


@pytest.mark.parametrize("num_tokens", [1024, 1025, 2048])
def test_causal_mask_for_sequences_up_to_and_past_gpt2s_context(num_tokens):
    # GPT-2's context is 1,024 tokens, but the function takes any length: nothing may be cut at 1,024.
    mask = impl("causal_mask").causal_mask(num_tokens)
    check_shape(
        mask,
        (num_tokens, num_tokens),
        what=f"{MASK}({num_tokens})",
        hint="build the mask for this call's num_tokens: a mask made once for 1,024 tokens is too small",
    )
    rows = torch.arange(num_tokens).unsqueeze(1)
    expected = torch.arange(num_tokens).unsqueeze(0) > rows  # key j hidden from query i when j > i
    wrong = (mask != expected).nonzero()
    assert len(wrong) == 0, (
        f"{MASK}({num_tokens}): {len(wrong)} entries are wrong, the first at (query, key) = "
        f"{tuple(wrong[0].tolist())}"
    )


def test_each_call_returns_a_mask_of_its_own():
    # The mask is the caller's: changing it must not change what later calls return (a cached mask would).
    first = impl("causal_mask").causal_mask(4)
    check_shape(first, (4, 4), what=f"{MASK}(4)", hint="one row per query, one column per key")
    first.fill_(True)
    second = impl("causal_mask").causal_mask(4)
    expected = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    assert torch.equal(second, expected), (
        f"{MASK}(4): after the caller changed the mask it got, the next call returned a changed mask: "
        "return a new tensor on each call (no cache, no functools.lru_cache)"
    )
