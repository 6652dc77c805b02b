"""Data-parallel training under ``torchrun``: the same ``train`` command on one process or many.

``torchrun --nproc_per_node N -m fer_core train ...`` sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; the training
loop then joins a process group (NCCL on CUDA, Gloo on CPU), wraps the model in DistributedDataParallel and lets
each rank take every N-th sample of each global batch, so the recipe's ``batch_size`` stays the global batch and
the schedule is unchanged. Only rank 0 writes state, history and the model directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

__all__ = ["Distributed", "from_environment"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job (``world == 1``: a plain single-process run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str | None) -> torch.device:
        """The device of this rank: ``cuda:<local rank>`` when CUDA is used, else what was asked for."""
        default = "cuda" if torch.cuda.is_available() else "cpu"
        wanted = torch.device(requested or default)
        if self.enabled and wanted.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return wanted

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's share of one global batch."""
        return indices[self.rank :: self.world] if self.enabled else indices

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model DistributedDataParallel averages gradients of (the model itself on one process)."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)


def from_environment(device: torch.device | None = None) -> Distributed:
    """Read torchrun's variables and join the process group once (a no-op without them)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    info = Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not torch_dist.is_initialized():
        use_nccl = torch.cuda.is_available() and (device is None or device.type == "cuda")
        backend = "nccl" if use_nccl else "gloo"
        if use_nccl:
            torch.cuda.set_device(info.local_rank)
        torch_dist.init_process_group(backend=backend)
    return info
