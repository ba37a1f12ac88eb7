"""Fit a scaling law to a run table (Hoffmann et al. 2022, approach 3, generalised to any form).

The default objective is Chinchilla's: the Huber loss (delta = 1e-3) of log-loss residuals, summed
over points, minimised by L-BFGS from *every* start of the form's initialisation grid (for
``chinchilla`` the published 4,500-start grid). All starts are advanced together by a batched
L-BFGS (:mod:`scalelab.laws.lbfgs`), which is what makes the full grid affordable.

The result says how sure it is:

* how many starts reached the best objective (to a relative 1e-6) and how the others ended;
* a warning when the best point sits on a parameter bound, or when the Gauss-Newton Hessian
  J^T J of the log-predictions is near-singular (a direction in parameter space the runs do not
  constrain);
* percentile bootstrap intervals, resampling *runs* (all rows of a run go together), for every
  parameter and for derived quantities: the exponents a, b of N_opt ~ C^a, D_opt ~ C^b and the
  tokens per parameter, N_opt, D_opt and loss at a chosen budget.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.laws import forms, lbfgs, optimal
from scalelab.laws.conventions import Conventions
from scalelab.laws.forms import Form, _numeric_jacobian
from scalelab.laws.law import Law, _percentiles
from scalelab.laws.objective import Objective
from scalelab.runs.table import RunTable, read_table

CHINCHILLA_BUDGET = 5.76e23
"""Gopher's (and Chinchilla's) training budget in FLOPs: the default budget for derived quantities."""
CONVERGED_RTOL = 1e-6
"""A start 'converged to the best' when its objective is within this relative distance of the best."""
ILL_CONDITIONED = 1e12
"""Condition number of the column-scaled J^T J above which a fit is reported as unidentifiable."""
BOOTSTRAP_STARTS = 4
"""Distinct minima of the full fit each bootstrap replicate starts from (the best one included)."""

Runs = Union[RunTable, pd.DataFrame, str, os.PathLike]


def as_table(runs: Runs) -> RunTable:
    """Accept a RunTable, a DataFrame or a path to a run table."""
    if isinstance(runs, RunTable):
        return runs
    if isinstance(runs, pd.DataFrame):
        return RunTable.from_frame(runs)
    return read_table(runs)


def fit(runs: Runs, form: Union[str, Form] = "chinchilla", *, loss: str = "huber", delta: float = 1e-3,
        grid: Optional[Mapping[str, Sequence[float]]] = None, bootstrap: int = 0, seed: int = 0,
        level: float = 0.95, params: str = "non-embedding", flops: str = "6ND",
        eval_set: Optional[str] = None, task: Optional[str] = None, points: Optional[str] = None,
        budget: float = CHINCHILLA_BUDGET, max_iter: int = 1000) -> Law:
    """Fit ``form`` to the runs and return the fitted :class:`~scalelab.laws.law.Law`.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        form: a registered form name (``chinchilla``, ``power:N``, ...) or a :class:`Form`; ``auto``
            chooses among the built-in forms by out-of-sample error (:func:`scalelab.laws.backtest.fit_auto`).
        loss: ``huber`` (default, with ``delta``) or ``mse``, on log-loss residuals.
        grid: override the initialisation grid, {internal parameter: values}.
        bootstrap: number of run-level bootstrap resamples (0: none).
        seed: seed of the bootstrap resampling.
        level: confidence level of the intervals.
        params, flops: parameter and FLOP conventions (see :mod:`scalelab.laws.conventions`).
        eval_set, task, points: which rows to fit (see :meth:`RunTable.select`).
        budget: the budget C (FLOPs) at which derived quantities (tokens/param, ...) are reported.
    """
    if isinstance(form, str) and form == "auto":        # choose the form by backtest (laws/backtest.py)
        from scalelab.laws.backtest import fit_auto

        return fit_auto(runs, loss=loss, delta=delta, grid=grid, bootstrap=bootstrap, seed=seed, level=level,
                        params=params, flops=flops, eval_set=eval_set, task=task, points=points, budget=budget,
                        max_iter=max_iter)
    table = as_table(runs)
    law_form = forms.get(form) if isinstance(form, str) else form
    conventions = Conventions(params, flops)
    if bootstrap < 0:
        raise InputError(f"bootstrap: expected a non-negative number of resamples, got {bootstrap}")
    if not 0 < level < 1:
        raise InputError(f"level: expected a confidence level between 0 and 1, got {level}")
    if not budget > 0:
        raise InputError(f"budget: expected a positive number of FLOPs, got {budget}")

    selected = table.select(eval_set=eval_set, task=task, points=points or law_form.points)
    variables = conventions.variables(selected)
    needs = [v for v in law_form.variables if v not in variables]
    if needs:
        raise InputError(f"{table.source}: form '{law_form.name}' needs " + ", ".join(
            "a step column (S)" if v == "S" else v for v in needs))
    if "S" in law_form.variables:
        positive = variables["S"] > 0
        if not positive.all():
            selected = selected.with_data(selected.data[positive], f"left out {int((~positive).sum())} row(s) at step 0")
            variables = conventions.variables(selected)
    X = {v: variables[v] for v in law_form.variables}
    y = selected["loss"].astype(float)
    _check_enough(law_form, X, y, table.source)

    logx = {v: np.log(x) for v, x in X.items()}
    logy = np.log(y)
    objective = Objective(law_form, logx, logy, None, loss, delta)
    x0 = law_form.grid(grid)
    result = lbfgs.minimize(objective.value_grad, x0, law_form.lower, law_form.upper, max_iter=max_iter)
    finite = np.isfinite(result.fun)
    if not finite.any():
        raise NumericalError(f"fit of '{law_form.name}' failed: no start reached a finite objective")
    best = int(np.argmin(np.where(finite, result.fun, np.inf)))
    f_best = float(result.fun[best])
    theta = result.x[best]
    at_best = finite & (result.fun - f_best <= CONVERGED_RTOL * abs(f_best)) & result.converged

    warnings: list[str] = []
    if not result.converged[best]:
        warnings.append(f"the best start stopped at the iteration limit ({max_iter}); the optimum may not be reached")
    warnings += _bound_warnings(law_form, theta)
    condition = _condition_number(law_form, theta, logx)
    if not condition < ILL_CONDITIONED:
        warnings.append(f"near-singular Hessian: the Gauss-Newton matrix J^T J has condition number {condition:.1e}; "
                        "some combination of parameters is not identified by these runs (see the intervals)")

    natural = {k: float(v) for k, v in law_form.natural(theta).items()}
    law = Law(
        form=law_form.name, params=natural, objective=f_best, n_points=int(len(y)), n_runs=selected.n_runs,
        starts={"n": int(len(x0)), "converged_to_best": int(at_best.sum()), "rtol": CONVERGED_RTOL,
                "status": {lbfgs.STATUS_NAMES[s]: int((result.status == s).sum()) for s in np.unique(result.status)},
                "condition_number": condition},
        warnings=warnings,
        options={"loss": loss, "delta": delta if loss == "huber" else None, "optimizer": "L-BFGS (batched, projected)",
                 "grid": {p.name: list(map(float, (grid or {}).get(p.name, p.grid))) for p in law_form.params},
                 "bounds": {p.name: [p.lower, p.upper] for p in law_form.params},
                 "bootstrap": int(bootstrap), "seed": int(seed), "level": float(level), "budget": float(budget),
                 "eval_set": eval_set, "task": task, "points": points or law_form.points, "max_iter": int(max_iter)},
        conventions=conventions.describe(),
        data={"source": table.source, "notes": list(selected.notes), "run_ids": sorted(map(str, set(selected.run_ids))),
              "ranges": {v: [float(x.min()), float(x.max())] for v, x in X.items()}},
        provenance={"formula": law_form.formula, "reference": law_form.reference},
    )
    law.derived = {k: float(v[0]) for k, v in _derived(law_form, theta[None, :], budget).items()}

    if bootstrap:
        _bootstrap(law, law_form, objective, result, selected.run_ids, bootstrap, seed, level, budget, max_iter)
    return law


def _check_enough(form: Form, X: Mapping[str, np.ndarray], y: np.ndarray, source: str) -> None:
    n, p = len(y), len(form.params)
    if n <= p:
        raise NumericalError(f"{source}: too few points to fit '{form.name}': {n} point(s) for {p} parameters "
                             f"(need at least {p + 1})")
    for v, x in X.items():
        if np.unique(x).size < 2:
            raise NumericalError(f"{source}: {v} takes a single value ({x[0]:g}); '{form.name}' needs runs that vary {v}")


def _bound_warnings(form: Form, theta: np.ndarray) -> list[str]:
    out = []
    for p, value in zip(form.params, theta):
        span = p.upper - p.lower
        for side, bound in (("lower", p.lower), ("upper", p.upper)):
            if abs(value - bound) <= 1e-6 * span:
                shown = p.to_natural(bound)
                what = (" (the irreducible loss is not identified: the runs are consistent with no floor)"
                        if p.natural == form.irreducible and side == "lower" else "")
                out.append(f"parameter {p.natural} sits on its {side} bound ({shown:.4g}){what}; "
                           "the fit is not identified in that direction")
    return out


def _condition_number(form: Form, theta: np.ndarray, logx) -> float:
    """Condition number of J^T J with J's columns scaled to unit norm (scale-free)."""
    _, jac = _numeric_jacobian(form.log_predict, theta[None, :], logx)
    J = jac[0]
    norms = np.linalg.norm(J, axis=0)
    if not np.all(norms > 0) or not np.all(np.isfinite(J)):
        return float("inf")
    sv = np.linalg.svd(J / norms, compute_uv=False)
    return float((sv[0] / sv[-1]) ** 2) if sv[-1] > 0 else float("inf")


