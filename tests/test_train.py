"""The training recipe: freezing, the book's loop, a real (tiny) finetune that learns, repeatability."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gpt_from_scratch import seam
from gpt_from_scratch.errors import TrainingError
from gpt_from_scratch.finetune import FinetuneConfig, finetune
from gpt_from_scratch.model import GPTConfig, GPTModel
from gpt_from_scratch.train import calc_loss_loader, evaluate_model, train_classifier_simple

CFG = GPTConfig(vocab_size=50, context_length=16, emb_dim=8, n_heads=2, n_layers=3)
D = CFG.emb_dim
BLOCK = 12 * D * D + 13 * D  # attention 4d²+4d, feed-forward 8d²+5d, two LayerNorms 4d
FINAL_NORM = 2 * D
HEAD = 2 * D + 2  # Linear(d, 2) with bias


def classifier(trainable: str) -> GPTModel:
    torch.manual_seed(0)
    model = GPTModel(CFG)
    seam.replace_head(model, 2)
    return seam.freeze_all_but(model, trainable)


def trainable_count(model: GPTModel) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("trainable", "expected"),
    [
        ("last_layer", HEAD),
        ("last_block", BLOCK + FINAL_NORM + HEAD),
        ("last_two_blocks", 2 * BLOCK + FINAL_NORM + HEAD),
        ("all", 50 * D + 16 * D + 3 * BLOCK + FINAL_NORM + HEAD),
    ],
)
def test_freezing_leaves_exactly_the_chosen_parameters_trainable(trainable, expected):
    assert trainable_count(classifier(trainable)) == expected


def test_unknown_trainable_choice_is_refused():
    with pytest.raises(ValueError, match="last_block"):
        classifier("everything")


def random_loader(num_examples: int = 32, num_tokens: int = 10, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CFG.vocab_size, (num_examples, num_tokens), generator=g)
    labels = torch.randint(0, 2, (num_examples,), generator=g)
    return DataLoader(TensorDataset(ids, labels), batch_size=8)


def test_training_changes_only_trainable_parameters():
    model = classifier("last_block")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loader = random_loader()
    train_classifier_simple(
        model, loader, loader, optimizer, "cpu", 1, eval_freq=2, eval_iter=1, log=lambda _: None
    )
    for name, param in model.named_parameters():
        changed = not torch.equal(before[name], param)
        assert changed == param.requires_grad, name


def test_training_loop_records_what_the_book_records():
    model = classifier("all")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    lines = []
    train_losses, val_losses, train_accs, val_accs, seen = train_classifier_simple(
        model,
        random_loader(),
        random_loader(seed=1),
        optimizer,
        "cpu",
        2,
        eval_freq=2,
        eval_iter=1,
        log=lines.append,
    )
    assert seen == 2 * 32
    assert len(train_losses) == len(val_losses) == 4  # steps 0, 2 of each 4-step epoch
    assert len(train_accs) == len(val_accs) == 2
    assert all(0.0 <= a <= 1.0 for a in train_accs + val_accs)
    assert lines[0].startswith("Ep 1 (Step 000000): Train loss")
    assert any(line.startswith("Training accuracy:") for line in lines)


def test_the_first_non_finite_training_loss_stops_training_naming_its_step(monkeypatch):
    model = classifier("all")
    real, training_steps = seam.calc_loss_batch, []

    def loss_nan_at_step_2(input_batch, target_batch, model, device):
        loss = real(input_batch, target_batch, model, device)
        if model.training:  # a training step, not an evaluation
            training_steps.append(loss)
            if len(training_steps) == 3:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(seam, "calc_loss_batch", loss_nan_at_step_2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    lines = []
    with pytest.raises(TrainingError, match=r"^training stopped at step 2: the loss is not a finite number"):
        train_classifier_simple(
            model,
            random_loader(),
            random_loader(),
            optimizer,
            "cpu",
            3,
            eval_freq=100,
            eval_iter=1,
            log=lines.append,
        )
    assert len(training_steps) == 4  # the epoch's 4 steps: checked at its end, where the trainer waits anyway
    assert not any(line.startswith("Training accuracy") for line in lines)


def test_loss_loader_averages_the_batch_losses():
    model = classifier("all")
    loader = random_loader()
    batch_losses = [seam.calc_loss_batch(x, y, model, "cpu").item() for x, y in loader]
    assert calc_loss_loader(loader, model, "cpu") == pytest.approx(sum(batch_losses) / len(batch_losses))
    assert calc_loss_loader(loader, model, "cpu", num_batches=2) == pytest.approx(sum(batch_losses[:2]) / 2)
    empty = DataLoader(TensorDataset(torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, dtype=torch.long)))
    assert calc_loss_loader(empty, model, "cpu") != calc_loss_loader(empty, model, "cpu")  # nan


def test_evaluate_model_leaves_the_model_in_training_mode():
    model = classifier("all").train()
    evaluate_model(model, random_loader(), random_loader(), "cpu", eval_iter=1)
    assert model.training


def tiny_recipe(sms_file, out_dir, **overrides) -> FinetuneConfig:
    values = dict(
        model_size="tiny",
        weights="random",
        data_file=str(sms_file),
        out_dir=str(out_dir),
        lr=1e-3,  # a random tiny model needs a bolder step than the book's 5e-5
        num_epochs=1,
        eval_freq=50,
        eval_iter=2,
        device="cpu",
    )
    return FinetuneConfig(**(values | overrides))


@pytest.mark.slow
def test_tiny_finetune_on_real_data_learns_and_writes_its_outputs(sms_file, tokenizer, tmp_path):
    metrics = finetune(tiny_recipe(sms_file, tmp_path), log=lambda _: None)
    # The balanced training set is 517 spam of 1045 messages: always guessing gives at most 50.5%.
    assert metrics["train_accuracy"] > 0.70
    assert metrics["test_accuracy"] > 0.70
    for name in ("config.json", "metrics.json", "loss-plot.png", "accuracy-plot.png", "data/train.csv"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    assert saved["config"]["seed"] == 123


@pytest.mark.slow
def test_same_seed_gives_the_same_numbers(sms_file, tokenizer, tmp_path):
    # Truncating to 24 tokens keeps this quick; repeatability does not depend on the length.
    runs = [
        finetune(tiny_recipe(sms_file, tmp_path / str(i), max_length=24, eval_freq=20), log=lambda _: None)
        for i in range(2)
    ]
    for key in ("train_losses", "val_losses", "train_accs", "val_accs", "test_accuracy"):
        assert runs[0][key] == runs[1][key], key
    weights = [next((tmp_path / str(i)).glob("weights-*.safetensors")).read_bytes() for i in range(2)]
    assert weights[0] == weights[1]
