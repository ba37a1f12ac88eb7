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

from collections.abc import Mapping
from typing import Optional, Union

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.laws import forms, guards, intervals, lbfgs, misspec, optimal, points
from scalelab.laws.formkit import Form, _numeric_jacobian
from scalelab.laws.law import Law, _percentiles
from scalelab.laws.objective import Objective
from scalelab.laws.options import CHINCHILLA_BUDGET, DEFAULT_FORM, FitOptions
from scalelab.runs.table import Runs, as_table

__all__ = ["CHINCHILLA_BUDGET", "fit_form"]

CONVERGED_RTOL = 1e-6
"""A start 'converged to the best' when its objective is within this relative distance of the
best."""
ILL_CONDITIONED = 1e12
"""Condition number of the column-scaled J^T J above which a fit is reported as unidentifiable."""
BOOTSTRAP_STARTS = 4
"""Distinct minima of the full fit each bootstrap replicate starts from (the best one included)."""


def fit_form(
    runs: Runs,
    form: Union[str, Form] = DEFAULT_FORM,
    *,
    options: Optional[FitOptions] = None,
    **overrides,
) -> Law:
    """Fit one given ``form`` to the runs and return the fitted :class:`~scalelab.laws.law.Law`.

    :func:`scalelab.laws.fit` is the public entry (it also takes ``form="auto"``, see
    :mod:`scalelab.laws.select`); this is the fit of a named form it calls.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        form: a registered form name (``chinchilla``, ``power:N``, ...) or a :class:`Form`.
        options: the fit's choices (:class:`~scalelab.laws.options.FitOptions`); keyword
            arguments of the same names (``bootstrap=1000``, ``loss="mse"``, ...) replace fields.
    """
    opts = FitOptions.make(options, **overrides)
    if isinstance(form, str) and form == "auto":
        raise InputError(
            "form 'auto' chooses among forms: call scalelab.laws.fit (laws.select.fit)"
        )
    table = as_table(runs)
    law_form = forms.get(form) if isinstance(form, str) else form
    conventions = opts.conventions
    x0 = law_form.grid(opts.grid)
    opts = opts.resolved(law_form)

    selected, variables, X, y = _fit_data(table, law_form, opts, conventions)

    logx = {v: np.log(x) for v, x in X.items()}
    logy = np.log(y)
    objective = Objective(law_form, logx, logy, None, opts.loss, opts.delta)
    result = lbfgs.minimize(
        objective.value_grad, x0, law_form.lower, law_form.upper, max_iter=opts.max_iter
    )
    finite = np.isfinite(result.fun)
    if not finite.any():
        raise NumericalError(
            f"fit of '{law_form.name}' failed: no start reached a finite objective"
        )
    best = int(np.argmin(np.where(finite, result.fun, np.inf)))
    f_best = float(result.fun[best])
    theta = result.x[best]
    at_best = finite & (result.fun - f_best <= CONVERGED_RTOL * abs(f_best)) & result.converged

    warnings, condition = _fit_warnings(law_form, result, best, opts, selected.n_runs, logx)

    natural = {k: float(v) for k, v in law_form.natural(theta).items()}
    status = {
        lbfgs.STATUS_NAMES[s]: int((result.status == s).sum()) for s in np.unique(result.status)
    }
    law = Law(
        form=law_form.name,
        params=natural,
        objective=f_best,
        n_points=int(len(y)),
        n_runs=selected.n_runs,
        starts={
            "n": int(len(x0)),
            "converged_to_best": int(at_best.sum()),
            "rtol": CONVERGED_RTOL,
            "status": status,
            "condition_number": condition,
        },
        warnings=warnings,
        options=opts,
        conventions=conventions.describe(),
        data={
            "source": table.source,
            "notes": list(selected.notes),
            "run_ids": sorted(map(str, set(selected.run_ids))),
            "ranges": {v: [float(x.min()), float(x.max())] for v, x in X.items()},
            "compute": [float(variables["C"].min()), float(variables["C"].max())],
        },
        provenance={"formula": law_form.formula, "reference": law_form.reference},
    )
    law.derived = {
        k: float(v[0]) for k, v in _derived(law_form, theta[None, :], opts.budget).items()
    }
    law.warnings += guards.derived_warnings(law)

    law.scatter = intervals.scatter(
        law_form, theta, logx, logy, selected.run_ids, X.get("D", X.get("S"))
    )
    law.scatter["misspecification"] = misspec.heldout(
        law_form,
        objective,
        _distinct_minima(result, best, BOOTSTRAP_STARTS),
        selected.run_ids,
        X.get("D", X.get("S")),
        opts.max_iter,
    )
    law.scatter["max_log"] = misspec.max_log(law_form, logx)
    if opts.bootstrap:
        _bootstrap(law, law_form, objective, result, selected.run_ids, opts)
    return law


def _fit_data(table, law_form: Form, opts: FitOptions, conventions):
    """The rows a fit uses (selected, warm-up skipped, no step-0 rows for a form in S), their
    variables under ``conventions``, the form's X and the losses y."""
    selected = table.select(eval_set=opts.eval_set, task=opts.task, points=opts.points)
    selected = points.skip_warmup(selected, opts.points, opts.skip_first)
    variables = conventions.variables(selected)
    needs = [v for v in law_form.variables if v not in variables]
    if needs:
        raise InputError(
            f"{table.source}: form '{law_form.name}' needs "
            + ", ".join("a step column (S)" if v == "S" else v for v in needs)
        )
    if "S" in law_form.variables:
        positive = variables["S"] > 0
        if not positive.all():
            selected = selected.with_data(
                selected.data[positive], f"left out {int((~positive).sum())} row(s) at step 0"
            )
            variables = conventions.variables(selected)
        selected = selected.with_data(selected.data, conventions.steps_meaning())
    X = {v: variables[v] for v in law_form.variables}
    y = selected["loss"].astype(float)
    _check_enough(law_form, X, y, table.source)
    return selected, variables, X, y