def _derived(form: Form, theta: np.ndarray, budget: float) -> dict[str, np.ndarray]:
    """Exponents and the allocation at ``budget`` for each parameter row, where the form allows."""
    if set(form.variables) != {"N", "D"}:
        return {}
    a, b = optimal.exponents(form, theta)
    N, D = optimal.allocate(form, theta, np.array([budget]))
    N, D = N[:, 0], D[:, 0]
    ok = np.isfinite(N)
    loss = np.full(N.shape, np.nan)
    if ok.any():
        loss[ok] = form.predict_each(theta[ok], N=N[ok], D=D[ok])
    return {"a": a, "b": b, "N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss_at_budget": loss}


def _distinct_minima(result: lbfgs.BatchResult, best: int, limit: int) -> np.ndarray:
    """The best point and up to ``limit - 1`` other converged minima that differ from it."""
    f = np.where(np.isfinite(result.fun) & result.converged, result.fun, np.inf)
    chosen = [result.x[best]]
    for i in np.argsort(f):
        if len(chosen) >= limit or not np.isfinite(f[i]) or f[i] > 2.0 * f[best]:
            break
        if all(np.max(np.abs(result.x[i] - c)) > 1e-3 for c in chosen):
            chosen.append(result.x[i])
    return np.array(chosen)


