"""LoRA from scratch: a no-op at initialisation, only LoRA and the head train, exact counts, exact merging."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gpt_from_scratch import seam
from gpt_from_scratch.lora import (
    LinearWithLoRA,
    LoRALayer,
    count_lora_parameters,
    merge_lora,
    replace_linear_with_lora,
)
from gpt_from_scratch.model import GPTConfig, GPTModel, count_parameters, model_config
from gpt_from_scratch.train import train_classifier_simple

CFG = GPTConfig(vocab_size=50, context_length=16, emb_dim=8, n_heads=2, n_layers=3)
D = CFG.emb_dim


def lora_classifier(rank: int = 4, alpha: float = 8.0, scaling: str = "book") -> GPTModel:
    torch.manual_seed(0)
    model = GPTModel(CFG)
    seam.replace_head(model, 2)
    seam.freeze_all_but(model, "last_layer")
    return replace_linear_with_lora(model, rank, alpha, scaling)


def lora_per_block(rank: int, d: int) -> int:
    # Four d->d attention projections, then d->4d and 4d->d in the feed-forward: rank * (in + out) each.
    return 4 * rank * (d + d) + rank * (d + 4 * d) + rank * (4 * d + d)


def test_outputs_are_unchanged_at_initialisation():
    torch.manual_seed(0)
    model = GPTModel(CFG)
    seam.replace_head(model, 2)
    ids = torch.randint(0, CFG.vocab_size, (3, 10))
    before = model(ids)
    replace_linear_with_lora(model, rank=4, alpha=8.0)
    assert torch.equal(model(ids), before)  # B starts at zero, so the update adds exactly nothing


def test_every_linear_is_wrapped_the_head_included():
    model = lora_classifier()
    assert isinstance(model.out_head, LinearWithLoRA)
    plain = [name for name, m in model.named_modules() if type(m) is nn.Linear]
    # What is left as a plain Linear is exactly the inner layer of each wrapper.
    assert all(name.endswith(".linear") or name == "linear" for name in plain)
    assert len(plain) == CFG.n_layers * 6 + 1


@pytest.mark.parametrize("rank", [1, 4])
def test_parameter_counts_follow_rank_times_in_plus_out(rank):
    model = lora_classifier(rank=rank)
    head_lora = rank * (D + 2)
    assert count_lora_parameters(model) == CFG.n_layers * lora_per_block(rank, D) + head_lora
    head = D * 2 + 2  # the new Linear(d, 2), trainable as in the book's bonus script
    assert count_parameters(model, trainable_only=True) == count_lora_parameters(model) + head


def test_gpt2_small_rank_16_has_the_books_lora_parameter_count():
    # Appendix E of the book prints 2,666,528 trainable LoRA parameters for GPT-2 small, rank 16.
    with torch.device("meta"):  # shapes only: no memory, no time
        model = GPTModel(model_config("gpt2-small"))
        seam.replace_head(model, 2)
        replace_linear_with_lora(model, rank=16, alpha=16)
    assert count_lora_parameters(model) == 12 * lora_per_block(16, 768) + 16 * (768 + 2) == 2_666_528


def test_only_lora_and_head_parameters_train():
    model = lora_classifier()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    lora_names = {name for name in trainable if ".lora." in name or name.startswith("lora.")}
    assert trainable - lora_names == {"out_head.linear.weight", "out_head.linear.bias"}
    assert len(lora_names) == 2 * (CFG.n_layers * 6 + 1)  # an A and a B per wrapped Linear

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, CFG.vocab_size, (16, 10), generator=g)
    labels = torch.randint(0, 2, (16,), generator=g)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids, labels), batch_size=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    train_classifier_simple(model, loader, loader, optimizer, "cpu", 1, 10, 1, log=lambda _: None)
    for name, param in model.named_parameters():
        if name not in trainable:
            assert torch.equal(param, before[name]), name
    assert not torch.equal(model.out_head.lora.B, before["out_head.lora.B"])


def test_book_scaling_is_rank_times_the_paper_scaling():
    torch.manual_seed(0)
    book = LoRALayer(6, 5, rank=4, alpha=2.0, scaling="book")
    paper = LoRALayer(6, 5, rank=4, alpha=2.0, scaling="paper")
    with torch.no_grad():
        book.B.normal_()
        paper.load_state_dict(book.state_dict())
    x = torch.randn(3, 6)
    torch.testing.assert_close(book(x), 4 * paper(x))


def test_a_merged_layer_gives_the_same_output():
    torch.manual_seed(0)
    layer = LinearWithLoRA(nn.Linear(6, 5), rank=3, alpha=2.0, scaling="paper")
    with torch.no_grad():
        layer.lora.B.normal_()  # a trained update, not the zero one
    x = torch.randn(4, 6)
    merged = layer.merged()
    assert type(merged) is nn.Linear
    torch.testing.assert_close(merged(x), layer(x))


def test_merging_a_whole_model_keeps_its_outputs():
    model = lora_classifier()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALayer):
                module.B.normal_(std=0.1)
    ids = torch.randint(0, CFG.vocab_size, (2, 7))
    expected = model(ids)
    merge_lora(model)
    assert not any(isinstance(m, LinearWithLoRA) for m in model.modules())
    torch.testing.assert_close(model(ids), expected)


@pytest.mark.parametrize(("rank", "scaling"), [(0, "book"), (4, "peft")])
def test_bad_rank_or_scaling_is_refused(rank, scaling):
    with pytest.raises(ValueError, match="rank|scaling"):
        replace_linear_with_lora(GPTModel(CFG), rank=rank, alpha=1.0, scaling=scaling)
