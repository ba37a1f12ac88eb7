"""Two-step prediction of a task's accuracy at a target (N, D): step 1 a scaling law for the
intermediate loss, step 2 the link from that loss to accuracy (:mod:`scalelab.tasks.links`).

Step 1 is any built-in law form fitted with :func:`scalelab.laws.fit` to each run's final point
(the intermediate in place of the loss). Step 2 is fitted to every evaluation point. Intervals go
through both steps: for each bootstrap replicate (runs resampled, all points of a run together)
the replicate's step-1 law predicts the intermediate, times the scatter of single runs about the
law (log-normal, sd ``sigma`` of step 1), and the replicate's link turns it into accuracy, plus the
scatter of single evaluations about the link (normal, sd of step 2's residuals). The two steps'
replicates are drawn independently. The single-step alternative fits the same link to accuracy
against -log10(C) directly, on the final points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.runs.table import Runs, RunTable, as_table
from scalelab.tasks import data as taskdata
from scalelab.tasks.links import LinkFit, fit_link

DEFAULT_BOOTSTRAP = 200
STEP1_MAX_ITER = 300
"""L-BFGS iterations of step 1 (a few runs, coarse grid: the best start converges well before)."""


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


@dataclass
class Chain:
    """Both fitted steps of one task (what backtests and the report reuse)."""

    law: Any  # scalelab.laws.Law of the intermediate
    link: LinkFit
    single: Optional[LinkFit]
    chance: float
    points: pd.DataFrame

    def intermediate(self, N, D) -> np.ndarray:
        return np.asarray(self.law.predict(**variables_at(self.law, N, D)), dtype=float)


def variables_at(law, N, D) -> dict:
    N = np.asarray(N, dtype=float)
    D = np.asarray(D, dtype=float)
    all_vars = {"N": N, "D": D, "C": 6.0 * N * D}
    return {v: all_vars[v] for v in law.law_form.variables}


def fit_chain(
    points: pd.DataFrame,
    chance: float,
    *,
    link: str = "sigmoid",
    form: str = "chinchilla",
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
    source: str = "<memory>",
    cache: Optional[dict] = None,
) -> Chain:
    """Fit step 1 (``form`` on each run's final intermediate) and step 2 (``link`` on every
    point) to a task's points (:func:`scalelab.tasks.data.task_points`). ``cache`` (a dict)
    keeps step-1 laws by their input, so tasks sharing an intermediate (``through="loss"``) fit
    step 1 once."""
    from scalelab import laws  # noqa: PLC0415 - the fitting engine, loaded when fitting

    ok = np.isfinite(points["x"].to_numpy(dtype=float))
    pts = points[ok]
    final = taskdata.finals(pts)
    step1 = RunTable.from_frame(
        final[["run_id", "N", "D", "C"]].assign(loss=final["x"].to_numpy()), source
    )
    key = (form, bootstrap, seed, level, final[["run_id", "N", "D", "x"]].to_csv(index=False))
    law = cache.get(key) if cache is not None else None
    law = law or laws.fit(
        step1,
        form,
        bootstrap=bootstrap,
        seed=seed,
        level=level,
        grid=coarse_grid(form),
        max_iter=STEP1_MAX_ITER,
    )
    if cache is not None:
        cache[key] = law
    two = pts[np.isfinite(pts["accuracy"].to_numpy(dtype=float))]
    codes = pd.factorize(two["run_id"].astype(str))[0]
    link_fit = fit_link(
        link,
        two["x"].to_numpy(dtype=float),
        two["accuracy"].to_numpy(dtype=float),
        chance,
        codes,
        bootstrap,
        seed + 1,
    )
    single = None
    fin = taskdata.finals(two)
    if len(fin) >= 4:
        try:
            single = fit_link(
                "sigmoid",
                -np.log10(fin["C"].to_numpy(dtype=float)),
                fin["accuracy"].to_numpy(dtype=float),
                chance,
                np.arange(len(fin)),
                bootstrap,
                seed + 2,
            )
        except NumericalError:
            single = None
    return Chain(law, link_fit, single, chance, pts)


def coarse_grid(form: str) -> Optional[dict]:
    """Every other value of the form's default initialisation grid (``chinchilla``: 243 of 4,500
    starts): one task's step 1 has a handful of runs, and the bootstrap starts warm."""
    from scalelab.laws import forms  # noqa: PLC0415

    if form == "auto":  # form selection backtests every candidate on its own grid
        return None
    return {p.name: list(p.grid)[::2] for p in forms.get(form).params}


