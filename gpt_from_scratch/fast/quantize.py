"""Int8 on the CPU: the transformer blocks' Linear layers with int8 weights, for prediction only.

Dynamic quantization stores each Linear's weight as int8 with one scale per output row, and at every
call quantizes the input on the fly, multiplies in int8 and rescales to float32. The 72 Linear
layers of GPT-2 small's blocks hold almost all of its multiply-adds; the embeddings, the LayerNorms,
attention's own products and the 2-class head stay float32. The answer moves by the rounding of
int8 (docs/performance.md, "Int8 on the CPU", measures how much), so --exact refuses it.

Which API: PyTorch's own torch.ao.quantization.quantize_dynamic, with per-row weight scales. Its
successor, the torchao package, is not a dependency here; on this CPU its dynamic int8 ran slower
than float32 unless torch.compile'd, which costs over a minute per input shape. torch 2.13 still
ships torch.ao.quantization and its fbgemm/x86 int8 kernels, and warns that it is deprecated: the
warnings are ignored where we call it, by their exact text, and docs/performance.md says so.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import OptionError
from ..model import GPTModel

QUANTIZE_CHOICES = ("int8",)


def check_quantize(quantize: str | None, device: torch.device, exact: bool) -> None:
    """Raise OptionError, in one line, for a quantization that cannot run here."""
    if quantize is None:
        return
    if quantize not in QUANTIZE_CHOICES:
        raise OptionError(f"--quantize {quantize}: choose {' or '.join(QUANTIZE_CHOICES)}")
    if device.type != "cpu":
        raise OptionError(
            f"--quantize {quantize} runs PyTorch's int8 CPU kernels; this model is on {device}: "
            "use --device cpu, or leave out --quantize"
        )
    if exact:
        raise OptionError(
            f"--exact reproduces the book's fp32 computation: it cannot run with --quantize {quantize}"
        )


def quantize_linear_int8(model: GPTModel) -> GPTModel:
    """Replace, in place, every nn.Linear of the model's blocks by a dynamic int8 one; return the model."""
    with warnings.catch_warnings():
        # torch 2.13 announces torch.ao.quantization's move to torchao, and the quantized dtypes'
        # deprecation: known and documented (docs/performance.md); any other warning still shows.
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor, torch.quantize_per_", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantize_dynamic(model.trf_blocks, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return model
