"""``fit --form auto`` on a table that carries learning-rate schedules: the schedule-aware laws
backtested beside the chosen final-point form (issue 22, item 5, a first step).

When every run of the table has a schedule (:func:`scalelab.runs.curves.has_curves`) and there
are at least 4 sizes, the largest size is held out, and both the chosen final-point form (on the
smaller sizes' final points) and the annealing law (on every checkpoint of the smaller sizes,
:func:`scalelab.laws.curves.fit_curves`, no bootstrap) predict the held-out runs' final losses.
The record (``law.options.auto["schedule_aware"]``) names the winner by mean absolute relative
error and says why; the law that ``fit`` returns stays the final-point form (``predict`` and the
report use it as before): the schedule-aware law is fitted with ``scalelab curves``. A table
without schedules gets no record, and ``fit --form auto`` is unchanged.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.runs.curves import has_curves, learning_curves
from scalelab.runs.table import RunTable

MIN_SIZES = 4
LAW = "annealing"


def schedule_aware(table: RunTable, chosen: str, fit_final) -> Optional[dict]:
    """The comparison record, or None when the table carries no schedules. ``fit_final(table)``
    fits the chosen final-point form to a table's final points."""
    if not has_curves(table):
        return None
    from scalelab.laws.curves import fit_curves  # noqa: PLC0415 - same layer, paid only here

    try:
        curves = learning_curves(table)
    except InputError as exc:
        return {"skipped": "the schedules do not give learning curves: " + "; ".join(exc.problems)}
    sizes = sorted({c.N for c in curves})
    if len(sizes) < MIN_SIZES:
        return {"skipped": f"{len(sizes)} sizes: the held-out-size comparison needs {MIN_SIZES}"}
    top = sizes[-1]
    held = [c for c in curves if c.N == top]
    small = table.with_data(table.data[table.data["N"] < top])
    truth = np.array([c.loss[-1] for c in held])
    errors = {}
    try:
        law = fit_final(small)
        D = np.array([_tokens(table, c) for c in held])
        pred = law.predict(N=np.array([c.N for c in held]), D=D)
        errors[chosen] = float(np.mean(np.abs(pred / truth - 1)))
    except (InputError, NumericalError) as exc:
        errors[chosen] = None
        why = "; ".join(exc.problems)
        return {"skipped": f"{chosen} on the smaller sizes: {why}"}
    try:
        cl = fit_curves(small, LAW, curves=[c for c in curves if c.N < top], bootstrap=0)
        pred = np.array([cl.predict(c.N, c.lr, [c.final_step])[0] for c in held])
        errors[LAW] = float(np.mean(np.abs(pred / truth - 1)))
    except (InputError, NumericalError) as exc:
        return {"skipped": f"{LAW} law on the smaller sizes: " + "; ".join(exc.problems)}
    winner = min(errors, key=lambda k: errors[k])
    other = next(k for k in errors if k != winner)
    return {
        "fold": f"largest size held out (N = {top:.4g}, {len(held)} runs)",
        "mean_abs_rel_error": errors,
        "winner": winner,
        "why": (
            f"{winner} predicted the held-out size's final losses within {errors[winner]:.2%} "
            f"(mean), {other} within {errors[other]:.2%}"
            + (
                "; fit every checkpoint with scalelab curves --law auto"
                if winner == LAW
                else "; the final-point form is kept"
            )
        ),
    }


def _tokens(table: RunTable, c) -> float:
    rows = table.data[table.data["run_id"].astype(str) == c.run_id]
    return float(rows.loc[rows["step"] == c.final_step, "D"].iloc[0])