def _pct(values: np.ndarray, level: float) -> Optional[list]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def chain_prediction(
    chain: Chain, N: float, D: float, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Accuracy, its interval, the intermediate and its interval at (N, D)."""
    law, link = chain.law, chain.link
    x_hat = float(chain.intermediate(N, D))
    acc_hat = float(link.predict([x_hat])[0])
    out: dict[str, Any] = {"accuracy": acc_hat, "x": x_hat, "interval": None, "x_interval": None}
    if law.samples is None or link.samples is None or not len(law.samples) or not len(link.samples):
        return out
    rng = np.random.default_rng(seed + 3)
    m = min(len(law.samples), len(link.samples))
    with np.errstate(over="ignore", invalid="ignore"):
        xs = np.asarray(law.law_form.predict(law.samples[:m], **variables_at(law, N, D)), float)
    sigma1 = float(law.scatter.get("sigma", 0.0) or 0.0)
    xs = xs * np.exp(sigma1 * rng.standard_normal(m))
    acc = link.predict_pairs(xs, link.samples[:m]) + link.residual_sd * rng.standard_normal(m)
    out["x_interval"] = _pct(xs, level)
    interval = _pct(np.clip(acc, 0.0, 1.0), level)
    out["interval"] = interval
    return out


def predict(
    runs: Runs,
    task="all",
    *,
    N: float,
    D: float,
    through: str = "task_loss",
    link: str = "sigmoid",
    form: str = "chinchilla",
    average: Optional[Sequence[str]] = None,
    average_name: str = "average",
    bucket: Optional[Sequence[str]] = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> list[TaskPrediction]:
    """Predict each task's accuracy at (N, D) through the intermediate ``through``.

    Args:
        runs: a task table (RunTable, DataFrame or path; see :mod:`scalelab.runs.tasktable`).
        task: a task name, a list of names, or ``"all"``.
        N, D: the target model's parameters and tokens.
        through: ``task_loss`` (the task's own loss) or ``loss`` (the general held-out loss).
        link: ``sigmoid`` (Bhagia) or ``exp`` (Gadre).
        form: the step-1 law form (any built-in, see ``scalelab forms``).
        average: tasks whose mean accuracy is also predicted, as task ``average_name``.
        bucket: difficulty buckets to predict separately (each task's whole-task row too).
        bootstrap: run-level resamples for the intervals (0: no intervals).
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
    target = {"N": float(N), "D": float(D), "C": 6.0 * float(N) * float(D)}
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
        )
    except NumericalError as exc:
        result.predictable = False
        result.reason = f"the fit failed: {'; '.join(exc.lines)}"
        return result
    at = chain_prediction(chain, target["N"], target["D"], level, seed)
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
        "warnings": list(law.warnings),
    }
    result.step2 = _link_dict(chain.link, level)
    if chain.single is not None:
        single = chain.single
        acc = float(single.predict([-np.log10(target["C"])])[0])
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
        "params": dict(fit.params),
        "ci": {k: _pct(np.asarray(v), level) for k, v in samples.items()},
        "n_points": fit.n_points,
        "residual_sd": fit.residual_sd,
    }


def _unit(points: pd.DataFrame, through: str) -> str:
    return "nats/token" if through == "loss" else str(points.attrs.get("unit", "as given"))
