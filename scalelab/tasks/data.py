"""The points a task prediction is fitted to, taken from a task table.

:func:`task_points` gives one frame per (task, bucket): ``run_id, N, D, C, step, x`` (the
intermediate: ``task_loss``, the general ``loss``, or ``task_loss:OTHER``, the task loss of another
task at the same evaluation points, for tasks with no loss of their own), ``accuracy``,
``chance``. :func:`averaged`
builds a named average of tasks (Gadre's averaged error). :func:`signal_noise` measures how far
above chance the runs reach and how noisy accuracy is over each run's last evaluation points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.table import RunTable
from scalelab.tasks.options import PROXY, THROUGH, check_through  # noqa: F401 (THROUGH: an alias)

LAST_POINTS = 5
"""Evaluation points at the end of each run over which accuracy noise is measured (OLMo)."""
MIN_SIGNAL = 0.02
"""A task whose runs reach less than this (absolute accuracy) above chance is not predictable."""
NOISE_FACTOR = 2.0
"""... nor one whose best run is less than this many noise standard deviations above chance."""


def tasks_of(table: RunTable) -> list[str]:
    if not table.has("task"):
        raise InputError(f"{table.source}: no task rows (no 'task' column)")
    return sorted(table.data["task"].dropna().astype(str).unique())


def resolve_tasks(table: RunTable, task) -> list[str]:
    """``"all"``, a name, or a list of names, checked against the table."""
    present = tasks_of(table)
    wanted = [task] if isinstance(task, str) else list(task)
    if wanted == ["all"] or not wanted:
        return present
    missing = [t for t in wanted if t not in present]
    if missing:
        raise InputError(
            f"{table.source}: task(s) {', '.join(map(repr, missing))} not found; present: "
            f"{', '.join(present)}"
        )
    return wanted


def buckets_of(table: RunTable, task: str) -> list[str]:
    """The difficulty buckets of a task (besides ``all``)."""
    if "bucket" not in table.data.columns:
        return []
    rows = table.data[table.data["task"].astype(str) == task]
    return sorted(set(rows["bucket"].dropna().astype(str)) - {"all"})


def task_points(
    table: RunTable, task: str, through: str = "task_loss", bucket: Optional[str] = None
) -> pd.DataFrame:
    """Rows of one task (and bucket: ``None`` = the whole task) with the intermediate as ``x``."""
    proxy = check_through(through)
    if proxy is not None:
        return _through_proxy(table, task, proxy, bucket)
    data = table.data
    rows = data[data["task"].astype(str) == task]
    if "bucket" in rows.columns:
        b = rows["bucket"]
        if bucket in (None, "all"):
            rows = rows[b.isna() | (b.astype(str) == "all")]
        else:
            rows = rows[b.astype(str) == str(bucket)]
    elif bucket not in (None, "all"):
        raise InputError(f"{table.source}: bucket {bucket!r} requested but there is no 'bucket'")
    if len(rows) == 0:
        raise InputError(f"{table.source}: task {task!r} has no rows for bucket {bucket!r}")
    if through not in rows.columns or rows[through].isna().all():
        rows = _general_loss(data, rows, table.source) if through == "loss" else None
        if rows is None:
            raise InputError(
                f"{table.source}: task {task!r} has no task_loss values; use --through loss "
                "(the general held-out loss) or give task_loss"
            )
    keys = ["run_id", "N", "D", "C"] + [c for c in ("step", "branch_of") if c in rows.columns]
    out = rows[keys].copy()
    out["x"] = rows[through].to_numpy(dtype=float)
    out["accuracy"] = (
        rows["accuracy"].to_numpy(dtype=float) if "accuracy" in rows.columns else np.nan
    )
    out["chance"] = rows["chance"].to_numpy(dtype=float) if "chance" in rows.columns else np.nan
    if "step" not in out.columns:
        out["step"] = out["D"]
    out = out.sort_values(["run_id", "D", "step"], kind="stable").reset_index(drop=True)
    if through == "task_loss" and "task_loss_unit" in rows.columns:
        units = rows["task_loss_unit"].dropna().astype(str).unique()
        if len(units) > 1:
            raise InputError(
                f"{table.source}: task {task!r} mixes task_loss units {', '.join(units)}; "
                "give one unit per task"
            )
        out.attrs["unit"] = units[0] if len(units) else "as given"
    return out


def _through_proxy(table: RunTable, task: str, proxy: str, bucket: Optional[str]) -> pd.DataFrame:
    """The task's points with ``x`` the whole-task ``task_loss`` of task ``proxy`` at the same
    (run, D, step): the evaluation points both have."""
    if proxy not in tasks_of(table):
        raise InputError(
            f"{table.source}: --through {PROXY}{proxy}: no task {proxy!r} in the table"
        )
    try:
        other = task_points(table, proxy, "task_loss")
    except InputError as exc:
        raise InputError(
            f"{table.source}: --through {PROXY}{proxy}: task {proxy!r} has no task loss to "
            "lend; name a task that has one"
        ) from exc
    data = table.data
    keys = ["run_id", "D"] + (["step"] if "step" in data.columns else [])
    lookup = other[keys + ["x"]].dropna().drop_duplicates(keys).rename(columns={"x": "task_loss"})
    mine = data[data["task"].astype(str) == task]
    mine = mine.drop(columns=[c for c in ("task_loss", "task_loss_unit") if c in mine.columns])
    both = mine.merge(lookup, on=keys, how="inner")
    if len(both) == 0:
        raise InputError(
            f"{table.source}: task {task!r} shares no evaluation point (run, D, step) with "
            f"{proxy!r}, whose loss --through {PROXY}{proxy} takes"
        )
    both["task_loss_unit"] = other.attrs.get("unit", "as given")
    return task_points(table.with_data(both), task, "task_loss", bucket)


def _general_loss(data: pd.DataFrame, rows: pd.DataFrame, source: str) -> Optional[pd.DataFrame]:
    """Task rows given the ``loss`` of the run's rows without a task at the same point."""
    if "loss" not in data.columns:
        raise InputError(
            f"{source}: --through loss needs a 'loss' column (the general held-out loss); "
            "this task table has none: use --through task_loss"
        )
    plain = data[data["task"].isna() & data["loss"].notna()]
    if len(plain) == 0:
        return None
    keys = ["run_id", "D"]
    general = plain.groupby(keys, sort=False)["loss"].mean().rename("loss").reset_index()
    return rows.drop(columns=["loss"]).merge(general, on=keys, how="inner")


