"""Executing a ladder: claim a job from the registry, train (or resume) it, record it, repeat.

Every executor runs the same worker loop (:func:`work`) against the ladder's SQLite registry, so
they mix freely: several ``scalelab ladder run`` processes, a process pool and Ray tasks can all
work on one ladder and never run the same job twice (claims are ``BEGIN IMMEDIATE`` transactions).

The executors (sequential, a process pool, Ray) are in :mod:`scalelab.ladder.executors`; the
whole flow for one ladder (plan, data, registry, executor, progress, Ctrl-C) is
:func:`scalelab.ladder.run`.

A job's output folder is ``<out_dir>/runs/<run_id>``: the engine's config, checkpoint, records and
summary. A job trains in the worker's process or, with the spec's ``nproc_per_run = K`` > 1, in K
processes that the worker starts through torchrun (:func:`scalelab.train.launch.launch`, DDP) and
waits for: the same folder, the same registry bookkeeping. A job whose process died (SIGKILL, OOM,
a lost node) stays ``running`` until its claim is seen dead (same host and its pid gone, or its
lease expired without a heartbeat); then the next worker claims it and resumes it from its last
checkpoint, bitwise as if never interrupted (CPU). SIGTERM/SIGINT make the engine checkpoint and
stop; the job goes back to the queue.
"""

from __future__ import annotations

import json
import math
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from scalelab.atomic import check_folder
from scalelab.data.prepare import ensure_prepared
from scalelab.data.spec import DataSpec
from scalelab.errors import InputError
from scalelab.ladder.datamix import build_mix
from scalelab.ladder.jobs import LadderPlan
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.registry import DB_NAME, DEFAULT_LEASE_S, Registry
from scalelab.ladder.spec import LadderSpec, load_spec

RUNS_DIR = "runs"


class Interrupted(Exception):
    """The engine stopped on SIGTERM/SIGINT (after a checkpoint); the job went back to the queue."""


def db_path(out_dir: str | Path) -> Path:
    return Path(out_dir).expanduser() / DB_NAME


def load_plan(
    spec: str | Path | LadderSpec,
    out_dir: Optional[str] = None,
    flops_per_s: Optional[float] = None,
) -> LadderPlan:
    """Read (if a path) and plan a spec; ``out_dir`` overrides the spec's."""
    if isinstance(spec, LadderSpec):
        sp, source = spec, "<ladder spec>"
    else:
        sp, source = load_spec(spec), str(spec)
    if out_dir is not None:
        try:
            check_folder(out_dir, "ladder folder")
        except InputError as exc:
            raise InputError([f"--out: {p}" for p in exc.problems]) from None
        sp = sp.model_copy(update={"out_dir": str(out_dir)})
    if flops_per_s is None:
        flops_per_s = measured_flops_per_s(sp.out_dir)
    return plan_ladder(sp, source, flops_per_s=flops_per_s)


