"""Choosing a form by out-of-sample error, and :func:`fit`, the public fit (``form="auto"`` too).

Every candidate form is backtested on the runs the final law will be fitted to (by default the
largest model size is held out and the others fitted, :mod:`scalelab.laws.backtest`); the form
with the lowest error wins, ties going to the form with fewer parameters. The chosen form is then
fitted to all the runs and the law records why (``law.options.auto``, ``law.provenance``).

    >>> from scalelab import laws
    >>> law = laws.fit("runs.csv", "auto")                            # doctest: +SKIP
    >>> laws.select.select_form("runs.csv")["chosen"]                 # doctest: +SKIP
    'chinchilla-tied'

This module sits above :mod:`~scalelab.laws.fit` and :mod:`~scalelab.laws.backtest`; neither
imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from scalelab.errors import InputError, NumericalError
from scalelab.laws import forms
from scalelab.laws.backtest import DEFAULT_RATIO, backtest
from scalelab.laws.fit import fit_form
from scalelab.laws.formkit import Form
from scalelab.laws.law import Law
from scalelab.laws.options import FitOptions
from scalelab.runs.table import Runs, as_table

AUTO_CANDIDATES = ("chinchilla", "chinchilla-tied", "kaplan-nd", "power-offset:C", "power:C")
"""Forms ``fit --form auto`` chooses among (those whose variables the table has)."""
CRITERION = "mean_abs_rel_error"


def fit(
    runs: Runs,
    form: Union[str, Form] = "chinchilla",
    *,
    options: Optional[FitOptions] = None,
    **overrides,
) -> Law:
    """Fit ``form`` to the runs and return the fitted :class:`~scalelab.laws.law.Law`.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        form: a registered form name (``chinchilla``, ``power:N``, ...), a :class:`Form`, or
            ``auto``: choose among :data:`AUTO_CANDIDATES` by out-of-sample error
            (:func:`fit_auto`; then ``grid`` is {form name: {parameter: values}}).
        options: the fit's choices, :class:`~scalelab.laws.options.FitOptions`: loss (``huber``
            with ``delta``, or ``mse``), grid, bootstrap (run-level resamples), seed, level,
            params and flops (conventions), budget (FLOPs of the derived quantities), eval_set,
            task, points, max_iter. Keyword arguments of those names replace fields:
            ``fit(table, "chinchilla", bootstrap=1000)``.
    """
    opts = FitOptions.make(options, **overrides)
    if isinstance(form, str) and form == "auto":
        return fit_auto(runs, options=opts)
    return fit_form(runs, form, options=opts)


def select_form(
    runs: Runs,
    candidates: Sequence[str] = AUTO_CANDIDATES,
    *,
    split: str = "size",
    folds: int = 1,
    ratio: float = DEFAULT_RATIO,
    threshold: Optional[float] = None,
    criterion: str = CRITERION,
    grids: Optional[dict] = None,
    options: Optional[FitOptions] = None,
    **overrides,
) -> dict[str, Any]:
    """Backtest every candidate form on ``runs`` and pick the one with the lowest out-of-sample
    error.

    Only ``runs`` are used (the runs the final law will be fitted to): by default the largest model
    size is held out, the others fitted. ``grids`` holds each form's initialisation grid; the rest
    of the fits' choices come from ``options`` (or keyword arguments). Ties go to the form with
    fewer parameters. Returns {"chosen", "criterion", "split", "folds", "candidates", "errors":
    {form: summary or {"error": why}}}.
    """
    opts = FitOptions.make(options, **overrides)
    table = as_table(runs)
    available = set(opts.conventions.variables(table.select(points="all")))
    errors: dict[str, Any] = {}
    scores: dict[str, float] = {}
    for name in candidates:
        form = forms.get(name)
        if not set(form.variables) <= available:
            missing = ", ".join(v for v in form.variables if v not in available)
            errors[name] = {"error": f"needs {missing}"}
            continue
        try:
            result = backtest(
                table,
                name,
                split=split,
                folds=folds,
                ratio=ratio,
                threshold=threshold,
                options=opts.replace(grid=(grids or {}).get(name)),
            )
        except (NumericalError, InputError) as exc:
            errors[name] = {"error": "; ".join(exc.problems)}
            continue
        errors[name] = result.summary
        scores[name] = result.summary[criterion]
    if not scores:
        raise NumericalError(
            "fit --form auto: no candidate form could be backtested on these runs: "
            + "; ".join(f"{k}: {v['error']}" for k, v in errors.items())
        )
    chosen = min(scores, key=lambda n: (round(scores[n], 12), len(forms.get(n).params)))
    return {
        "chosen": chosen,
        "criterion": criterion,
        "split": split,
        "folds": folds if split == "size" else None,
        "candidates": list(candidates),
        "errors": errors,
    }


def fit_auto(
    runs: Runs,
    *,
    candidates: Sequence[str] = AUTO_CANDIDATES,
    split: str = "size",
    folds: int = 1,
    options: Optional[FitOptions] = None,
    **overrides,
) -> Law:
    """``fit(form="auto")``: choose the form by backtest on the runs, fit it to all of them, record
    why. ``options.grid``, if given, is {form name: {parameter: values}}."""
    opts = FitOptions.make(options, **overrides)
    table = as_table(runs)
    if opts.grid is not None and not set(opts.grid) <= set(forms.names()):
        raise InputError("fit --form auto: give grid as {form name: {parameter: values}}")
    per_form = dict(opts.grid or {})
    # The selection's backtests: the conventions, rows and fitting loss of the final fit, without
    # its bootstrap (the comparison is of point predictions) and with each form's own points.
    selecting = FitOptions(
        params=opts.params,
        flops=opts.flops,
        eval_set=opts.eval_set,
        task=opts.task,
        loss=opts.loss,
        delta=opts.delta,
        max_iter=opts.max_iter,
    )
    choice = select_form(
        table, candidates, split=split, folds=folds, grids=per_form, options=selecting
    )
    law = fit_form(
        table, choice["chosen"], options=opts.replace(grid=per_form.get(choice["chosen"]))
    )
    law.options = law.options.replace(auto=choice)
    law.provenance["selection"] = (
        f"form chosen automatically among {', '.join(candidates)} by the lowest "
        f"{choice['criterion']} when the largest model size is held out of the fit"
    )
    return law