def _bootstrap(law: Law, form: Form, objective: Objective, result: lbfgs.BatchResult, run_ids: np.ndarray,
               n_resamples: int, seed: int, level: float, budget: float, max_iter: int) -> None:
    """Refit on run-level resamples; store samples, intervals and failures in ``law``."""
    codes, unique = pd.factorize(pd.Series(run_ids).astype(str))
    n_runs = len(unique)
    if n_runs < 2:
        raise NumericalError("bootstrap needs at least two runs to resample")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_resamples)    # (B, runs)
    weights = counts[:, codes].astype(float)                                              # (B, n)
    best = int(np.argmin(np.where(np.isfinite(result.fun), result.fun, np.inf)))
    starts = _distinct_minima(result, best, BOOTSTRAP_STARTS)
    s = len(starts)
    boot = Objective(form, objective.logx, objective.logy, np.repeat(weights, s, axis=0),
                     objective.loss, objective.delta)
    res = lbfgs.minimize(boot.value_grad, np.tile(starts, (n_resamples, 1)), form.lower, form.upper,
                         max_iter=max_iter)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf).reshape(n_resamples, s)
    pick = np.argmin(fun, axis=1)
    rows = np.arange(n_resamples) * s + pick
    ok = np.isfinite(fun[np.arange(n_resamples), pick]) & res.converged[rows]
    samples = res.x[rows][ok]
    law.samples = samples
    natural = form.natural(samples)
    law.ci = {name: _percentiles(values, level) for name, values in natural.items()}
    for name, values in _derived(form, samples, budget).items():
        law.ci[name] = _percentiles(values, level)
    law.starts["bootstrap"] = {"resamples": int(n_resamples), "failed": int((~ok).sum()),
                               "starts_per_resample": int(s), "unit": "run"}
    if (~ok).sum() > 0.05 * n_resamples:
        law.warnings.append(f"{int((~ok).sum())} of {n_resamples} bootstrap refits did not converge; intervals use the rest")
    for p, values in zip(form.params, samples.T):
        on_bound = np.mean((np.abs(values - p.lower) <= 1e-6 * (p.upper - p.lower)) |
                           (np.abs(values - p.upper) <= 1e-6 * (p.upper - p.lower)))
        if on_bound > 0.1:
            law.warnings.append(f"parameter {p.natural} is on a bound in {on_bound:.0%} of bootstrap refits; "
                                "its interval is truncated by the bound")
