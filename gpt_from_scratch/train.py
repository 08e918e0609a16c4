"""The book's training loop for the classifier: losses over loaders, periodic evaluation, accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader

from . import seam
from .errors import TrainingError
from .progress import progress, say

# The learner concepts, re-exported under the book's names so `from gpt_from_scratch.train import
# calc_loss_batch` works as in the book; the seam decides whose implementation runs.
calc_loss_batch = seam.calc_loss_batch
calc_accuracy_loader = seam.calc_accuracy_loader


class Classifier(Protocol):
    """What the trainer calls on a model: GPTModel itself, or what fast.SpeedPlan.classifier builds.

    Called on token ids (batch, num_tokens), it returns logits (batch, positions, num_classes);
    the last position holds each message's prediction, which is what the learner's loss reads.
    """

    def __call__(self, in_idx: torch.Tensor) -> torch.Tensor: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def parameters(self, recurse: bool = True) -> Any: ...


def calc_loss_loader(
    data_loader: DataLoader,
    model: Classifier,
    device: torch.device | str,
    num_batches: int | None = None,
) -> float:
    """Mean of calc_loss_batch over the first num_batches batches of a loader (all if None)."""
    if len(data_loader) == 0:
        return float("nan")
    num_batches = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
    total_loss = 0.0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i >= num_batches:
            break
        total_loss += seam.calc_loss_batch(input_batch, target_batch, model, device).item()
    return total_loss / num_batches


def evaluate_model(
    model: Classifier,
    train_loader: DataLoader,
    val_loader: DataLoader,
    device: torch.device | str,
    eval_iter: int,
) -> tuple[float, float]:
    """Training and validation loss, each estimated on eval_iter batches."""
    model.eval()
    # inference_mode: like no_grad, and also skips autograd's version counting (same numbers).
    with torch.inference_mode():
        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
        val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
    model.train()
    return train_loss, val_loss


def train_classifier_simple(
    model: Classifier,
    train_loader: DataLoader,
    val_loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str,
    num_epochs: int,
    eval_freq: int,
    eval_iter: int,
    log: Callable[[str], None] = say,
    accumulation_steps: int = 1,
    max_steps: int | None = None,
) -> tuple[list[float], list[float], list[float], list[float], int]:
    """Train for num_epochs; return (train_losses, val_losses, train_accs, val_accs, examples_seen).

    accumulation_steps > 1 sums the gradients of that many batches before each optimizer step (an
    effective batch that many times larger); max_steps stops after that many batches in all.
    """
    if accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be at least 1, got {accumulation_steps}")
    train_losses, val_losses, train_accs, val_accs = [], [], [], []
    examples_seen, global_step = 0, -1
    first_nonfinite = None  # the first step whose loss was nan or infinite (a tensor on the device)

    for epoch in range(num_epochs):
        model.train()
        steps = progress(train_loader, f"Training, epoch {epoch + 1} of {num_epochs}", unit="step")
        for batch_idx, (input_batch, target_batch) in enumerate(steps):
            if batch_idx % accumulation_steps == 0:
                optimizer.zero_grad()
            loss = seam.calc_loss_batch(input_batch, target_batch, model, device)
            global_step += 1
            first_nonfinite = note_nonfinite(loss, global_step, first_nonfinite)
            # Each batch's mean loss / accumulation_steps: the summed gradients are those of the mean
            # over the effective batch. (Dividing by 1 is exact, so the book's path is unchanged.)
            (loss / accumulation_steps).backward()
            examples_seen += input_batch.shape[0]
            out_of_steps = max_steps is not None and global_step + 1 >= max_steps
            end_of_group = (batch_idx + 1) % accumulation_steps == 0 or batch_idx + 1 == len(train_loader)
            if end_of_group or out_of_steps:
                optimizer.step()

            if global_step % eval_freq == 0:
                stop_if_nonfinite(first_nonfinite, optimizer)
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                if not math.isfinite(train_loss):  # this step's update broke the weights
                    stop_if_nonfinite(torch.tensor(global_step), optimizer)
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                log(
                    f"Ep {epoch + 1} (Step {global_step:06d}): "
                    f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}"
                )
            if out_of_steps:
                break

        stop_if_nonfinite(first_nonfinite, optimizer)
        # Accuracy on eval_iter batches only: a cheap estimate after each epoch, as in the book.
        with torch.inference_mode():
            train_accuracy = seam.calc_accuracy_loader(train_loader, model, device, num_batches=eval_iter)
            val_accuracy = seam.calc_accuracy_loader(val_loader, model, device, num_batches=eval_iter)
        log(
            f"Training accuracy: {train_accuracy * 100:.2f}% | Validation accuracy: {val_accuracy * 100:.2f}%"
        )
        train_accs.append(train_accuracy)
        val_accs.append(val_accuracy)
        if max_steps is not None and global_step + 1 >= max_steps:
            break

    return train_losses, val_losses, train_accs, val_accs, examples_seen


def note_nonfinite(loss: torch.Tensor, step: int, first: torch.Tensor | None) -> torch.Tensor:
    """first, or step if first is unset (-1) and the loss is nan or infinite.

    Computed on the loss's device: reading the loss on the CPU every step would make the CPU wait
    for the GPU at each one. The trainer reads the answer where it waits anyway (stop_if_nonfinite).
    """
    if first is None:
        first = torch.tensor(-1, device=loss.device)
    return torch.where((first < 0) & ~torch.isfinite(loss.detach()), step, first)


def stop_if_nonfinite(first: torch.Tensor | None, optimizer: torch.optim.Optimizer) -> None:
    """Raise TrainingError, naming the step, if a loss was nan or infinite: no later step can recover."""
    if first is None or int(first) < 0:
        return
    lr = optimizer.param_groups[0]["lr"]
    raise TrainingError(
        f"training stopped at step {int(first)}: the loss is not a finite number (nan or infinite); the "
        f"learning rate (--lr {lr:g}) is likely too high: try a smaller one (the book's is 5e-5)"
    )
