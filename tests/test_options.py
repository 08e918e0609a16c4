"""Every finetuning option does what it claims, on tiny models, in seconds."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gpt_from_scratch import cli, seam
from gpt_from_scratch.checkpoint import load_classifier
from gpt_from_scratch.config import FinetuneConfig, check_config, command_line_fields
from gpt_from_scratch.errors import OptionError
from gpt_from_scratch.fast.trunk import Trunk, select_tokens
from gpt_from_scratch.finetune import finetune, set_causal
from gpt_from_scratch.model import GPTConfig, GPTModel
from gpt_from_scratch.pooling import TokenSelector, last_real_positions
from gpt_from_scratch.train import train_classifier_simple

CFG = GPTConfig(vocab_size=50, context_length=16, emb_dim=8, n_heads=2, n_layers=3)
PAD = 0  # a small vocabulary's stand-in for <|endoftext|>; real tokens below are 1..49


def classifier(trainable: str = "all", causal: bool = True) -> GPTModel:
    torch.manual_seed(0)
    model = GPTModel(CFG)
    seam.replace_head(model, 2)
    seam.freeze_all_but(model, trainable)
    return set_causal(model, causal)


def real_tokens(rows: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, CFG.vocab_size, (rows, length), generator=torch.Generator().manual_seed(seed))


def pad(ids: torch.Tensor, total: int) -> torch.Tensor:
    return torch.cat([ids, torch.full((ids.shape[0], total - ids.shape[1]), PAD)], dim=1)


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    """What the last-token loss and accuracy read."""
    return model(ids)[:, -1, :]


# --- token position and pooling -----------------------------------------------------------------


def test_the_books_last_token_path_is_the_plain_model():
    model = classifier()
    assert select_tokens(model, "last", "token") is model


def test_a_last_token_selector_reads_what_the_plain_model_reads():
    model = classifier()
    ids = real_tokens(3, 9)
    torch.testing.assert_close(logits(TokenSelector(Trunk(model), "last"), ids), model(ids)[:, -1, :])


def test_first_token_training_reads_position_zero():
    model = classifier()
    first = select_tokens(model, "first", pad_token_id=PAD)
    ids = real_tokens(3, 9)
    other = ids.clone()
    other[:, 1:] = real_tokens(3, 8, seed=1)  # every token after position 0 changed
    assert torch.equal(logits(first, ids), logits(first, other))  # the causal mask hides them
    torch.testing.assert_close(logits(first, ids), model(ids)[:, 0, :])


def test_flexible_reads_each_rows_last_real_token():
    model = classifier()
    flexible = select_tokens(model, "flexible", pad_token_id=PAD)
    short, longer = real_tokens(1, 4), real_tokens(1, 7, seed=1)
    batch = torch.cat([pad(short, 7), longer])  # row 0: 4 real tokens then 3 padding
    read = logits(flexible, batch)
    torch.testing.assert_close(read[0], model(short)[0, -1, :])  # as if the padding were not there
    torch.testing.assert_close(read[1], model(longer)[0, -1, :])
    torch.testing.assert_close(logits(flexible, pad(batch, 12)), read)  # more padding changes nothing


def test_last_real_position_is_before_the_trailing_run_of_padding():
    ids = torch.tensor([[5, PAD, 7, PAD, PAD], [5, 6, 7, 8, 9], [PAD, PAD, PAD, PAD, PAD]])
    # Row 0 keeps its inner PAD as text; row 1 has no padding; row 2 has no real token at all.
    assert last_real_positions(ids, PAD).tolist() == [2, 4, 0]


def test_mean_pooling_ignores_padding_but_mean_with_padding_does_not():
    model = classifier()
    ids = real_tokens(2, 5)
    mean = select_tokens(model, pooling="mean", pad_token_id=PAD)
    torch.testing.assert_close(logits(mean, pad(ids, 11)), logits(mean, ids))
    # The mean of the tokens' logits: the head is linear, so it is the head of the mean vector.
    torch.testing.assert_close(logits(mean, ids), model(ids).mean(dim=1))

    with_padding = select_tokens(model, pooling="mean_with_padding", pad_token_id=PAD)
    torch.testing.assert_close(logits(with_padding, pad(ids, 11)), model(pad(ids, 11)).mean(dim=1))
    assert not torch.allclose(logits(with_padding, pad(ids, 11)), logits(with_padding, ids))


def test_pooling_with_another_position_is_refused():
    with pytest.raises(ValueError, match="position='first' would be ignored"):
        select_tokens(classifier(), "first", "mean")


# --- causal mask --------------------------------------------------------------------------------


def test_disabling_the_mask_changes_earlier_positions_outputs():
    ids = real_tokens(2, 8)
    changed_last = ids.clone()
    changed_last[:, -1] = (ids[:, -1] % (CFG.vocab_size - 1)) + 1  # another real token
    masked, unmasked = classifier(causal=True), classifier(causal=False)
    assert torch.equal(masked(ids)[:, :-1], masked(changed_last)[:, :-1])  # the future is hidden
    assert not torch.allclose(unmasked(ids)[:, 0], unmasked(changed_last)[:, 0])  # now it is seen
    assert unmasked.cfg.causal is False  # recorded, so a saved model is rebuilt without the mask


# --- trainable layers, accumulation, the book's path -------------------------------------------------


def loader(ids: torch.Tensor, labels: torch.Tensor, batch_size: int) -> DataLoader:
    return DataLoader(TensorDataset(ids, labels), batch_size=batch_size)


def labels_for(num: int) -> torch.Tensor:
    return torch.randint(0, 2, (num,), generator=torch.Generator().manual_seed(2))


def test_last_layer_leaves_every_transformer_weight_unchanged_after_a_step():
    model = classifier("last_layer")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    data = loader(real_tokens(8, 6), labels_for(8), 8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    train_classifier_simple(model, data, data, optimizer, "cpu", 1, 10, 1, log=lambda _: None)
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]) == (not name.startswith("out_head.")), name


def test_no_padding_with_accumulation_8_matches_batch_8_on_equal_length_inputs():
    ids, labels = real_tokens(16, 6), labels_for(16)
    finals = []
    for batch_size, steps in ((8, 1), (1, 8)):
        model = classifier("all")
        # SGD: Adam divides by each gradient's own size, so float noise in a near-zero gradient
        # could flip a step; with SGD equal gradients give equal weights.
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        data = loader(ids, labels, batch_size)
        train_classifier_simple(
            model, data, data, optimizer, "cpu", 2, 1000, 1, log=lambda _: None, accumulation_steps=steps
        )
        finals.append(model.state_dict())
    assert not torch.equal(finals[0]["out_head.weight"], classifier("all").out_head.weight)  # it trained
    for name, value in finals[0].items():
        torch.testing.assert_close(finals[1][name], value, rtol=1e-5, atol=1e-6, msg=name)


def book_loop(model, data, optimizer, num_epochs: int) -> None:
    """The book's inner loop, written out: zero_grad, last-token loss, backward, step."""
    for _ in range(num_epochs):
        model.train()
        for input_batch, target_batch in data:
            optimizer.zero_grad()
            loss = seam.calc_loss_batch(input_batch, target_batch, model, "cpu")
            loss.backward()
            optimizer.step()


