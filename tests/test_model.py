"""GPTModel's architecture: shapes, sizes, the causal property, and the attention math it runs on."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_from_scratch import seam
from gpt_from_scratch.model import (
    MODEL_CONFIGS,
    GPTConfig,
    GPTModel,
    MultiHeadAttention,
    count_parameters,
    model_config,
)

SMALL = GPTConfig(vocab_size=97, context_length=16, emb_dim=24, n_heads=3, n_layers=2)


def test_output_shape_is_batch_tokens_vocab(tiny_model):
    ids = torch.randint(0, tiny_model.cfg.vocab_size, (3, 7))
    assert tiny_model(ids).shape == (3, 7, tiny_model.cfg.vocab_size)


def test_gpt2_small_has_the_published_124m_parameters():
    # 124,439,808 with the output head tied to the token embedding (OpenAI's GPT-2 "124M").
    with torch.device("meta"):
        model = GPTModel(MODEL_CONFIGS["gpt2-small"])
    assert count_parameters(model) == 124_439_808


@pytest.mark.parametrize(
    ("size", "approx_millions"), [("gpt2-medium", 355), ("gpt2-large", 774), ("gpt2-xl", 1558)]
)
def test_larger_configs_have_their_published_sizes(size, approx_millions):
    with torch.device("meta"):  # no memory, no time: only the shapes are built
        model = GPTModel(MODEL_CONFIGS[size])
    assert count_parameters(model) / 1e6 == pytest.approx(approx_millions, rel=0.01)


def test_output_head_is_tied_to_token_embedding(tiny_model):
    assert tiny_model.out_head.weight is tiny_model.tok_emb.weight


def test_unknown_model_size_names_the_choices():
    with pytest.raises(ValueError, match="gpt2-small"):
        model_config("gpt2-huge")


def test_input_longer_than_context_is_rejected_clearly():
    model = GPTModel(SMALL)
    with pytest.raises(ValueError, match="at most 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    num_tokens=st.integers(2, 12),
    t=st.data(),
    seed=st.integers(0, 2**16),
)
def test_causal_output_at_t_ignores_later_tokens(num_tokens, t, seed):
    torch.manual_seed(seed)
    model = GPTModel(SMALL).eval()
    position = t.draw(st.integers(0, num_tokens - 2), label="position")
    ids = torch.randint(0, SMALL.vocab_size, (1, num_tokens))
    changed = ids.clone()
    changed[0, position + 1 :] = (changed[0, position + 1 :] + 1) % SMALL.vocab_size
    with torch.no_grad():
        before, after = model(ids), model(changed)
    torch.testing.assert_close(before[:, : position + 1], after[:, : position + 1], rtol=1e-5, atol=1e-5)


def test_without_causal_mask_earlier_positions_see_later_tokens():
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(**(SMALL.to_dict() | {"causal": False}))).eval()
    ids = torch.randint(0, SMALL.vocab_size, (1, 8))
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % SMALL.vocab_size
    with torch.no_grad():
        assert not torch.allclose(model(ids)[:, 0], model(changed)[:, 0])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    batch=st.integers(1, 3),
    num_tokens=st.integers(1, 10),
    head_dim=st.integers(1, 8),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_attention_weights_are_a_distribution_over_visible_keys(batch, num_tokens, head_dim, causal, seed):
    torch.manual_seed(seed)
    q, k, v = (torch.randn(batch, num_tokens, head_dim) for _ in range(3))
    mask = seam.causal_mask(num_tokens) if causal else None
    context, weights = seam.scaled_dot_product_attention(q, k, v, mask)
    assert context.shape == (batch, num_tokens, head_dim)
    assert weights.shape == (batch, num_tokens, num_tokens)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, num_tokens))
    if causal:
        assert (weights.triu(diagonal=1) == 0).all()


def test_attention_matches_the_formula_written_out():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 5, 4) for _ in range(3))
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(4), dim=-1) @ v
    context, _ = seam.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(context, expected)


def test_attention_agrees_with_pytorch_fused_kernel():
    # An independent implementation: torch's own scaled_dot_product_attention.
    torch.manual_seed(2)
    q, k, v = (torch.randn(2, 3, 6, 8) for _ in range(3))
    context, _ = seam.scaled_dot_product_attention(q, k, v, seam.causal_mask(6))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(context, expected, rtol=1e-5, atol=1e-6)


def test_split_then_merge_heads_is_the_identity():
    x = torch.randn(2, 5, 12)
    heads = seam.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    # Head h holds the h-th slice of 4 features of every token.
    torch.testing.assert_close(heads[:, 1], x[:, :, 4:8])
    torch.testing.assert_close(seam.merge_heads(heads), x)


def test_one_head_attention_is_single_head_attention():
    torch.manual_seed(3)
    mha = MultiHeadAttention(d_in=6, d_out=6, dropout=0.0, num_heads=1, qkv_bias=True)
    x = torch.randn(2, 5, 6)
    q, k, v = mha.W_query(x), mha.W_key(x), mha.W_value(x)
    context, _ = seam.scaled_dot_product_attention(q, k, v, seam.causal_mask(5))
    torch.testing.assert_close(mha(x), mha.out_proj(context))


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(d_in=10, d_out=10, dropout=0.0, num_heads=3)


def test_layer_norm_and_gelu_match_torch():
    from gpt_from_scratch.model import GELU, LayerNorm

    x = torch.randn(4, 10)
    torch.testing.assert_close(LayerNorm(10)(x), torch.nn.functional.layer_norm(x, (10,), eps=1e-5))
    torch.testing.assert_close(GELU()(x), torch.nn.functional.gelu(x, approximate="tanh"))


# --- the book's computation, bit for bit ----------------------------------------------------------
# The book's chapter 3-4 code, written out as the book writes it (operation for operation), run on
# our model's own parameters. --exact promises this computation; torch.equal, not a tolerance.
def book_layer_norm(norm, x):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    norm_x = (x - mean) / torch.sqrt(var + norm.eps)
    return norm.scale * norm_x + norm.shift


def book_gelu(x):
    return (
        0.5
        * x
        * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))))
    )


def book_attention(att, x):
    b, num_tokens, _ = x.shape
    head_dim = att.d_out // att.num_heads
    keys = att.W_key(x).view(b, num_tokens, att.num_heads, head_dim).transpose(1, 2)
    queries = att.W_query(x).view(b, num_tokens, att.num_heads, head_dim).transpose(1, 2)
    values = att.W_value(x).view(b, num_tokens, att.num_heads, head_dim).transpose(1, 2)
    attn_scores = queries @ keys.transpose(2, 3)
    mask_bool = torch.triu(torch.ones(num_tokens, num_tokens), diagonal=1).bool()
    attn_scores.masked_fill_(mask_bool, -torch.inf)
    attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
    context_vec = (attn_weights @ values).transpose(1, 2)
    context_vec = context_vec.contiguous().view(b, num_tokens, att.d_out)
    return att.out_proj(context_vec)


def book_forward(model, in_idx):
    x = model.tok_emb(in_idx) + model.pos_emb(torch.arange(in_idx.shape[1]))
    for block in model.trf_blocks:
        shortcut = x
        x = book_attention(block.att, book_layer_norm(block.norm1, x)) + shortcut
        shortcut = x
        linear1, _, linear2 = block.ff.layers
        x = linear2(book_gelu(linear1(book_layer_norm(block.norm2, x)))) + shortcut
    return model.out_head(book_layer_norm(model.final_norm, x))


def test_the_book_kernels_compute_the_books_formulas_bit_for_bit():
    from gpt_from_scratch.model import GELU, LayerNorm

    torch.manual_seed(4)
    norm = LayerNorm(64)
    torch.nn.init.normal_(norm.scale)
    torch.nn.init.normal_(norm.shift)
    x = torch.randn(8, 5, 64) * 3 + 1
    with torch.no_grad():
        assert torch.equal(norm(x), book_layer_norm(norm, x))
        assert torch.equal(GELU()(x), book_gelu(x))


def test_the_model_computes_the_books_model_bit_for_bit():
    torch.manual_seed(5)
    model = GPTModel(GPTConfig(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=3)).eval()
    for norm in (m for m in model.modules() if hasattr(m, "scale")):
        torch.nn.init.normal_(norm.scale)  # not the identity, so that the operation order matters
        torch.nn.init.normal_(norm.shift)
    ids = torch.randint(0, 97, (3, 16))
    with torch.no_grad():
        assert torch.equal(model(ids), book_forward(model, ids))
