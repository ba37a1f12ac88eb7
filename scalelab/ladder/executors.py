"""Executors: how many workers run the ladder's worker loop, and where.

Every executor runs the same loop (:func:`scalelab.ladder.runner.work`) against the ladder's
SQLite registry, so they mix freely: several ``scalelab ladder run`` processes, a process pool and
Ray tasks can all work on one ladder and never run the same job twice (claims are
``BEGIN IMMEDIATE`` transactions).

* ``sequential`` (default): the loop in this process (:func:`run_sequential`).
* ``pool``: ``workers`` spawned processes, torch threads split between them (:func:`run_pool`).
* ``ray``: ``workers`` Ray tasks, each with ``cpus_per_run``/``gpus_per_run`` resources, on a local
  Ray instance or a cluster (``address``) (:func:`run_ray`). The registry file and the ladder folder
  must be on storage every node sees (a shared filesystem); SQLite over NFS needs working file
  locks.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Optional

from scalelab.errors import InputError
from scalelab.ladder.registry import DEFAULT_LEASE_S
from scalelab.ladder.runner import Interrupted, work

EXECUTORS = ("sequential", "pool", "ray")


def run_sequential(
    path: Path, *, lease_s: float = DEFAULT_LEASE_S, log: Callable[[str], None] = lambda m: None
) -> dict[str, int]:
    """The worker loop in this process (Ctrl-C: the engine checkpoints, :class:`Interrupted`)."""
    return work(path, lease_s=lease_s, log=log)


def _pool_worker(path: str, lease_s: float, threads: int, quiet: bool) -> dict[str, int]:
    if threads:
        import torch  # noqa: PLC0415 - lazy: only a worker that trains needs torch

        torch.set_num_threads(threads)

    def log(m: str) -> None:
        if not quiet:
            print(f"[worker {os.getpid()}] {m}", file=sys.stderr, flush=True)

    try:
        return work(path, lease_s=lease_s, log=log, largest_first=True)  # parallel: LPT order
    except Interrupted:
        return {"interrupted": 1}


def run_pool(
    path: Path,
    workers: int,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    quiet: bool = True,
    on_wait: Optional[Callable[[], None]] = None,
) -> dict[str, int]:
    """``workers`` spawned processes running the worker loop (torch threads split between them).

    On Ctrl-C (SIGINT here) the workers are told to stop (SIGTERM: each checkpoints its run, which
    goes back to the queue) and :class:`Interrupted` is raised once they have; nothing is lost.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    totals: dict[str, int] = {}
    stopping = False
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [
            pool.submit(_pool_worker, str(path), lease_s, threads, quiet) for _ in range(workers)
        ]
        pending = set(futures)
        while pending:
            try:
                _, pending = wait(pending, timeout=1.0)
                if on_wait:
                    on_wait()
            except KeyboardInterrupt:
                if not stopping:
                    stopping = True
                    for proc in list(getattr(pool, "_processes", {}).values()):
                        with contextlib.suppress(OSError):
                            os.kill(proc.pid, signal.SIGTERM)
        for f in futures:
            try:
                result = f.result()
            except BaseException:  # a worker stopped between runs: its run, if any, stays resumable
                if not stopping:
                    raise
                result = {"interrupted": 1}
            for k, v in result.items():
                totals[k] = totals.get(k, 0) + v
    if stopping or totals.get("interrupted"):
        raise Interrupted(
            f"{totals.get('interrupted', 0)} worker(s) stopped on a signal; their runs went back "
            "to the queue and resume from their checkpoints"
        )
    return totals


def run_ray(
    path: Path,
    workers: int,
    *,
    address: Optional[str] = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    lease_s: float = DEFAULT_LEASE_S,
    on_wait: Optional[Callable[[], None]] = None,
    init_kwargs: Optional[dict] = None,
) -> dict[str, int]:
    """``workers`` Ray tasks running the worker loop, each with ``cpus_per_run`` CPUs and
    ``gpus_per_run`` GPUs."""
    try:
        import ray  # noqa: PLC0415 - lazy: an optional dependency (scalelab[ray])
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'scalelab[ray]'") from None
    started = False
    if not ray.is_initialized():
        kwargs = dict(init_kwargs or {})
        if address:
            kwargs["address"] = address
        ray.init(log_to_driver=False, **kwargs)
        started = True
    try:
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(_pool_worker)
        threads = max(1, int(cpus_per_run))
        refs = [
            task.remote(str(Path(path).resolve()), lease_s, threads, True) for _ in range(workers)
        ]
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=1.0)
            if on_wait:
                on_wait()
        totals: dict[str, int] = {}
        for res in ray.get(refs):
            for k, v in res.items():
                totals[k] = totals.get(k, 0) + v
        return totals
    finally:
        if started:
            ray.shutdown()
