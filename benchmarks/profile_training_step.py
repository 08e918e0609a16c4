"""Where a training step on cached activations spends its time: torch.profiler over finetune's own steps.

    python benchmarks/profile_training_step.py RUN_DIR [--position flexible] [--steps 30]

RUN_DIR is a finetune output folder (its data/ holds the splits). GPT-2 small with random weights,
built, planned and optimized as finetune does (plan_speed, the prefix cache, AdamW as the plan
builds it); the first pass over the batches fills the cache for their messages and warms up, the
second is timed, and a third, under the profiler, prints the operators by their own CPU time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gpt_from_scratch import seam
from gpt_from_scratch.fast import plan_speed
from gpt_from_scratch.finetune import FinetuneConfig, build_classifier, make_loaders


def quiet(_: str) -> None:
    """finetune's log, silenced."""


def main(run_dir: Path, position: str, steps: int) -> None:
    cpu = torch.device("cpu")
    cfg = FinetuneConfig(weights="random", position=position)
    plan = plan_speed(cfg, cpu, log=quiet)
    model = build_classifier(cfg, quiet, **plan.model_options)
    train_loader = make_loaders(run_dir / "data", model.cfg.context_length, cfg, plan.collate_fn)[0]
    classifier = plan.classifier(model, cfg.position, cfg.pooling, log=quiet)
    optimizer = plan.optimizer(model, cfg.lr, cfg.weight_decay)
    batches = [batch for batch, _ in zip(train_loader, range(steps), strict=False)]

    def step(ids: torch.Tensor, labels: torch.Tensor) -> None:
        optimizer.zero_grad()
        seam.calc_loss_batch(ids, labels, classifier, cpu).backward()
        optimizer.step()

    for batch in batches:  # computes these messages' frozen prefix once, and warms up
        step(*batch)
    start = time.perf_counter()
    for batch in batches:
        step(*batch)
    seconds = (time.perf_counter() - start) / len(batches)
    tokens = sum(ids.numel() for ids, _ in batches) / len(batches)
    print(f"{len(batches)} steps, {tokens:.0f} tokens a batch: {1000 * seconds:.1f} ms a step")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for batch in batches:
            step(*batch)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--position", default="flexible")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    main(args.run_dir, args.position, args.steps)