def test_the_default_training_path_is_bit_identical_to_the_book_loop():
    data = loader(real_tokens(24, 6), labels_for(24), 8)
    ours, book = classifier("last_block"), classifier("last_block")
    train_classifier_simple(
        select_tokens(ours, FinetuneConfig().position, FinetuneConfig().pooling),
        data,
        data,
        torch.optim.AdamW(ours.parameters(), lr=1e-2, weight_decay=0.1),
        "cpu",
        2,
        1000,
        1,
        log=lambda _: None,
    )
    book_loop(book, data, torch.optim.AdamW(book.parameters(), lr=1e-2, weight_decay=0.1), 2)
    for (name, a), b in zip(ours.state_dict().items(), book.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_max_steps_stops_after_that_many_batches():
    data = loader(real_tokens(32, 6), labels_for(32), 4)
    model = classifier("all")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    *_, seen = train_classifier_simple(model, data, data, optimizer, "cpu", 3, 1000, 1, lambda _: None, 1, 5)
    assert seen == 5 * 4


# --- options that cannot work are refused, with the reason -------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (dict(ignore_index=50256), "labels are class ids"),
        (dict(context="none"), "use --batch-size 1"),
        (dict(context="full", max_length=64), "leave --max-length unset"),
        (dict(position="middle"), "--position middle: choose one of last, first, flexible"),
        (dict(position="first", pooling="mean"), "--position first would be ignored"),
        (dict(model_size="gpt2-huge"), "--model-size gpt2-huge: choose one of"),
        (dict(accumulation_steps=0), "--accumulation-steps 0: must be at least 1"),
        (dict(num_epochs=0), "--epochs 0: must be at least 1"),
        (dict(batch_size=0), "--batch-size 0: must be at least 1"),
        (dict(eval_freq=0), "--eval-freq 0: must be at least 1"),
        (dict(eval_iter=0), "--eval-iter 0: must be at least 1"),
        (dict(lora_rank=0), "--lora-rank 0: must be at least 1"),
        (dict(max_length=0), "--max-length 0: must be at least 1"),
        (dict(max_steps=0), "--max-steps 0: must be at least 1"),
        (dict(lr=-1.0), "--lr -1: the learning rate must be positive"),
        (dict(weight_decay=-0.5), "--weight-decay -0.5: the weight decay must be 0 or more"),
        (dict(lora_alpha=0.0), "--lora-alpha 0: the LoRA scale must be positive"),
        (dict(num_classes=1), "num_classes=1: a classifier needs at least 2 classes"),
    ],
)
def test_options_that_cannot_work_are_refused_naming_the_flag(values, message):
    with pytest.raises(OptionError, match=message):
        check_config(FinetuneConfig(**values))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", [f.name for f in command_line_fields() if "float" in str(f.type)])
