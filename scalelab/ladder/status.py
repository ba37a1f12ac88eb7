"""A ladder's state from its registry: totals for progress and status, live progress bars.

All of it reads the registry, so it works for every executor and from another process while the
ladder runs (``scalelab ladder status``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from scalelab.ladder.registry import Registry


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
    return {
        "runs": runs,
        "jobs": len(runs),
        "finished": finished,
        "flops_total": total,
        "flops_done": done_flops,
        "running": running,
        "counts": reg.counts(),
    }


class LiveProgress:
    """Rich progress bars fed by polling the registry (works for every executor)."""

    def __init__(self, path: Path, console=None, every: float = 1.0):
        self.path, self.every = path, every
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
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
        flops = f"FLOPs {st['flops_done']:.3g}/{st['flops_total']:.3g}"
        info = f"runs {st['finished']}/{st['jobs']}  {flops}"
        if self.ladder_task is None:
            self.ladder_task = self.progress.add_task(
                "ladder", total=st["flops_total"] or 1, info=info
            )
        self.progress.update(
            self.ladder_task, completed=st["flops_done"], total=st["flops_total"] or 1, info=info
        )
        running = {r["run_id"]: r for r in st["running"]}
        for run_id in [k for k in self.run_tasks if k not in running]:  # finished or released
            self.progress.remove_task(self.run_tasks.pop(run_id))
        for run_id, r in running.items():  # one bar per run in flight (several with --workers)
            loss = f" loss {r['train_loss']:.4f}" if r["train_loss"] is not None else ""
            tps = f" {r['tokens_per_s']:,.0f} tok/s" if r["tokens_per_s"] else ""
            rinfo = f"step {r['step'] or 0}/{r['steps']}{loss}{tps}"
            if run_id not in self.run_tasks:
                self.run_tasks[run_id] = self.progress.add_task(
                    run_id, total=r["steps"], info=rinfo
                )
            self.progress.update(
                self.run_tasks[run_id], completed=r["step"] or 0, total=r["steps"], info=rinfo
            )


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
        out.append(
            {
                "run_id": r["run_id"],
                "status": r["status"] + (" (stale claim)" if r["stale"] else ""),
                "N": r["N"],
                "D": r["D"],
                "C": r["C"],
                "steps": r["steps"],
                "step": r["step"],
                "batch_tokens": r["batch_tokens"],
                "lr": r["lr"],
                "val_loss": val,
                "train_loss": r["train_loss"],
                "tokens_per_s": r["tokens_per_s"],
                "wall_s": r["wall_s"],
                "attempts": r["attempts"],
                "worker": f"{r['host']}:{r['pid']}" if r["status"] == "running" else None,
                "points": len([p for p in reg.points() if p["job"] == r["run_id"]]),
                "error": r["error"],
            }
        )
    return out
