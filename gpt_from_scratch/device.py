"""Pick the device to train on: a CUDA GPU, then Apple's MPS, then the CPU, unless told otherwise."""

from __future__ import annotations

import torch

from .errors import DeviceError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """Turn 'auto', 'cuda', 'cuda:1', 'mps' or 'cpu' into a torch.device that exists on this machine."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise DeviceError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DeviceError(
            f"--device {name} was asked for, but PyTorch sees no CUDA GPU (torch {torch.__version__}, "
            f"{build}). Use --device cpu, or --device auto to take the best device available."
        )
    if kind == "mps" and not _mps_available():
        raise DeviceError(
            f"--device {name} was asked for, but Apple's MPS backend is not available here. "
            "Use --device cpu, or --device auto to take the best device available."
        )
    return torch.device(name)
