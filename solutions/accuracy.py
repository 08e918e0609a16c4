"""Concept 5: classification accuracy, per batch and over a data loader."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


def calc_accuracy_batch(
    input_batch: torch.Tensor,
    target_batch: torch.Tensor,
    model: nn.Module,
    device: torch.device | str,
) -> tuple[int, int]:
    """Return (number of correct predictions, number of examples) for one batch, as Python ints.

    Predict from the last token's logits, like the loss: logits (batch, num_tokens, num_classes)
    -> last position (batch, num_classes) -> predicted class (batch,). No gradients are needed.

    Contract: two Python ints. The model runs on `device`, inside `with torch.no_grad():`, so no
    graph is built; its mode, weights and gradients, the inputs and torch's global settings are left
    as they were.

    Hint: the prediction is the argmax over the classes, not over the batch; `torch.no_grad()`.
    """
    input_batch, target_batch = input_batch.to(device), target_batch.to(device)
    with torch.no_grad():
        logits = model(input_batch)[:, -1, :]  # (batch, num_classes): the last token, as in the loss
    predicted_labels = torch.argmax(logits, dim=-1)  # (batch,)
    return int((predicted_labels == target_batch).sum().item()), predicted_labels.shape[0]


def calc_accuracy_loader(
    data_loader: DataLoader,
    model: nn.Module,
    device: torch.device | str,
    num_batches: int | None = None,
) -> float:
    """Return the fraction of examples classified correctly over the first num_batches batches.

    num_batches=None means every batch; a num_batches larger than the loader means every batch too.
    Put the model in eval mode first. Count examples, not batches: the last batch may be smaller.

    Contract: a Python float in [0, 1], the same on every call. Every submodule ends in eval mode
    (model.eval(), not model.training = False). num_batches=0, or a loader with no examples, raises
    ValueError: no example classified means no accuracy. Weights and gradients are left alone.

    Hint: add up calc_accuracy_batch's two numbers over the batches, then divide once at the end.
    """
    model.eval()
    correct, total = 0, 0
    num_batches = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i >= num_batches:
            break
        batch_correct, batch_total = calc_accuracy_batch(input_batch, target_batch, model, device)
        correct += batch_correct
        total += batch_total
    if total == 0:
        raise ValueError("calc_accuracy_loader: the data loader yielded no examples")
    return correct / total
