# Do not edit: these tests check exercises/classification_head.py, the file you write.
"""Exercise 3: replace the LM head with a classification head, and freeze the rest."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gpt_from_scratch.grading.checks import golden, impl, reference_model, where
from gpt_from_scratch.model import GPTConfig, GPTModel

pytestmark = pytest.mark.classification_head

REPLACE = where("classification_head", "replace_head")
FREEZE = where("classification_head", "freeze_all_but")
GENERAL_FREEZE_HINT = "freeze every parameter, then unfreeze the head and the chosen layers"
CHOICES = ("last_layer", "last_block", "last_two_blocks", "all")


def tiny_model() -> GPTModel:
    torch.manual_seed(0)
    return GPTModel(GPTConfig(**golden("classification_head").value("head.config")))


def tiny_classifier() -> GPTModel:
    """tiny_model with a two-class head put on here, so that the freezing tests check freezing alone."""
    model = tiny_model()
    model.out_head = nn.Linear(model.out_head.in_features, 2)
    return model


@pytest.mark.parametrize("num_classes", [2, 5])
def test_replace_head_puts_a_fresh_linear_layer_on_top(num_classes):
    model = tiny_model()
    emb_dim = model.cfg.emb_dim
    before = {
        name: p.detach().clone() for name, p in model.named_parameters() if not name.startswith("out_head")
    }
    language_model_head = model.out_head
    returned = impl("classification_head").replace_head(model, num_classes)
    assert returned is model, f"{REPLACE} must return the model it was given"
    head = model.out_head
    assert head is not language_model_head, (
        f"{REPLACE}: model.out_head is still the language-model head ({emb_dim} -> "
        f"{model.cfg.vocab_size}), and forward() uses model.out_head: assign the new layer to model.out_head"
    )
    assert isinstance(head, nn.Linear), (
        f"{REPLACE}: model.out_head must be an nn.Linear, got {type(head).__name__}"
    )
    assert head.in_features == emb_dim, (
        f"{REPLACE}: the head takes {head.in_features} input features, but the model's hidden size "
        f"(emb_dim) is {emb_dim}: the old head's in_features, model.out_head.in_features"
    )
    assert head.out_features == num_classes, (
        f"{REPLACE}: the head gives {head.out_features} outputs, but there are num_classes={num_classes} "
        "classes: one logit per class"
    )
    assert head.bias is not None, f"{REPLACE}: keep nn.Linear's bias (the book's head has one)"
    assert head.weight is not model.tok_emb.weight, (
        f"{REPLACE}: the new head must not share the token embedding"
    )
    for name, p in model.named_parameters():
        if name in before:
            assert torch.equal(p, before[name]), f"{REPLACE} changed {name}: only the head may change"
    with reference_model():  # the reference attention and mask: only your head is checked here
        logits = model(torch.zeros(1, 3, dtype=torch.long))
    assert logits.shape == (1, 3, num_classes), (
        f"after {REPLACE}, the model outputs shape {tuple(logits.shape)}"
    )


@pytest.mark.parametrize("trainable", CHOICES)
def test_freeze_all_but_trains_exactly_the_chosen_parameters(trainable):
    g = golden("classification_head")
    model = tiny_classifier()
    returned = impl("classification_head").freeze_all_but(model, trainable)
    assert returned is model, f"{FREEZE} must return the model it was given"
    actual = [name for name, p in model.named_parameters() if p.requires_grad]
    expected = g.value(f"trainable.{trainable}")
    if actual == expected:
        return
    extra = sorted(set(actual) - set(expected))
    missing = sorted(set(expected) - set(actual))
    # A recorded mistake's hint only when exactly one mistake gives these names: else the general one.
    specific = sorted(
        {
            g.value(f"hint.{key.split('.')[1]}")
            for key in g.metadata
            if key.startswith("mistake.")
            and key.endswith(f".trainable.{trainable}")
            and g.value(key) == actual
        }
    )
    pytest.fail(
        f"{FREEZE}(model, {trainable!r}): {len(actual)} parameters are trainable, expected {len(expected)}.\n"
        f"  trainable but should be frozen: {extra[:4]}{' ...' if len(extra) > 4 else ''}\n"
        f"  frozen but should train: {missing[:4]}{' ...' if len(missing) > 4 else ''}\n"
        f"Hint: {specific[0] if len(specific) == 1 else GENERAL_FREEZE_HINT}",
        pytrace=False,
    )


def test_freeze_all_but_refuses_an_unknown_choice():
    try:
        impl("classification_head").freeze_all_but(tiny_classifier(), "first_block")
    except ValueError as error:
        assert "last_block" in str(error), (
            f"{FREEZE}(model, 'first_block') raised ValueError({str(error)!r}): name the choices in the "
            f"message, {CHOICES}, so the caller sees what to pass"
        )
        return
    except NotImplementedError:  # a stub: the plugin shows it in one line
        raise
    except Exception as error:
        pytest.fail(
            f"{FREEZE}(model, 'first_block') raised {type(error).__name__}({error}), expected ValueError "
            f"naming the choices {CHOICES} (an assert can be switched off, and reads as a failed check)",
            pytrace=False,
        )
    pytest.fail(
        f"{FREEZE}(model, 'first_block') accepted a choice that is not one of {CHOICES}: raise ValueError "
        "naming the choices, so a typo is not trained as something else",
        pytrace=False,
    )


def test_frozen_parameters_get_no_gradient():
    model = impl("classification_head").freeze_all_but(tiny_classifier(), "last_block")
    with reference_model():  # the reference attention and mask: only your freezing is checked here
        model(torch.randint(0, 50, (2, 4)))[:, -1].sum().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, (
            f"{name}: requires_grad={p.requires_grad} but grad={p.grad}"
        )


def freeze_everything(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad = False


def freeze_the_head_only(model: nn.Module) -> None:
    for p in model.out_head.parameters():
        p.requires_grad = False


BEFORE = {"everything frozen": freeze_everything, "only the head frozen": freeze_the_head_only}


@pytest.mark.parametrize("earlier", list(BEFORE))
@pytest.mark.parametrize("trainable", CHOICES)
def test_freeze_all_but_does_not_depend_on_what_was_frozen_before(trainable, earlier):
    # A real caller may hand over a model that was frozen before: from a checkpoint, or by a first
    # call with another choice. The result must be the same as on a fresh model.
    expected = golden("classification_head").value(f"trainable.{trainable}")
    model = tiny_classifier()
    BEFORE[earlier](model)
    impl("classification_head").freeze_all_but(model, trainable)
    actual = [name for name, p in model.named_parameters() if p.requires_grad]
    if actual == expected:
        return
    still_frozen = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    pytest.fail(
        f"{FREEZE}(model, {trainable!r}) on a model with {earlier}: {len(actual)} parameters are "
        f"trainable, expected {len(expected)}, as on a fresh model.\n"
        f"  frozen but should train: {still_frozen[:4]}{' ...' if len(still_frozen) > 4 else ''}\n"
        f"  trainable but should be frozen: {extra[:4]}{' ...' if len(extra) > 4 else ''}\n"
        "Hint: set requires_grad on every parameter, True or False, whatever it was before: "
        "the parameters that train need requires_grad = True set explicitly.",
        pytrace=False,
    )


@pytest.mark.parametrize("first", CHOICES)
def test_freeze_all_but_called_twice_follows_the_second_choice(first):
    for second in CHOICES:
        model = tiny_classifier()
        impl("classification_head").freeze_all_but(model, first)
        impl("classification_head").freeze_all_but(model, second)
        actual = [name for name, p in model.named_parameters() if p.requires_grad]
        expected = golden("classification_head").value(f"trainable.{second}")
        assert actual == expected, (
            f"{FREEZE}: called with {first!r}, then {second!r}, {len(actual)} parameters are trainable; "
            f"{second!r} alone on a fresh model trains {len(expected)}. Set requires_grad on every "
            "parameter each call, so the last call decides."
        )


def test_the_new_head_gets_the_gradient_of_a_linear_layer():
    # The head is what trains in every choice: the gradient of the logits must reach its weight and bias,
    # and equal the textbook one for a linear layer: dL/dW = upstreamᵀ · inputs, dL/db = sum of upstream.
    model = impl("classification_head").replace_head(tiny_model(), 3)
    inputs = []
    model.out_head.register_forward_hook(lambda module, args, output: inputs.append(args[0].detach()))
    with reference_model():  # the reference attention and mask: only your head is checked here
        logits = model(torch.randint(0, 50, (2, 4), generator=torch.Generator().manual_seed(3)))
    upstream = torch.randn(logits.shape, generator=torch.Generator().manual_seed(4))
    (logits * upstream).sum().backward()
    hidden = inputs[0].reshape(-1, inputs[0].shape[-1])  # (batch * tokens, emb_dim)
    flat = upstream.reshape(-1, 3)  # (batch * tokens, num_classes)
    for name, expected in (("weight", flat.T @ hidden), ("bias", flat.sum(dim=0))):
        grad = getattr(model.out_head, name).grad
        assert grad is not None, (
            f"{REPLACE}: no gradient reaches out_head.{name}: the new head must be a plain nn.Linear whose "
            "parameters require grad (made outside torch.no_grad(), not frozen)"
        )
        assert torch.allclose(grad, expected, atol=1e-5), (
            f"{REPLACE}: the gradient of out_head.{name} differs from a linear layer's by up to "
            f"{(grad - expected).abs().max().item():.3g}"
        )


@pytest.mark.parametrize("function", ["replace_head", "freeze_all_but"])
def test_the_model_keeps_its_mode(function):
    # A model handed over in evaluation mode stays in it (and one in training mode stays in that):
    # switching modes is the caller's choice. The contract check fails the call if any submodule moved.
    for training in (False, True):
        model = tiny_classifier().train(training)
        if function == "replace_head":
            impl("classification_head").replace_head(model, 2)
        else:
            impl("classification_head").freeze_all_but(model, "last_block")
        others = [
            n for n, m in model.named_modules() if m.training != training and not n.startswith("out_head")
        ]
        assert others == [], f"{where('classification_head', function)} changed the mode of {others}"


def test_the_new_head_is_drawn_from_torchs_random_state():
    # Seeding is the caller's choice: a torch.manual_seed inside would give every run the same head and
    # reset every later random draw of the program (the data shuffling, dropout).
    heads = []
    for seed in (1, 2):
        model = tiny_model()
        torch.manual_seed(seed)
        heads.append(impl("classification_head").replace_head(model, 2).out_head.weight.detach().clone())
    assert not torch.equal(*heads), (
        f"{REPLACE} gave the same head weights under two different seeds: create it with nn.Linear's own "
        "random initialisation, and do not call torch.manual_seed inside"
    )
