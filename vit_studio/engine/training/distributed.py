"""Several processes training one model, as `torchrun` starts them: the process group, each
rank's share of a global batch, and the few collectives the training loop needs.

`torchrun --nproc-per-node N -m vit_studio train ...` starts N copies of the command with RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set; `process_group` joins them and
`current` gives the loop the `Group` it is in (a one-process group everywhere else, which
changes nothing). The loop wraps the model in DistributedDataParallel; every rank computes the
same (seed, epoch) sample order and takes its contiguous share of each global batch, so the
averaged gradient is the one-process gradient of the whole batch.

Two process groups: the default one carries tensors on the training device (NCCL for CUDA
tensors, gloo for CPU ones): DDP's gradient all-reduce and the report sums. A gloo group with a
long timeout carries the rest on the CPU: rank 0's decisions (stop, report now, re-planned
epochs), the gathered validation logits, and the wait while rank 0 prepares a large folder,
which may take longer than the default timeout of 30 minutes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from vit_studio.engine.errors import StudioError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# Long enough for rank 0 to scan and cache a very large folder while the others wait.
_CONTROL_TIMEOUT = timedelta(days=1)
_control: Any = None  # the gloo group of the process group `process_group` joined


class OtherRankFailed(StudioError):
    """Another process of the run failed (and said why); this one stops without a word."""


@dataclass(frozen=True)
class Group:
    """The processes training one model, from the view of one of them (`rank`)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the rank on this machine: which GPU is ours
    control: Any = None  # the gloo process group; None for a single process

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the files and reports."""
        return self.rank == 0

    # --- where and what this rank trains --------------------------------------------------------

    def device(self, device: torch.device) -> torch.device:
        """`device` as this rank uses it: CUDA becomes cuda:LOCAL_RANK, one GPU per process."""
        if not self.distributed or device.type == "cpu":
            return device
        if device.type != "cuda":
            raise StudioError(
                f"device '{device.type}': several processes train on CUDA GPUs or on the CPU; "
                "use --device cuda or --device cpu"
            )
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            raise StudioError(
                f"process {self.local_rank} of this machine has no GPU of its own ({count} "
                f"here); start at most {count} processes per machine (--nproc-per-node)"
            )
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def local_batch(self, batch_size: int) -> int:
        """This rank's share of a global batch of `batch_size` (the same for every rank)."""
        if batch_size % self.world_size:
            lower = batch_size - batch_size % self.world_size
            raise StudioError(
                f"a batch of {batch_size} images does not split evenly over {self.world_size} "
                f"processes; use a batch size that is a multiple of {self.world_size} (e.g. "
                f"--batch-size {max(lower, self.world_size)}) or a number of processes that "
                f"divides {batch_size}"
            )
        return batch_size // self.world_size

    def share(self, global_batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of the indices of one global batch."""
        size = len(global_batch) // self.world_size
        return global_batch[self.rank * size : (self.rank + 1) * size]

    def shard(self, total: int) -> tuple[int, int]:
        """[start, stop) of this rank's near-equal contiguous part of `total` rows."""
        return shard_bounds(total, self.rank, self.world_size)

    def augment_seed(self, seed: int) -> int:
        """The augmentation seed of this rank: rank 0 draws what one process would, the others
        draw streams of their own (the same stream everywhere would vary every share alike)."""
        if self.rank == 0:
            return seed
        digest = hashlib.blake2b(f"{seed}/{self.rank}".encode(), digest_size=7).digest()
        return int.from_bytes(digest, "little")

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """`module` in DistributedDataParallel (which also copies rank 0's weights to every
        rank); the module itself for one process."""
        if not self.distributed:
            return module
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    # --- collectives (each is a no-op for one process) ------------------------------------------

    def decide(self, value: int) -> int:
        """Rank 0's `value` on every rank: one decision, so that no rank waits for another that
        has stopped (stopping, reporting, re-planning depend on rank 0's clock and cancel)."""
        if not self.distributed:
            return value
        box = torch.tensor([value], dtype=torch.int64)
        dist.broadcast(box, src=0, group=self.control)
        return int(box.item())

    def all_ok(self, ok: bool) -> bool:
        """Whether every rank is ok (a barrier, too)."""
        if not self.distributed:
            return ok
        box = torch.tensor([int(ok)], dtype=torch.int64)
        dist.all_reduce(box, op=dist.ReduceOp.MIN, group=self.control)
        return bool(box.item())

    def barrier(self) -> None:
        """Wait for every rank, on the long-timeout group (rank 0 may have work of its own)."""
        self.all_ok(True)

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over the ranks, in place, on its device (no host synchronisation)."""
        if self.distributed:
            dist.all_reduce(tensor)
        return tensor

    def gather_rows(self, rows: torch.Tensor, total: int) -> torch.Tensor:
        """Every rank's `shard` of `total` rows (CPU tensors) put together in order, on every
        rank."""
        if not self.distributed:
            return rows
        bounds = [shard_bounds(total, r, self.world_size) for r in range(self.world_size)]
        longest = max(stop - start for start, stop in bounds)
        padded = rows.new_zeros((longest, *rows.shape[1:]))
        padded[: len(rows)] = rows
        parts = [torch.empty_like(padded) for _ in bounds]
        dist.all_gather(parts, padded, group=self.control)
        return torch.cat(
            [p[: stop - start] for p, (start, stop) in zip(parts, bounds, strict=True)]
        )


class SourceShard:
    """Rows [start, stop) of a `source.BatchSource`, cut into batches as the source itself is."""

    def __init__(self, source: Any, start: int, stop: int) -> None:
        self.source, self.start, self.stop = source, start, stop
        self.device, self.index_device = source.device, source.index_device

    def __len__(self) -> int:
        return self.stop - self.start

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.source.batch(index + self.start)


def logits_in_shards(
    group: Group, source: Any, predict: Callable[[Any], torch.Tensor], num_classes: int
) -> torch.Tensor:
    """`predict(source)` (CPU logits [N, C]) with each rank predicting its `shard` of the rows,
    put together on every rank: the one-process logits at a world_size-th of the time."""
    if not group.distributed:
        return predict(source)
    start, stop = group.shard(len(source))
    rows = (
        predict(SourceShard(source, start, stop))
        if stop > start
        else torch.zeros((0, num_classes), dtype=torch.float32)
    )
    return group.gather_rows(rows, len(source))


def shard_bounds(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of part `rank` of `world_size` near-equal contiguous parts of `total`."""
    return total * rank // world_size, total * (rank + 1) // world_size


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that torchrun (or a launcher like it) started."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES) and (
        int(os.environ["WORLD_SIZE"]) > 1
    )


