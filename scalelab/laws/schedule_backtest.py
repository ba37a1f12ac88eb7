"""``backtest`` on a run table with learning-rate schedules: the schedule-aware law beside the
final-point form, on the same held-out runs (issue 22, item 5).

:func:`backtest` is :func:`scalelab.laws.select.backtest` plus, when every run carries a schedule
(:func:`scalelab.runs.curves.has_curves`), the annealing law fitted to every checkpoint of each
fold's fitting runs (no bootstrap; its band from the fold's own held-out refits,
:mod:`scalelab.laws.curve_misspec`), predicting the final loss of each held-out run under its own
schedule. The record compares the two laws' mean absolute relative errors on the runs both
predicted, names the winner and says why. A table without schedules gets no record (None).
``backtest --compare`` (:func:`select`) adds ``fit --form auto``'s schedule-aware comparison to
the form selection.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws.backtest import Backtest
from scalelab.laws.schedule_select import table_curves
from scalelab.runs.table import Runs, as_table

LAW = "annealing"


def backtest(runs: Runs, form: str, **kwargs) -> tuple[Backtest, Optional[dict]]:
    """The final-point backtest of ``form`` and the schedule-aware record (None without
    schedules)."""
    from scalelab.laws.select import backtest as final_backtest  # noqa: PLC0415 - same layer

    table = as_table(runs)
    result = final_backtest(table, form, **kwargs)
    return result, compare(table, result)


def select(runs: Runs, options) -> dict:
    """``backtest --compare``: every form scored over the selection's folds
    (:func:`scalelab.laws.select.select_form`, no bootstrap) and, on a table with schedules, the
    chosen form against the annealing law on the held-out runs of ``fit --form auto``'s
    comparison (``schedule_aware``: :func:`scalelab.laws.schedule_select.schedule_aware`, without
    fitting the winner to every run)."""
    from scalelab.laws.schedule_select import schedule_aware  # noqa: PLC0415 - same layer
    from scalelab.laws.select import fit_form, select_form  # noqa: PLC0415 - same layer

    table = as_table(runs)
    opts = options.replace(bootstrap=0)
    choice = select_form(table, options=opts)
    chosen = choice["chosen"]
    record = schedule_aware(
        table, chosen, lambda t: fit_form(t, chosen, options=opts.replace(grid=None)), carry=False
    )
    if record is not None:
        choice["schedule_aware"] = record
    return choice


def compare(table, result: Backtest) -> Optional[dict]:
    """The annealing law on each of ``result``'s folds, beside its final-point form."""
    curves, skipped = table_curves(table)
    if curves is None:
        return skipped
    from scalelab.laws.curves import fit_curves  # noqa: PLC0415 - paid only here

    by_id = {c.run_id: c for c in curves}
    level = result.options.get("level") or 0.95
    folds, notes = [], []
    for fold in result.folds:
        held = [by_id[p["run_id"]] for p in fold.predictions if p["run_id"] in by_id]
        if not held:
            continue
        held_ids = {c.run_id for c in held}
        if result.split in ("size", "largest"):
            fit = [c for c in curves if c.N < min(c.N for c in held)]
        else:
            fit = [c for c in curves if c.run_id not in held_ids]
        try:
            law = fit_curves(table, LAW, curves=fit, bootstrap=0, level=level)
        except (InputError, NumericalError) as exc:
            notes.append(f"{fold.held_out}: {'; '.join(exc.problems)}")
            continue
        final = {p["run_id"]: p for p in fold.predictions}
        rows = []
        for c in held:
            centre, lo, hi = law.predict(c.N, c.lr, [c.final_step], band=True)
            truth = float(c.loss[-1])
            rows.append(
                {
                    "run_id": c.run_id,
                    "N": float(c.N),
                    "loss": truth,
                    "predicted": float(centre[0]),
                    "rel_error": float(centre[0] / truth - 1),
                    "interval": [float(lo[0]), float(hi[0])],
                    "covered": bool(lo[0] <= truth <= hi[0]),
                    "final_point_rel_error": final[c.run_id]["rel_error"],
                }
            )
        folds.append({"held_out": fold.held_out, "fit_runs": len(fit), "predictions": rows})
    preds = [p for f in folds for p in f["predictions"]]
    if not preds:
        return {"skipped": "no fold could be fitted: " + "; ".join(notes)}
    errors = {
        LAW: float(np.mean([abs(p["rel_error"]) for p in preds])),
        result.form: float(np.mean([abs(p["final_point_rel_error"]) for p in preds])),
    }
    winner = min(errors, key=lambda k: errors[k])
    other = next(k for k in errors if k != winner)
    return {
        "law": LAW,
        "folds": folds,
        "notes": notes,
        "n_predictions": len(preds),
        "mean_abs_rel_error": errors,
        "max_abs_rel_error": float(max(abs(p["rel_error"]) for p in preds)),
        "coverage": float(np.mean([p["covered"] for p in preds])),
        "level": level,
        "winner": winner,
        "why": (
            f"on the same {len(preds)} held-out runs, {winner} predicted the final losses within "
            f"{errors[winner]:.2%} (mean), {other} within {errors[other]:.2%}"
        ),
    }