def test_a_value_that_is_not_a_finite_number_is_refused_naming_the_flag(name, value):
    flag = "--" + name.replace("_", "-")
    with pytest.raises(OptionError, match=f"^{flag} {value:g}: not a finite number"):
        check_config(FinetuneConfig(**{name: value}))


def test_the_defaults_and_the_book_recipe_pass_the_check():
    check_config(FinetuneConfig())
    check_config(FinetuneConfig(model_size="gpt2-small", context="none", batch_size=1, accumulation_steps=8))


def test_the_cli_refuses_ignore_index_with_the_reason(capsys, sms_file):
    code = cli.main(["finetune", "--weights", "random", "--data-file", str(sms_file), "--ignore-index", "7"])
    assert code == 1
    err = capsys.readouterr().err
    assert "--ignore-index 7 is refused" in err
    assert "labels are class ids" in err and "--position flexible" in err
    assert "ignore_index=50256" not in err  # it names what the user typed, not a value they did not


# --- end to end -------------------------------------------------------------------------------------


def test_a_finetune_with_the_options_trains_saves_and_reloads(sms_file, tokenizer, tmp_path):
    cfg = FinetuneConfig(
        model_size="tiny",
        weights="random",
        data_file=str(sms_file),
        out_dir=str(tmp_path),
        lr=1e-3,
        num_epochs=1,
        eval_freq=50,
        eval_iter=1,
        device="cpu",
        max_length=24,
        max_steps=3,
        position="flexible",
        causal=False,
        trainable="lora",
        lora_rank=2,
        lora_alpha=4,
    )
    metrics = finetune(cfg, log=lambda _: None)
    assert metrics["examples_seen"] == 3 * 8
    assert len(metrics["test_predictions"]) == 300
    assert metrics["test_accuracy"] == pytest.approx(
        sum(p == y for p, y in zip(metrics["test_predictions"], split_labels(tmp_path), strict=True)) / 300
    )
    model, config = load_classifier(tmp_path)  # merged LoRA: a plain GPT-2 classifier
    assert model.cfg.causal is False
    assert config["finetune"]["position"] == "flexible"
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["trainable"] == "lora"


def split_labels(out_dir) -> list[int]:
    return pd.read_csv(out_dir / "data" / "test.csv")["Label"].tolist()
