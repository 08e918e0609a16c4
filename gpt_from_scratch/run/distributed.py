"""Data-parallel finetuning: `torchrun --nproc_per_node N -m gpt_from_scratch finetune ...`.

torchrun starts N copies of the command and tells each its rank. Every copy builds the same model,
reads its own share of each training batch (DistributedSampler), and DistributedDataParallel averages
the gradients, so every optimizer step sees the whole global batch (--batch-size) and all copies keep
identical weights. Only rank 0 writes files and prints. Without torchrun nothing here does anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..errors import OptionError


def launched_by_torchrun() -> bool:
    """True when this process is one of the copies torchrun started."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    active: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def only_main(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """log on rank 0; a no-op on the others."""
        return log if self.is_main else (lambda _: None)

    def barrier(self) -> None:
        """Wait until every process gets here (e.g. until rank 0 has written the data splits)."""
        if self.active:
            dist.barrier()

    def shard(self, loader: DataLoader, seed: int) -> DataLoader:
        """The training loader split across processes: each reads batch_size / world_size rows per step."""
        if not self.active:
            return loader
        if loader.batch_size % self.world_size != 0:
            raise OptionError(
                f"--batch-size {loader.batch_size} is the global batch: it must divide evenly among "
                f"the {self.world_size} processes"
            )
        sampler = ReshufflingSampler(loader.dataset, self.world_size, self.rank, seed=seed, drop_last=True)
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size // self.world_size,
            sampler=sampler,
            drop_last=True,
            collate_fn=loader.collate_fn,
        )

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """DistributedDataParallel(module): gradients averaged across processes after each backward."""
        if not self.active:
            return module
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def close(self) -> None:
        if self.active:
            dist.destroy_process_group()


class ReshufflingSampler(DistributedSampler):
    """DistributedSampler that reshuffles on every pass, as the book's shuffled DataLoader does.

    DistributedSampler repeats one order unless set_epoch is called; the book's loop never calls
    it. Every pass here (training epochs and the evaluations that read the training loader) takes
    the next epoch's order, the same on every rank, so the run is reproducible for any world size.
    """

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        self.set_epoch(self.epoch + 1)
        return iter(indices)


def setup(device: str) -> tuple[Distributed, str]:
    """Join torchrun's process group (gloo on CPU, nccl on CUDA); return it and this process's device."""
    if not launched_by_torchrun():
        return Distributed(), device
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    elif device == "auto":
        device = "cpu"  # mps has no collective backend
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), active=True), device
