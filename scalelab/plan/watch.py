"""Monitor a run: compare its learning curve with the curve its law predicts, flag departures.

For every evaluation point (tokens D so far, or step S for a law in N and S) the law predicts a
loss; the band around it is the law's bootstrap interval (when it has samples) widened by a
relative ``tolerance``. A point is

* ``diverged`` -- its loss is not a finite number (NaN, inf): the run has blown up;
* ``spike`` -- its loss rose by more than ``spike`` (relative) over the previous point;
* ``above`` / ``below`` -- outside the band;
* ``warmup`` -- before ``skip`` of the run's tokens: not judged (early losses follow no power law);
* ``ok`` otherwise.

The run *departs* when ``patience`` consecutive judged points are above (or below) the band: a
diverging run, a mis-set learning rate, a data problem -- or a law that does not apply. Note that
a law fitted to *final* losses predicts what a run trained to D tokens ends at; mid-run points of a
run with a decaying learning rate sit somewhat above it, which the tolerance absorbs (the seeds'
checklist: watch that training follows its expected power law).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.laws import Conventions, Law
from scalelab.plan.watch_options import (  # noqa: F401 (EXIT_DEPARTURE: read from here too)
    DEFAULT_PATIENCE,
    DEFAULT_SKIP,
    DEFAULT_SPIKE,
    DEFAULT_TOLERANCE,
    EXIT_DEPARTURE,
)
from scalelab.runs.table import TEXT_COLUMNS, RunTable, _format_of, read_table


@dataclass
class Watch:
    run_id: str
    law: str
    verdict: str  # ok, departed-above, departed-below, diverged
    points: list[dict]
    first_departure: Optional[dict] = None
    counts: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    forecast: Optional[dict] = (
        None  # the final loss a learning-curve law forecasts (watch_forecast)
    )

    def to_dict(self) -> dict:
        return asdict(self)


def _diverged_points_have_tokens(frame: pd.DataFrame, bad, path: str, columns: dict) -> None:
    """A row kept aside for its non-finite loss is a diverged evaluation: it still needs its D (or
    C); a row with neither is a broken row, not a divergence."""
    where = np.zeros(len(frame), dtype=bool)
    for name in ("D", "C"):
        column = columns.get(name, name)
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
            where |= np.isfinite(values) & (values > 0)
    lacking = np.flatnonzero(np.asarray(bad) & ~where)
    if len(lacking):
        raise InputError(
            f"{path}: row {lacking[0] + 1}: no finite loss and no D or C; a diverged evaluation "
            f"keeps its D ({len(lacking)} such row(s))"
        )


def read_curve(path, columns=None):
    """Read a learning-curve table like :func:`~scalelab.runs.read_table`, but keep evaluation
    points
    whose loss is NaN or infinite (a diverged run) aside instead of rejecting the file.

    Returns (RunTable of the finite points, DataFrame of the non-finite ones)."""
    path = str(path)
    fmt = _format_of(Path(path))
    try:
        frame = (
            pd.read_csv(path, dtype={c: object for c in TEXT_COLUMNS})
            if fmt == "csv"
            else pd.read_json(path, lines=True, dtype=False)
            if fmt == "jsonl"
            else None
        )
    except Exception:  # let the ordinary reader produce its one-line error
        frame = None
    if frame is None:
        return read_table(path, columns), pd.DataFrame()
    loss_col = (columns or {}).get("loss", "loss")
    if loss_col not in frame.columns:
        return read_table(path, columns), pd.DataFrame()
    values = pd.to_numeric(frame[loss_col], errors="coerce")
    text = frame[loss_col].astype(str).str.strip().str.lower()
    bad = (~np.isfinite(values.to_numpy(dtype=float))) & (
        text.isin(["nan", "inf", "-inf", "infinity"]) | frame[loss_col].isna()
    )
    if not bad.any():
        return read_table(path, columns), pd.DataFrame()
    _diverged_points_have_tokens(frame, bad, path, columns or {})
    good = frame[~bad]
    if len(good) == 0:
        raise InputError(f"{path}: every loss is NaN or infinite; nothing to compare with the law")
    return RunTable.from_frame(good, path, columns), frame[bad].rename(
        columns={v: k for k, v in (columns or {}).items()}
    )


def band(law: Law, X: dict, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The law's percentile interval at each point (one (lo, hi) per point, over its bootstrap
    samples); the prediction itself when the law has no samples."""
    if law.samples is None or not len(law.samples):
        return pred.copy(), pred.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.asarray(law.law_form.predict(law.samples, **X), dtype=float)
    values = values.reshape(len(law.samples), -1)
    values[~np.isfinite(values)] = np.nan
    tail = 50.0 * (1.0 - law.level)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point no sample could predict
        lo, hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
    lo, hi = np.where(np.isfinite(lo), lo, pred), np.where(np.isfinite(hi), hi, pred)
    return np.minimum(lo, pred), np.maximum(hi, pred)