def measured_flops_per_s(out_dir: str | Path) -> Optional[float]:
    """Median training throughput (full FLOPs/s) of this ladder's finished jobs, if it has any."""
    path = db_path(out_dir)
    if not path.is_file():
        return None
    rates = []
    with Registry(path) as reg:
        for r in reg.runs():
            s = r["summary"] or {}
            tps, fpt = s.get("tokens_per_s_this_session"), s.get("flops_per_token_full")
            if r["status"] == "done" and tps and fpt:
                rates.append(tps * fpt)
    if not rates:
        return None
    rates.sort()
    return rates[len(rates) // 2]


def prepare_data(plan: LadderPlan, log: Callable[[str], None] = print) -> None:
    """Build (or reuse, when unchanged) the ``scalelab data`` folder the runs read; then each
    distinct ``[[variants]]`` data mixture of it (:mod:`scalelab.ladder.datamix`)."""
    if plan.data.prepare_dir is not None:
        ds = DataSpec.model_validate(plan.data.prepare_spec)
        t0 = time.perf_counter()
        manifest = ensure_prepared(ds, plan.data.prepare_dir)
        tokens = manifest["splits"]["train"]["tokens"]
        took = time.perf_counter() - t0
        log(f"data: {plan.data.prepare_dir} ({tokens:,} training tokens, {took:.1f} s)")
    built: set[str] = set()
    for name, d in plan.variant_data.items():
        if d.mix is None or d.prepare_dir in built:
            continue
        built.add(d.prepare_dir)
        t0 = time.perf_counter()
        manifest = build_mix(d.prepare_dir, d.mix)
        tokens = manifest["splits"]["train"]["tokens"]
        took = time.perf_counter() - t0
        log(f"data: {d.prepare_dir} (variant {name}: {tokens:,} training tokens, {took:.1f} s)")


def init_ladder(
    plan: LadderPlan, source: str = "<ladder spec>", lease_s: float = DEFAULT_LEASE_S
) -> Registry:
    """Create or open the ladder's registry and add the plan's new jobs."""
    out = plan.out_dir
    out.mkdir(parents=True, exist_ok=True)
    reg = Registry(out / DB_NAME, create=True, lease_s=lease_s)
    reg.sync_plan(plan, source)
    reg.set_meta("nproc_per_run", str(plan.spec.nproc_per_run))  # how every worker starts its jobs
    return reg


# ------------------------------------------------------------------------------------------------
# one job
# ------------------------------------------------------------------------------------------------


class _Progress:
    """The engine's latest step (its ``on_step`` callback), for the heartbeat to publish."""

    def __init__(self):
        self.step: Optional[int] = None
        self.loss: Optional[float] = None
        self.tps: Optional[float] = None

    def update(self, step: int, total: int, loss: float, tps: float) -> None:
        self.step, self.loss, self.tps = step, loss, tps


class _Heartbeat(threading.Thread):
    """Extends the claim's lease and publishes progress, on its own database connection."""

    def __init__(
        self,
        path: Path,
        run_id: str,
        token: str,
        progress: _Progress,
        lease_s: float,
        on_lost: Optional[Callable[[], None]] = None,
    ):
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.path, self.run_id, self.token, self.progress = path, run_id, token, progress
        self.on_lost = on_lost
        self.lease_s = lease_s
        self.every = max(0.25, min(1.0, lease_s / 4))  # renews the lease and publishes progress
        self.stop_event = threading.Event()
        self.lost = False

    def run(self) -> None:
        reg = Registry(self.path, lease_s=self.lease_s)
        try:
            while not self.stop_event.wait(self.every):
                p = self.progress
                loss = p.loss if p.loss is not None and math.isfinite(p.loss) else None
                if self.lost:
                    if self.on_lost is None or self.on_lost():
                        return
                elif not reg.heartbeat(
                    self.run_id, self.token, step=p.step, train_loss=loss, tokens_per_s=p.tps
                ):
                    self.lost = True
                    if self.on_lost is None or self.on_lost():
                        return
        finally:
            reg.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)


def _read_rows(out: Path) -> list[dict]:
    path = out / "runs.csv"
    if not path.is_file():
        return []
    import pandas as pd  # noqa: PLC0415 - heavy; only a finished job needs it

    frame = pd.read_csv(path)
    rows = []
    for rec in frame.to_dict(orient="records"):
        rows.append(
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in rec.items()
            }
        )
    return rows


