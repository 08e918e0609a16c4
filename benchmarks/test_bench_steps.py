"""Per-step throughput: one training step and one evaluation batch, ours beside Hugging Face's.

Variants of our GPTModel: "seam" is the educational path, exactly the book's computation (the
baseline, what --exact runs); "fast" is what finetune runs by default without the cache: SDPA
attention, fused LayerNorm and GELU, the last block at the read position only; "fast+cache" also
serves the frozen blocks from the prefix cache (the steady state once the cache is filled).
Compare ratios within one run.
"""

from __future__ import annotations

import pytest
import torch

from conftest import (
    BATCH_SIZE,
    NUM_TOKENS,
    ROUNDS,
    gpt2_small_classifier,
    hf_classifier,
    needs_cuda,
    record,
    step_flops,
)
from gpt_from_scratch import seam
from gpt_from_scratch.fast import SpeedPlan, plan_speed
from gpt_from_scratch.finetune import FinetuneConfig
from gpt_from_scratch.model import model_config

DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=needs_cuda)]
OURS = ["seam", "fast", "fast+cache"]


def speed_plan(variant: str, device: str) -> tuple[FinetuneConfig, SpeedPlan]:
    """The options and plan finetune would run with, chosen by variant ("hf" takes the fast one's)."""
    options = FinetuneConfig(exact=variant == "seam", prefix_cache=variant.endswith("+cache"))
    return options, plan_speed(options, torch.device(device), log=lambda _: None)


def build(variant: str, trainable: str, device: str) -> torch.nn.Module:
    """The classifier finetune would train: speed options as in FinetuneConfig, chosen by variant."""
    options, plan = speed_plan(variant, device)
    model = gpt2_small_classifier(trainable, **plan.model_options).to(device)
    return plan.classifier(model, options.position, options.pooling, log=lambda _: None)


def timed(step, device: str):
    def run():
        step()
        if device == "cuda":
            torch.cuda.synchronize()  # CUDA kernels run asynchronously: wait before the clock stops

    return run


def autocast(device: str, bf16: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device == "cuda")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("trainable", ["last_block", "all"])
@pytest.mark.parametrize("variant", [*OURS, "hf", pytest.param("fast+bf16", marks=needs_cuda)])
def test_train_step(benchmark, batch, peak_flops, variant, trainable, device):
    if variant.endswith("+cache") and trainable == "all":
        pytest.skip("nothing to cache: with all layers trainable there is no frozen prefix")
    ids, labels = (t.to(device) for t in batch)
    if variant == "hf":
        model = hf_classifier(trainable).to(device).train()

        def loss_fn():
            return model(input_ids=ids, labels=labels).loss
    else:
        model = build(variant.removesuffix("+bf16"), trainable, device).train()

        def loss_fn():
            with autocast(device, variant.endswith("+bf16")):
                return seam.calc_loss_batch(ids, labels, model, device)

    # finetune's AdamW: fused unless exact. Hugging Face's model gets the same as our fast one.
    optimizer = speed_plan(variant, device)[1].optimizer(model, lr=5e-5, weight_decay=0.1)

    def step():
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()

    benchmark.pedantic(timed(step, device), rounds=ROUNDS, warmup_rounds=1, iterations=1)
    cfg = model_config("gpt2-small")
    trained = cfg.n_layers if trainable == "all" else 1
    computed = 1 if variant.endswith("+cache") else cfg.n_layers
    tokens = BATCH_SIZE * NUM_TOKENS
    benchmark.extra_info["model"] = "huggingface" if variant == "hf" else "ours"
    record(
        benchmark,
        examples=BATCH_SIZE,
        tokens=tokens,
        flops=step_flops(cfg, NUM_TOKENS, computed, trained, skip_unread=variant.startswith("fast")),
        peak=peak_flops,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", [*OURS, "hf"])
def test_eval_batch(benchmark, batch, peak_flops, variant, device):
    ids = batch[0].to(device)
    if variant == "hf":
        model = hf_classifier("last_block").to(device).eval()

        def forward():
            with torch.inference_mode():
                return model(input_ids=ids).logits
    else:
        model = build(variant, "last_block", device).eval()

        def forward():
            with torch.inference_mode():
                return model(ids)[:, -1, :]

    benchmark.pedantic(timed(forward, device), rounds=ROUNDS, warmup_rounds=1, iterations=1)
    cfg = model_config("gpt2-small")
    computed = 1 if variant.endswith("+cache") else cfg.n_layers
    tokens = BATCH_SIZE * NUM_TOKENS
    record(
        benchmark,
        examples=BATCH_SIZE,
        tokens=tokens,
        flops=step_flops(cfg, NUM_TOKENS, computed, 0, skip_unread=variant.startswith("fast")),
        peak=peak_flops,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("update", ["default", "fused"])
def test_adamw_update(benchmark, update, device):
    """AdamW's update alone over the book's trainable parameters (last block, final norm, head).

    "default" is the book's line, what --exact runs: torch picks one tensor at a time on the CPU, its
    multi-tensor (foreach) kernels on CUDA. "fused" is what finetune runs otherwise
    (SpeedPlan.fused_optimizer). On cached activations a training step is small enough that the
    update is a large share of it.
    """
    model = gpt2_small_classifier("last_block").to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g).to(device)
    kind = {"fused": True} if update == "fused" else {}
    optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.1, **kind)
    benchmark.pedantic(timed(optimizer.step, device), rounds=ROUNDS, warmup_rounds=1, iterations=10)
    benchmark.extra_info["parameters"] = sum(p.numel() for p in params)
