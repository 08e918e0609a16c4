"""Exercise 3: turn a language model into a classifier: a new output head, and freeze the rest.

Book: chapter 6, section 6.5 (adding a classification head). Check your work with
`pytest exercises/ -m classification_head`.
"""

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
    raise NotImplementedError("exercises/classification_head.py::replace_head")


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
    raise NotImplementedError("exercises/classification_head.py::freeze_all_but")