def run_job(reg: Registry, job: dict, *, log: Callable[[str], None] = lambda m: None) -> str:
    """Train (or resume, or just record) one claimed job; returns its final status.

    Raises :class:`Interrupted` when the engine stopped on a signal (the job is back in the queue).
    """
    # the training layer imports torch: only a worker that runs a job pays for it
    from scalelab.train.config import config_from_dict  # noqa: PLC0415
    from scalelab.train.loop import CHECKPOINT, SUMMARY, train  # noqa: PLC0415
    from scalelab.train.trainer import request_stop  # noqa: PLC0415

    run_id, token = job["run_id"], job["claim"]
    out = reg.path.parent / RUNS_DIR / run_id
    cfg = config_from_dict({**job["config"], "out_dir": str(out)}, source=f"run {run_id}")
    progress = _Progress()  # fed by the engine's on_step(step, total_steps, loss, tokens_per_s)

    def on_log(msg: str) -> None:
        log(f"{run_id}: {msg}")

    summary = None
    if (out / SUMMARY).is_file():
        try:
            prev = json.loads((out / SUMMARY).read_text())
        except (OSError, ValueError):
            prev = None
        if prev and prev.get("status") in ("done", "diverged"):
            summary = prev  # trained to the end; a crash lost only the registry update
            log(f"{run_id}: already trained ({prev['status']}); recording it")
    nproc = int(reg.meta("nproc_per_run") or 1)
    stop_launch = threading.Event()

    def _stop_launch() -> bool:
        stop_launch.set()  # the launcher passes SIGTERM on to torchrun
        return True

    # If our claim is lost (our lease expired and another worker took the run over), stop training:
    # the engine checkpoints and returns (request_stop: False until the loop runs, then the
    # heartbeat tries again). Any checkpoint of a run is a valid resume
    # point (batches and schedule are functions of the step), so two writers cannot corrupt it.
    if nproc > 1:
        on_lost = _stop_launch
    elif threading.current_thread() is threading.main_thread():
        on_lost = request_stop
    else:
        on_lost = None
    hb = _Heartbeat(reg.path, run_id, token, progress, reg.lease_s, on_lost)
    hb.start()
    t0 = time.perf_counter()
    try:
        if summary is None:
            resume = (out / CHECKPOINT).is_file()
            if resume:
                log(f"{run_id}: resuming from its checkpoint")
            source = f"run {run_id}"
            if nproc > 1:  # torchrun's processes report progress through a file launch() polls
                from scalelab.train.launch import launch  # noqa: PLC0415 - torch, as above

                summary = launch(
                    cfg,
                    nproc,
                    resume=resume,
                    out_dir=out,
                    source=source,
                    log=on_log,
                    stop=stop_launch,
                    on_step=progress.update,
                )
            else:
                summary = train(
                    cfg,
                    resume=resume,
                    out_dir=out,
                    source=source,
                    log=on_log,
                    on_step=progress.update,
                )
    except (Exception, SystemExit) as exc:  # a failing run must not stop the ladder
        hb.stop()
        if isinstance(exc, InputError):
            msg = "; ".join(exc.problems)
        else:
            msg = f"{type(exc).__name__}: {exc}"
        detail = traceback.format_exc(limit=6)
        reg.finish(
            run_id,
            token,
            "failed",
            error=msg,
            summary={"traceback": detail},
            out_dir=str(out),
            wall_s=time.perf_counter() - t0,
        )
        log(f"{run_id}: failed: {msg}")
        return "failed"
    except BaseException:
        hb.stop()
        raise
    hb.stop()
    status = summary["status"]
    if hb.lost:
        log(
            f"{run_id}: its claim was taken over by another worker; "
            f"stopped at step {summary.get('step')}"
        )
        return "lost"
    if status == "interrupted":
        step = summary.get("step")
        reg.release(run_id, token, f"signal {summary.get('signal')} at step {step}")
        raise Interrupted(f"{run_id} interrupted at step {step}; its checkpoint resumes it")
    rows = _read_rows(out)
    if status == "diverged":
        log(f"{run_id}: diverged at step {summary.get('step')} (kept out of fits by default)")
    final = "done" if status == "done" else "diverged"
    ok = reg.finish(
        run_id,
        token,
        final,
        rows=rows,
        summary=summary,
        out_dir=str(out),
        wall_s=time.perf_counter() - t0,
    )
    if not ok:
        log(f"{run_id}: its claim was taken over while it ran; result left to the new owner")
    return status


def work(
    path: str | Path,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    max_jobs: Optional[int] = None,
    log: Callable[[str], None] = lambda m: None,
    stop: Optional[threading.Event] = None,
    largest_first: bool = False,
) -> dict[str, int]:
    """The worker loop: claim, run, repeat until nothing is claimable. Returns counts by status."""
    done: dict[str, int] = {}
    with Registry(path, lease_s=lease_s) as reg:
        while (max_jobs is None or sum(done.values()) < max_jobs) and not (stop and stop.is_set()):
            job = reg.claim(largest_first=largest_first)
            if job is None:
                break
            log(
                f"{job['run_id']}: claimed (attempt {job['attempts']}"
                + (", took over a dead claim)" if job["took_over"] else ")")
            )
            status = run_job(reg, job, log=log)
            done[status] = done.get(status, 0) + 1
    return done
