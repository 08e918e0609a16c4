"""The fast paths give the answer of the educational ones: SDPA attention, frozen-prefix caching."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_runs import tiny_config
from torch.utils.data import DataLoader, TensorDataset

from gpt_from_scratch import seam
from gpt_from_scratch.checkpoint import load_classifier
from gpt_from_scratch.fast import SpeedPlan, plan_speed
from gpt_from_scratch.fast.padding import collate_trimmed, padding_is_never_read, trim_trailing_padding
from gpt_from_scratch.fast.plan import prefix_caches
from gpt_from_scratch.fast.prefix_cache import PrefixCache, why_not_cacheable
from gpt_from_scratch.fast.trunk import Trunk, embed, select_tokens
from gpt_from_scratch.finetune import FinetuneConfig, finetune
from gpt_from_scratch.model import GPTConfig, GPTModel
from gpt_from_scratch.predict import class_probabilities
from gpt_from_scratch.predict.batching import Batching
from gpt_from_scratch.predict.readout import TokenSelector
from gpt_from_scratch.train import calc_loss_loader, train_classifier_simple

CFG = GPTConfig(vocab_size=50, context_length=16, emb_dim=16, n_heads=4, n_layers=3)
PAD = 50256
PADDED_CFG = GPTConfig(vocab_size=PAD + 1, context_length=16, emb_dim=16, n_heads=4, n_layers=3)


def classifier(trainable: str = "last_block", sdpa: bool = False, fused_layers: bool = False, **overrides):
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(**(CFG.to_dict() | overrides)), sdpa=sdpa, fused_layers=fused_layers)
    seam.replace_head(model, 2)
    return seam.freeze_all_but(model, trainable)


def random_loader(num_examples: int = 32, num_tokens: int = 12, seed: int = 0, **kwargs) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CFG.vocab_size, (num_examples, num_tokens), generator=g)
    labels = torch.randint(0, 2, (num_examples,), generator=g)
    return DataLoader(TensorDataset(ids, labels), batch_size=8, **kwargs)


def loss_and_grads(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor):
    model.zero_grad()
    loss = seam.calc_loss_batch(ids, labels, model, "cpu")
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same_weights(ours: dict, theirs: dict, lr: float, steps: int) -> None:
    for name in theirs:
        # The key bias's gradient is 0 in exact arithmetic (softmax ignores a shift shared by every
        # key), so Adam turns rounding noise into steps of up to lr: allow lr per step there.
        atol = lr * steps if name.endswith("W_key.bias") else 1e-6
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=atol, msg=name)


# --- SDPA attention -----------------------------------------------------------------------------
@pytest.mark.parametrize("causal", [True, False])
def test_sdpa_attention_equals_the_educational_path(causal):
    model, fast_model = classifier("all", causal=causal), classifier("all", sdpa=True, causal=causal)
    ids = torch.randint(0, CFG.vocab_size, (4, 12), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        educational = model.eval()(ids)
        fast = fast_model.eval()(ids)
    torch.testing.assert_close(fast, educational, rtol=1e-5, atol=1e-5)

    fast_loss, fast_grads = loss_and_grads(fast_model.train(), ids, labels)
    loss, grads = loss_and_grads(model.train(), ids, labels)
    torch.testing.assert_close(fast_loss, loss, rtol=1e-5, atol=1e-6)
    assert fast_grads.keys() == grads.keys()
    for name in grads:
        torch.testing.assert_close(fast_grads[name], grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_sdpa_attention_replaces_only_the_concepts_attention_math(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the SDPA path called the concept's attention")

    monkeypatch.setattr(seam, "scaled_dot_product_attention", refuse)
    classifier(sdpa=True)(torch.zeros(1, 5, dtype=torch.long))  # would raise if the concept ran
    with pytest.raises(AssertionError, match="concept's attention"):
        classifier()(torch.zeros(1, 5, dtype=torch.long))


def test_the_book_kernels_are_the_default():
    model = GPTModel(CFG)
    assert not any(block.att.sdpa for block in model.trf_blocks)
    assert not any(m.fused for m in model.modules() if hasattr(m, "fused"))


# --- fused LayerNorm and GELU ------------------------------------------------------------------
def test_fused_layers_equal_the_books_formulas():
    model, fused = classifier("all"), classifier("all", fused_layers=True)
    ids = torch.randint(0, CFG.vocab_size, (4, 12), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 1, 0])
    books_loss, books_grads = loss_and_grads(model, ids, labels)
    fused_loss, fused_grads = loss_and_grads(fused, ids, labels)
    torch.testing.assert_close(fused_loss, books_loss, rtol=1e-5, atol=1e-6)
    for name in books_grads:
        torch.testing.assert_close(fused_grads[name], books_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    assert all(m.fused for m in fused.modules() if hasattr(m, "fused"))


# --- the trunk: the model run in parts ------------------------------------------------------------
@pytest.mark.parametrize("causal", [True, False])
def test_the_trunk_computes_exactly_what_the_model_computes(causal):
    model = classifier("last_block", causal=causal).eval()
    ids = random_loader().dataset.tensors[0]
    with torch.no_grad():
        assert torch.equal(Trunk(model)(ids), model(ids))  # bit for bit: --exact reads through it
    with pytest.raises(ValueError, match="at most 16"):
        Trunk(model)(torch.zeros(1, 17, dtype=torch.long))


# --- the last block at the read position only ---------------------------------------------------
@pytest.mark.parametrize("sdpa", [False, True], ids=["seam", "sdpa"])
@pytest.mark.parametrize("causal", [True, False])
def test_the_last_block_at_the_read_positions_gives_those_positions_outputs(sdpa, causal):
    model = classifier("last_two_blocks", sdpa=sdpa, causal=causal)
    ids = torch.randint(0, CFG.vocab_size, (4, 12), generator=torch.Generator().manual_seed(1))
    read_at = torch.tensor([11, 0, 5, 7])
    every_position = Trunk(model).hidden_states(ids)  # (4, 12, emb_dim)
    only_read = Trunk(model, skip_unread=True).hidden_states(ids, read_at)  # (4, emb_dim)
    torch.testing.assert_close(only_read, every_position[torch.arange(4), read_at], rtol=1e-5, atol=1e-6)

    # The gradients too: the last block's keys and values still come from every position.
    grads = []
    for output in (every_position[torch.arange(4), read_at], only_read):
        model.zero_grad()
        (output * torch.linspace(-1, 1, output.numel()).view_as(output)).sum().backward(retain_graph=True)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and "trf_blocks.2.att.W_key.weight" in grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("position", ["last", "first", "flexible"])
def test_a_selector_that_skips_unread_positions_reads_what_the_full_one_reads(position):
    torch.manual_seed(0)
    model = GPTModel(PADDED_CFG, sdpa=True).eval()
    seam.replace_head(model, 2)
    ids = padded_messages([3, 14, 5])
    with torch.no_grad():
        full = select_tokens(model, position, "token", PAD)(ids)
        skipping = select_tokens(model, position, "token", PAD, Trunk(model, skip_unread=True))
        assert isinstance(skipping, TokenSelector)
        torch.testing.assert_close(skipping(ids), full.reshape(3, -1, 2)[:, -1:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("trainable", ["last_block", "last_layer"])
def test_the_cache_with_skipped_positions_gives_the_models_outputs(trainable):
    model = classifier(trainable).eval()
    ids = random_loader().dataset.tensors[0]
    read_at = torch.arange(len(ids)) % ids.shape[1]
    with torch.no_grad():
        expected = Trunk(model).hidden_states(ids)[torch.arange(len(ids)), read_at]
        cached = PrefixCache(model, skip_unread=True)
        torch.testing.assert_close(cached.hidden_states(ids, read_at), expected, rtol=1e-5, atol=1e-6)


# --- frozen-prefix cache ------------------------------------------------------------------------
def test_cached_model_gives_the_models_outputs():
    model = classifier("last_block").eval()
    cached = PrefixCache(model)
    assert cached.start == CFG.n_layers - 1
    ids = random_loader().dataset.tensors[0]
    with torch.no_grad():
        torch.testing.assert_close(cached(ids), model(ids), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cached(ids), model(ids), rtol=1e-5, atol=1e-6)  # now from the cache
        expected = Trunk(model).hidden_states(ids)
        torch.testing.assert_close(cached.hidden_states(ids), expected, rtol=1e-5, atol=1e-6)


def test_prefix_runs_once_per_distinct_row():
    model = classifier("last_block")
    cached = PrefixCache(model)
    calls = []
    model.trf_blocks[0].register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    loader = random_loader(num_examples=24)
    duplicated = torch.cat([loader.dataset.tensors[0], loader.dataset.tensors[0][:5]])
    for _ in range(3):
        cached(duplicated)
    assert sum(calls) == 24  # 29 rows, 5 of them repeats, each computed once over three passes
    assert cached.num_cached == 24


@pytest.mark.slow
@pytest.mark.parametrize("trainable", ["last_block", "last_two_blocks", "last_layer"])
def test_training_on_the_cache_ends_with_the_uncached_weights(trainable):
    # The whole loop: shuffled batches, periodic evaluation (which fills the cache in inference
    # mode), per-epoch accuracy. The shuffles draw from the global RNG, so any difference in what the
    # two runs draw would also show up here as different weights.
    finals = []
    for use_cache in (False, True):
        model = classifier(trainable)
        trained = PrefixCache(model) if use_cache else model
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        torch.manual_seed(123)
        history = train_classifier_simple(
            trained,
            random_loader(shuffle=True, drop_last=True),
            random_loader(seed=1),
            optimizer,
            "cpu",
            num_epochs=3,
            eval_freq=3,
            eval_iter=2,
            log=lambda _: None,
        )
        finals.append((model.state_dict(), history))
    (uncached, uncached_history), (cached, cached_history) = finals
    assert_same_weights(cached, uncached, lr=1e-2, steps=3 * 4)
    assert cached_history[2:] == uncached_history[2:]  # accuracies and examples seen
    for ours, theirs in zip(cached_history[:2], uncached_history[:2], strict=True):
        assert ours == pytest.approx(theirs, rel=1e-5)  # evaluation losses


def test_cached_activations_from_inference_mode_can_be_trained_on():
    model = classifier("last_block")
    cached = PrefixCache(model)
    loader = random_loader()
    with torch.inference_mode():
        calc_loss_loader(loader, cached, "cpu")  # fills the cache
    ids, labels = loader.dataset.tensors
    seam.calc_loss_batch(ids[:8], labels[:8], cached, "cpu").backward()  # reads the cache in training
    assert model.out_head.weight.grad is not None


@pytest.mark.parametrize(
    ("trainable", "overrides", "reason"),
    [
        ("all", {}, "embeddings are trainable"),
        ("last_block", {"drop_rate": 0.1}, "dropout"),
    ],
)
def test_cache_falls_back_when_it_cannot_apply(trainable, overrides, reason):
    model = classifier(trainable, **overrides)
    assert reason in why_not_cacheable(model)
    lines = []
    assert SpeedPlan(prefix_cache=True).classifier(model, "last", "token", lines.append) is model
    assert reason in lines[0]
    with pytest.raises(ValueError, match=reason):
        PrefixCache(model)


def test_cache_refuses_a_trainable_first_block():
    model = classifier("last_block")
    for param in model.trf_blocks[0].parameters():
        param.requires_grad = True
    assert "no frozen prefix" in why_not_cacheable(model)


# --- per-batch padding --------------------------------------------------------------------------


def padded_messages(lengths: list[int], num_tokens: int = 14, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), num_tokens), PAD)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(0, 1000, (length,), generator=g)
    return ids


def test_trimming_drops_only_the_columns_that_are_padding_in_every_row():
    ids = padded_messages([3, 5, 2])
    assert torch.equal(trim_trailing_padding(ids), ids[:, :5])
    assert trim_trailing_padding(torch.full((2, 4), PAD)).shape == (2, 1)  # never empty


@pytest.mark.parametrize(
    ("position", "pooling", "causal", "never_read"),
    [
        ("flexible", "token", True, True),
        ("first", "token", True, True),
        ("last", "mean", True, True),
        ("last", "token", True, False),  # the book: the last position is padding
        ("last", "mean_with_padding", True, False),
        ("flexible", "token", False, False),  # without the mask every token sees the padding
    ],
)
def test_trimmed_batches_give_the_same_outputs_exactly_when_padding_is_never_read(
    position, pooling, causal, never_read
):
    assert padding_is_never_read(position, pooling, causal) == never_read
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(**(PADDED_CFG.to_dict() | {"causal": causal}))).eval()
    seam.replace_head(model, 2)
    classifier = select_tokens(model, position, pooling, PAD)
    ids = padded_messages([3, 7, 5])
    with torch.no_grad():
        full, trimmed = classifier(ids)[:, -1], classifier(trim_trailing_padding(ids))[:, -1]
    assert torch.allclose(full, trimmed, rtol=1e-5, atol=1e-6) == never_read


def test_cache_serves_a_message_at_any_padded_length_from_one_computation():
    torch.manual_seed(0)
    model = GPTModel(PADDED_CFG).eval()
    seam.replace_head(model, 2)
    seam.freeze_all_but(model, "last_block")
    cached = PrefixCache(model, pad_token_id=PAD)
    ids = padded_messages([3, 7, 5])
    with torch.no_grad():
        expected = {length: model(ids[:, :length]) for length in (7, 9, 14)}
        calls = []
        model.trf_blocks[0].register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
        cached(ids)  # computes the three messages padded to 14
        for length in (7, 9, 14):
            torch.testing.assert_close(cached(ids[:, :length]), expected[length], rtol=1e-5, atol=1e-6)
    assert calls == [3]


@pytest.mark.slow
def test_flexible_training_on_trimmed_cached_batches_ends_with_the_plain_runs_weights():
    finals = []
    for fast in (False, True):
        torch.manual_seed(0)
        model = GPTModel(PADDED_CFG)
        seam.replace_head(model, 2)
        seam.freeze_all_but(model, "last_block")
        # As finetune sets it up for the flexible position: padding positions are never computed.
        cached = PrefixCache(model, pad_token_id=PAD, padding_never_read=True) if fast else None
        classifier = select_tokens(model, "flexible", "token", PAD, cached)
        g = torch.Generator().manual_seed(1)
        lengths = torch.randint(1, 15, (32,), generator=g).tolist()
        dataset = TensorDataset(padded_messages(lengths), torch.randint(0, 2, (32,), generator=g))
        collate = collate_trimmed if fast else None
        loader = DataLoader(dataset, batch_size=8, shuffle=True, drop_last=True, collate_fn=collate)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        torch.manual_seed(123)
        train_classifier_simple(classifier, loader, loader, optimizer, "cpu", 3, 3, 2, log=lambda _: None)
        finals.append(model.state_dict())
    assert_same_weights(finals[1], finals[0], lr=1e-2, steps=3 * 4)


def test_when_padding_is_never_read_a_message_is_computed_once_whatever_its_batchs_length():
    torch.manual_seed(0)
    model = GPTModel(PADDED_CFG).eval()
    seam.replace_head(model, 2)
    seam.freeze_all_but(model, "last_block")
    cached = PrefixCache(model, pad_token_id=PAD, padding_never_read=True)
    short, long = padded_messages([3]), padded_messages([3, 12])  # message 0 is the same in both
    with torch.no_grad():
        expected = model(long)
        calls = []
        model.trf_blocks[0].register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
        cached(short[:, :3])  # first seen in a batch trimmed to 3 tokens
        served = cached(long)  # then in a batch of 14: only the new message is computed
    assert calls == [1, 1]
    # What a flexible (or first-token, or mean-of-real-tokens) classifier reads is exact...
    for row, length in enumerate([3, 12]):
        torch.testing.assert_close(served[row, :length], expected[row, :length], rtol=1e-5, atol=1e-6)
    # ...and the padding positions, which it never reads, are not computed at all.
    assert not torch.allclose(served[0, 3:], expected[0, 3:])


# --- filling the cache up front -----------------------------------------------------------------
@pytest.mark.parametrize("never_read", [False, True])
def test_filling_computes_each_message_once_and_training_then_computes_none(never_read):
    torch.manual_seed(0)
    model = GPTModel(PADDED_CFG).eval()
    seam.replace_head(model, 2)
    seam.freeze_all_but(model, "last_block")
    cached = PrefixCache(model, pad_token_id=PAD, padding_never_read=never_read)
    lengths = [3, 12, 5, 3, 9, 14, 1, 7]
    ids = padded_messages(lengths)
    dataset = TensorDataset(torch.cat([ids, ids[:2]]), torch.zeros(10, dtype=torch.long))  # 2 repeats
    calls = []
    model.trf_blocks[0].register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape))
    with torch.no_grad():
        assert cached.fill([dataset, dataset], max_tokens=32) == 8
        # Shortest first, at most 32 tokens a chunk. Padding no one reads is left out: lengths
        # 1 3 3 5 | 7 9 | 12 14 make chunks of 4x5, 2x9, 2x14 tokens; all padded to 14, 4 chunks of 2x14.
        expected_shapes = [(4, 5), (2, 9), (2, 14)] if never_read else [(2, 14)] * 4
        assert [tuple(shape[:2]) for shape in calls] == expected_shapes
        assert cached.fill([dataset]) == 0
        served = cached.prefix(ids)
        assert len(calls) == len(expected_shapes)  # served from the cache, nothing computed
        expected = model.trf_blocks[: cached.start](embed(model, ids))  # the frozen blocks' output
    for row, length in enumerate(lengths):
        read = slice(0, length) if never_read else slice(None)
        torch.testing.assert_close(served[row, read], expected[row, read], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("position", ["last", "flexible"])
def test_the_fast_recipe_ends_where_the_exact_one_does(sms_file, tmp_path, position):
    # Every fast path at once (SDPA, fused layers, the last block at the read position, the filled
    # cache, trimmed batches for flexible) against --exact, the book's computation, on a tiny GPT.
    results = []
    for exact in (True, False):
        out_dir = tmp_path / f"exact-{exact}"
        cfg = tiny_config(
            sms_file, out_dir, max_steps=40, eval_freq=10, eval_iter=2, position=position, exact=exact
        )
        metrics = finetune(cfg, log=lambda _: None)
        results.append((metrics, load_classifier(out_dir)[0].state_dict()))
    (exact_metrics, exact_weights), (fast_metrics, fast_weights) = results
    for key in (
        "train_accuracy",
        "validation_accuracy",
        "test_accuracy",
        "test_predictions",
        "examples_seen",
    ):
        assert getattr(fast_metrics, key) == getattr(exact_metrics, key), key
    assert fast_metrics.val_losses == pytest.approx(exact_metrics.val_losses, rel=1e-4)
    steps = exact_metrics.examples_seen // 8
    assert_same_weights(fast_weights, exact_weights, lr=1e-3, steps=steps)


def test_scoring_after_training_serves_cached_messages_and_forgets_the_new_ones():
    # finetune's passes over the ham set aside: length-sorted batches of messages cut to their own
    # length, through the training classifier, whose cache holds the training messages.
    torch.manual_seed(0)
    model = GPTModel(PADDED_CFG).eval()
    seam.replace_head(model, 2)
    seam.freeze_all_but(model, "last_block")
    plan = SpeedPlan(prefix_cache=True, skip_unread=True, padding_never_read=True)
    classifier = plan.classifier(model, "flexible", "token", log=lambda _: None)
    ids = padded_messages([3, 12, 5, 9, 1])
    known = TensorDataset(ids[:2], torch.zeros(2, dtype=torch.long))
    assert plan.fill_cache(classifier, [known], log=lambda _: None) == 2
    (cache,) = prefix_caches(classifier)
    computed = []
    model.trf_blocks[0].register_forward_hook(lambda module, inputs, output: computed.append(len(inputs[0])))
    encoded = ids.tolist()
    batching = Batching(token_budget=32, cut_padding=True, pad_token_id=PAD)
    for _ in range(2):
        with plan.score_only(classifier):
            assert not cache.keep_new
            served = class_probabilities(encoded, classifier, batching)
        assert cache.keep_new and cache.num_cached == 2  # the three new messages were not kept
    assert sum(computed) == 2 * 3  # only the new messages were computed, each time they were scored
    expected = class_probabilities(encoded, select_tokens(model, "flexible", "token", PAD))  # the plain path
    torch.testing.assert_close(served, expected, rtol=1e-5, atol=1e-6)


# --- the plan: every fast path decided once ------------------------------------------------------
def test_exact_turns_every_fast_path_off_and_the_book_model_is_trained_as_it_is():
    plan = plan_speed(FinetuneConfig(exact=True), torch.device("cpu"), log=lambda _: None)
    assert plan == SpeedPlan()
    assert plan.model_options == {"sdpa": False, "fused_layers": False} and plan.collate_fn is None
    model = classifier()
    assert plan.classifier(model, "last", "token", log=lambda _: None) is model


def test_the_default_plan_runs_every_fast_path_that_applies():
    plan = plan_speed(FinetuneConfig(), torch.device("cpu"), log=lambda _: None)
    assert (plan.sdpa, plan.fused_layers, plan.skip_unread, plan.prefix_cache) == (True, True, True, True)
    assert not plan.trim_padding  # the book's last token reads padding
    flexible = plan_speed(FinetuneConfig(position="flexible"), torch.device("cpu"), log=lambda _: None)
    assert flexible.trim_padding and flexible.collate_fn is collate_trimmed
    mean = plan_speed(FinetuneConfig(pooling="mean"), torch.device("cpu"), log=lambda _: None)
    assert not mean.skip_unread  # a mean reads every position


def test_adamw_is_fused_unless_exact_and_is_the_books_adamw_otherwise():
    quiet = {"log": lambda _: None}
    for device in ("cpu", "cuda"):
        assert plan_speed(FinetuneConfig(), torch.device(device), **quiet).fused_optimizer
    exact = plan_speed(FinetuneConfig(exact=True), torch.device("cpu"), **quiet)
    assert not exact.fused_optimizer
    model = classifier()
    optimizer = exact.optimizer(model, lr=5e-5, weight_decay=0.1)
    book = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)  # the book's line
    assert optimizer.defaults == book.defaults
    assert [p for g in optimizer.param_groups for p in g["params"]] == list(model.parameters())


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), steps=st.integers(1, 30))
def test_fused_adamw_takes_the_books_steps_to_float_rounding(seed, steps):
    """The fused update is AdamW's: after the same gradients, the same weights to float rounding."""
    book_model = classifier()
    fused_model = copy.deepcopy(book_model)
    pairs = list(zip(book_model.parameters(), fused_model.parameters(), strict=True))
    trained = [(a, b) for a, b in pairs if a.requires_grad]
    gradients = torch.Generator().manual_seed(seed)
    cpu = plan_speed(FinetuneConfig(), torch.device("cpu"), log=lambda _: None)
    book = torch.optim.AdamW(book_model.parameters(), lr=5e-5, weight_decay=0.1)
    fused = cpu.optimizer(fused_model, lr=5e-5, weight_decay=0.1)
    assert fused.defaults["fused"]
    for _ in range(steps):
        for a, b in trained:
            a.grad = torch.randn(a.shape, generator=gradients)
            b.grad = a.grad.clone()
        book.step()
        fused.step()
    for a, b in pairs:  # the frozen ones untouched by both
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


def test_the_learners_code_is_never_bypassed():
    lines = []
    with seam.using("exercises"):
        plan = plan_speed(FinetuneConfig(), torch.device("cpu"), log=lines.append)
    assert not plan.sdpa and plan.fused_layers
    assert "your exercises/ code" in lines[0]


@pytest.mark.parametrize("option", ["bf16", "compile"])
def test_cuda_only_paths_are_refused_on_the_cpu_and_with_exact(option):
    from gpt_from_scratch.errors import OptionError

    with pytest.raises(OptionError, match=f"--{option} is for CUDA"):
        plan_speed(FinetuneConfig(**{option: True}), torch.device("cpu"))
    with pytest.raises(OptionError, match=f"cannot run with --{option}"):
        plan_speed(FinetuneConfig(exact=True, **{option: True}), torch.device("cuda"))
