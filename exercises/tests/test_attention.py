# Do not edit: these tests check exercises/attention.py, the file you write.
"""Exercise 1: scaled dot-product attention, split_heads and merge_heads (exercises/attention.py)."""

from __future__ import annotations

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
    learner_module,
    reference,
    reference_model,
    where,
)
from gpt_from_scratch.model import MultiHeadAttention

pytestmark = pytest.mark.attention

SDPA = where("attention", "scaled_dot_product_attention")
ATOL, RTOL = 1e-5, 1e-5  # fp32 on inputs of size ~1: any CPU and torch version agrees far closer


@pytest.fixture(autouse=True)
def reference_apply_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests check exercise 1 alone: the apply_mask your attention calls (exercise 2, imported
    # at the top of attention.py) is the reference one here, so the exercises can be done in any order.
    monkeypatch.setattr(
        learner_module("attention"), "apply_mask", reference("causal_mask").apply_mask, raising=False
    )


def sdpa(*args):
    result = impl("attention").scaled_dot_product_attention(*args)
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail(
            f"{SDPA} must return a tuple (context, weights), got {type(result).__name__}", pytrace=False
        )
    return result


def multi_head_attention(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """MultiHeadAttention.forward written out with your three functions and the reference causal mask."""
    mine = impl("attention")
    batch, num_tokens, d_out = x.shape
    heads = (batch, mha.num_heads, num_tokens, d_out // mha.num_heads)
    queries, keys, values = (
        mine.split_heads(projection(x), mha.num_heads) for projection in (mha.W_query, mha.W_key, mha.W_value)
    )
    hint = "(batch, tokens, d_out) -> (batch, heads, tokens, head_dim), for any batch and number of tokens"
    check_shape(queries, heads, what=where("attention", "split_heads"), hint=hint)
    context, _ = sdpa(queries, keys, values, reference("causal_mask").causal_mask(x.shape[1]))
    check_shape(context, heads, what=f"{SDPA} (context)", hint="one head_dim vector per query token")
    merged = mine.merge_heads(context)
    hint = "(batch, heads, tokens, head_dim) -> (batch, tokens, heads * head_dim), for any batch and tokens"
    check_shape(merged, (batch, num_tokens, d_out), what=where("attention", "merge_heads"), hint=hint)
    return mha.out_proj(merged)


@pytest.mark.parametrize("case", ["unmasked", "masked"])
def test_scaled_dot_product_attention_matches_golden(case):
    g = golden("attention")
    mask = g["sdpa.mask"] if case == "masked" else None
    context, weights = sdpa(g["sdpa.queries"], g["sdpa.keys"], g["sdpa.values"], mask)
    for name, actual in (("weights", weights), ("context", context)):
        assert_matches_golden(
            actual,
            g,
            f"sdpa.{case}.{name}",
            what=f"{SDPA} ({name}, {case})",
            atol=ATOL,
            rtol=RTOL,
            hint="softmax((Q @ Kᵀ) / √head_dim, dim=-1) @ V, with the mask applied to the scores first",
        )


def test_split_heads_matches_golden():
    g = golden("attention")
    actual = impl("attention").split_heads(g["heads.x"], g.value("heads.num_heads"))
    assert_matches_golden(
        actual,
        g,
        "heads.split",
        what=where("attention", "split_heads"),
        atol=0,
        rtol=0,
        hint="(batch, tokens, d_out) -> view (batch, tokens, heads, head_dim) -> transpose(1, 2)",
    )


def test_merge_heads_matches_golden():
    g = golden("attention")
    actual = impl("attention").merge_heads(g["heads.split_output"])
    assert_matches_golden(
        actual,
        g,
        "heads.merged",
        what=where("attention", "merge_heads"),
        atol=0,
        rtol=0,
        hint="(batch, heads, tokens, head_dim) -> transpose(1, 2) -> (batch, tokens, heads * head_dim)",
    )


@example(leading=[2], num_tokens=4, head_dim=3, masked=True, seed=0)  # checked first: fails fast
@given(
    leading=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    num_tokens=st.integers(1, 8),
    head_dim=st.integers(1, 8),
    masked=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_weights_are_a_distribution_over_the_visible_keys(leading, num_tokens, head_dim, masked, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(*leading, num_tokens, head_dim, generator=g) for _ in range(3))
    mask = torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1) if masked else None
    context, weights = sdpa(q, k, v, mask)
    check_shape(
        context,
        (*leading, num_tokens, head_dim),
        what=f"{SDPA} (context)",
        hint="the context has one head_dim vector per query token",
    )
    check_shape(
        weights,
        (*leading, num_tokens, num_tokens),
        what=f"{SDPA} (weights)",
        hint="the weights have one row per query and one column per key",
    )
    assert (weights >= 0).all(), f"{SDPA}: attention weights must be non-negative (they come from a softmax)"
    row_sums = weights.sum(dim=-1)
    assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5), (
        f"{SDPA}: each row of the attention weights must sum to 1, but a row sums to "
        f"{row_sums.flatten()[(row_sums - 1).abs().flatten().argmax()]:.4f}. Softmax over the keys (dim=-1)."
    )
    if masked:
        assert (weights[..., mask] == 0).all(), f"{SDPA}: masked keys must get weight exactly 0"


@example(num_tokens=4, t=1, seed=0)  # checked first: fails fast
@given(num_tokens=st.integers(2, 8), t=st.integers(0, 6), seed=st.integers(0, 2**16))
def test_masked_attention_at_t_ignores_keys_after_t(num_tokens, t, seed):
    t = min(t, num_tokens - 2)  # a position that has later keys
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, num_tokens, 4, generator=g) for _ in range(3))
    mask = torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)
    k2, v2 = k.clone(), v.clone()
    k2[:, t + 1 :] += 1.0
    v2[:, t + 1 :] -= 1.0
    before, _ = sdpa(q, k, v, mask)
    after, _ = sdpa(q, k2, v2, mask)
    assert torch.allclose(before[:, : t + 1], after[:, : t + 1], atol=1e-5), (
        f"{SDPA}: with the causal mask, the output at position {t} changed when only the keys and values "
        f"after position {t} changed, so position {t} sees the future. mask[i, j] is True where query i "
        "must NOT see key j."
    )


