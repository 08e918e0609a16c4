"""Everything that makes finetuning and prediction fast, kept outside the book's model (model.py).

finetune calls `plan_speed(options, device)` once: it decides every fast path (or none, with
--exact) and returns a SpeedPlan that builds the model's kernels, the loaders' collate function, the
classifier the trainer calls and fills its prefix cache. The parts: plan.py (the decisions), trunk.py (a
GPTModel run in parts, the last block at the read position), prefix_cache.py (the frozen blocks
once per message), padding.py (batches trimmed to their longest message), quantize.py (int8
Linear layers for prediction on the CPU, `classify --quantize int8`).

classify, the app and finetune's scoring call `plan_inference` (or `load_for_inference`) the same way.
"""

from .plan import InferencePlan, SpeedPlan, load_for_inference, plan_inference, plan_speed

__all__ = ["InferencePlan", "SpeedPlan", "load_for_inference", "plan_inference", "plan_speed"]
