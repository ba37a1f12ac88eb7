"""What ``scalelab curves`` computes: fit a learning-curve law and predict other schedules.

A schedule to predict is written ``N=400k,kind=cosine,steps=3000`` (keys: ``N``, ``kind``
(``cosine``, ``wsd``, ``constant``), ``steps``, and optionally ``lr`` (peak), ``warmup``
(steps), ``min_lr_ratio``, ``cooldown_frac``, ``cooldown_shape``); what it leaves out is taken
from the schedule of the table's largest run (its peak lr, its warm-up fraction, ...).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.curves import CurveLaw, fit_curves
from scalelab.runs.curves import KINDS, MAX_STEPS, SHAPES, Curve, learning_curves
from scalelab.runs.schedules import Schedule
from scalelab.runs.table import Runs, as_table
from scalelab.units import quantity

KEYS = ("N", "kind", "steps", "lr", "warmup", "min_lr_ratio", "cooldown_frac", "cooldown_shape")


def parse_schedule(text: str, curves: list[Curve]) -> tuple[float, Schedule]:
    """``N=400k,kind=cosine,steps=3000`` -> (N, Schedule); defaults from the largest run."""
    where = f"--predict {text!r}"
    items = spec_items(text, where, KEYS)
    missing = [k for k in ("N", "steps") if k not in items]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    try:
        N = float(quantity(items["N"], "N"))
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    sched = target_schedule(items, reference(curves), None, where)
    if not N > 0:
        raise InputError(f"{where}: expected N > 0, steps >= 1, lr > 0, 0 <= warmup < steps")
    return N, sched


def spec_items(text: str, where: str, keys=KEYS) -> dict[str, str]:
    """``KEY=VALUE,...`` -> {key: value}; an unknown key or a part without ``=`` is an error."""
    items: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in keys:
            raise InputError(f"{where}: expected KEY=VALUE with KEY one of {', '.join(keys)}")
        items[key.strip()] = value.strip()
    return items


def reference(curves: list[Curve]) -> Schedule:
    """The schedule of the largest run (the defaults of a target schedule)."""
    ref = max((c for c in curves if c.schedule is not None), key=lambda c: c.N, default=None)
    return ref.schedule if ref is not None else Schedule("cosine", 1e-3, 1)


def target_schedule(
    items: dict[str, str], base: Schedule, steps: Optional[int], where: str
) -> Schedule:
    """A target schedule from spec items (:data:`KEYS`) over ``base``; ``steps`` is used where
    the items give none. The warm-up, when not given, keeps the base's fraction of the steps."""
    if "steps" not in items and steps is None:
        raise InputError(f"{where}: missing steps")
    try:
        steps = int(quantity(items["steps"], "steps")) if "steps" in items else steps
        kind = items.get("kind", base.kind)
        warm = base.warmup_steps / max(1, base.total_steps)
        sched = replace(
            base,
            kind=kind,
            total_steps=steps,
            peak_lr=float(items.get("lr", base.peak_lr)),
            warmup_steps=int(items["warmup"]) if "warmup" in items else round(warm * steps),
            min_lr_ratio=float(items.get("min_lr_ratio", base.min_lr_ratio)),
            cooldown_frac=float(items.get("cooldown_frac", base.cooldown_frac)),
            cooldown_shape=items.get("cooldown_shape", base.cooldown_shape),
        )
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    except InputError as exc:
        raise InputError(f"{where}: {exc.problems[0]}") from None
    problems = []
    if kind not in KINDS:
        problems.append(f"{where}: kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if sched.cooldown_shape not in SHAPES:
        problems.append(f"{where}: cooldown_shape: expected one of {', '.join(SHAPES)}")
    if not (1 <= steps <= MAX_STEPS and sched.peak_lr > 0 and 0 <= sched.warmup_steps < steps):
        problems.append(
            f"{where}: expected N > 0, steps 1..{MAX_STEPS:,}, lr > 0, 0 <= warmup < steps"
        )
    if not (0 <= sched.min_lr_ratio <= 1 and 0 < sched.cooldown_frac <= 1):
        problems.append(f"{where}: expected min_lr_ratio in [0, 1], cooldown_frac in (0, 1]")
    if problems:
        raise InputError(problems)
    return sched


def curves_analysis(
    runs: Runs,
    law: str = "annealing",
    *,
    predict: Optional[list[str]] = None,
    eval_set: Optional[str] = None,
    **fit_options,
) -> tuple[CurveLaw, list[dict]]:
    """Fit ``law`` to every run's curve; the final loss of each ``predict`` schedule, and each
    run's own final loss as the law gives it (its in-sample check)."""
    table = as_table(runs)
    curves = learning_curves(table, eval_set)
    targets = [parse_schedule(t, curves) for t in predict or []]
    fitted = fit_curves(table, law, curves=curves, **fit_options)
    out = []
    sizes = sorted({c.N for c in curves})
    for (N, sched), text in zip(targets, predict or [], strict=True):
        out.append({"spec": text, "schedule": sched.kind, **fitted.final(N, sched)})
        if not fitted.joint and not any(np.isclose(N, n, rtol=1e-6) for n in sizes):
            fitted.warnings.append(
                f"predict {text}: the law has no N term (fitted to {len(sizes)} size(s); the "
                "joint law needs 3), so its loss at N = "
                f"{N:.4g} is that of the fitted sizes' pooled law, not a prediction for that size"
            )
    return fitted, out


def in_sample(law: CurveLaw, curves: list[Curve]) -> list[dict]:
    """Each run's final loss against the law's prediction (relative error)."""
    rows = []
    for c in curves:
        pred = float(law.predict(c.N, c.lr, [c.final_step])[0])
        rows.append(
            {
                "run_id": c.run_id,
                "N": c.N,
                "step": c.final_step,
                "loss": float(c.loss[-1]),
                "predicted": pred,
                "rel_error": float(c.loss[-1] / pred - 1) if np.isfinite(pred) else None,
            }
        )
    return rows
