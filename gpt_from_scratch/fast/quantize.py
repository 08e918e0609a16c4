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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

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


@contextmanager
def _deprecation_announced() -> Iterator[None]:
    """Ignore torch 2.13's two known warnings about int8, by their exact text; any other still shows."""
    with warnings.catch_warnings():
        # torch.ao.quantization's move to torchao, and the quantized dtypes' deprecation: known and
        # documented (docs/performance.md).
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor, torch.quantize_per_", UserWarning)
        yield


def quantize_linear_int8(model: GPTModel) -> GPTModel:
    """Replace, in place, every nn.Linear of the model's blocks by a dynamic int8 one; return the model."""
    with _deprecation_announced():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantize_dynamic(model.trf_blocks, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return model


def is_int8(module: nn.Module) -> bool:
    """True for a Linear layer that quantize_linear_int8 made int8."""
    return isinstance(module, DynamicInt8Linear)


class Int8Linear:
    """Int8 Linear layers side by side as one: y = x Wᵀ + b.

    FrozenBlocks' int8 counterpart of its fp32 Linear. The layers' rows are stacked with their
    own int8 values and scales, so each output is the one its layer computes; the input is quantized
    once for all of them, as each layer would quantize it.
    """

    def __init__(self, linears: Sequence[nn.Module]) -> None:
        with _deprecation_announced():
            weights = [m.weight() for m in linears]  # each (out, in), int8 with one scale per row
            if any(w.qscheme() != torch.per_channel_affine for w in weights):
                raise ValueError("Int8Linear stacks per-row int8 weights, as quantize_linear_int8 makes them")
            values = torch.cat([w.dequantize() for w in weights])  # exactly int8 value x its row's scale
            scales = torch.cat([w.q_per_channel_scales() for w in weights])
            zero_points = torch.cat([w.q_per_channel_zero_points() for w in weights])
            stacked = torch.quantize_per_channel(values, scales, zero_points, 0, torch.qint8)  # same int8s
            biases = [m.bias() for m in linears]  # GPT's layers side by side have biases all or none
            bias = None if biases[0] is None else torch.cat(biases)
            self.packed = torch.ops.quantized.linear_prepack(stacked, bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # reduce_range: 7-bit inputs, as torch.ao's dynamic Linear (version 4) runs its x86 kernels
        return torch.ops.quantized.linear_dynamic(x, self.packed, reduce_range=True)
