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
    """Return (number of correct predictions, number of examples) for one batch."""
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
    """Fraction of examples classified correctly over the first num_batches batches (all if None)."""
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
