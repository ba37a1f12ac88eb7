"""Executing a ladder: claim a job from the registry, train (or resume) it, record it, repeat.

Every executor runs the same worker loop (:func:`work`) against the ladder's SQLite registry, so
they mix freely: several ``scalelab ladder run`` processes, a process pool and Ray tasks can all
work on one ladder and never run the same job twice (claims are ``BEGIN IMMEDIATE`` transactions).

* ``sequential`` (default): the loop in this process.
* ``pool``: ``--workers K`` spawned processes (torch threads split between them).
* ``ray``: ``--workers K`` Ray tasks, each with ``cpus_per_run``/``gpus_per_run`` resources, on a
  local Ray instance or a cluster (``--address``). The registry file and the ladder folder must be
  on storage every node sees (a shared filesystem); SQLite over NFS needs working file locks.

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

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

from scalelab.errors import InputError
from scalelab.ladder.registry import DB_NAME, DEFAULT_LEASE_S, Registry
from scalelab.ladder.spec import LadderPlan, LadderSpec, load_spec, plan_ladder

RUNS_DIR = "runs"


class Interrupted(Exception):
    """The engine stopped on SIGTERM/SIGINT (after a checkpoint); the job was put back in the queue."""


def db_path(out_dir: str | Path) -> Path:
    return Path(out_dir).expanduser() / DB_NAME


def load_plan(spec: str | Path | LadderSpec, out_dir: Optional[str] = None,
              flops_per_s: Optional[float] = None) -> LadderPlan:
    """Read (if a path) and plan a spec; ``out_dir`` overrides the spec's."""
    if isinstance(spec, LadderSpec):
        sp, source = spec, "<ladder spec>"
    else:
        sp, source = load_spec(spec), str(spec)
    if out_dir is not None:
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
    """Build (or reuse, when unchanged) the ``scalelab data`` folder the runs read."""
    if plan.data.prepare_dir is None:
        return
    from scalelab.data.prepare import ensure_prepared
    from scalelab.data.spec import DataSpec

    ds = DataSpec.model_validate(plan.data.prepare_spec)
    t0 = time.perf_counter()
    manifest = ensure_prepared(ds, plan.data.prepare_dir)
    log(f"data: {plan.data.prepare_dir} ({manifest['splits']['train']['tokens']:,} training tokens, "
        f"{time.perf_counter() - t0:.1f} s)")


def init_ladder(plan: LadderPlan, source: str = "<ladder spec>", lease_s: float = DEFAULT_LEASE_S) -> Registry:
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


def _stop_engine() -> bool:
    """SIGTERM this process if (and only if) the engine's checkpoint-and-stop handler is
    installed (:class:`scalelab.train.trainer._StopFlag`)."""
    handler = signal.getsignal(signal.SIGTERM)
    if type(getattr(handler, "__self__", None)).__name__ != "_StopFlag":
        return False  # not inside the training loop (yet): try again at the next heartbeat
    os.kill(os.getpid(), signal.SIGTERM)
    return True


def _read_rows(out: Path) -> list[dict]:
    path = out / "runs.csv"
    if not path.is_file():
        return []
    import pandas as pd  # noqa: PLC0415 - heavy; only a finished job needs it

    frame = pd.read_csv(path)
    rows = []
    for rec in frame.to_dict(orient="records"):
        rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                     for k, v in rec.items()})
    return rows