@example(batch=2, num_tokens=3, heads=2, head_dim=4)
@given(
    batch=st.integers(1, 3), num_tokens=st.integers(1, 6), heads=st.integers(1, 4), head_dim=st.integers(1, 5)
)
def test_split_then_merge_gives_back_the_input(batch, num_tokens, heads, head_dim):
    x = torch.randn(batch, num_tokens, heads * head_dim)
    split = impl("attention").split_heads(x, heads)
    check_shape(
        split,
        (batch, heads, num_tokens, head_dim),
        what=where("attention", "split_heads"),
        hint="the result is (batch, heads, tokens, head_dim)",
    )
    merged = impl("attention").merge_heads(split)
    check_shape(
        merged,
        tuple(x.shape),
        what=where("attention", "merge_heads"),
        hint="the result is (batch, tokens, heads * head_dim)",
    )
    assert torch.equal(merged, x), "merge_heads(split_heads(x)) must give back x exactly"


def test_multi_head_attention_matches_golden():
    g = golden("attention")
    mha = MultiHeadAttention(d_in=12, d_out=12, dropout=0.0, num_heads=3, qkv_bias=True)
    mha.load_state_dict(
        {k.removeprefix("mha.state."): v for k, v in g.tensors.items() if k.startswith("mha.state.")}
    )
    with torch.no_grad():
        actual = multi_head_attention(mha, g["mha.x"])
    assert_matches_golden(
        actual,
        g,
        "mha.output",
        what="MultiHeadAttention (your split_heads, scaled_dot_product_attention and merge_heads together)",
        atol=ATOL,
        rtol=RTOL,
        hint="make the golden tests above pass first; then check that merge_heads undoes split_heads",
    )


def test_one_head_multi_head_attention_is_single_head_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_in=6, d_out=6, dropout=0.0, num_heads=1, qkv_bias=True)
    x = torch.randn(2, 5, 6)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    context, _ = sdpa(mha.W_query(x), mha.W_key(x), mha.W_value(x), mask)
    assert torch.allclose(multi_head_attention(mha, x), mha.out_proj(context), atol=1e-6), (
        "With one head, MultiHeadAttention must equal single-head attention on the projected inputs: "
        "check split_heads and merge_heads with num_heads=1."
    )