def chance_of(points: pd.DataFrame, task: str, source: str) -> float:
    values = points["chance"].dropna().unique()
    if len(values) == 0:
        raise InputError(
            f"{source}: task {task!r} has no chance accuracy; give a 'chance' column or "
            f"--chance {task}=VALUE"
        )
    return float(np.median(values))


def averaged(table: RunTable, tasks: Sequence[str], through: str, name: str) -> pd.DataFrame:
    """The mean accuracy, chance and intermediate over ``tasks`` at every point all of them have
    (Gadre et al. 2024's average error over 17 tasks)."""
    frames = [task_points(table, t, through) for t in tasks]
    keys = ["run_id", "N", "D", "C", "step"]
    both = pd.concat(frames, ignore_index=True)
    grouped = both.groupby(keys, sort=True)
    out = grouped[["x", "accuracy", "chance"]].mean()
    out = out[grouped.size() == len(tasks)].reset_index()
    if len(out) == 0:
        raise InputError(
            f"{table.source}: average {name!r}: no evaluation point has all of " + ", ".join(tasks)
        )
    return out


def finals(points: pd.DataFrame) -> pd.DataFrame:
    """Each run's final evaluation (largest D, then step)."""
    last = points.sort_values(["run_id", "D", "step"], kind="stable").groupby("run_id").tail(1)
    return last.reset_index(drop=True)


@dataclass
class SignalNoise:
    """How far above chance the runs reach, and how noisy accuracy is at the end of each run."""

    signal: float
    noise: Optional[float]
    snr: Optional[float]
    predictable: bool
    reason: Optional[str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def signal_noise(points: pd.DataFrame, chance: float, last: int = LAST_POINTS) -> SignalNoise:
    """Signal: the best run's mean accuracy over its last ``last`` points minus chance. Noise:
    the pooled standard deviation of accuracy over those points (OLMo's variance analysis)."""
    pts = points[np.isfinite(points["accuracy"].to_numpy(dtype=float))]
    if len(pts) == 0:
        return SignalNoise(0.0, None, None, False, "no accuracy values")
    tails = pts.sort_values(["run_id", "D", "step"]).groupby("run_id").tail(last)
    g = tails.groupby("run_id")["accuracy"]
    means = g.mean()
    var = g.var(ddof=1).dropna()
    noise = float(np.sqrt(var.mean())) if len(var) else None
    signal = float(means.max() - chance)
    snr = signal / noise if noise else None
    threshold = max(MIN_SIGNAL, NOISE_FACTOR * (noise or 0.0))
    if signal < threshold:
        reason = (
            f"accuracy never leaves chance in the fitted runs: the best run reaches "
            f"{signal:+.3f} above chance ({chance:.3g}), less than {threshold:.3f} (max of "
            f"{MIN_SIGNAL} and {NOISE_FACTOR:g} x the noise {noise or 0:.3f})"
        )
        return SignalNoise(signal, noise, snr, False, reason)
    return SignalNoise(signal, noise, snr, True, None)
