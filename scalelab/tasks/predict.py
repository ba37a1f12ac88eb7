"""Two-step prediction of a task's accuracy at a target (N, D): step 1 a scaling law for the
intermediate loss, step 2 the link from that loss to accuracy (:mod:`scalelab.tasks.links`).

The fitting and the interval through both steps are in :mod:`scalelab.tasks.chain`, the link's
choice by backtest in :mod:`scalelab.tasks.select`. The single-step alternative fits a free
sigmoid of -log10(C) to accuracy directly, on the final points; C under the step-1 law's FLOP
convention (:mod:`scalelab.laws.conventions`).
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
    Chain,
    _pct,
    chain_prediction,
    fit_chain,
    flops,
    variables_at,
)
from scalelab.tasks.links import TOP, LinkFit
from scalelab.tasks.options import DEFAULT_BOOTSTRAP, SKIP, SMOOTH, STEP1_POINTS

__all__ = ["Chain", "TaskPrediction", "chain_prediction", "fit_chain", "predict", "variables_at"]


@dataclass
class TaskPrediction:
    """One task's (or bucket's, or average's) prediction; plain data (``to_dict``)."""

    task: str
    bucket: Optional[str]
    target: dict
    predictable: bool
    reason: Optional[str] = None
    accuracy: Optional[float] = None
    interval: Optional[list] = None
    level: float = 0.95
    intermediate: dict = field(default_factory=dict)
    step1: dict = field(default_factory=dict)
    step2: dict = field(default_factory=dict)
    single_step: dict = field(default_factory=dict)
    signal_noise: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> TaskPrediction:
        return cls(**d)


def predict(
    runs: Runs,
    task="all",
    *,
    N: float,
    D: float,
    through: str = "task_loss",
    link: str = "auto",
    form: str = "auto",
    average: Optional[Sequence[str]] = None,
    average_name: str = "average",
    bucket: Optional[Sequence[str]] = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
    smooth: int = SMOOTH,
    skip: float = SKIP,
    top: float = TOP,
    step1_points: str = STEP1_POINTS[0],
) -> list[TaskPrediction]:
    """Predict each task's accuracy at (N, D) through the intermediate ``through``.

    Args:
        runs: a task table (RunTable, DataFrame or path; see :mod:`scalelab.runs.tasktable`).
        task: a task name, a list of names, or ``"all"``.
        N, D: the target model's parameters and tokens.
        through: ``task_loss`` (the task's own loss) or ``loss`` (the general held-out loss).
        link: ``auto`` (chosen per task by backtest over held-out sizes), ``sigmoid`` (both ends
            pinned), ``olmo`` (Bhagia et al.'s, with the ideal point), ``exp`` (Gadre et al.'s),
            ``sigmoid-free`` (:mod:`scalelab.tasks.links`).
        form: the step-1 law form: ``auto`` (``fit --form auto``) or any built-in.
        average: tasks whose mean accuracy is also predicted, as task ``average_name``.
        bucket: difficulty buckets to predict separately (each task's whole-task row too).
        bootstrap: run-level resamples of both steps' parameters (0: the intervals keep step 1's
            prediction interval and step 2's measured error, without parameter resampling).
        smooth, skip: step 2's moving average (checkpoints) and warm-up skip (fraction of each
            run's tokens); top: the task's maximum accuracy at zero task loss.
        step1_points: ``auto`` (the default: ``final`` for a ladder with cool-down branches,
            else ``all``), ``all`` (every checkpoint after the ``skip``) or ``final`` (each run's
            final point).
    """
    table = as_table(runs)
    if not (N > 0 and D > 0):
        raise InputError(f"target: expected positive N and D, got N={N}, D={D}")
    if not 0 < level < 1:
        raise InputError(f"level: expected a number between 0 and 1, got {level}")
    jobs: list[tuple[str, Optional[str], pd.DataFrame]] = []
    names = taskdata.resolve_tasks(table, task)
    for b in bucket or []:
        if not any(b in taskdata.buckets_of(table, name) for name in names):
            raise InputError(
                f"{table.source}: bucket {b!r} not found in task(s) {', '.join(names)}"
            )
    for name in names:
        present = taskdata.buckets_of(table, name)
        for b in [None, *(b for b in bucket or [] if b in present)]:
            jobs.append((name, b, taskdata.task_points(table, name, through, b)))
    if average:
        tasks = taskdata.resolve_tasks(table, list(average))
        jobs.append((average_name, None, taskdata.averaged(table, tasks, through, average_name)))
    target = {"N": float(N), "D": float(D), "C": float(flops(None, N, D)["C"][0])}
    cache: dict = {}
    return [
        predict_points(
            pts,
            name,
            b,
            target,
            through=through,
            link=link,
            form=form,
            bootstrap=bootstrap,
            seed=seed,
            level=level,
            source=table.source,
            cache=cache,
            smooth=smooth,
            skip=skip,
            top=top,
            step1_points=step1_points,
        )
        for name, b, pts in jobs
    ]


