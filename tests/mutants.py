"""A catalog of the mistakes learners really make, each a wrong implementation of one exercise function.

tests/test_exercise_tests.py runs the exercise tests against every mutant and requires at least one
failure each; tests/make_golden.py stores each mutant's output on the golden inputs so that an
exercise test can recognise the mistake in a learner's output and show the mutant's hint.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from solutions.causal_mask import apply_mask


@dataclass(frozen=True)
class Mutant:
    name: str
    concept: str  # the exercise file, without .py
    function: str  # the function it replaces
    implementation: Callable
    hint: str  # what a learner whose output matches this mutant should look at
    # Words that one of the failure messages must contain: the mistake named, or the property it breaks.
    says: str = ""


MUTANTS: list[Mutant] = []


def mutant(concept: str, function: str, hint: str, says: str = "") -> Callable[[Callable], Callable]:
    """Register the decorated function as a mutant of concept.function."""

    def register(implementation: Callable) -> Callable:
        MUTANTS.append(Mutant(implementation.__name__, concept, function, implementation, hint, says))
        return implementation

    return register


# --- attention.py: scaled_dot_product_attention ---------------------------------------------------
def _attention(queries, keys, values, mask, *, scale, softmax_dim=-1, mask_after_softmax=False):
    scores = queries @ keys.transpose(-2, -1)
    if mask is not None and not mask_after_softmax:
        scores = apply_mask(scores, mask)
    weights = torch.softmax(scores * scale, dim=softmax_dim)
    if mask is not None and mask_after_softmax:
        weights = weights.masked_fill(mask, 0.0)
    return weights @ values, weights


@mutant("attention", "scaled_dot_product_attention", "divide the scores by √head_dim before the softmax")
def no_scale(queries, keys, values, mask=None):
    return _attention(queries, keys, values, mask, scale=1.0)


@mutant("attention", "scaled_dot_product_attention", "scale by 1/√head_dim, not by 1/head_dim")
def scale_by_head_dim(queries, keys, values, mask=None):
    return _attention(queries, keys, values, mask, scale=1.0 / keys.shape[-1])


@mutant("attention", "scaled_dot_product_attention", "the softmax must run over the keys: dim=-1")
def softmax_over_queries(queries, keys, values, mask=None):
    return _attention(queries, keys, values, mask, scale=1.0 / math.sqrt(keys.shape[-1]), softmax_dim=-2)


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "mask the scores with -inf BEFORE the softmax, so the visible weights still sum to 1",
)
def mask_after_softmax(queries, keys, values, mask=None):
    return _attention(
        queries, keys, values, mask, scale=1.0 / math.sqrt(keys.shape[-1]), mask_after_softmax=True
    )


@mutant("attention", "scaled_dot_product_attention", "when a mask is given, apply it to the scores")
def ignores_mask(queries, keys, values, mask=None):
    return _attention(queries, keys, values, None, scale=1.0 / math.sqrt(keys.shape[-1]))


@mutant("attention", "scaled_dot_product_attention", "scores are Q Kᵀ (queries in the rows), not K Qᵀ")
def scores_transposed(queries, keys, values, mask=None):
    scores = keys @ queries.transpose(-2, -1)
    if mask is not None:
        scores = apply_mask(scores, mask)
    weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
    return weights @ values, weights


@mutant("attention", "scaled_dot_product_attention", "return (context, weights), in that order")
def returns_weights_first(queries, keys, values, mask=None):
    context, weights = _attention(queries, keys, values, mask, scale=1.0 / math.sqrt(keys.shape[-1]))
    return weights, context


def _naive_softmax(scores, *, subtract=None):
    if subtract is not None:
        scores = scores - subtract
    exp = torch.exp(scores)  # overflows to inf past ~88 in float32: inf / inf is nan
    return exp / exp.sum(dim=-1, keepdim=True)


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "softmax as exp(s) / sum(exp(s)) overflows for large scores: subtract each row's max first "
    "(torch.softmax does)",
)
def naive_exp_softmax(queries, keys, values, mask=None):
    scores = queries @ keys.transpose(-2, -1)
    if mask is not None:
        scores = apply_mask(scores, mask)
    weights = _naive_softmax(scores / math.sqrt(keys.shape[-1]))
    return weights @ values, weights


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "subtract each ROW's max (max over dim=-1, keepdim=True), not the max of the whole tensor",
)
def softmax_minus_global_max(queries, keys, values, mask=None):
    scores = queries @ keys.transpose(-2, -1)
    if mask is not None:
        scores = apply_mask(scores, mask)
    scores = scores / math.sqrt(keys.shape[-1])
    weights = _naive_softmax(scores, subtract=scores.max())
    return weights @ values, weights


# --- attention.py: split_heads / merge_heads ------------------------------------------------------
@mutant("attention", "split_heads", "view as (batch, tokens, heads, head_dim), then transpose(1, 2)")
def split_heads_by_view_only(x, num_heads):
    batch, num_tokens, d_out = x.shape
    return x.reshape(batch, num_heads, num_tokens, d_out // num_heads)


@mutant("attention", "split_heads", "each head takes a contiguous slice of head_dim features")
def split_heads_interleaved(x, num_heads):
    batch, num_tokens, d_out = x.shape
    return x.view(batch, num_tokens, d_out // num_heads, num_heads).permute(0, 3, 1, 2)


@mutant(
    "attention", "merge_heads", "transpose(1, 2) back to (batch, tokens, heads, head_dim) before flattening"
)
def merge_heads_without_transpose(x):
    batch, num_heads, num_tokens, head_dim = x.shape
    return x.reshape(batch, num_tokens, num_heads * head_dim)


# --- causal_mask.py ---------------------------------------------------------------------------------
@mutant("causal_mask", "causal_mask", "a token may see itself: the diagonal must stay visible (diagonal=1)")
def mask_hides_diagonal(num_tokens, device=None):
    return torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=device), diagonal=0)


@mutant("causal_mask", "causal_mask", "hide the future (above the diagonal), not the past")
def mask_hides_past(num_tokens, device=None):
    return torch.tril(torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=device), diagonal=-1)


@mutant("causal_mask", "causal_mask", "return a boolean mask, True where hidden (not 0/1 floats)")
def float_mask(num_tokens, device=None):
    return torch.triu(torch.ones(num_tokens, num_tokens, device=device), diagonal=1)


@mutant("causal_mask", "apply_mask", "fill with -inf, not 0: a score of 0 still gets weight after softmax")
def fill_with_zero(scores, mask):
    return scores.masked_fill(mask, 0.0)


@mutant("causal_mask", "apply_mask", "return a new tensor; masked_fill_ (with _) changes the caller's scores")
def fill_in_place(scores, mask):
    return scores.masked_fill_(mask, float("-inf"))


@mutant("causal_mask", "apply_mask", "fill where the mask is True (hidden), not where it is False")
def fill_visible(scores, mask):
    return scores.masked_fill(~mask, float("-inf"))


@mutant(
    "causal_mask",
    "apply_mask",
    "fill with float('-inf'), not a large negative number: scores can be more negative still",
)
def fill_with_large_negative(scores, mask):
    return scores.masked_fill(mask, -1e9)


_CACHED_MASK: list[torch.Tensor] = []


@mutant(
    "causal_mask",
    "causal_mask",
    "build the mask for the num_tokens of each call: a mask kept from an earlier call has the wrong size",
)
def mask_cached_once(num_tokens, device=None):
    if not _CACHED_MASK:
        _CACHED_MASK.append(torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1))
    return _CACHED_MASK[0].to(device) if device is not None else _CACHED_MASK[0]


# --- classification_head.py -------------------------------------------------------------------------
@mutant("classification_head", "replace_head", "assign the new layer to model.out_head")
def head_not_assigned(model, num_classes):
    nn.Linear(model.out_head.in_features, num_classes)
    return model


@mutant("classification_head", "replace_head", "read emb_dim from the model (out_head.in_features), not 768")
def head_hardcoded_768(model, num_classes):
    model.out_head = nn.Linear(768, num_classes)
    return model


@mutant("classification_head", "replace_head", "one output per class: nn.Linear(emb_dim, num_classes), not 2")
def head_always_two_classes(model, num_classes):
    model.out_head = nn.Linear(model.out_head.in_features, 2)
    return model


@mutant("classification_head", "replace_head", "assign the new layer to model.out_head: forward() uses it")
def head_assigned_elsewhere(model, num_classes):
    model.classifier = nn.Linear(model.out_head.in_features, num_classes)
    return model


@mutant("classification_head", "replace_head", "keep nn.Linear's bias: the book's head has one")
def head_without_bias(model, num_classes):
    model.out_head = nn.Linear(model.out_head.in_features, num_classes, bias=False)
    return model


def _set_trainable(modules, flag):
    for module in modules:
        for param in module.parameters():
            param.requires_grad = flag


@mutant("classification_head", "freeze_all_but", "freeze everything first (requires_grad = False)")
def nothing_frozen(model, trainable):
    return model


@mutant("classification_head", "freeze_all_but", "unfreeze the final LayerNorm together with the last block")
def final_norm_stays_frozen(model, trainable):
    _set_trainable([model], trainable == "all")
    blocks = {"last_block": 1, "last_two_blocks": 2}.get(trainable, 0)
    _set_trainable([model.out_head, *list(model.trf_blocks)[len(model.trf_blocks) - blocks :]], True)
    return model


@mutant("classification_head", "freeze_all_but", "the head must stay trainable in every choice")
def head_frozen_too(model, trainable):
    _set_trainable([model], trainable == "all")
    if trainable in ("last_block", "last_two_blocks"):
        blocks = 1 if trainable == "last_block" else 2
        _set_trainable([*list(model.trf_blocks)[-blocks:], model.final_norm], True)
    return model


@mutant("classification_head", "freeze_all_but", "the LAST block is model.trf_blocks[-1], not [0]")
def first_block_unfrozen(model, trainable):
    _set_trainable([model], trainable == "all")
    blocks = {"last_block": 1, "last_two_blocks": 2}.get(trainable, 0)
    _set_trainable([model.out_head, *list(model.trf_blocks)[:blocks]], True)
    if blocks:
        _set_trainable([model.final_norm], True)
    return model


@mutant(
    "classification_head", "freeze_all_but", "raise ValueError for a choice that is not in TRAINABLE_CHOICES"
)
def unknown_choice_accepted(model, trainable):
    _set_trainable([model], trainable == "all")
    _set_trainable([model.out_head], True)
    if trainable in ("last_block", "last_two_blocks"):
        blocks = 1 if trainable == "last_block" else 2
        _set_trainable([*list(model.trf_blocks)[-blocks:], model.final_norm], True)
    return model


@mutant(
    "classification_head",
    "freeze_all_but",
    "set requires_grad = True on the parts that train: the model you are handed may have them frozen",
)
def freeze_never_unfreezes(model, trainable):
    if trainable not in ("last_layer", "last_block", "last_two_blocks", "all"):
        raise ValueError(f"unknown trainable choice {trainable!r}: use last_layer, last_block, ...")
    if trainable == "all":
        return model  # assumes a fresh model, where everything trains
    blocks = 1 if trainable == "last_block" else 2 if trainable == "last_two_blocks" else 0
    kept = [model.out_head, *(list(model.trf_blocks)[-blocks:] if blocks else [])]
    kept += [model.final_norm] if blocks else []
    kept_ids = {id(p) for module in kept for p in module.parameters()}
    for param in model.parameters():
        if id(param) not in kept_ids:
            param.requires_grad = False
    return model


@mutant(
    "classification_head",
    "freeze_all_but",
    "for 'all', set requires_grad = True on every parameter: the model may have some frozen already",
)
def all_keeps_earlier_freezing(model, trainable):
    if trainable not in ("last_layer", "last_block", "last_two_blocks", "all"):
        raise ValueError(f"unknown trainable choice {trainable!r}: use last_layer, last_block, ...")
    if trainable == "all":
        return model  # nothing to freeze, so nothing done: an earlier freezing stays
    _set_trainable([model], False)
    _set_trainable([model.out_head], True)
    if trainable in ("last_block", "last_two_blocks"):
        blocks = 1 if trainable == "last_block" else 2
        _set_trainable([*list(model.trf_blocks)[-blocks:], model.final_norm], True)
    return model


# --- loss.py ---------------------------------------------------------------------------------------
def _logits(input_batch, model, device):
    return model(input_batch.to(device))


@mutant("loss", "calc_loss_batch", "use the LAST token's logits ([:, -1, :]), not the first")
def loss_on_first_token(input_batch, target_batch, model, device):
    return nn.functional.cross_entropy(_logits(input_batch, model, device)[:, 0, :], target_batch.to(device))


@mutant("loss", "calc_loss_batch", "use the last token only, not the mean over all positions")
def loss_on_mean_of_tokens(input_batch, target_batch, model, device):
    return nn.functional.cross_entropy(
        _logits(input_batch, model, device).mean(dim=1), target_batch.to(device)
    )


@mutant(
    "loss", "calc_loss_batch", "the loss is the MEAN over the batch (cross_entropy's default), not the sum"
)
def loss_summed(input_batch, target_batch, model, device):
    logits = _logits(input_batch, model, device)[:, -1, :]
    return nn.functional.cross_entropy(logits, target_batch.to(device), reduction="sum")


@mutant("loss", "calc_loss_batch", "cross_entropy takes raw logits: it applies log-softmax itself")
def loss_after_softmax(input_batch, target_batch, model, device):
    logits = _logits(input_batch, model, device)[:, -1, :]
    return nn.functional.cross_entropy(torch.softmax(logits, dim=-1), target_batch.to(device))


@mutant(
    "loss",
    "calc_loss_batch",
    "log(softmax(...)) is -inf where a probability underflows to 0: use cross_entropy on the logits",
)
def loss_via_log_of_softmax(input_batch, target_batch, model, device):
    logits = _logits(input_batch, model, device)[:, -1, :]
    log_probs = torch.log(torch.softmax(logits, dim=-1))
    return nn.functional.nll_loss(log_probs, target_batch.to(device))


@mutant(
    "loss",
    "calc_loss_batch",
    "log(sum(exp(logits))) overflows for large logits: use cross_entropy (or torch.logsumexp)",
)
def loss_via_naive_logsumexp(input_batch, target_batch, model, device):
    logits = _logits(input_batch, model, device)[:, -1, :]
    target = target_batch.to(device)
    picked = logits[torch.arange(len(target), device=logits.device), target]
    return (torch.log(torch.exp(logits).sum(dim=-1)) - picked).mean()


# --- accuracy.py -----------------------------------------------------------------------------------
@mutant("accuracy", "calc_accuracy_batch", "take the argmax over the classes (dim=-1), not over the batch")
def argmax_over_batch(input_batch, target_batch, model, device):
    with torch.no_grad():
        logits = _logits(input_batch, model, device)[:, -1, :]
    predicted = torch.argmax(logits, dim=0)
    n = min(len(predicted), len(target_batch))
    return int((predicted[:n] == target_batch[:n].to(device)).sum()), len(target_batch)


@mutant("accuracy", "calc_accuracy_batch", "predict from the LAST token's logits, as the loss does")
def accuracy_on_first_token(input_batch, target_batch, model, device):
    with torch.no_grad():
        predicted = _logits(input_batch, model, device)[:, 0, :].argmax(dim=-1)
    return int((predicted == target_batch.to(device)).sum()), len(target_batch)


@mutant("accuracy", "calc_accuracy_batch", "return the count of correct predictions, not the fraction")
def batch_returns_fraction(input_batch, target_batch, model, device):
    with torch.no_grad():
        predicted = _logits(input_batch, model, device)[:, -1, :].argmax(dim=-1)
    correct = (predicted == target_batch.to(device)).float().mean().item()
    return correct, len(target_batch)


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "argmax the logits themselves: exp(logits) / sum overflows to nan for large logits",
)
def accuracy_via_naive_softmax(input_batch, target_batch, model, device):
    with torch.no_grad():
        logits = _logits(input_batch, model, device)[:, -1, :]
        probabilities = torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)
    predicted = probabilities.argmax(dim=-1)
    return int((predicted == target_batch.to(device)).sum()), len(target_batch)


def _loader_accuracy(data_loader, model, device, num_batches, *, extra=0, per_batch_mean=False):
    from solutions.accuracy import calc_accuracy_batch

    model.eval()
    limit = len(data_loader) if num_batches is None else min(num_batches, len(data_loader)) + extra
    correct, total, means = 0, 0, []
    for i, (x, y) in enumerate(data_loader):
        if i >= limit:
            break
        c, n = calc_accuracy_batch(x, y, model, device)
        correct, total = correct + c, total + n
        means.append(c / n)
    return sum(means) / len(means) if per_batch_mean else correct / total


@mutant("accuracy", "calc_accuracy_loader", "divide by the number of examples: the last batch may be smaller")
def loader_averages_batch_accuracies(data_loader, model, device, num_batches=None):
    return _loader_accuracy(data_loader, model, device, num_batches, per_batch_mean=True)


@mutant("accuracy", "calc_accuracy_loader", "stop after num_batches batches (when it is given)")
def loader_ignores_num_batches(data_loader, model, device, num_batches=None):
    return _loader_accuracy(data_loader, model, device, None)


@mutant("accuracy", "calc_accuracy_loader", "num_batches=2 means batches 0 and 1: check your loop's bound")
def loader_one_batch_too_many(data_loader, model, device, num_batches=None):
    return _loader_accuracy(data_loader, model, device, num_batches, extra=1 if num_batches else 0)


# === What the values alone do not show ==========================================================
# Each mistake below returns the right values on the tests' inputs, or nearly: what it breaks is the
# rest of the contract (global state, the caller's tensors, gradients, devices, the model's state,
# the edges of an argument, the return types). `says` is what the failure message must state.
def _reference_attention(queries, keys, values, mask):
    from solutions.attention import scaled_dot_product_attention

    return scaled_dot_product_attention(queries, keys, values, mask)


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "leave torch's grad mode alone: `with torch.no_grad():`, never torch.set_grad_enabled(False)",
    says="torch's grad mode was on before the call and off after",
)
def attention_switches_grad_off(queries, keys, values, mask=None):
    torch.set_grad_enabled(False)
    return _reference_attention(queries, keys, values, mask)


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "mask the scores with differentiable operations: no torch.no_grad() around them",
    says="no gradient reaches `queries`",
)
def attention_masks_under_no_grad(queries, keys, values, mask=None):
    scores = queries @ keys.transpose(-2, -1)
    if mask is not None:
        with torch.no_grad():  # the masked scores lose their graph: W_query and W_key would never train
            scores = apply_mask(scores, mask)
    weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
    return weights @ values, weights


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "keys.transpose(-2, -1) makes a new view: transpose_ turns the caller's keys around",
    says="the caller's `keys` changed shape",
)
def attention_transposes_keys_in_place(queries, keys, values, mask=None):
    scores = queries @ keys.transpose_(-2, -1)
    if mask is not None:
        scores = apply_mask(scores, mask)
    weights = torch.softmax(scores / math.sqrt(queries.shape[-1]), dim=-1)
    return weights @ values, weights


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "PyTorch's fused attention reads a boolean attn_mask the other way round (True = may attend): "
    "pass ~mask, or mask the scores yourself",
)
def attention_fused_with_our_mask(queries, keys, values, mask=None):
    weights = _reference_attention(queries, keys, values, mask)[1]
    context = nn.functional.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    return context, weights


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "the values need their gradient too: no .detach()",
    says="no gradient reaches `values`",
)
def attention_detaches_values(queries, keys, values, mask=None):
    context, weights = _reference_attention(queries, keys, values, mask)
    return weights @ values.detach(), weights


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "leave the default dtype alone: convert your own tensors instead",
    says="torch's default dtype was",
)
def attention_sets_default_dtype(queries, keys, values, mask=None):
    torch.set_default_dtype(torch.float64)
    return _reference_attention(queries, keys, values, mask)


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "make tensors on the inputs' device: torch.full(...) without device= lands on the CPU",
    says="meta",
)
def attention_fills_on_the_default_device(queries, keys, values, mask=None):
    scores = queries @ keys.transpose(-2, -1)
    if mask is not None:
        scores = torch.where(mask, torch.full(scores.shape, float("-inf")), scores)
    weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
    return weights @ values, weights


@mutant(
    "attention",
    "split_heads",
    "reshape the tensor itself: a copy through .tolist() is cut off from the gradient",
    says="no gradient flows back",
)
def split_heads_through_a_list(x, num_heads):
    batch, num_tokens, d_out = x.shape
    copy = torch.tensor(x.tolist(), dtype=x.dtype)
    return copy.view(batch, num_tokens, num_heads, d_out // num_heads).transpose(1, 2)


@mutant(
    "attention",
    "merge_heads",
    "x.transpose(1, 2) makes a new view: transpose_ turns the caller's tensor around",
    says="changed shape",
)
def merge_heads_transposes_in_place(x):
    batch, num_heads, num_tokens, head_dim = x.shape
    return x.transpose_(1, 2).reshape(batch, num_tokens, num_heads * head_dim)


@mutant(
    "attention",
    "split_heads",
    "keep the batch dimension: .squeeze() drops it for a batch of one",
    says="split_heads returned shape",
)
def split_heads_squeezes(x, num_heads):
    batch, num_tokens, d_out = x.shape
    return x.view(batch, num_tokens, num_heads, d_out // num_heads).transpose(1, 2).squeeze(0)


_MASK_1024 = torch.triu(torch.ones(1024, 1024, dtype=torch.bool), diagonal=1)  # GPT-2's context


@mutant(
    "causal_mask",
    "causal_mask",
    "build the mask for each call's num_tokens: a mask made once for GPT-2's 1,024 tokens is too small",
    says="a mask made once for 1,024 tokens is too small",
)
def mask_precomputed_for_1024(num_tokens, device=None):
    return _MASK_1024[:num_tokens, :num_tokens].to(device) if device else _MASK_1024[:num_tokens, :num_tokens]


@mutant(
    "causal_mask",
    "causal_mask",
    "create the mask on `device`: torch.ones(..., device=device)",
    says="create it on `device`",
)
def mask_on_the_default_device(num_tokens, device=None):
    return torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)


@mutant(
    "causal_mask",
    "causal_mask",
    "pass device= to the tensor; torch.set_default_device changes it for the whole program",
    says="torch's default device was",
)
def mask_sets_the_default_device(num_tokens, device=None):
    if device is not None:
        torch.set_default_device(device)
    return torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)


@mutant(
    "causal_mask",
    "apply_mask",
    "mask with differentiable operations: under torch.no_grad() the scores lose their gradient",
    says="no gradient flows back",
)
def fill_under_no_grad(scores, mask):
    with torch.no_grad():
        return scores.masked_fill(mask, float("-inf"))


@mutant(
    "causal_mask",
    "apply_mask",
    "a 0/1 mask times -inf gives nan where the mask is 0 (0 x -inf): use masked_fill",
)
def fill_by_multiplying(scores, mask):
    return scores + mask * float("-inf")


@mutant(
    "causal_mask",
    "apply_mask",
    "make the fill value on the scores' device (or pass a Python float to masked_fill)",
    says="meta",
)
def fill_with_a_cpu_tensor(scores, mask):
    return torch.where(mask.cpu(), torch.tensor(float("-inf")), scores.cpu())


@mutant(
    "classification_head",
    "replace_head",
    "leave the model's mode alone: model.eval() is the caller's choice",
    says="out of training mode",
)
def head_switches_to_eval(model, num_classes):
    model.out_head = nn.Linear(model.out_head.in_features, num_classes)
    return model.eval()


@mutant(
    "classification_head",
    "replace_head",
    "replace the head only: freezing is freeze_all_but's job",
    says="changed requires_grad",
)
def head_freezes_the_rest(model, num_classes):
    for param in model.parameters():
        param.requires_grad = False
    model.out_head = nn.Linear(model.out_head.in_features, num_classes)
    return model


@mutant(
    "classification_head",
    "replace_head",
    "keep the pretrained weights: re-initialising the model throws them away",
    says="changed the values",
)
def head_reinitialises_the_model(model, num_classes):
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
    model.out_head = nn.Linear(model.out_head.in_features, num_classes)
    return model


@mutant(
    "classification_head",
    "replace_head",
    "the new head's parameters must require grad: it is the part that always trains",
    says="no gradient reaches out_head",
)
def head_made_frozen(model, num_classes):
    model.out_head = nn.Linear(model.out_head.in_features, num_classes).requires_grad_(False)
    return model


@mutant(
    "classification_head",
    "freeze_all_but",
    "freezing changes requires_grad only: model.eval() is the caller's choice",
    says="out of training mode",
)
def freeze_switches_to_eval(model, trainable):
    from solutions.classification_head import freeze_all_but

    return freeze_all_but(model, trainable).eval()


@mutant(
    "classification_head",
    "freeze_all_but",
    "requires_grad is set per parameter; torch.set_grad_enabled(False) switches off all gradients",
    says="torch's grad mode was on before the call and off after",
)
def freeze_switches_grad_off(model, trainable):
    from solutions.classification_head import freeze_all_but

    torch.set_grad_enabled(False)
    return freeze_all_but(model, trainable)


def _reference_loss(input_batch, target_batch, model, device):
    from solutions.loss import calc_loss_batch

    return calc_loss_batch(input_batch, target_batch, model, device)


@mutant(
    "loss",
    "calc_loss_batch",
    "return the loss: loss.backward() belongs to the training loop",
    says="the function ran backward()",
)
def loss_runs_backward(input_batch, target_batch, model, device):
    loss = _reference_loss(input_batch, target_batch, model, device)
    loss.backward(retain_graph=True)
    return loss


@mutant(
    "loss",
    "calc_loss_batch",
    "leave the model's mode alone: the loss runs in training and in evaluation",
    says="out of",
)
def loss_switches_to_train(input_batch, target_batch, model, device):
    model.train()
    return _reference_loss(input_batch, target_batch, model, device)


@mutant(
    "loss",
    "calc_loss_batch",
    "leave the model's mode alone: model.eval() here would switch dropout off for training",
    says="out of training mode",
)
def loss_switches_to_eval(input_batch, target_batch, model, device):
    model.eval()
    return _reference_loss(input_batch, target_batch, model, device)


@mutant(
    "loss",
    "calc_loss_batch",
    "move the batch to `device`, whatever it is",
    says="move the batch with .to(device)",
)
def loss_on_the_cpu_always(input_batch, target_batch, model, device):
    return _reference_loss(input_batch, target_batch, model, "cpu")


@mutant(
    "loss",
    "calc_loss_batch",
    "return the loss as a tensor connected to the model: torch.tensor(loss.item()) has no gradient",
    says="no gradient flows back",
)
def loss_rebuilt_from_item(input_batch, target_batch, model, device):
    return torch.tensor(_reference_loss(input_batch, target_batch, model, device).item())


@mutant(
    "loss",
    "calc_loss_batch",
    "compute the loss only: an optimizer step belongs to the training loop",
    says="changed the values",
)
def loss_takes_an_optimizer_step(input_batch, target_batch, model, device):
    loss = _reference_loss(input_batch, target_batch, model, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    loss.backward(retain_graph=True)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def _reference_batch(input_batch, target_batch, model, device):
    from solutions.accuracy import calc_accuracy_batch

    return calc_accuracy_batch(input_batch, target_batch, model, device)


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "enter torch.no_grad() with `with`: called as a statement it does nothing",
    says="with gradient recording on",
)
def accuracy_no_grad_as_a_statement(input_batch, target_batch, model, device):
    torch.no_grad()
    logits = model(input_batch.to(device))[:, -1, :]
    predicted = logits.argmax(dim=-1)
    return int((predicted == target_batch.to(device)).sum().item()), predicted.shape[0]


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "`with torch.no_grad():` switches gradients off for the block only; set_grad_enabled(False) for good",
    says="torch's grad mode was on before the call and off after",
)
def accuracy_switches_grad_off(input_batch, target_batch, model, device):
    torch.set_grad_enabled(False)
    return _reference_batch(input_batch, target_batch, model, device)


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "return the counts as ints, not floats",
    says="return two Python ints",
)
def accuracy_counts_as_floats(input_batch, target_batch, model, device):
    correct, total = _reference_batch(input_batch, target_batch, model, device)
    return float(correct), float(total)


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "return the count as an int (.item()), not a tensor",
    says="return two Python ints",
)
def accuracy_count_as_a_tensor(input_batch, target_batch, model, device):
    with torch.no_grad():
        predicted = model(input_batch.to(device))[:, -1, :].argmax(dim=-1)
    return (predicted == target_batch.to(device)).sum(), len(predicted)


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "leave the model's mode alone here: calc_accuracy_loader is the one that calls model.eval()",
    says="out of training mode",
)
def accuracy_batch_switches_to_eval(input_batch, target_batch, model, device):
    model.eval()
    return _reference_batch(input_batch, target_batch, model, device)


@mutant(
    "accuracy",
    "calc_accuracy_batch",
    "move the batch to `device` before the forward pass",
    says="move the batch with .to(device)",
)
def accuracy_batch_ignores_the_device(input_batch, target_batch, model, device):
    return _reference_batch(input_batch, target_batch, model, "cpu")


@mutant(
    "accuracy",
    "calc_accuracy_loader",
    "model.eval() switches every submodule; model.training = False only the top one",
    says="model.training = False switches only the top",
)
def loader_sets_only_the_top_flag(data_loader, model, device, num_batches=None):
    model.training = False  # the submodules stay in training mode: dropout inside stays on
    correct = total = 0
    for i, (x, y) in enumerate(data_loader):
        if num_batches is not None and i >= num_batches:
            break
        c, n = _reference_batch(x, y, model, device)
        correct, total = correct + c, total + n
    return correct / total


@mutant(
    "accuracy",
    "calc_accuracy_loader",
    "num_batches=0 asks for no batch: `if not num_batches` reads 0 as None",
    says="num_batches=0",
)
def loader_reads_zero_as_all(data_loader, model, device, num_batches=None):
    return _loader_accuracy(data_loader, model, device, num_batches or None)


@mutant(
    "accuracy",
    "calc_accuracy_loader",
    "count the examples you classified: num_batches x batch_size overcounts past the loader's end",
    says="num_batches beyond the loader's length means all batches",
)
def loader_counts_num_batches_times_batch_size(data_loader, model, device, num_batches=None):
    model.eval()
    correct = 0
    for i, (x, y) in enumerate(data_loader):
        if num_batches is not None and i >= num_batches:
            break
        correct += _reference_batch(x, y, model, device)[0]
    total = len(data_loader.dataset) if num_batches is None else num_batches * data_loader.batch_size
    return correct / total


@mutant(
    "accuracy",
    "calc_accuracy_loader",
    "an empty loader has no accuracy: raise ValueError, not return 0",
    says="raise ValueError",
)
def loader_empty_is_zero(data_loader, model, device, num_batches=None):
    try:
        return _loader_accuracy(data_loader, model, device, num_batches)
    except ZeroDivisionError:
        return 0.0


@mutant(
    "accuracy",
    "calc_accuracy_loader",
    "return a Python float, not a tensor",
    says="return a Python float",
)
def loader_returns_a_tensor(data_loader, model, device, num_batches=None):
    return torch.tensor(_loader_accuracy(data_loader, model, device, num_batches))


@mutant(
    "loss",
    "calc_loss_batch",
    "leave .grad alone: model.zero_grad() belongs to the training loop, which may add up several batches",
    says="cleared the .grad",
)
def loss_zeroes_the_gradients(input_batch, target_batch, model, device):
    model.zero_grad()
    return _reference_loss(input_batch, target_batch, model, device)


@functools.lru_cache
def _cached_mask(num_tokens, device):
    return torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=device), diagonal=1)


@mutant(
    "causal_mask",
    "causal_mask",
    "return a new mask on every call: a cached one is shared with every earlier caller",
    says="return a new tensor on each call",
)
def mask_cached_per_size(num_tokens, device=None):
    return _cached_mask(num_tokens, device)


@mutant(
    "classification_head",
    "replace_head",
    "seeding is the caller's choice: torch.manual_seed here resets every later random draw",
    says="do not call torch.manual_seed inside",
)
def head_seeds_the_random_state(model, num_classes):
    torch.manual_seed(123)
    model.out_head = nn.Linear(model.out_head.in_features, num_classes)
    return model


@mutant(
    "attention",
    "scaled_dot_product_attention",
    "mask with apply_mask (-inf): a large negative fill such as -1e9 is not below every score",
    says="Only -inf is below every score",
)
def attention_fills_with_minus_1e9(queries, keys, values, mask=None):
    scores = queries @ keys.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(mask, -1e9)
    weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
    return weights @ values, weights


_ANSWERS: dict = {}


@mutant(
    "accuracy",
    "calc_accuracy_loader",
    "compute the accuracy on every call: a cached answer misses every change to the model",
    says="no cache",
)
def loader_caches_its_answer(data_loader, model, device, num_batches=None):
    key = (id(data_loader), id(model), num_batches)
    if key not in _ANSWERS:
        _ANSWERS[key] = _loader_accuracy(data_loader, model, device, num_batches)
    return _ANSWERS[key]


@mutant(
    "classification_head",
    "freeze_all_but",
    "raise ValueError for an unknown choice: an assert is switched off by python -O",
    says="expected ValueError",
)
def freeze_asserts_the_choice(model, trainable):
    from solutions.classification_head import TRAINABLE_CHOICES, freeze_all_but

    assert trainable in TRAINABLE_CHOICES, f"bad trainable {trainable}"
    return freeze_all_but(model, trainable)


@mutant(
    "attention",
    "split_heads",
    "reshape the tensor itself: a round trip through numpy leaves the graph and the device",
    says="split_heads raised",
)
def split_heads_through_numpy(x, num_heads):
    batch, num_tokens, d_out = x.shape
    copy = torch.from_numpy(x.detach().numpy().copy())
    return copy.view(batch, num_tokens, num_heads, d_out // num_heads).transpose(1, 2)