def assert_a_distribution(weights: torch.Tensor, context: torch.Tensor, *, inputs: str) -> None:
    """Finite, non-negative weights whose rows sum to 1, and a finite context."""
    bad = ~torch.isfinite(weights)
    if bad.any():
        pytest.fail(
            f"{SDPA}: on {inputs}, {int(bad.sum())} of {weights.numel()} attention weights are "
            f"{weights[bad].flatten()[0].item()} (not a finite number). exp(score) overflows float32 past a "
            "score of about 88: subtract each row's max before exp (max over dim=-1, keepdim=True), "
            "or call torch.softmax, which does.",
            pytrace=False,
        )
    assert (weights >= 0).all(), f"{SDPA}: on {inputs}, an attention weight is negative"
    row_sums = weights.sum(dim=-1)
    worst = row_sums.flatten()[(row_sums - 1).abs().flatten().argmax()]
    assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5), (
        f"{SDPA}: on {inputs}, a row of the attention weights sums to {worst:.4f}, not 1"
    )
    assert torch.isfinite(context).all(), f"{SDPA}: on {inputs}, the context is not finite"


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_weights_stay_finite_and_sum_to_1_for_scores_far_past_exp_overflow(masked):
    # Scores up to ~1e4, and rows of very different sizes: exp overflows float32 past 88.7, and a
    # max taken over the whole tensor instead of each row leaves the small rows all 0 (0 / 0).
    g = torch.Generator().manual_seed(11)
    num_tokens, head_dim = 6, 4
    row_scale = torch.logspace(0, 3, num_tokens).unsqueeze(-1)  # query i is 10^(3i/5) times larger
    q = torch.randn(2, num_tokens, head_dim, generator=g) * row_scale
    k, v = (
        torch.randn(2, num_tokens, head_dim, generator=g) * 30,
        torch.randn(2, num_tokens, head_dim, generator=g),
    )
    mask = torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1) if masked else None
    context, weights = sdpa(q, k, v, mask)
    check_shape(weights, (2, num_tokens, num_tokens), what=f"{SDPA} (weights)", hint="one row per query")
    assert_a_distribution(weights, context, inputs="scores of size up to 1e4 (float32)")
    if masked:
        assert (weights[..., mask] == 0).all(), f"{SDPA}: masked keys must get weight exactly 0"


def test_float64_inputs_give_float64_outputs_of_the_same_values():
    g = torch.Generator().manual_seed(12)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    context, weights = sdpa(q, k, v, mask)
    for name, tensor in (("context", context), ("weights", weights)):
        assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64, (
            f"{SDPA}: float64 inputs must give float64 {name}, got "
            f"{getattr(tensor, 'dtype', type(tensor).__name__)}: do not convert with .float() or a "
            "float32 tensor"
        )
    expected = torch.softmax((q @ k.transpose(-2, -1)).masked_fill(mask, float("-inf")) / 2.0, dim=-1)
    assert torch.allclose(weights, expected, atol=1e-12), (
        f"{SDPA}: on float64 inputs the weights differ from softmax(Q Kᵀ / √head_dim) by up to "
        f"{(weights - expected).abs().max().item():.3g}"
    )


def test_non_contiguous_inputs_give_the_same_result():
    # Inside the model, the queries, keys and values come from split_heads: transposed views.
    g = torch.Generator().manual_seed(13)
    q, k, v = (torch.randn(2, 5, 3, 4, generator=g) for _ in range(3))  # (batch, tokens, heads, head_dim)
    views = [t.transpose(1, 2) for t in (q, k, v)]  # (batch, heads, tokens, head_dim), non-contiguous
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    context, weights = sdpa(*views, mask)
    expected_context, expected_weights = sdpa(*(t.contiguous() for t in views), mask)
    for name, actual, expected in (
        ("context", context, expected_context),
        ("weights", weights, expected_weights),
    ):
        check_shape(actual, tuple(expected.shape), what=f"{SDPA} ({name})", hint="as for contiguous inputs")
        assert torch.allclose(actual, expected, atol=1e-6, equal_nan=True), (
            f"{SDPA}: a transposed (non-contiguous) input gave a different {name} than the same values "
            "made contiguous: use transpose/reshape, not .view on an input"
        )