def watch(
    table,
    law: Law,
    *,
    run_id: Optional[str] = None,
    nonfinite=None,
    tolerance: float = DEFAULT_TOLERANCE,
    spike: float = DEFAULT_SPIKE,
    skip: float = DEFAULT_SKIP,
    patience: int = DEFAULT_PATIENCE,
    params: str = "non-embedding",
    flops: str = "6ND",
    eval_set: Optional[str] = None,
    law_name: str = "law",
) -> Watch:
    """Judge every evaluation point of one run of ``table`` against ``law`` (see module doc)."""
    _check_settings(tolerance, spike, skip, patience)
    run_id = _pick_run(table, run_id)
    data = table.data
    one = table.with_data(data[data["run_id"].astype(str) == run_id])
    one = one.select(eval_set=eval_set, points="all", keep_unfinished=True)
    bcrit = (law.conventions or {}).get("bcrit", "kaplan-2020")  # S is S_min as the law's fit
    variables = Conventions(params, flops, bcrit).variables(one)
    form = law.law_form
    missing = [v for v in form.variables if v not in variables]
    if missing:
        raise InputError(
            f"{table.source}: law of form '{law.form}' needs {', '.join(missing)} for each "
            "evaluation point"
        )
    variables, loss_all = _with_nonfinite(variables, one, nonfinite, run_id)
    order = np.argsort(variables["D"], kind="stable")
    X = {v: np.asarray(variables[v], dtype=float)[order] for v in form.variables}
    loss = loss_all[order]
    D = np.asarray(variables["D"], dtype=float)[order]
    pred = np.atleast_1d(law.predict(**X))
    lo, hi = band(law, X, pred)
    lo, hi = lo * (1.0 - tolerance), hi * (1.0 + tolerance)
    points = [
        {
            "D": float(D[i]),
            **{v: float(X[v][i]) for v in form.variables if v != "D"},
            "loss": float(loss[i]),
            "predicted": float(pred[i]),
            "band": [float(lo[i]), float(hi[i])],
            "rel_error": float(loss[i] / pred[i] - 1.0) if np.isfinite(loss[i]) else None,
        }
        for i in range(len(loss))
    ]
    verdict, first, counts = _judge(points, loss, D, lo, hi, skip, spike, patience)
    return Watch(
        run_id,
        law_name,
        verdict,
        points,
        first,
        counts,
        {
            "tolerance": tolerance,
            "spike": spike,
            "skip": skip,
            "patience": patience,
            "interval": law.samples is not None and len(law.samples) > 0,
            "params": params,
            "flops": flops,
        },
    )


def _check_settings(tolerance: float, spike: float, skip: float, patience: int) -> None:
    problems = []
    if not tolerance >= 0:
        problems.append(f"tolerance: expected a non-negative fraction, got {tolerance}")
    if not spike > 0:
        problems.append(f"spike: expected a positive fraction, got {spike}")
    if not 0 <= skip < 1:
        problems.append(f"skip: expected a fraction in [0, 1), got {skip}")
    if patience < 1:
        problems.append(f"patience: expected at least 1, got {patience}")
    if problems:
        raise InputError(problems)


def _pick_run(table, run_id: Optional[str]) -> str:
    """The run to watch: ``run_id``, or the table's only run."""
    ids = sorted(map(str, table.data["run_id"].unique()))
    if run_id is None:
        if len(ids) > 1:
            raise InputError(
                f"{table.source}: {len(ids)} runs in the table; choose one with --run "
                f"({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
            )
        return ids[0]
    if run_id not in ids:
        raise InputError(f"{table.source}: no run '{run_id}'; runs: {', '.join(ids[:10])}")
    return run_id


def _with_nonfinite(variables: dict, one, nonfinite, run_id: str) -> tuple[dict, np.ndarray]:
    """The variables and losses of the run's points, with its NaN/inf points appended (judged
    "diverged" at their D: from a D column, else step times tokens per step, else just past the
    last point)."""
    extra = None
    if nonfinite is not None and len(nonfinite):
        extra = (
            nonfinite[nonfinite["run_id"].astype(str) == run_id]
            if "run_id" in nonfinite
            else nonfinite
        )
    if extra is None or not len(extra):
        return variables, one["loss"].astype(float)
    N0 = float(np.asarray(variables["N"])[0])
    ref_d = np.asarray(variables["D"], dtype=float)
    per_step = (
        float(np.median(ref_d / np.asarray(variables["S_raw"], dtype=float)))
        if "S" in variables
        else 1.0
    )
    if "D" in extra:
        d_extra = extra["D"].astype(float).to_numpy()
    elif "step" in extra and "S" in variables:
        d_extra = extra["step"].astype(float).to_numpy() * per_step
    else:
        d_extra = np.full(len(extra), ref_d.max() * 1.0001)
    variables = {
        k: np.concatenate(
            [
                np.asarray(v, dtype=float),
                d_extra
                if k == "D"
                else d_extra / per_step
                if k in ("S", "S_raw")
                else 6.0 * N0 * d_extra
                if k == "C"
                else np.full(len(extra), N0),
            ]
        )
        for k, v in variables.items()
    }
    return variables, np.concatenate([one["loss"].astype(float), np.full(len(extra), np.nan)])


def _judge(points: list[dict], loss, D, lo, hi, skip: float, spike: float, patience: int):
    """Give each point (in order of D) its status; return the verdict, the first point of the
    departure (or divergence) and the count of each status."""
    run_above, run_below = 0, 0
    first, verdict = None, "ok"
    counts: dict[str, int] = {}
    for i, point in enumerate(points):
        status = "ok"
        if not np.isfinite(loss[i]):
            status = "diverged"
        elif D[i] < skip * D.max():
            status = "warmup"
        elif i > 0 and np.isfinite(loss[i - 1]) and loss[i] > loss[i - 1] * (1.0 + spike):
            status = "spike"
        elif loss[i] > hi[i]:
            status = "above"
        elif loss[i] < lo[i]:
            status = "below"
        run_above = run_above + 1 if status in ("above", "spike") else 0
        run_below = run_below + 1 if status == "below" else 0
        counts[status] = counts.get(status, 0) + 1
        point["status"] = status
        if status == "diverged" and verdict != "diverged":
            verdict, first = "diverged", first or point
        elif verdict == "ok" and run_above >= patience:
            verdict, first = "departed-above", points[i - patience + 1]
        elif verdict == "ok" and run_below >= patience:
            verdict, first = "departed-below", points[i - patience + 1]
    return verdict, first, counts
