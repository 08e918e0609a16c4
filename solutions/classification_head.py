"""Concept 3: turn a language model into a classifier: a new output head, and freeze the rest."""

from __future__ import annotations

from torch import nn

# Which parameters stay trainable, named as in the book's chapter 6 experiments.
TRAINABLE_CHOICES = ("last_layer", "last_block", "last_two_blocks", "all")


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace model.out_head (emb_dim -> vocab_size) with a new nn.Linear(emb_dim, num_classes).

    The new head keeps nn.Linear's default bias. Read emb_dim from the model rather than assuming
    768, so the same code serves every GPT-2 size. Return the model.

    Contract: the same model object comes back, and only its out_head changes: every other
    parameter keeps its values and requires_grad, every submodule its training mode. The new head's
    parameters require grad: it is the part that always trains.

    Hint: the old head knows its input width: `model.out_head.in_features`.
    """
    emb_dim = model.out_head.in_features
    model.out_head = nn.Linear(emb_dim, num_classes)
    return model


def freeze_all_but(model: nn.Module, trainable: str) -> nn.Module:
    """Freeze every parameter (requires_grad = False), then unfreeze the chosen layers; return the model.

    trainable is one of TRAINABLE_CHOICES:
    - "last_layer": only the output head trains;
    - "last_block": the head, the last transformer block (model.trf_blocks[-1]) and model.final_norm;
    - "last_two_blocks": the same with the last two blocks;
    - "all": every parameter trains.
    Any other value raises ValueError naming the choices.

    Contract: only requires_grad changes, and the result does not depend on what was frozen
    before (set every parameter's flag, True or False). Values and training modes stay as they were.

    Hint: `for param in module.parameters(): param.requires_grad = ...` works on any submodule.
    """
    if trainable not in TRAINABLE_CHOICES:
        raise ValueError(f"trainable must be one of {TRAINABLE_CHOICES}, got {trainable!r}")
    for param in model.parameters():
        param.requires_grad = trainable == "all"
    unfrozen = [model.out_head]
    if trainable in ("last_block", "last_two_blocks"):
        # The final LayerNorm sits between the last block and the head, so it trains with them.
        num_blocks = 1 if trainable == "last_block" else 2
        unfrozen += list(model.trf_blocks[-num_blocks:]) + [model.final_norm]
    for module in unfrozen:
        for param in module.parameters():
            param.requires_grad = True
    return model
