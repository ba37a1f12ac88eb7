"""Data-parallel training inside the loop: the process group, the micro-batch split, DDP.

A run spread over W processes (``torchrun``; see :mod:`scalelab.train.launch`) computes the same
optimiser steps as one process: every step is ``plan.accum`` micro-batches, each a pure function
of (step, micro), and rank r takes micro-batches r, r + W, r + 2W, ... of every step. Each rank
accumulates its share with DDP's ``no_sync`` and divides its loss by its own number of
micro-batches; DDP's all-reduce then averages the ranks, so the gradient is the mean over all
``accum`` micro-batches, as in one process (up to the order of fp32 additions). The reported
training loss is all-reduced too. Every rank keeps the full state (and evaluates the same
windows); only rank 0 writes files.

The split needs ``accum % W == 0``; the micro-batch size never depends on W (the default one
included), so the data a run sees does not depend on how many processes train it, and a run can be
resumed with another process count.

The process group comes from the caller (``torch.distributed`` already initialised) or from
torchrun's environment (``WORLD_SIZE`` > 1, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``...), in which
case :func:`setup` creates it (``nccl`` on CUDA, ``gloo`` on CPU) and :meth:`Context.close`
destroys it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from scalelab.errors import InputError


def world_size() -> int:
    """The number of training processes: the initialised group's size, else torchrun's
    ``WORLD_SIZE``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        raise InputError(
            f"WORLD_SIZE = {os.environ['WORLD_SIZE']!r}: expected a whole number of processes"
        ) from None


def check_split(plan, n_proc: int, source: str = "<config>", section: str = "[train]") -> None:
    """InputError unless the plan's micro-batches of a step divide evenly over ``n_proc`` processes
    (``section``: where the config's ``micro_batch`` and ``batch_tokens`` live, for the message)."""
    if n_proc <= 1 or plan.accum % n_proc == 0:
        return
    sequences = plan.accum * plan.micro_batch
    hint = (
        f"set {section} micro_batch to a divisor of {sequences // n_proc}"
        if sequences % n_proc == 0
        else f"set {section} batch_tokens to a multiple of {n_proc} sequences of n_ctx tokens"
    )
    raise InputError(
        f"{source}: {section} micro_batch: a batch of {sequences} sequences in micro-batches of "
        f"{plan.micro_batch} is {plan.accum} micro-batch(es) per step, which do not split evenly "
        f"over {n_proc} processes; {hint}"
    )


@dataclass
class Context:
    """This process's place in a data-parallel run (``world_size`` > 1)."""

    rank: int
    world_size: int
    local_rank: int
    created: bool  # we initialised the process group, so we destroy it

    def device(self, kind: str) -> torch.device:
        """The process's device: ``cuda:LOCAL_RANK`` on GPUs (made current), the CPU otherwise."""
        if kind == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device(kind)

    def wrap(self, module: torch.nn.Module, device: torch.device, find_unused: bool = False):
        """``module`` under DistributedDataParallel (parameters broadcast from rank 0)."""
        from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415 - only when used

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(
            module,
            device_ids=ids,
            output_device=device.index if ids else None,
            find_unused_parameters=find_unused,
        )

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """All-reduce ``tensor`` in place (sum over ranks) and return it."""
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def max(self, value: int, device: torch.device) -> int:
        """The largest ``value`` over the ranks, on every rank (e.g. a signal number, 0 for none, so
        that all ranks stop at the same step)."""
        t = torch.tensor([int(value)], dtype=torch.int64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def barrier(self) -> None:
        dist.barrier()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Destroy the process group if we created it (after a barrier, when leaving normally)."""
        if self.created and dist.is_initialized():
            if exc_type is None:
                dist.barrier()
            dist.destroy_process_group()
        return False


def setup(device_kind: str) -> Context | None:
    """Join (or create, from torchrun's environment) the process group; None for a single
    process."""
    if not dist.is_available() or world_size() <= 1:
        return None
    created = False
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
        created = True
    r = dist.get_rank()
    local = int(
        os.environ.get(
            "LOCAL_RANK", r % max(1, torch.cuda.device_count()) if device_kind == "cuda" else 0
        )
    )
    return Context(rank=r, world_size=dist.get_world_size(), local_rank=local, created=created)
