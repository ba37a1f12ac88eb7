"""Run a ladder, once for every caller: ``scalelab ladder run``, ``ladder sweep-lr`` and the demos.

:func:`run` plans the spec (unless given a plan), prepares its data, opens its registry (adding the
plan's new jobs), runs the pending jobs with an executor (sequential, a process pool or Ray) under
an optional live progress display, stops cleanly on Ctrl-C, optionally exports the run table, and
returns a :class:`LadderResult`: plain data, with ``to_dict()`` for ``--json``. Printing is the
caller's: lines go to ``log`` and ``warn``, bars to ``progress``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from scalelab.errors import InputError
from scalelab.ladder.executors import EXECUTORS, run_pool, run_ray, run_sequential
from scalelab.ladder.jobs import LadderPlan
from scalelab.ladder.registry import DEFAULT_LEASE_S
from scalelab.ladder.runner import Interrupted, init_ladder, load_plan, prepare_data
from scalelab.ladder.spec import LadderSpec
from scalelab.ladder.status import ladder_state


def _silent(message: str) -> None:
    pass


@dataclass
class LadderResult:
    """What :func:`run` left: the registry's state after the executor returned."""

    name: str
    registry: Path
    counts: dict[str, int]
    flops_done: float
    flops_total: float
    interrupted: Optional[str] = None  # why it stopped early (Ctrl-C / SIGTERM), else None
    runs_table: Optional[Path] = None  # where the run table went (``export``)
    rows: Optional[int] = None  # rows written to it

    @property
    def out_dir(self) -> Path:
        return self.registry.parent

    def to_dict(self) -> dict:
        d = {
            "registry": str(self.registry),
            "counts": dict(self.counts),
            "flops_done": self.flops_done,
            "flops_total": self.flops_total,
            "interrupted": self.interrupted,
        }
        if self.runs_table is not None:
            d.update(runs_table=str(self.runs_table), rows=self.rows)
        return d


def check_executor(executor: str, workers: int = 1) -> str:
    """The executor that runs: ``executor`` checked; ``sequential`` with ``workers`` > 1 is
    ``pool``."""
    if executor not in EXECUTORS:
        raise InputError(f"--executor: expected sequential, pool or ray, got {executor!r}")
    return "pool" if executor == "sequential" and workers > 1 else executor


def run(
    spec: str | Path | LadderSpec | LadderPlan,
    *,
    out_dir: Optional[str | Path] = None,
    executor: str = "sequential",
    workers: int = 1,
    lease_s: float = DEFAULT_LEASE_S,
    address: Optional[str] = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    retry_failed: bool = False,
    flops_per_s: Optional[float] = None,
    progress: Optional[Callable[[Path], AbstractContextManager]] = None,
    log: Optional[Callable[[str], None]] = None,
    warn: Optional[Callable[[str], None]] = None,
    export: Optional[str | Path] = None,
    source: Optional[str] = None,
) -> LadderResult:
    """Run the ladder's pending jobs: skip finished ones, resume interrupted ones.

    ``spec``: a spec file, a :class:`LadderSpec` (``out_dir`` overrides its folder) or a planned
    :class:`LadderPlan`. ``executor``: ``sequential``, ``pool`` or ``ray``; ``workers`` > 1 with
    ``sequential`` means ``pool``. ``lease_s``: seconds without a heartbeat before a claim is dead.
    ``address``, ``cpus_per_run``, ``gpus_per_run``: Ray's. ``retry_failed``: queue failed runs
    again first. ``progress``: given the registry path, a context manager that shows progress while
    the jobs run (then per-job lines are not logged). ``log``: progress lines (None: silent; pool
    workers then print nothing either); ``warn``: the plan's warnings. ``export``: write the run
    table there unless interrupted. Ctrl-C (or SIGTERM) stops the jobs at a checkpoint and puts them
    back in the queue: the result says ``interrupted`` (Ray: the interrupt propagates).
    """
    executor = check_executor(executor, workers)
    if isinstance(spec, LadderPlan):
        plan = spec
    else:
        plan = load_plan(spec, None if out_dir is None else str(out_dir), flops_per_s)
    if source is None:
        source = str(spec) if isinstance(spec, (str, Path)) else "<ladder spec>"
    say = log or _silent
    for w in plan.warnings:
        (warn or _silent)(w)
    prepare_data(plan, say)
    reg = init_ladder(plan, source, lease_s)
    try:
        if retry_failed:
            say(f"{reg.requeue(('failed',))} failed run(s) queued again")
        c = reg.counts()
        say(
            f"ladder {plan.spec.name}: {reg.path} — {c['done']} done, {c['queued']} queued, "
            f"{c['running']} running, {c['diverged']} diverged, {c['failed']} failed"
        )
        shown = progress(reg.path) if progress is not None else contextlib.nullcontext()
        interrupted = None
        with shown:
            try:
                if executor == "sequential":
                    run_sequential(
                        reg.path, lease_s=lease_s, log=say if progress is None else _silent
                    )
                elif executor == "pool":
                    quiet = progress is not None or log is None
                    run_pool(reg.path, workers, lease_s=lease_s, quiet=quiet)
                else:
                    run_ray(
                        reg.path,
                        workers,
                        address=address,
                        cpus_per_run=cpus_per_run,
                        gpus_per_run=gpus_per_run,
                        lease_s=lease_s,
                    )
            except Interrupted as exc:
                if executor == "ray":
                    raise
                interrupted = str(exc)
        st = ladder_state(reg)
        result = LadderResult(
            name=plan.spec.name,
            registry=reg.path,
            counts=st["counts"],
            flops_done=st["flops_done"],
            flops_total=st["flops_total"],
            interrupted=interrupted,
        )
        if export is not None and interrupted is None:
            result.rows = reg.export(export)
            result.runs_table = Path(export)
    finally:
        reg.close()
    return result