def current() -> Group:
    """The group this process trains in: the initialised process group, else one process."""
    global _control
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return Group()
    if _control is None:  # a group someone else initialised: every rank gets here together
        _control = dist.new_group(backend="gloo", timeout=_CONTROL_TIMEOUT)
    return Group(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        control=_control,
    )


@contextmanager
def process_group() -> Iterator[Group]:
    """Join the processes torchrun started (from its environment variables) for the block and
    leave cleanly after it; without torchrun, one process and nothing to join.

    CUDA tensors go over NCCL and CPU tensors over gloo, whichever device the run picks later.
    """
    global _control
    if not launched_by_torchrun() or dist.is_initialized():
        yield current()
        return
    local_rank = int(os.environ["LOCAL_RANK"])
    cuda = torch.cuda.is_available()
    if cuda and local_rank < torch.cuda.device_count():
        torch.cuda.set_device(local_rank)  # NCCL's communicator lives on this rank's GPU
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo")
    try:
        _control = dist.new_group(backend="gloo", timeout=_CONTROL_TIMEOUT)
        yield current()
    finally:
        _control = None
        dist.destroy_process_group()


@contextmanager
def main_rank_first(group: Group) -> Iterator[None]:
    """Run the block on rank 0 first, then on the first rank of each other machine, then on the
    rest: rank 0 scans the folder and builds the on-disk image cache while the others wait, then
    they find it built (a machine without the shared disk builds its own once).

    When the block fails on any rank, that rank's error propagates there and every other rank
    raises `OtherRankFailed` at the same point, so none waits forever.
    """
    if not group.distributed:
        yield
        return
    phase = 0 if group.rank == 0 else 1 if group.local_rank == 0 else 2
    for _ in range(phase):  # the phases before ours
        if not group.all_ok(True):
            raise OtherRankFailed("another process failed preparing the run")
    try:
        yield
    except Exception:
        group.all_ok(False)
        raise
    for _ in range(phase, 3):  # ours, and the phases after it
        if not group.all_ok(True):
            raise OtherRankFailed("another process failed preparing the run")
