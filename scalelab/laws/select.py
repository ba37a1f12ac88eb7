"""Choosing a form by out-of-sample error, and :func:`fit`, the public fit (``form="auto"`` too).

Every candidate form is backtested on the runs the final law will be fitted to, over several
extrapolation folds (:data:`FOLDS`: the largest size held out, the two largest, the runs above
the largest compute / 10 and / 100; :mod:`scalelab.laws.backtest`). A form's score is the mean
|relative error| of its held-out predictions, weighted by how far each extrapolates (1 + log10 of
the compute ratio to the largest fitted run, at least 0.25) within a fold and across folds. Forms
whose score is within the noise of the best one's (the scatter of single runs about the law,
sigma, measured by the folds' fits) are *tied*: among them the form with an irreducible loss term
wins (``tie="irreducible"``, the default; else the fewest parameters), or the tied forms are
averaged (``tie="stack"``: the law predicts their geometric mean). The chosen form is then fitted
to all the runs, the tied forms too (their disagreement widens prediction intervals,
:mod:`scalelab.laws.intervals`), and the law records why (``law.options.auto``: the per-form,
per-fold error table, the scores, the noise, the tie and the decision).

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

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import forms, misspec
from scalelab.laws.backtest import DEFAULT_RATIO
from scalelab.laws.backtest import backtest as _backtest
from scalelab.laws.fit import fit_form
from scalelab.laws.formkit import Form
from scalelab.laws.law import Law
from scalelab.laws.options import DEFAULT_FORM, FitOptions
from scalelab.runs.table import Runs, as_table

CRITERION = "mean_abs_rel_error"
FOLDS = (
    ("size", {"folds": 1}),
    ("largest", {"folds": 2}),
    ("compute", {"ratio": 10.0}),
    ("compute", {"ratio": 100.0}),
)
"""The extrapolation folds of the selection: (split, backtest arguments)."""
TIES = ("irreducible", "stack")
MIN_WEIGHT = 0.25


def __getattr__(name: str):
    """``AUTO_CANDIDATES``: the forms ``fit --form auto`` chooses among (those whose variables
    the table has), read from the registry when asked (:func:`scalelab.laws.forms.candidates`:
    the forms registered with ``auto=True``)."""
    if name == "AUTO_CANDIDATES":
        return forms.candidates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fit(
    runs: Runs,
    form: Union[str, Form] = DEFAULT_FORM,
    *,
    options: Optional[FitOptions] = None,
    **overrides,
) -> Law:
    """Fit ``form`` to the runs and return the fitted :class:`~scalelab.laws.law.Law`.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        form: a registered form name (``chinchilla``, ``power:N``, ...), a :class:`Form`, or
            ``auto``: choose among the registry's candidates (:func:`forms.candidates`) by
            out-of-sample error over several folds (:func:`fit_auto`; then ``grid`` is {form
            name: {parameter: values}}).
        options: the fit's choices, :class:`~scalelab.laws.options.FitOptions`: loss (``huber``
            with ``delta``, or ``mse``), grid, bootstrap (run-level resamples), seed, level,
            params and flops (conventions), budget (FLOPs of the derived quantities), eval_set,
            task, points, max_iter. Keyword arguments of those names replace fields:
            ``fit(table, "chinchilla", bootstrap=1000)``.
    """
    opts = FitOptions.make(options, **overrides)
    if isinstance(form, str) and form == "auto":
        return fit_auto(runs, tie=opts.tie, options=opts)
    return fit_form(runs, form, options=opts)


def _fold_name(split: str, kwargs: dict) -> str:
    if split == "compute":
        return f"C > max/{kwargs['ratio']:g}"
    return "largest size" if split == "size" else f"{kwargs['folds']} largest sizes"


def _weights(preds: list[dict]) -> np.ndarray:
    ratio = np.array([max(p["compute_ratio"], 1e-12) for p in preds])
    return np.maximum(1.0 + np.log10(ratio), MIN_WEIGHT)


def select_form(
    runs: Runs,
    candidates: Optional[Sequence[str]] = None,
    *,
    split: str = "size",
    folds: int = 1,
    ratio: float = DEFAULT_RATIO,
    threshold: Optional[float] = None,
    criterion: str = CRITERION,
    grids: Optional[dict] = None,
    scheme: Optional[Sequence[tuple[str, dict]]] = None,
    tie: str = "irreducible",
    options: Optional[FitOptions] = None,
    **overrides,
) -> dict[str, Any]:
    """Backtest every candidate form on ``runs`` over several folds and choose (module doc).

    ``candidates``: the forms to compare, by default the registry's (:func:`forms.candidates`).
    Only ``runs`` are used (the runs the final law will be fitted to). ``scheme`` lists the folds
    as (split, backtest arguments), default :data:`FOLDS`; ``split``/``folds``/``ratio``/
    ``threshold`` given explicitly (not their defaults) make a single-fold scheme, as before.
    ``grids`` holds each form's initialisation grid; the rest of the fits' choices come from
    ``options`` (or keyword arguments). Returns {"chosen", "best", "tied", "tie", "decision",
    "criterion", "split", "scheme", "noise", "scores", "table" ({form: {fold: mean |error|}}),
    "candidates", "errors": {form: {"mean_abs_rel_error": score, ..., "folds": {fold:
    summary}} or {"error": why}}}.
    """
    opts = FitOptions.make(options, **overrides)
    candidates = forms.candidates() if candidates is None else tuple(candidates)
    if tie not in TIES:
        raise InputError(f"tie: expected one of {', '.join(TIES)}, got {tie!r}")
    scheme = _scheme(scheme, split, folds, ratio, threshold)
    table = as_table(runs)
    errors: dict[str, Any] = {}  # form -> why it failed, or its errors (filled in that order)
    results = _fold_backtests(table, candidates, scheme, grids, opts, errors)
    common = _common_folds(scheme, results, errors)
    scores, table_errors, sigma = _scores(results, common, criterion, errors)
    noise = float(np.expm1(sigma))
    best, tied, chosen, decision = _decide(scores, noise, tie)
    return {
        "chosen": chosen,
        "best": best,
        "tied": tied,
        "tie": tie,
        "stacked": tie == "stack" and len(tied) > 1,
        "decision": decision,
        "criterion": criterion,
        "weighting": f"1 + log10(compute ratio), at least {MIN_WEIGHT}",
        "split": scheme[0][0],
        "folds": folds if len(scheme) == 1 and scheme[0][0] == "size" else None,
        "scheme": common,
        "noise": {"sigma_log": sigma, "rel": noise, "source": "fold fits' run scatter"},
        "scores": scores,
        "table": table_errors,
        "candidates": list(candidates),
        "errors": errors,
    }


def _scheme(scheme, split: str, folds: int, ratio: float, threshold) -> Sequence:
    """The folds to backtest on: ``scheme`` if given; a single fold when ``split``, ``folds``,
    ``ratio`` or ``threshold`` is not its default; else :data:`FOLDS`."""
    if scheme is not None:
        return scheme
    single = folds != 1 or threshold is not None or ratio != DEFAULT_RATIO or split != "size"
    return [(split, {"folds": folds, "ratio": ratio, "threshold": threshold})] if single else FOLDS


def _fold_backtests(
    table, candidates, scheme, grids: Optional[dict], opts: FitOptions, errors: dict
) -> dict[str, dict[str, Any]]:
    """{form: {fold name: Backtest}} for the forms that completed at least one fold; a form the
    table lacks variables for, or that failed every fold, gets its reason in ``errors``."""
    available = set(opts.conventions.variables(table.select(points="all")))
    results: dict[str, dict[str, Any]] = {}
    for name in candidates:
        form = forms.get(name)
        if not set(form.variables) <= available:
            missing = ", ".join(v for v in form.variables if v not in available)
            errors[name] = {"error": f"needs {missing}"}
            continue
        per_fold, why = {}, []
        for fold_split, kwargs in scheme:
            fold = _fold_name(fold_split, kwargs)
            try:  # point predictions only: the fold fits need no misspecification refits
                with misspec.skipped():
                    per_fold[fold] = _backtest(
                        table,
                        name,
                        split=fold_split,
                        predictive=False,
                        options=opts.replace(grid=(grids or {}).get(name), bootstrap=0),
                        **kwargs,
                    )
            except (NumericalError, InputError) as exc:
                why.append(f"{fold}: " + "; ".join(exc.problems))
        if per_fold:
            results[name] = per_fold
        else:
            errors[name] = {"error": "; ".join(why)}
    return results


def _common_folds(scheme, results: dict, errors: dict) -> list[str]:
    """The folds every remaining form completed (the comparison's); none is an error."""
    common = [
        _fold_name(s, k)
        for s, k in scheme
        if results and all(_fold_name(s, k) in r for r in results.values())
    ]
    if not common:
        raise NumericalError(
            "fit --form auto: no candidate form could be backtested on these runs: "
            + "; ".join(f"{k}: {v['error']}" for k, v in errors.items())
        )
    return common


def _scores(
    results: dict, common: list[str], criterion: str, errors: dict
) -> tuple[dict[str, float], dict[str, dict[str, float]], float]:
    """Each form's score (the distance-weighted mean |relative error| within each fold, folds
    weighted by their mean weight), its per-fold table, and the noise sigma (log): the scatter of
    single runs about the best-fitting form's law, median over folds. Each form's error summary
    goes in ``errors``."""
    scores: dict[str, float] = {}
    table_errors: dict[str, dict[str, float]] = {}
    sigmas: dict[str, list[float]] = {}
    for name, per_fold in results.items():
        fold_scores, fold_weights, preds_all = [], [], []
        for fold in common:
            preds = [p for f in per_fold[fold].folds for p in f.predictions]
            w = _weights(preds)
            err = np.abs([p["rel_error"] for p in preds])
            fold_scores.append(float(np.sum(w * err) / np.sum(w)))
            fold_weights.append(float(np.mean(w)))
            preds_all += preds
            for f in per_fold[fold].folds:
                if f.sigma is not None:
                    sigmas.setdefault(fold, []).append(f.sigma)
        scores[name] = float(np.dot(fold_scores, fold_weights) / np.sum(fold_weights))
        table_errors[name] = dict(zip(common, fold_scores, strict=True))
        errors[name] = _summary(scores[name], preds_all, per_fold, criterion)
    per_fold_sigma = [min(v) for v in sigmas.values() if v]
    sigma = float(np.median(per_fold_sigma)) if per_fold_sigma else 0.0
    return scores, table_errors, sigma


def _summary(score: float, preds: list[dict], per_fold: dict, criterion: str) -> dict:
    """A form's error record: its score, its unweighted and largest |error| over every held-out
    prediction, and each fold's backtest summary."""
    err = np.abs([p["rel_error"] for p in preds])
    return {
        criterion: score,
        "unweighted_mean_abs_rel_error": float(np.mean(err)),
        "max_abs_rel_error": float(np.max(err)),
        "n_predictions": int(err.size),
        "max_compute_ratio": float(max(p["compute_ratio"] for p in preds)),
        "folds": {fold: bt.summary for fold, bt in per_fold.items()},
    }


def _decide(scores: dict[str, float], noise: float, tie: str) -> tuple[str, list[str], str, str]:
    """(best, tied, chosen, decision): the lowest score (fewest parameters on a tie), the forms
    within ``noise`` of it, the one chosen among them (the first with an irreducible loss term,
    else the best-scoring) and why, in words."""
    best = min(scores, key=lambda n: (round(scores[n], 12), len(forms.get(n).params)))
    tied = sorted(
        (n for n in scores if scores[n] - scores[best] <= noise),
        key=lambda n: (scores[n], len(forms.get(n).params)),
    )
    with_floor = [n for n in tied if forms.get(n).irreducible]
    chosen = with_floor[0] if with_floor else tied[0]
    if len(tied) == 1:
        decision = f"{best} has the lowest weighted error; no other form is within the noise"
    elif tie == "stack":
        decision = (
            f"{', '.join(tied)} are within the noise ({noise:.2%}) of each other: stacked "
            f"(the law predicts their geometric mean; {chosen} carries the parameters)"
        )
    else:
        decision = (
            f"{', '.join(tied)} are within the noise ({noise:.2%}) of each other: chose {chosen}"
            + (", the best with an irreducible loss term" if with_floor else "")
        )
    return best, tied, chosen, decision


def fit_auto(
    runs: Runs,
    *,
    candidates: Optional[Sequence[str]] = None,
    split: str = "size",
    folds: int = 1,
    tie: str = "irreducible",
    scheme: Optional[Sequence[tuple[str, dict]]] = None,
    options: Optional[FitOptions] = None,
    schedule_aware: bool = True,
    **overrides,
) -> Law:
    """``fit(form="auto")``: choose the form by backtests on the runs (:func:`select_form`), fit
    it (and the forms tied with it) to all of them, record why. ``options.grid``, if given, is
    {form name: {parameter: values}}."""
    opts = FitOptions.make(options, **overrides)
    candidates = forms.candidates() if candidates is None else tuple(candidates)
    table = as_table(runs)
    if opts.grid is not None and not set(opts.grid) <= set(forms.names()):
        raise InputError("fit --form auto: give grid as {form name: {parameter: values}}")
    per_form = dict(opts.grid or {})
    # The selection's backtests: the final fit's options (conventions, rows, fitting loss), without
    # its bootstrap (the comparison is of point predictions), each form with its own start grid.
    selecting = opts.replace(grid=None, bootstrap=0, auto=None)
    choice = select_form(
        table,
        candidates,
        split=split,
        folds=folds,
        grids=per_form,
        scheme=scheme,
        tie=tie,
        options=selecting,
    )
    chosen = choice["chosen"]
    law = fit_form(table, chosen, options=opts.replace(grid=per_form.get(chosen)))
    tied_params = {}
    for name in choice["tied"]:
        if name == chosen:
            continue
        try:  # only its parameters are kept: no misspecification refits
            with misspec.skipped():
                other = fit_form(table, name, options=selecting.replace(grid=per_form.get(name)))
        except (NumericalError, InputError):
            continue
        tied_params[name] = other.params
    choice["tied_params"] = tied_params
    if schedule_aware:  # tables with learning-rate schedules only (curves branch, issue 22 item 5)
        from scalelab.laws.schedule_select import schedule_aware as _schedule_aware

        record = _schedule_aware(
            table,
            chosen,
            lambda t: fit_form(t, chosen, options=selecting.replace(grid=None)),
            bootstrap=opts.bootstrap,
            seed=opts.seed,
            level=opts.level,
        )
        if record is not None:
            choice["schedule_aware"] = record
    law.options = law.options.replace(auto=choice)
    law.provenance["selection"] = (
        f"form chosen automatically among {', '.join(candidates)} by the lowest "
        f"{choice['criterion']} weighted by extrapolation distance over the folds "
        f"{', '.join(choice['scheme'])}; {choice['decision']}"
    )
    return law


def backtest(runs, form: str, **kwargs):
    """:func:`scalelab.laws.backtest.backtest` for any form, ``"auto"`` included: the automatic
    choice is then made afresh on each fold's fitting runs (:func:`fit_auto`)."""
    return _backtest(runs, form, auto_fitter=_fit_auto_plain, **kwargs)


def _fit_auto_plain(runs, **kwargs):
    """:func:`fit_auto` inside a backtest's folds: without the schedule-aware comparison."""
    return fit_auto(runs, schedule_aware=False, **kwargs)
