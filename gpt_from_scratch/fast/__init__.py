"""Everything that makes finetuning fast, kept outside the book's model (model.py).

finetune calls `plan_speed(options, device)` once: it decides every fast path (or none, with
--exact) and returns a SpeedPlan that builds the model's kernels, the loaders' collate function, the
classifier the trainer calls and its DDP wrapper. The parts: plan.py (the decisions), trunk.py (a
GPTModel run in parts, the last block at the read position), prefix_cache.py (the frozen blocks
once per message), padding.py (batches trimmed to their longest message).
"""

from .plan import SpeedPlan, plan_speed

__all__ = ["SpeedPlan", "plan_speed"]
