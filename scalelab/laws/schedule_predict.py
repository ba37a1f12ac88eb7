"""``predict`` with a law whose ``fit --form auto`` compared the schedule-aware laws (issue 22,
item 5; the comparison is :mod:`scalelab.laws.schedule_select`).

When the annealing law won the held-out comparison, the law file carries it (fitted to every
checkpoint of every run), and a prediction is the final loss of a run of ``N`` parameters under
the target's schedule: ``schedule`` is written as ``scalelab curves --predict``'s spec without
``N`` (:data:`KEYS`: ``kind`` cosine / wsd / constant, ``steps``, ``lr`` the peak, ``warmup``
steps, ``min_lr_ratio``, ``cooldown_frac``, ``cooldown_shape``), and what it leaves out is
derived from the fitted runs' own hyper-parameter rule (:mod:`scalelab.laws.schedule_rule`: the
peak lr, warm-up and tokens per step as constants or log-log trends in N across the runs, the
kind and final lr ratio every run's), and said so; a law file written before the rule takes them
from the largest fitted run's schedule (its warm-up as a fraction of the steps). The length is
``steps``, else ``S``, else ``D`` over the tokens per step (``batch_tokens``, else the rule's at
N). Without a schedule the prediction assumes an annealed end -- the rule's schedule at the
target's size and length, cosine when the runs' was constant -- which is what a final-point law
predicts, and the note says exactly what was assumed (``assumed`` in the result). The interval
is the curve law's band (bootstrap over runs, point scatter, and the misspecification of its
held-out folds growing with the distance beyond the fitted runs:
:mod:`scalelab.laws.curve_misspec`).

When the final-point form won, ``predict`` is unchanged but for a note that its prediction
assumes an annealed end; a target schedule is then an error (the form cannot take one).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

from scalelab.errors import InputError, NumericalError
from scalelab.laws import schedule_rule
from scalelab.laws.curve_predict import KEYS as CURVE_KEYS
from scalelab.laws.curve_predict import spec_items, target_schedule
from scalelab.laws.curves import CurveLaw
from scalelab.runs.schedules import Schedule

KEYS = tuple(k for k in CURVE_KEYS if k != "N")
ANNEALED = ("cosine", "wsd")


def record(law) -> Optional[dict]:
    """The law's schedule-aware comparison record, or None (a table without schedules, a form
    not chosen by ``--form auto``, a published law)."""
    auto = law.options.auto if law.options is not None else None
    rec = (auto or {}).get("schedule_aware")
    return rec if isinstance(rec, dict) and rec.get("winner") else None


def annealed_note(law) -> Optional[str]:
    """For a final-point form that won the comparison: the note that it assumes an annealed end."""
    rec = record(law)
    if rec is None or "law" in rec:
        return None
    return (
        f"the final-point form {law.form} won the schedule-aware comparison ({rec['why']}): "
        "the prediction assumes an annealed end (a run whose schedule decays to its last step)"
    )


def predict(
    law,
    variables: dict,
    schedule: Optional[str] = None,
    batch_tokens: Optional[float] = None,
) -> Optional[dict]:
    """The schedule-aware prediction at ``variables`` (N with S or D), or None when the law
    carries no schedule-aware law and no schedule is asked for."""
    rec = record(law)
    asked = schedule is not None or batch_tokens is not None
    if rec is None or "law" not in rec:
        if not asked:
            return None
        why = (
            f"the final-point form {law.form} won fit --form auto's schedule-aware comparison"
            if rec is not None
            else "it has no schedule-aware law (fit --form auto on a run table with schedules)"
        )
        flag = "--schedule" if schedule is not None else "--batch-tokens"
        raise InputError(
            f"{flag}: the law cannot take a target schedule: {why}; predict other schedules "
            "with scalelab curves --predict"
        )
    where = f"--schedule {schedule!r}" if schedule is not None else "predict"
    items = spec_items(schedule or "", where, KEYS)
    if "N" not in variables:
        raise InputError("predict: the schedule-aware law needs --N (parameters)")
    N = float(variables["N"])
    ref = rec.get("reference", {})
    try:
        base = Schedule(**ref["schedule"]) if "schedule" in ref else Schedule("cosine", 1e-3, 1)
        curve = CurveLaw.from_dict(rec["law"])
    except (TypeError, KeyError, AttributeError) as exc:
        raise InputError(
            f"law file: options.auto.schedule_aware: not a schedule-aware record ({exc})"
        ) from None
    if batch_tokens is not None and not (batch_tokens > 0 and math.isfinite(batch_tokens)):
        raise InputError(f"--batch-tokens: expected a positive number, got {batch_tokens:g}")
    rule = ref.get("rule")
    tps = batch_tokens or ref.get("tokens_per_step") or 1.0
    if rule and batch_tokens is None:
        tps = schedule_rule.tokens_per_step(rule, N)
    steps = _steps(variables, items, tps)
    assumed = schedule is None
    said: list[str] = []
    if rule:
        length = target_schedule(items, base, steps, where).total_steps
        fields, said = schedule_rule.at(rule, N, length, tps, items)
        base = replace(base, total_steps=length, **fields)
        if batch_tokens is None and rule["tokens_per_step"]["how"] == "trend":
            said.append(
                f"{tps:,.0f} tokens per step {schedule_rule.how(rule['tokens_per_step'], 'tokens per step')}"
            )
    if assumed:
        base = replace(base, kind=base.kind if base.kind in ANNEALED else "cosine")
    target = target_schedule(items, base, steps, where)
    notes = []
    if assumed:
        notes.append(
            f"no target schedule given (--schedule): assumed an annealed end, {_describe(target)}"
            + (
                ", from the fitted runs' own hyper-parameter rule: " + "; ".join(said)
                if rule
                else f" (the largest fitted run's, {ref.get('run_id', '?')}, at this length)"
            )
            + ": what a final-point law predicts"
        )
    elif said:
        notes.append("--schedule leaves out: taken from the fitted runs' rule: " + "; ".join(said))
    final = curve.final(N, target)
    if final["loss"] is None:
        raise NumericalError(f"predict: the {curve.law} law's loss at N={N:.4g} is not finite")
    interval = [final["lo"], final["hi"]] if None not in (final["lo"], final["hi"]) else None
    steps = target.total_steps
    D = steps * tps
    point = float(law.predict(N=N, D=D)) if set(law.law_form.variables) == {"N", "D"} else None
    return {
        "form": f"{curve.law} (schedule-aware)",
        "final_point_form": law.form,
        "N": N,
        "D": D,
        "steps": steps,
        "tokens_per_step": tps,
        "schedule": _schedule_dict(target),
        "schedule_assumed": assumed,
        "assumed": said,
        "loss": final["loss"],
        "interval": interval,
        "interval_kind": "prediction" if interval else None,
        "ci": None,
        "level": curve.level if interval else None,
        "final_point_loss": point if point is not None and math.isfinite(point) else None,
        "why": rec["why"],
        "notes": notes,
        "warnings": list(curve.warnings),
    }


def _steps(variables: dict, items: dict, tps: float) -> Optional[int]:
    """The target's length in steps: the spec's ``steps`` (read later), else S, else D / tps."""
    if "steps" in items:
        return None
    if "S" in variables:
        return int(round(float(variables["S"])))
    if "D" in variables:
        return max(1, int(round(float(variables["D"]) / tps)))
    raise InputError(
        "predict: the schedule-aware law needs the target's length: --S (steps), --D (tokens; "
        "with --batch-tokens or the fitted runs' tokens per step) or steps= in --schedule"
    )


def _describe(s: Schedule) -> str:
    end = (
        f"to {s.min_lr_ratio:g}x peak at step {s.total_steps:,}"
        if s.kind == "cosine"
        else f"cool-down over the last {s.cooldown_frac:g} of {s.total_steps:,} steps "
        f"({s.cooldown_shape}) to {s.min_lr_ratio:g}x peak"
    )
    return f"{s.kind} from peak lr {s.peak_lr:.3g} {end}, warm-up {s.warmup_steps:,} steps"


def _schedule_dict(s: Schedule) -> dict:
    return {
        "kind": s.kind,
        "steps": s.total_steps,
        "peak_lr": s.peak_lr,
        "warmup_steps": s.warmup_steps,
        "min_lr_ratio": s.min_lr_ratio,
        "cooldown_frac": s.cooldown_frac,
        "cooldown_shape": s.cooldown_shape,
        "text": _describe(s)
        if s.kind in ANNEALED
        else f"constant at peak lr {s.peak_lr:.3g}, "
        f"{s.total_steps:,} steps, warm-up {s.warmup_steps:,} steps",
    }
