"""``fit --form auto`` on a table that carries learning-rate schedules: the schedule-aware laws
backtested beside the chosen final-point form (issue 22, item 5).

When every run of the table has a schedule (:func:`scalelab.runs.curves.has_curves`), the
largest size is held out (4 sizes or more; with 3, the runs above the largest run's compute / 10,
the selection's compute fold, if the runs left still span 3 sizes), and both the chosen
final-point form (on the held-in runs' final points) and the annealing law (on every checkpoint of the held-in runs,
:func:`scalelab.laws.curves.fit_curves`, no bootstrap) predict the held-out runs' final losses.
The record (``law.options.auto["schedule_aware"]``) names the winner by mean absolute relative
error and says why, and keeps the largest run's schedule (``reference``: the defaults of a target
schedule) and the fitted runs' tokens per step. When the annealing law wins, it is fitted to every
checkpoint of every run (with the fit's bootstrap, level and seed, and its held-out-fold
misspecification) and saved in the record (``law``): ``predict`` then uses it, with the target's
schedule or an annealed end (:mod:`scalelab.laws.schedule_predict`). The law's own parameters
stay the final-point form's (the allocation, the report's figures). A table without schedules
gets no record, and ``fit --form auto`` is unchanged.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import schedule_rule
from scalelab.runs.curves import has_curves, learning_curves
from scalelab.runs.table import RunTable

MIN_SIZES = 4
MIN_HELD_IN_SIZES = 3
COMPUTE_RATIO = 10.0
LAW = "annealing"


def table_curves(table: RunTable):
    """(the table's learning curves, None), or (None, the record to return instead): None when
    the table carries no schedules, a "skipped" record when its schedules give no curves."""
    if not has_curves(table):
        return None, None
    try:
        return learning_curves(table), None
    except InputError as exc:
        why = "the schedules do not give learning curves: " + "; ".join(exc.problems)
        return None, {"skipped": why}


def schedule_aware(
    table: RunTable,
    chosen: str,
    fit_final,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
    carry: bool = True,
) -> Optional[dict]:
    """The comparison record, or None when the table carries no schedules. ``fit_final(table)``
    fits the chosen final-point form to a table's final points; ``bootstrap``, ``seed`` and
    ``level`` are the winning curve law's (fitted to every run; not with ``carry=False``, the
    comparison only: ``backtest --compare``)."""
    curves, skipped = table_curves(table)
    if curves is None:
        return skipped
    from scalelab.laws.curves import fit_curves  # noqa: PLC0415 - same layer, paid only here

    fold, held, kept = _fold(table, curves)
    if fold is None:
        return {"skipped": held}
    ids = {c.run_id for c in kept}
    small = table.with_data(table.data[table.data["run_id"].astype(str).isin(ids)])
    truth = np.array([c.loss[-1] for c in held])
    errors = {}
    try:
        law = fit_final(small)
        names = law.law_form.variables
        pred = law.predict(**{k: v for k, v in _variables(table, held).items() if k in names})
        errors[chosen] = float(np.mean(np.abs(pred / truth - 1)))
    except (InputError, NumericalError) as exc:
        return {"skipped": f"{chosen} on the held-in runs: " + "; ".join(exc.problems)}
    try:
        cl = fit_curves(small, LAW, curves=kept, bootstrap=0, misspec=False)
        pred = np.array([cl.predict(c.N, c.lr, [c.final_step])[0] for c in held])
        errors[LAW] = float(np.mean(np.abs(pred / truth - 1)))
    except (InputError, NumericalError) as exc:
        return {"skipped": f"{LAW} law on the held-in runs: " + "; ".join(exc.problems)}
    if not all(np.isfinite(v) for v in errors.values()):
        return {"skipped": "a prediction of the held-out runs is not finite"}
    winner = min(errors, key=lambda k: errors[k])
    other = next(k for k in errors if k != winner)
    record = {
        "fold": fold,
        "mean_abs_rel_error": errors,
        "winner": winner,
        "why": (
            f"{winner} predicted the held-out runs' final losses within {errors[winner]:.2%} "
            f"(mean), {other} within {errors[other]:.2%}"
            + (
                "; predict uses the annealing law fitted to every checkpoint (the target's "
                "schedule with --schedule, else an annealed end)"
                if winner == LAW
                else "; the final-point form is kept (its predictions assume an annealed end)"
            )
        ),
        "reference": reference(table, curves),
    }
    if winner == LAW and carry:
        try:
            full = fit_curves(
                table, LAW, curves=curves, bootstrap=bootstrap, seed=seed, level=level
            )
        except (InputError, NumericalError) as exc:
            record["why"] += f"; but its fit to every run failed ({'; '.join(exc.problems)})"
            record["winner"] = chosen
            return record
        record["law"] = full.to_dict()
    return record


def reference(table: RunTable, curves) -> dict:
    """The largest run's schedule (the longest of the largest size), the runs' median tokens per
    step, and the runs' hyper-parameter rule (``rule``, :mod:`scalelab.laws.schedule_rule`):
    what a target schedule leaves out is taken from the rule (from the largest run's schedule in
    a law file written before it)."""
    scheduled = [c for c in curves if c.schedule is not None]
    ref = max(scheduled, key=lambda c: (c.N, c.final_step), default=None)
    tps = [_tokens(table, c) / c.final_step for c in curves]
    out = {"tokens_per_step": float(np.median(tps)), "N": float(max(c.N for c in curves))}
    if ref is not None:
        out["schedule"] = asdict(ref.schedule)
        out["run_id"] = ref.run_id
        out["rule"] = schedule_rule.derive(scheduled, lambda c: _tokens(table, c))
    return out


def _fold(table: RunTable, curves):
    """(description, held-out curves, held-in curves): the largest size held out when there are
    4 sizes or more, else the runs above the largest run's compute / 10 (the selection's compute
    fold) when the held-in runs still span 3 sizes (the joint law); (None, why, None) else."""
    sizes = sorted({c.N for c in curves})
    if len(sizes) >= MIN_SIZES:
        held = [c for c in curves if c.N == sizes[-1]]
        kept = [c for c in curves if c.N < sizes[-1]]
        return f"largest size held out (N = {sizes[-1]:.4g}, {len(held)} runs)", held, kept
    C = dict(zip((c.run_id for c in curves), _variables(table, curves)["C"], strict=True))
    limit = max(C.values()) / COMPUTE_RATIO
    held = [c for c in curves if C[c.run_id] > limit * (1 + 1e-9)]
    kept = [c for c in curves if C[c.run_id] <= limit * (1 + 1e-9)]
    if len({c.N for c in kept}) < MIN_HELD_IN_SIZES or not held:
        return (
            None,
            f"{len(sizes)} sizes, and the runs up to the largest compute / {COMPUTE_RATIO:g} "
            f"span {len({c.N for c in kept})}: the held-out comparison needs {MIN_SIZES} sizes "
            f"or {MIN_HELD_IN_SIZES} held-in sizes",
            None,
        )
    return (
        f"runs above the largest compute / {COMPUTE_RATIO:g} held out (C > {limit:.3g}, "
        f"{len(held)} runs)",
        held,
        kept,
    )


def _variables(table: RunTable, held) -> dict:
    """N, D, C (the table's, else 6ND) and S of the held-out runs' final points."""
    N = np.array([c.N for c in held])
    D = np.array([_tokens(table, c) for c in held])
    C = np.array([_final(table, c, "C") for c in held]) if "C" in table.data else 6 * N * D
    S = np.array([float(c.final_step) for c in held])
    return {"N": N, "D": D, "C": C, "S": S}


def _final(table: RunTable, c, column: str) -> float:
    rows = table.data[table.data["run_id"].astype(str) == c.run_id]
    return float(rows.loc[rows["step"] == c.final_step, column].iloc[0])


def _tokens(table: RunTable, c) -> float:
    rows = table.data[table.data["run_id"].astype(str) == c.run_id]
    return float(rows.loc[rows["step"] == c.final_step, "D"].iloc[0])


def summarised(record: dict) -> dict:
    """The record as ``fit --json`` prints it: the curve law's bootstrap samples counted."""
    if "law" not in record:
        return record
    law = dict(record["law"], samples=len(record["law"].get("samples") or []))
    return {**record, "law": law}
