"""Concept 3: turn a language model into a classifier: a new output head, and freeze the rest."""

from __future__ import annotations

from torch import nn

# Which parameters stay trainable, named as in the book's chapter 6 experiments.
TRAINABLE_CHOICES = ("last_layer", "last_block", "last_two_blocks", "all")


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace model.out_head (emb_dim -> vocab_size) with a new Linear(emb_dim, num_classes)."""
    emb_dim = model.out_head.in_features
    model.out_head = nn.Linear(emb_dim, num_classes)
    return model


def freeze_all_but(model: nn.Module, trainable: str) -> nn.Module:
    """Freeze all parameters, then unfreeze the output head and the chosen transformer layers."""
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
