"""Backtests of the two-step chain: fit both steps on the small runs, predict the held-out large
ones, and report three errors per task, since errors of the two steps can cancel:

* step 1 alone: the relative error of the predicted intermediate, (predicted - true) / true;
* step 2 alone: the link fed the held-out run's *true* intermediate, minus its true accuracy;
* the chain: the link fed step 1's prediction, minus the true accuracy;

and, for comparison, the single-step fit's error (accuracy against -log10 C, no intermediate).

Accuracy errors are absolute (fractions); each is the mean over held-out runs of its final point,
with the per-run values kept. Every held-out run also gets the chain's interval at ``level``
(:func:`scalelab.tasks.chain.chain_prediction`) and whether it covers the run's accuracy
(``coverage``: the fraction covered; ``width``: the intervals' mean width).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.runs.table import Runs, as_table
from scalelab.tasks import data as taskdata
from scalelab.tasks.chain import (
    chain_prediction,
    fit_chain,
    flops,
)
from scalelab.tasks.links import TOP
from scalelab.tasks.options import SKIP, SMOOTH, STEP1_POINTS

SPLITS = ("size", "compute")


@dataclass
class TaskBacktest:
    """One task's backtest; plain data (``to_dict``)."""

    task: str
    held_out: str
    predictable: bool
    reason: Optional[str] = None
    step1_rel_error: Optional[float] = None
    step2_error: Optional[float] = None
    chain_error: Optional[float] = None
    single_step_error: Optional[float] = None
    coverage: Optional[float] = None
    level: Optional[float] = None
    width: Optional[float] = None
    link: Optional[str] = None
    form: Optional[str] = None
    runs: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> TaskBacktest:
        return cls(**d)


def held_out_mask(points: pd.DataFrame, split: str, threshold: Optional[float], ratio: float):
    """Rows of held-out runs, and a description: the largest N (or N above ``threshold``), or C
    above a threshold (default: the largest C / ``ratio``)."""
    if split not in SPLITS:
        raise InputError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    final = taskdata.finals(points).set_index("run_id")
    if split == "size" and threshold is not None:
        held = set(final.index[final["N"] > threshold])
        what = f"runs with N > {threshold:.3g}"
    elif split == "size":
        top = float(final["N"].max())
        held = set(final.index[final["N"] >= top])
        what = f"the largest size (N={top:.3g})"
    else:
        limit = threshold if threshold is not None else float(final["C"].max()) / ratio
        held = set(final.index[final["C"] > limit])
        what = f"runs with C > {limit:.3g}"
    return points["run_id"].isin(held).to_numpy(), what


def backtest(
    runs: Runs,
    task="all",
    *,
    through: str = "task_loss",
    link: str = "auto",
    form: str = "auto",
    split: str = "size",
    threshold: Optional[float] = None,
    ratio: float = 10.0,
    average: Optional[Sequence[str]] = None,
    average_name: str = "average",
    bucket: Optional[str] = None,
    bootstrap: int = 0,
    level: float = 0.95,
    seed: int = 0,
    smooth: int = SMOOTH,
    skip: float = SKIP,
    top: float = TOP,
    step1_points: str = STEP1_POINTS[0],
) -> list[TaskBacktest]:
    """Hold out the largest size (``split="size"``; with ``threshold``, every N above it) or the
    runs above a compute ``threshold`` (default: the largest run's C / ``ratio``), fit both steps
    on the rest, and score per task the errors of step 1 alone, step 2 alone and the chain, and
    the coverage of the chain's intervals at ``level`` (``bootstrap``: resamples of both steps'
    parameters in them)."""
    table = as_table(runs)
    jobs = [
        (name, taskdata.task_points(table, name, through, bucket))
        for name in taskdata.resolve_tasks(table, task)
    ]
    if average:
        tasks = taskdata.resolve_tasks(table, list(average))
        jobs.append((average_name, taskdata.averaged(table, tasks, through, average_name)))
    cache: dict = {}  # step-1 laws by input: tasks sharing an intermediate fit it once
    return [
        backtest_points(
            pts,
            name,
            link,
            form,
            split,
            threshold,
            ratio,
            table.source,
            bootstrap,
            level,
            seed,
            smooth=smooth,
            skip=skip,
            top=top,
            step1_points=step1_points,
            cache=cache,
        )  # fmt: skip
        for name, pts in jobs
    ]


