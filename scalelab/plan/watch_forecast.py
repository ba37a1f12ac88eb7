"""A running job's final loss, forecast from its curve so far with a learning-curve law.

``scalelab watch RUN --forecast LAW.json`` (a law written by ``scalelab curves -o``): the law's
curve for the run's size and full schedule, re-levelled to the run's own evaluations after the
warm-up cut (:meth:`scalelab.laws.curves.CurveLaw.forecast`), with its interval. It needs the
run's schedule on its rows (what ``scalelab train`` and the ladder record); without it, or before
the first evaluation past the warm-up cut, the forecast is ``None`` with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from scalelab.errors import InputError, ScalelabError
from scalelab.laws.curves import CurveLaw
from scalelab.runs.curves import has_curves, learning_curves
from scalelab.runs.table import RunTable


def load_curve_law(path: str) -> CurveLaw:
    """A learning-curve law file (``scalelab curves -o LAW.json``)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"--forecast {path}: not a readable JSON law file ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"--forecast {path}: expected a learning-curve law (a JSON object)")
    return CurveLaw.from_dict(data)


def forecast_final(
    table: RunTable, law: CurveLaw, run_id: str, eval_set: Optional[str] = None
) -> dict:
    """{"loss", "lo", "hi", ...} of the run's final loss, or {"loss": None, "reason": ...}."""
    one = table.with_data(table.data[table.data["run_id"].astype(str) == run_id])
    if not has_curves(one):
        return {
            "loss": None,
            "reason": "the run's rows carry no schedule (step, schedule, lr, "
            "total_steps) or per-step lr_step",
        }
    try:
        curve = learning_curves(one, eval_set)[0]
        return law.forecast(curve)
    except ScalelabError as exc:
        return {"loss": None, "reason": "; ".join(exc.problems)}
