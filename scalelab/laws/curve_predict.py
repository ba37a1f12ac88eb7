"""What ``scalelab curves`` computes: fit a learning-curve law and predict other schedules.

A schedule to predict is written ``N=400k,kind=cosine,steps=3000`` (keys: ``N``, ``kind``
(``cosine``, ``wsd``, ``constant``), ``steps``, and optionally ``lr`` (peak), ``warmup``
(steps), ``min_lr_ratio``, ``cooldown_frac``, ``cooldown_shape``); what it leaves out is assumed
from the fitted runs' own hyper-parameter rule at the target's N and steps
(:mod:`scalelab.laws.schedule_rule`, as ``predict`` assumes a target's schedule: the peak lr and
warm-up as constants or log-log trends in N, the kind and final lr ratio every run's), and each
prediction says what it assumed (``assumed``). The rule needs each run's tokens per step (its
final ``D`` over its final step, else its ``tokens_per_step``); a table without them (a ``D``
derived from ``C`` is not taken) takes what
the spec leaves out from the largest run's schedule (its peak lr, its warm-up fraction, ...), and
says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from scalelab.errors import InputError
from scalelab.laws import schedule_rule
from scalelab.laws.curves import CurveLaw, fit_curves
from scalelab.runs.curves import KINDS, MAX_STEPS, SHAPES, Curve, learning_curves
from scalelab.runs.schedules import Schedule
from scalelab.runs.table import Runs, RunTable, as_table
from scalelab.units import quantity

KEYS = ("N", "kind", "steps", "lr", "warmup", "min_lr_ratio", "cooldown_frac", "cooldown_shape")


def parse_schedule(
    text: str, curves: list[Curve], rule: Optional[dict] = None
) -> tuple[float, Schedule, list[str]]:
    """``N=400k,kind=cosine,steps=3000`` -> (N, Schedule, what was assumed): what the spec leaves
    out from the runs' ``rule`` (:func:`rule_of`) at N and steps, else from the largest run."""
    where = f"--predict {text!r}"
    items = spec_items(text, where, KEYS)
    missing = [k for k in ("N", "steps") if k not in items]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    try:
        N = float(quantity(items["N"], "N"))
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    if not N > 0 or not np.isfinite(N):
        raise InputError(f"{where}: expected N > 0, steps >= 1, lr > 0, 0 <= warmup < steps")
    base = reference(curves)
    if rule is None:
        sched = target_schedule(items, base, None, where)
        return N, sched, _largest_said(sched, items, curves)
    length = target_schedule(items, base, None, where).total_steps
    tps = schedule_rule.tokens_per_step(rule, N)
    fields, said = schedule_rule.at(rule, N, length, tps, items)
    w = rule["warmup"]
    r = rule["tokens_per_step"]
    if "warmup" not in items and w["unit"] == "tokens" and r["how"] != "constant":
        said.append(f"{tps:,.0f} tokens per step {schedule_rule.how(r, 'tokens per step')}")
    sched = target_schedule(items, replace(base, total_steps=length, **fields), None, where)
    return N, sched, said


def rule_of(table: RunTable, curves: list[Curve]) -> Optional[dict]:
    """The runs' hyper-parameter rule (:func:`scalelab.laws.schedule_rule.derive`), or None when
    no run has a schedule or a run's tokens per step is unknown (no ``D`` column but one derived
    from ``C``, no ``tokens_per_step``)."""
    runs = [c for c in curves if c.schedule is not None]
    tokens = _final_tokens(table, runs)
    if not runs or tokens is None:
        return None
    return schedule_rule.derive(runs, lambda c: tokens[c.run_id])


def _final_tokens(table: RunTable, runs: list[Curve]) -> Optional[dict[str, float]]:
    """Each run's tokens at its final step: the table's ``D`` there (not one derived from C),
    else its tokens per step times the step; None when one is unknown or not positive."""
    data = table.data
    ids = data["run_id"].astype(str)
    out = {}
    for c in runs:
        D = np.nan
        if "D" in data.columns and "D" not in table.derived:
            at = data.loc[(ids == c.run_id) & (data["step"] == c.final_step), "D"]
            D = float(at.iloc[0]) if len(at) else np.nan
        if not np.isfinite(D) and c.tokens_per_step is not None:
            D = c.tokens_per_step * c.final_step
        if not (np.isfinite(D) and D > 0):
            return None
        out[c.run_id] = D
    return out


def _fields_of(kind: str) -> tuple[str, ...]:
    """The spec keys a schedule of ``kind`` uses."""
    return (
        ("lr", "warmup", "kind")
        + (("min_lr_ratio",) if kind != "constant" else ())
        + (("cooldown_frac", "cooldown_shape") if kind == "wsd" else ())
    )


def _largest_said(sched: Schedule, items: dict, curves: list[Curve]) -> list[str]:
    """What the spec left out, taken from the largest run's schedule (no rule), as text."""
    ref = max((c for c in curves if c.schedule is not None), key=lambda c: c.N, default=None)
    left = [
        text
        for key, text in (
            ("lr", f"peak lr {sched.peak_lr:.3g}"),
            ("warmup", f"warm-up {sched.warmup_steps:,} steps (its fraction of the steps)"),
            ("kind", f"kind {sched.kind}"),
            ("min_lr_ratio", f"min_lr_ratio {sched.min_lr_ratio:g}"),
            ("cooldown_frac", f"cooldown_frac {sched.cooldown_frac:g}"),
            ("cooldown_shape", f"cooldown_shape {sched.cooldown_shape}"),
        )
        if key not in items and key in _fields_of(sched.kind)
    ]
    if not left:
        return []
    whose = (
        f"the largest run's schedule ({ref.run_id})" if ref is not None else "the default schedule"
    )
    why = (
        "the runs' tokens per step are unknown (no D column, nor tokens_per_step), so not "
        "the fitted runs' rule"
        if ref is not None
        else "no run has a schedule"
    )
    return [f"{', '.join(left)}: from {whose}; {why}"]


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
    rule = rule_of(table, curves) if predict else None
    targets = [parse_schedule(t, curves, rule) for t in predict or []]
    fitted = fit_curves(table, law, curves=curves, **fit_options)
    out = []
    sizes = sorted({c.N for c in curves})
    for (N, sched, said), text in zip(targets, predict or [], strict=True):
        out.append(
            {"spec": text, "schedule": sched.kind, "assumed": said, **fitted.final(N, sched)}
        )
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