def backtest_points(
    points: pd.DataFrame,
    task: str,
    link: str,
    form: str,
    split: str,
    threshold: Optional[float],
    ratio: float,
    source: str,
    bootstrap: int = 0,
    level: float = 0.95,
    seed: int = 0,
    *,
    smooth: int = SMOOTH,
    skip: float = SKIP,
    top: float = TOP,
    step1_points: str = STEP1_POINTS[0],
    cache: Optional[dict] = None,
) -> TaskBacktest:
    """One task's backtest from its points (``cache``: step-1 laws by input, as in
    :func:`scalelab.tasks.chain.fit_chain`)."""
    held, what = held_out_mask(points, split, threshold, ratio)
    result = TaskBacktest(task, what, True)
    if held.all() or not held.any():
        result.predictable = False
        result.reason = f"holding out {what} leaves {'no' if held.all() else 'every'} run to fit"
        return result
    fit_pts, test_pts = points[~held], points[held]
    chance = taskdata.chance_of(points, task, source)
    sn = taskdata.signal_noise(fit_pts, chance)
    if not sn.predictable:
        result.predictable, result.reason = False, sn.reason
        return result
    try:
        chain = fit_chain(
            fit_pts,
            chance,
            link=link,
            form=form,
            bootstrap=bootstrap,
            seed=seed,
            level=level,
            source=f"{source} [{task}]",
            smooth=smooth,
            skip=skip,
            top=top,
            step1_points=step1_points,
            cache=cache,
        )
    except NumericalError as exc:
        result.predictable = False
        result.reason = f"the fit failed: {'; '.join(exc.lines)}"
        return result
    final = taskdata.finals(test_pts)
    final = final[np.isfinite(final["x"]) & np.isfinite(final["accuracy"])]
    if len(final) == 0:
        result.predictable, result.reason = False, "the held-out runs have no final point"
        return result
    x_true = final["x"].to_numpy(dtype=float)
    acc_true = final["accuracy"].to_numpy(dtype=float)
    x_pred = chain.intermediate(final["N"].to_numpy(float), final["D"].to_numpy(float))
    step1 = (x_pred - x_true) / x_true
    step2 = chain.link.predict(x_true) - acc_true
    whole = chain.link.predict(x_pred) - acc_true
    result.step1_rel_error = float(np.mean(np.abs(step1)))
    result.step2_error = float(np.mean(np.abs(step2)))
    result.chain_error = float(np.mean(np.abs(whole)))
    single = np.full(len(final), np.nan)
    if chain.single is not None:  # the single-step fit, accuracy against -log10(C), compared
        c = flops(chain.law, final["N"].to_numpy(float), final["D"].to_numpy(float))["C"]
        single = chain.single.predict(-np.log10(c)) - acc_true
        result.single_step_error = float(np.mean(np.abs(single)))
    result.runs = [
        {
            "run_id": str(r),
            "N": float(n),
            "D": float(d),
            "intermediate": float(xt),
            "intermediate_pred": float(xp),
            "accuracy": float(at),
            "step1_rel_error": float(e1),
            "step2_error": float(e2),
            "chain_error": float(e3),
            "single_step_error": float(e4) if np.isfinite(e4) else None,
        }
        for r, n, d, xt, xp, at, e1, e2, e3, e4 in zip(
            final["run_id"],
            final["N"],
            final["D"],
            x_true,
            x_pred,
            acc_true,
            step1,
            step2,
            whole,
            single,
            strict=True,
        )
    ]
    result.level, result.link, result.form = level, chain.link.link, chain.law.form
    covered, widths = [], []
    for run in result.runs:
        try:
            interval = chain_prediction(chain, run["N"], run["D"], level, seed)["interval"]
        except NumericalError:
            interval = None
        run["interval"] = interval
        run["covered"] = None if interval is None else interval[0] <= run["accuracy"] <= interval[1]
        if interval is not None:
            covered.append(run["covered"])
            widths.append(interval[1] - interval[0])
    result.coverage = float(np.mean(covered)) if covered else None
    result.width = float(np.mean(widths)) if widths else None
    return result