def run_job(reg: Registry, job: dict, *, log: Callable[[str], None] = lambda m: None) -> str:
    """Train (or resume, or just record) one claimed job; returns its final status.

    Raises :class:`Interrupted` when the engine stopped on a signal (the job is back in the queue).
    """
    # the training layer imports torch: only a worker that runs a job pays for it
    from scalelab.train.config import config_from_dict  # noqa: PLC0415
    from scalelab.train.loop import CHECKPOINT, SUMMARY, train  # noqa: PLC0415

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
    # SIGTERM makes the engine checkpoint and return. Any checkpoint of a run is a valid resume
    # point (batches and schedule are functions of the step), so two writers cannot corrupt it.
    if nproc > 1:
        on_lost = _stop_launch
    elif threading.current_thread() is threading.main_thread():
        on_lost = _stop_engine
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

                summary = launch(cfg, nproc, resume=resume, out_dir=out, source=source, log=on_log,
                                 stop=stop_launch, on_step=progress.update)
            else:
                summary = train(cfg, resume=resume, out_dir=out, source=source, log=on_log,
                                on_step=progress.update)
    except (Exception, SystemExit) as exc:  # a failing run must not stop the ladder
        hb.stop()
        if isinstance(exc, InputError):
            msg = "; ".join(exc.problems)
        else:
            msg = f"{type(exc).__name__}: {exc}"
        detail = traceback.format_exc(limit=6)
        reg.finish(run_id, token, "failed", error=msg, summary={"traceback": detail},
                   out_dir=str(out), wall_s=time.perf_counter() - t0)
        log(f"{run_id}: failed: {msg}")
        return "failed"
    except BaseException:
        hb.stop()
        raise
    hb.stop()
    status = summary["status"]
    if hb.lost:
        log(f"{run_id}: its claim was taken over by another worker; "
            f"stopped at step {summary.get('step')}")
        return "lost"
    if status == "interrupted":
        step = summary.get("step")
        reg.release(run_id, token, f"signal {summary.get('signal')} at step {step}")
        raise Interrupted(f"{run_id} interrupted at step {step}; its checkpoint resumes it")
    rows = _read_rows(out)
    if status == "diverged":
        log(f"{run_id}: diverged at step {summary.get('step')} (kept out of fits by default)")
    final = "done" if status == "done" else "diverged"
    ok = reg.finish(run_id, token, final, rows=rows, summary=summary, out_dir=str(out),
                    wall_s=time.perf_counter() - t0)
    if not ok:
        log(f"{run_id}: its claim was taken over while it ran; result left to the new owner")
    return status


def work(path: str | Path, *, lease_s: float = DEFAULT_LEASE_S, max_jobs: Optional[int] = None,
         log: Callable[[str], None] = lambda m: None, stop: Optional[threading.Event] = None,
         largest_first: bool = False) -> dict[str, int]:
    """The worker loop: claim, run, repeat until nothing is claimable. Returns counts by status."""
    done: dict[str, int] = {}
    with Registry(path, lease_s=lease_s) as reg:
        while (max_jobs is None or sum(done.values()) < max_jobs) and not (stop and stop.is_set()):
            job = reg.claim(largest_first=largest_first)
            if job is None:
                break
            log(f"{job['run_id']}: claimed (attempt {job['attempts']}" + (", took over a dead claim)" if job["took_over"] else ")"))
            status = run_job(reg, job, log=log)
            done[status] = done.get(status, 0) + 1
    return done


def _pool_worker(path: str, lease_s: float, threads: int, quiet: bool) -> dict[str, int]:
    if threads:
        import torch

        torch.set_num_threads(threads)
    log = (lambda m: None) if quiet else (lambda m: print(f"[worker {os.getpid()}] {m}", file=sys.stderr, flush=True))
    try:
        return work(path, lease_s=lease_s, log=log, largest_first=True)  # parallel workers: LPT order
    except Interrupted:
        return {"interrupted": 1}


