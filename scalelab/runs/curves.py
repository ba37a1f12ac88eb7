"""Learning curves from a run table: every evaluation point of each run, with the run's exact
learning-rate sequence.

A schedule-aware law (:mod:`scalelab.laws.curves`) needs, for each evaluation at step ``s``, the
learning rates of updates ``0 .. s-1``. A run table gives them in one of two ways, per run:

* a **schedule description** (what the trainer and the ladder record on every row): ``schedule``
  (``cosine``, ``wsd``, ``constant``; ``wsd-cooldown`` for a cool-down branch), ``lr`` (the PEAK
  learning rate), ``total_steps``, ``warmup_steps`` and, where they apply, ``min_lr_ratio``
  (default 0.1), ``cooldown_frac`` (default 0.2) and ``cooldown_shape`` (``1-sqrt``, ``linear``,
  ``cosine``). The sequence is rebuilt with :class:`scalelab.runs.schedules.Schedule`, the
  trainer's own code, so it equals what the run trained with;
* a **per-step learning rate** ``lr_step`` on a row at every step 1..S (the lr of the update that
  led to that row), when a table logs every step but no schedule; a user table without a
  ``schedule`` whose ``lr`` changes along a run is read the same way (its ``lr`` is then the lr
  at each step, not the peak).

Problems are reported together, one line each, naming the run and the column
(:class:`~scalelab.errors.InputError`, exit status 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.schedules import Schedule, lr_sequence
from scalelab.runs.table import RunTable

KINDS = ("cosine", "wsd", "constant")
BRANCH_KIND = "wsd-cooldown"
SHAPES = ("1-sqrt", "linear", "cosine")
DEFAULTS = {"min_lr_ratio": 0.1, "cooldown_frac": 0.2, "cooldown_shape": "1-sqrt"}
MAX_STEPS = 10_000_000


@dataclass
class Curve:
    """One run's learning curve.

    Attributes:
        run_id: the run; N: its parameters (the table's ``N``).
        steps: evaluation steps (updates done), increasing; loss: held-out loss at each.
        lr: learning rate of updates ``0 .. steps[-1] - 1``.
        schedule: the schedule (``None`` when the table gave per-step learning rates).
        tokens_per_step: tokens per update, if known (``D / step`` otherwise).
        branch_of: the trunk a cool-down branch left, if any.
    """

    run_id: str
    N: float
    steps: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    schedule: Optional[Schedule] = None
    tokens_per_step: Optional[float] = None
    branch_of: Optional[str] = None

    @property
    def final_step(self) -> int:
        return int(self.steps[-1])

    def describe(self) -> str:
        s = self.schedule
        if s is None:
            return "per-step lr"
        return f"{s.kind}, peak {s.peak_lr:.3g}, {s.total_steps} steps, warmup {s.warmup_steps}"


def has_curves(table: RunTable) -> bool:
    """Whether the table carries learning curves: a step column and, per run, a schedule or a
    per-step lr (a cheap test; :func:`learning_curves` validates)."""
    cols = table.data.columns
    return "step" in cols and (
        ("schedule" in cols and "total_steps" in cols and "lr" in cols)
        or "lr_step" in cols
        or ("lr" in cols and bool((table.data.groupby("run_id")["lr"].nunique() > 1).any()))
    )


def learning_curves(table: RunTable, eval_set: Optional[str] = None) -> list[Curve]:
    """Every run's curve (one eval set: ``val`` if present, else the only one), with its lr
    sequence; every problem in one :class:`InputError`."""
    selected = table.select(eval_set=eval_set, points="all")
    data = selected.data
    src = table.source
    if "step" not in data.columns:
        raise InputError(f"{src}: learning curves need a 'step' column (the update count)")
    problems: list[str] = []
    curves = []
    for run_id, rows in data.groupby(data["run_id"].astype(str), sort=False):
        rows = rows.sort_values("step", kind="stable")
        curve = _curve(src, str(run_id), rows, problems)
        if curve is not None:
            curves.append(curve)
    if problems:
        raise InputError(problems)
    if not curves:
        raise InputError(f"{src}: no learning curves (no run with evaluation steps)")
    return curves


def _curve(src: str, run_id: str, rows: pd.DataFrame, problems: list[str]) -> Optional[Curve]:
    where = f"{src}: run '{run_id}'"
    steps = rows["step"].to_numpy(dtype=float)
    if not np.all(np.isfinite(steps)) or np.any(steps < 1) or np.any(steps != np.round(steps)):
        problems.append(f"{where}: column 'step': expected whole numbers >= 1")
        return None
    if steps.max() > MAX_STEPS:
        problems.append(f"{where}: column 'step': {steps.max():g} is above {MAX_STEPS:,}")
        return None
    steps_i = steps.astype(int)
    if len(np.unique(steps_i)) < len(steps_i):
        problems.append(f"{where}: several rows at the same step (choose one eval set)")
        return None
    kind = _single(rows, "schedule")
    if kind is not None:
        sched = _schedule(where, rows, str(kind), problems)
        if sched is None:
            return None
        if steps_i[-1] > sched.total_steps:
            problems.append(
                f"{where}: step {steps_i[-1]} is beyond its schedule's total_steps "
                f"({sched.total_steps})"
            )
            return None
        lr = np.array(lr_sequence(sched, int(steps_i[-1])))
    elif "lr_step" in rows.columns or _varies(rows, "lr"):
        sched = None
        column = "lr_step" if "lr_step" in rows.columns else "lr"
        lr = _per_step(where, rows, steps_i, problems, column)
        if lr is None:
            return None
    else:
        problems.append(
            f"{where}: no learning-rate schedule: expected columns schedule, lr (peak), "
            "total_steps, warmup_steps, or a per-step 'lr_step' at every step"
        )
        return None
    tps = _single(rows, "tokens_per_step")
    branch = _single(rows, "branch_of")
    return Curve(
        run_id=run_id,
        N=float(rows["N"].iloc[0]) if "N" in rows.columns else math.nan,
        steps=steps_i,
        loss=rows["loss"].to_numpy(dtype=float),
        lr=lr,
        schedule=sched,
        tokens_per_step=float(tps) if tps is not None else None,
        branch_of=str(branch) if branch is not None else None,
    )


def _single(rows: pd.DataFrame, column: str):
    """The run's one value of ``column`` (None when absent or empty)."""
    if column not in rows.columns:
        return None
    values = rows[column].dropna()
    return values.iloc[-1] if len(values) else None


def _number(where, rows, column, problems, *, whole=False, default=None):
    value = _single(rows, column)
    if value is None:
        if default is None:
            problems.append(f"{where}: column '{column}' is missing (needed by its schedule)")
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        problems.append(f"{where}: column '{column}': expected a number, got {value!r}")
        return None
    if not math.isfinite(x) or (whole and x != round(x)):
        what = "a whole number" if whole else "a finite number"
        problems.append(f"{where}: column '{column}': expected {what}, got {value!r}")
        return None
    return int(x) if whole else x


def _schedule(where: str, rows: pd.DataFrame, kind: str, problems: list[str]):
    if kind not in KINDS + (BRANCH_KIND,):
        problems.append(
            f"{where}: column 'schedule': expected one of {', '.join(KINDS + (BRANCH_KIND,))}, "
            f"got {kind!r}"
        )
        return None
    n_before = len(problems)
    peak = _number(where, rows, "lr", problems)
    total = _number(where, rows, "total_steps", problems, whole=True)
    warmup = _number(where, rows, "warmup_steps", problems, whole=True, default=0)
    ratio = _number(where, rows, "min_lr_ratio", problems, default=DEFAULTS["min_lr_ratio"])
    frac = _number(where, rows, "cooldown_frac", problems, default=DEFAULTS["cooldown_frac"])
    shape = str(_single(rows, "cooldown_shape") or DEFAULTS["cooldown_shape"])
    if len(problems) > n_before:
        return None
    checks = [
        (peak > 0, f"column 'lr' (the peak learning rate): expected > 0, got {peak:g}"),
        (1 <= total <= MAX_STEPS, f"column 'total_steps': expected 1..{MAX_STEPS:,}, got {total}"),
        (0 <= warmup < total, f"column 'warmup_steps': expected 0..total_steps-1, got {warmup}"),
        (0 <= ratio <= 1, f"column 'min_lr_ratio': expected a number in [0, 1], got {ratio:g}"),
        (0 < frac <= 1, f"column 'cooldown_frac': expected a number in (0, 1], got {frac:g}"),
        (shape in SHAPES, f"column 'cooldown_shape': expected one of {SHAPES}, got {shape!r}"),
    ]
    bad = [f"{where}: {msg}" for ok, msg in checks if not ok]
    if bad:
        problems.extend(bad)
        return None
    return Schedule(
        kind="wsd" if kind == BRANCH_KIND else kind,
        peak_lr=peak,
        total_steps=total,
        warmup_steps=warmup,
        min_lr_ratio=ratio,
        cooldown_frac=frac,
        cooldown_shape=shape,
    )


def _varies(rows: pd.DataFrame, column: str) -> bool:
    """A user table's ``lr`` that changes along a run is a per-step lr, not the peak."""
    return column in rows.columns and rows[column].dropna().nunique() > 1


def _per_step(where, rows, steps, problems, column="lr_step") -> Optional[np.ndarray]:
    lr = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(lr) & (lr >= 0)):
        problems.append(f"{where}: column '{column}': expected non-negative numbers on every row")
        return None
    if steps[0] != 1 or np.any(np.diff(steps) != 1):
        problems.append(
            f"{where}: column '{column}': per-step learning rates need a row at every step "
            f"1..{steps[-1]} (found {len(steps)} rows); give a schedule description instead"
        )
        return None
    return lr  # row at step s carries the lr of update s-1