def predict_points(
    points: pd.DataFrame,
    task: str,
    bucket: Optional[str],
    target: dict,
    *,
    through: str,
    link: str,
    form: str,
    bootstrap: int,
    seed: int,
    level: float,
    source: str,
    cache: Optional[dict] = None,
    smooth: int = SMOOTH,
    skip: float = SKIP,
    top: float = TOP,
    step1_points: str = STEP1_POINTS[0],
) -> TaskPrediction:
    """One task's prediction from its points (not predictable: a reason and no number)."""
    chance = taskdata.chance_of(points, task, source)
    sn = taskdata.signal_noise(points, chance)
    result = TaskPrediction(
        task, bucket, target, sn.predictable, sn.reason, level=level, signal_noise=sn.to_dict()
    )
    if not sn.predictable:
        return result
    try:
        chain = fit_chain(
            points,
            chance,
            link=link,
            form=form,
            bootstrap=bootstrap,
            seed=seed,
            level=level,
            source=f"{source} [{task}]",
            cache=cache,
            smooth=smooth,
            skip=skip,
            top=top,
            step1_points=step1_points,
        )
        at = chain_prediction(chain, target["N"], target["D"], level, seed)
    except NumericalError as exc:
        result.predictable = False
        result.reason = f"the fit failed: {'; '.join(exc.lines)}"
        return result
    result.accuracy = at["accuracy"]
    result.interval = at["interval"]
    result.intermediate = {
        "name": through,
        "value": at["x"],
        "interval": at["x_interval"],
        "unit": _unit(points, through),
    }
    law = chain.law
    result.step1 = {
        "form": law.form,
        "params": dict(law.params),
        "ci": {k: v for k, v in law.ci.items() if k in law.params},
        "n_runs": law.n_runs,
        "sigma": law.scatter.get("sigma"),
        "log_sd": at["step1_log_sd"],
        "selection": (law.options.auto or {}).get("decision") if law.options else None,
        "warnings": list(law.warnings),
    }
    result.step2 = {
        **_link_dict(chain.link, level),
        "sd": at["step2_sd"],
        "selection": {k: v for k, v in chain.selection.items() if k != "candidates"},
        "smooth": smooth,
        "skip": skip,
    }
    if chain.single is not None:
        single = chain.single
        c = float(flops(law, target["N"], target["D"])["C"][0])
        acc = float(single.predict([-np.log10(c)])[0])
        result.single_step = {
            "accuracy": acc,
            "against": "-log10(C)",
            **_link_dict(single, level),
        }
    return result


def _link_dict(fit: LinkFit, level: float) -> dict:
    samples = fit.natural_samples()
    return {
        "link": fit.link,
        "chance": fit.chance,
        "top": fit.top,
        "params": dict(fit.params),
        "ci": {k: _pct(np.asarray(v), level) for k, v in samples.items()},
        "n_points": fit.n_points,
        "residual_sd": fit.residual_sd,
    }


def _unit(points: pd.DataFrame, through: str) -> str:
    return "nats/token" if through == "loss" else str(points.attrs.get("unit", "as given"))