def run_pool(path: Path, workers: int, *, lease_s: float = DEFAULT_LEASE_S, quiet: bool = True,
             on_wait: Optional[Callable[[], None]] = None) -> dict[str, int]:
    """``workers`` spawned processes running :func:`work` (torch threads split between them).

    On Ctrl-C (SIGINT here) the workers are told to stop (SIGTERM: each checkpoints its run, which
    goes back to the queue) and :class:`Interrupted` is raised once they have; nothing is lost.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, wait

    threads = max(1, (os.cpu_count() or 1) // workers)
    totals: dict[str, int] = {}
    stopping = False
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_pool_worker, str(path), lease_s, threads, quiet) for _ in range(workers)]
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
            except BaseException:  # a worker stopped between runs (SIGINT/SIGTERM): its run, if any, stays resumable
                if not stopping:
                    raise
                result = {"interrupted": 1}
            for k, v in result.items():
                totals[k] = totals.get(k, 0) + v
    if stopping or totals.get("interrupted"):
        raise Interrupted(f"{totals.get('interrupted', 0)} worker(s) stopped on a signal; their runs went back to "
                          "the queue and resume from their checkpoints")
    return totals


def run_ray(path: Path, workers: int, *, address: Optional[str] = None, cpus_per_run: float = 1.0,
            gpus_per_run: float = 0.0, lease_s: float = DEFAULT_LEASE_S,
            on_wait: Optional[Callable[[], None]] = None, init_kwargs: Optional[dict] = None) -> dict[str, int]:
    """``workers`` Ray tasks running :func:`work`, each with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs."""
    try:
        import ray
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
        refs = [task.remote(str(Path(path).resolve()), lease_s, threads, True) for _ in range(workers)]
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


# ------------------------------------------------------------------------------------------------
# progress and status
# ------------------------------------------------------------------------------------------------

def ladder_state(reg: Registry) -> dict:
    """Totals for progress bars and status: jobs, FLOPs done / total, the running jobs."""
    runs = reg.runs()
    total = sum(r["compute"] or 0 for r in runs)
    done_flops = 0.0
    running = []
    for r in runs:
        if r["status"] in ("done", "diverged", "failed"):
            done_flops += r["compute"] or 0
        elif r["status"] == "running" and r["step"] and r["steps"]:
            done_flops += (r["compute"] or 0) * min(1.0, r["step"] / r["steps"])
        if r["status"] == "running":
            running.append(r)
    finished = sum(r["status"] in ("done", "diverged", "failed") for r in runs)
    return {"runs": runs, "jobs": len(runs), "finished": finished, "flops_total": total, "flops_done": done_flops,
            "running": running, "counts": reg.counts()}


class LiveProgress:
    """Rich progress bars fed by polling the registry (works for every executor)."""

    def __init__(self, path: Path, console=None, every: float = 1.0):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.path, self.every = path, every
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
        self.ladder_task = None
        self.run_tasks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ladder-progress")

    def __enter__(self):
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.refresh()
        self.progress.stop()
        return False

    def _loop(self):
        while not self._stop.wait(self.every):
            try:
                self.refresh()
            except Exception:  # pragma: no cover - progress must never break a run
                pass

    def refresh(self) -> None:
        with Registry(self.path) as reg:
            st = ladder_state(reg)
        info = f"runs {st['finished']}/{st['jobs']}  FLOPs {st['flops_done']:.3g}/{st['flops_total']:.3g}"
        if self.ladder_task is None:
            self.ladder_task = self.progress.add_task("ladder", total=st["flops_total"] or 1, info=info)
        self.progress.update(self.ladder_task, completed=st["flops_done"], total=st["flops_total"] or 1, info=info)
        running = {r["run_id"]: r for r in st["running"]}
        for run_id in [k for k in self.run_tasks if k not in running]:   # finished or released
            self.progress.remove_task(self.run_tasks.pop(run_id))
        for run_id, r in running.items():  # one bar per run in flight (several with --workers)
            loss = f" loss {r['train_loss']:.4f}" if r["train_loss"] is not None else ""
            tps = f" {r['tokens_per_s']:,.0f} tok/s" if r["tokens_per_s"] else ""
            rinfo = f"step {r['step'] or 0}/{r['steps']}{loss}{tps}"
            if run_id not in self.run_tasks:
                self.run_tasks[run_id] = self.progress.add_task(run_id, total=r["steps"], info=rinfo)
            self.progress.update(self.run_tasks[run_id], completed=r["step"] or 0, total=r["steps"], info=rinfo)


def status_rows(reg: Registry) -> list[dict]:
    """One summary row per job for ``scalelab ladder status``."""
    evals = {}
    for row in reg.eval_rows():
        if row.get("eval_set") in ("val", None):
            key = row["run_id"]
            if key not in evals or row["step"] >= evals[key]["step"]:
                evals[key] = row
    out = []
    for r in reg.runs():
        val = evals.get(r["run_id"], {}).get("loss")
        out.append({"run_id": r["run_id"], "status": r["status"] + (" (stale claim)" if r["stale"] else ""),
                    "N": r["N"], "D": r["D"], "C": r["C"], "steps": r["steps"], "step": r["step"],
                    "batch_tokens": r["batch_tokens"], "lr": r["lr"], "val_loss": val, "train_loss": r["train_loss"],
                    "tokens_per_s": r["tokens_per_s"], "wall_s": r["wall_s"], "attempts": r["attempts"],
                    "worker": f"{r['host']}:{r['pid']}" if r["status"] == "running" else None,
                    "points": len([p for p in reg.points() if p["job"] == r["run_id"]]), "error": r["error"]})
    return out