@pytest.mark.parametrize(("batch", "num_tokens"), [(1, 1), (1, 4), (3, 1)])
def test_multi_head_attention_with_one_example_or_one_token(batch, num_tokens):
    torch.manual_seed(14)
    mha = MultiHeadAttention(d_in=6, d_out=6, dropout=0.0, num_heads=2, qkv_bias=True)
    x = torch.randn(batch, num_tokens, 6)
    with torch.no_grad():
        actual = multi_head_attention(mha, x)
        with reference_model():
            expected = mha(x)
    check_shape(
        actual,
        (batch, num_tokens, 6),
        what="MultiHeadAttention (your split_heads, scaled_dot_product_attention and merge_heads)",
        hint="the output has the input shape (batch, num_tokens, d_out), for a batch or sequence of one",
    )
    assert torch.allclose(actual, expected, atol=1e-5), (
        f"MultiHeadAttention with batch={batch}, num_tokens={num_tokens} differs from the reference by "
        f"{(actual - expected).abs().max().item():.3g}"
    )


def test_gradients_of_attention_match_golden():
    # Training needs the gradient to reach the queries and keys (through the scores and the mask) and
    # the values: they come from W_query, W_key and W_value, which would otherwise never learn.
    g = golden("attention")
    inputs = {name: g[f"sdpa.{name}"].requires_grad_() for name in ("queries", "keys", "values")}
    outputs = sdpa(*inputs.values(), g["sdpa.mask"])
    assert_gradients_match_golden(
        outputs,
        inputs,
        g,
        "sdpa.masked",
        what=SDPA,
        atol=ATOL,
        rtol=RTOL,
        values=("sdpa.masked.context", "sdpa.masked.weights"),
    )


@pytest.mark.parametrize(
    ("function", "key", "call"),
    [
        ("split_heads", "heads.split", lambda mine, x: mine.split_heads(x, 3)),
        ("merge_heads", "heads.merged", lambda mine, x: mine.merge_heads(x)),
    ],
)
def test_gradients_of_split_and_merge_match_golden(function, key, call):
    g = golden("attention")
    x = g["heads.x" if function == "split_heads" else "heads.split_output"].requires_grad_()
    output = call(impl("attention"), x)
    assert_gradients_match_golden(
        (output,), {"x": x}, g, key, what=where("attention", function), atol=0, rtol=0, values=(key,)
    )


def test_attention_on_the_meta_device():
    # PyTorch's "meta" device holds shapes but no values: it shows, without a GPU, that every tensor
    # the function makes is made on its inputs' device.
    q, k, v = (torch.empty(2, 3, 5, 4, device="meta") for _ in range(3))
    mask = torch.empty(5, 5, dtype=torch.bool, device="meta")
    context, weights = sdpa(q, k, v, mask)
    for name, tensor in (("context", context), ("weights", weights)):
        assert tensor.device.type == "meta", (
            f"{SDPA}: inputs on the meta device gave {name} on {tensor.device}: make every tensor you "
            "create on the inputs' device (device=queries.device), or avoid creating one"
        )
    split = impl("attention").split_heads(torch.empty(2, 5, 12, device="meta"), 3)
    merged = impl("attention").merge_heads(torch.empty(2, 3, 5, 4, device="meta"))
    assert split.device.type == merged.device.type == "meta", (
        "split_heads and merge_heads must return their result on their input's device"
    )


def test_masked_keys_get_weight_zero_however_negative_the_visible_scores():
    # Scores near -1e10: a large negative fill value (-1e9) would then be the largest score of its row.
    g = torch.Generator().manual_seed(15)
    q = torch.rand(2, 5, 4, generator=g) + 1.0
    k = -(torch.rand(2, 5, 4, generator=g) + 1.0) * 1e5  # every score is about -1e10 or below
    v = torch.randn(2, 5, 4, generator=g)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    context, weights = sdpa(q * 1e5, k, v, mask)
    check_shape(weights, (2, 5, 5), what=f"{SDPA} (weights)", hint="one row per query, one column per key")
    hidden = weights[..., mask]
    assert (hidden == 0).all(), (
        f"{SDPA}: on scores near -1e10, a masked key gets weight {hidden.abs().max().item():.3g}. "
        "Only -inf is below every score: mask with apply_mask (float('-inf')), not a large negative number."
    )
