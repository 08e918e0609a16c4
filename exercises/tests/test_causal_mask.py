# Do not edit: these tests check exercises/causal_mask.py, the file you write.
"""Exercise 2: the causal mask, built and applied (exercises/causal_mask.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gpt_from_scratch.grading.checks import assert_matches_golden, check_shape, golden, impl, where
from gpt_from_scratch.model import GPTConfig, GPTModel

pytestmark = pytest.mark.causal_mask

MASK = where("causal_mask", "causal_mask")
APPLY = where("causal_mask", "apply_mask")
TINY = GPTConfig(vocab_size=60, context_length=16, emb_dim=12, n_heads=3, n_layers=2)


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


@settings(max_examples=10)  # each example builds a model: fewer, still varied
@example(num_tokens=4, t=1, seed=0)  # checked first: fails fast
@given(num_tokens=st.integers(2, 10), t=st.integers(0, 8), seed=st.integers(0, 2**16))
def test_model_output_at_t_ignores_tokens_after_t(num_tokens, t, seed):
    t = min(t, num_tokens - 2)  # a position that has later tokens
    torch.manual_seed(seed)
    model = GPTModel(TINY).eval()
    ids = torch.randint(0, TINY.vocab_size, (1, num_tokens))
    changed = ids.clone()
    changed[0, t + 1 :] = (changed[0, t + 1 :] + 1) % TINY.vocab_size
    with torch.no_grad():
        before, after = model(ids), model(changed)
    assert torch.allclose(before[:, : t + 1], after[:, : t + 1], atol=1e-5), (
        f"GPTModel with your mask: the output at position {t} changed when only tokens after {t} changed. "
        "A causal model must not look ahead: check causal_mask and apply_mask."
    )


def test_without_the_mask_earlier_positions_do_see_later_tokens():
    # The same model with causal=False: a check that the test above can fail at all.
    torch.manual_seed(0)
    ids = torch.randint(0, TINY.vocab_size, (1, 6))
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % TINY.vocab_size
    outputs = {}
    for causal in (True, False):
        torch.manual_seed(0)
        model = GPTModel(GPTConfig(**(TINY.to_dict() | {"causal": causal}))).eval()
        with torch.no_grad():
            outputs[causal] = (model(ids)[0, 0], model(changed)[0, 0])
    assert torch.allclose(*outputs[True], atol=1e-5), "with the mask, position 0 must ignore the last token"
    assert not torch.allclose(*outputs[False], atol=1e-5), (
        "without the mask, position 0 should see the last token"
    )


@settings(max_examples=10)
@example(length=3, padding=2, seed=0)  # checked first: fails fast
@given(length=st.integers(1, 8), padding=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_padding_after_the_last_real_token_does_not_change_its_logits(length, padding, seed):
    torch.manual_seed(seed)
    model = GPTModel(TINY).eval()
    ids = torch.randint(0, TINY.vocab_size - 1, (1, length))
    padded = torch.cat([ids, torch.full((1, padding), TINY.vocab_size - 1)], dim=1)
    with torch.no_grad():
        real, with_padding = model(ids)[0, -1], model(padded)[0, length - 1]
    assert torch.allclose(real, with_padding, atol=1e-5), (
        "Padding appended after a message changed the logits at its last real token: with a correct "
        "causal mask, that position cannot see the padding."
    )