def _fit_warnings(law_form: Form, result, best: int, opts: FitOptions, n_runs: int, logx):
    """The fit's warnings (iteration limit, bounds, too few runs, near-singular Hessian) and the
    condition number of its column-scaled J^T J."""
    theta = result.x[best]
    warnings: list[str] = []
    if not result.converged[best]:
        warnings.append(
            f"the best start stopped at the iteration limit ({opts.max_iter}); "
            "the optimum may not be reached"
        )
    warnings += _bound_warnings(law_form, theta)
    warnings += guards.fit_warnings(len(law_form.params), n_runs, law_form.name)
    condition = _condition_number(law_form, theta, logx)
    if not condition < ILL_CONDITIONED:
        warnings.append(
            f"near-singular Hessian: the Gauss-Newton matrix J^T J has condition number "
            f"{condition:.1e}; some combination of parameters is not identified by these "
            "runs (see the intervals)"
        )
    return warnings, condition


def _check_enough(form: Form, X: Mapping[str, np.ndarray], y: np.ndarray, source: str) -> None:
    n, p = len(y), len(form.params)
    if n <= p:
        raise NumericalError(
            f"{source}: too few points to fit '{form.name}': {n} point(s) for {p} parameters "
            f"(need at least {p + 1})"
        )
    for v, x in X.items():
        if np.unique(x).size < 2:
            raise NumericalError(
                f"{source}: {v} takes a single value ({x[0]:g}); '{form.name}' needs runs that "
                f"vary {v}"
            )


def _bound_warnings(form: Form, theta: np.ndarray) -> list[str]:
    out = []
    for p, value in zip(form.params, theta, strict=False):
        span = p.upper - p.lower
        for side, bound in (("lower", p.lower), ("upper", p.upper)):
            if abs(value - bound) <= 1e-6 * span:
                shown = p.to_natural(bound)
                what = (
                    " (the irreducible loss is not identified: the runs are consistent with no "
                    "floor)"
                    if p.natural == form.irreducible and side == "lower"
                    else ""
                )
                out.append(
                    f"parameter {p.natural} sits on its {side} bound ({shown:.4g}){what}; "
                    "the fit is not identified in that direction"
                )
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
    return {
        "a": a,
        "b": b,
        "N_opt": N,
        "D_opt": D,
        "tokens_per_param": D / N,
        "loss_at_budget": loss,
    }


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


def _bootstrap(
    law: Law,
    form: Form,
    objective: Objective,
    result: lbfgs.BatchResult,
    run_ids: np.ndarray,
    opts: FitOptions,
) -> None:
    """Refit on run-level resamples; store samples, intervals and failures in ``law``."""
    n_resamples, level = opts.bootstrap, opts.level
    codes, unique = pd.factorize(pd.Series(run_ids).astype(str))
    n_runs = len(unique)
    if n_runs < 2:
        raise NumericalError("bootstrap needs at least two runs to resample")
    rng = np.random.default_rng(opts.seed)
    counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_resamples)  # (B, runs)
    weights = counts[:, codes].astype(float)  # (B, n)
    best = int(np.argmin(np.where(np.isfinite(result.fun), result.fun, np.inf)))
    starts = _distinct_minima(result, best, BOOTSTRAP_STARTS)
    s = len(starts)
    boot = Objective(
        form,
        objective.logx,
        objective.logy,
        np.repeat(weights, s, axis=0),
        objective.loss,
        objective.delta,
    )
    res = lbfgs.minimize(
        boot.value_grad,
        np.tile(starts, (n_resamples, 1)),
        form.lower,
        form.upper,
        max_iter=opts.max_iter,
    )
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf).reshape(n_resamples, s)
    pick = np.argmin(fun, axis=1)
    rows = np.arange(n_resamples) * s + pick
    ok = np.isfinite(fun[np.arange(n_resamples), pick]) & res.converged[rows]
    samples = res.x[rows][ok]
    law.samples = samples
    natural = form.natural(samples)
    law.ci = {name: _percentiles(values, level) for name, values in natural.items()}
    for name, values in _derived(form, samples, opts.budget).items():
        law.ci[name] = _percentiles(values, level)
    law.starts["bootstrap"] = {
        "resamples": int(n_resamples),
        "failed": int((~ok).sum()),
        "starts_per_resample": int(s),
        "unit": "run",
    }
    if (~ok).sum() > 0.05 * n_resamples:
        law.warnings.append(
            f"{int((~ok).sum())} of {n_resamples} bootstrap refits did not converge; intervals "
            "use the rest"
        )
    for p, values in zip(form.params, samples.T, strict=False):
        on_bound = np.mean(
            (np.abs(values - p.lower) <= 1e-6 * (p.upper - p.lower))
            | (np.abs(values - p.upper) <= 1e-6 * (p.upper - p.lower))
        )
        if on_bound > 0.1:
            law.warnings.append(
                f"parameter {p.natural} is on a bound in {on_bound:.0%} of bootstrap refits; "
                "its interval is truncated by the bound"
            )
