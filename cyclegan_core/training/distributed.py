"""Training on several processes and machines with PyTorch's own `torch.distributed`.

    torchrun --standalone --nproc_per_node=2 -m cyclegan_core train --data-a a/ --data-b b/ --out runs/x

`torchrun` (or Slurm's `srun`, or a managed cluster) starts one process per GPU (or per CPU share)
and sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; `from_environment()` joins the
group (NCCL on GPUs, gloo on CPUs). Data parallel, as the reference's `--gpu_ids` but across
processes:
- G_AB, G_BA, D_A and D_B train through DistributedDataParallel: gradients are averaged over ranks,
  so every rank holds the same weights after every step (`check_in_sync` verifies it on request);
- each rank draws its own images (`data.UnpairedData.shard`), crops and flips, and keeps its own
  history pool (Sec. 4); the effective batch is WORLD_SIZE × batch size;
- losses are logged as their mean over ranks, and one stop flag travels with them: a stop on any
  rank (Ctrl-C, SIGTERM) ends every rank after the same step;
- rank 0 alone writes the run folder (record, previews, log, checkpoints); the others wait for it.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn

from cyclegan_core.errors import RunError

DEFAULT_TIMEOUT_SECONDS = 120  # a peer that stops answering fails the others after this long


@dataclass(frozen=True)
class Distributed:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """`requested` ("cuda", "cuda:N" or "cpu") for this rank: cuda:LOCAL_RANK on a GPU node."""
        return rank_device(requested, self.local_rank)

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """`module` in DistributedDataParallel: rank 0's weights are copied to every rank here, and each
        backward averages the gradients (InstanceNorm keeps no buffers, so there are none to sync)."""
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def mean_and_stop(self, losses: dict[str, float], stop: bool) -> tuple[dict[str, float], bool]:
        """Each loss averaged over the ranks, and whether any rank asked to stop: one all-reduce."""
        names = list(losses)
        values = self._on_backend(torch.tensor([*(losses[n] for n in names), float(stop)], dtype=torch.float64))
        torch_dist.all_reduce(values)  # NCCL reduces a GPU copy: the result is read from that copy
        values = values.cpu()
        means = {n: float(v) / self.world_size for n, v in zip(names, values[:-1].tolist())}
        return means, bool(values[-1] > 0)

    def agree(self, ok: bool) -> bool:
        """True only if every rank says `ok` (e.g. each could set up its part of the run)."""
        flag = self._on_backend(torch.tensor([0.0 if ok else 1.0], dtype=torch.float64))
        torch_dist.all_reduce(flag)
        return bool(flag.item() == 0)

    def barrier(self) -> None:
        torch_dist.barrier()

    def check_in_sync(self, modules: dict[str, nn.Module], step: int) -> None:
        """RunError unless every rank holds the same weights: a per-network checksum of all parameters,
        compared by an all-reduce of its minimum and maximum."""
        sums = torch.stack([torch.stack([p.detach().double().sum() + p.detach().double().abs().sum() * 1e-3
                                         for p in m.parameters()]).sum() for m in modules.values()]).cpu()
        low, high = self._on_backend(sums.clone()), self._on_backend(sums.clone())
        torch_dist.all_reduce(low, op=torch_dist.ReduceOp.MIN)
        torch_dist.all_reduce(high, op=torch_dist.ReduceOp.MAX)
        differ = [name for name, lo, hi in zip(modules, low.tolist(), high.tolist()) if lo != hi]
        if differ:
            raise RunError(f"after step {step} the ranks hold different weights in {', '.join(differ)}")

    def _on_backend(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.cuda() if self.backend == "nccl" else tensor


def rank_device(requested: str, local_rank: int) -> torch.device:
    """The device of the rank with `local_rank` on its node: any CUDA device asked for ("cuda",
    "cuda:0") becomes cuda:LOCAL_RANK, one process per GPU (NCCL refuses two ranks on one GPU, and
    "cuda:0" taken literally would put every rank there); a CPU stays a CPU."""
    device = torch.device(requested)
    return torch.device("cuda", local_rank) if device.type == "cuda" else device


def in_a_group() -> bool:
    """Whether torchrun (or srun with the same variables) started this process as one of several.
    What must happen before the group is joined (fetching `--init`: a download may take longer than
    the group's timeout) checks this first."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def from_environment(device: str = "cpu") -> Distributed | None:
    """Join the process group torchrun (or srun with the same variables) set up, or None when this
    process runs alone (no WORLD_SIZE, or WORLD_SIZE 1). The group's timeout
    (`CYCLEGAN_DIST_TIMEOUT`, 120 s) bounds every collective from here on, so a slow download
    belongs before this call (the CLI fetches `--init` first)."""
    if not in_a_group():
        return None
    world_size = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.device(device).type == "cuda" and torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not torch_dist.is_initialized():
        seconds = int(os.environ.get("CYCLEGAN_DIST_TIMEOUT", DEFAULT_TIMEOUT_SECONDS))
        torch_dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
    return Distributed(rank, world_size, local_rank, backend)


def shutdown() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def check_requested() -> bool:
    """`CYCLEGAN_DIST_CHECK=1`: compare the ranks' weights after every step (costs two all-reduces)."""
    return os.environ.get("CYCLEGAN_DIST_CHECK", "") == "1"
