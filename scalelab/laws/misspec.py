"""The form's own error when extrapolating, measured by held-out refits (misspecification).

The run scatter and the parameter uncertainty of :mod:`scalelab.laws.intervals` both assume the
form is right. When it is not (a floor that is not there, an exponent that drifts with scale),
the error of an extrapolation grows with its distance from the runs, and an interval built from
the two alone under-covers exactly where a law is used. This module measures that error on the
law's own runs, as the selection does (:data:`scalelab.laws.select.FOLDS`): the law is refitted
with the largest size held out, the two largest, and the runs above the largest compute / 10 and
/ 100 (each refit warm-started from the fit's minima, all folds in one batched minimisation like
the run bootstrap) and each held-out run's final point is predicted: log error e_i, d_i the
distance of the prediction beyond the fold's fitted runs in decades (the largest of
log10(x / max fitted x) over the form's variables and, for an (N, D) form, over N*D; 0 inside the
range), and s_i the fold fit's own predictive standard deviation there (:func:`predictive_sd`:
the delta-method parameter term of the fold's fit ⊕ its run scatter).

The interval uses the errors themselves, not a model of them (normalized split-conformal): each
(fold, held-out run) extrapolation gets the score |e_i| / (s_i (1 + d_i)), and a prediction of
the law at x gets the log half-width q s(x) (1 + d(x)), s(x) the *law's* predictive standard
deviation (same formula, the full fit's parameters and scatter), q the k-th smallest of the n
scores with k = ceil((n + 1) level) (:func:`quantile`). The normalization is what transfers the
calibration from the folds to the law: a fold is fitted on fewer, smaller runs than the law, its
parameters are less certain and its predictions err more, and s_i says by how much; (1 + d) is the
error a wrong exponent adds, growing with the decades extrapolated (a parameter term alone grows
too slowly on large tables: Epoch's Chinchilla under-covers without it). With n too small for the
level (k > n) q is the largest score, which covers a new run with probability n / (n + 1) under
exchangeability, not ``level``: the law records which (``quantile(...)["guaranteed"]``). The
held-out errors carry the folds' parameter error and the held-out runs' own scatter, so the
calibrated width replaces the model-based one (:mod:`scalelab.laws.intervals`). Each (fold, run)
pair counts once: a run held out by two folds is extrapolated from two different fits, at two
distances, and both are instances of what the law will be asked to do (the pairs overlap, so the
quantile is a calibration on the data at hand, not a guarantee). Law files written before the
normalization (scores without ``normalized``) keep their interval q (1 + d).

With fewer than :data:`MIN_CALIBRATION` held-out runs (9: the largest of 9 covers >= 90%) nothing
is calibrated and the method of moments of the earlier versions stands in: the excess of the
squared log-error over what the fold's interval expects,
e_i^2 = sigma_k^2 + s_param,i^2 + tau^2 (1 + d_i)^2, pooled over the folds,
tau^2 = max(0, sum(e^2 - s^2) / sum((1 + d)^2)), added as the standard deviation tau (1 + d).
Nothing is estimated with fewer than :data:`MIN_HELDOUT` held-out predictions. The folds'
errors overlap (a run held out by the size folds is often held out by the compute folds too) and
are few: the quantile is a calibration on the data at hand, not a guarantee far beyond the
distances the folds reached.

A fit made only to score a form (the selection's fold fits, :func:`scalelab.laws.select.select_form`:
point predictions, no interval) does not need this term: inside :func:`skipped` :func:`heldout`
returns None without refitting. :data:`CALLS` counts the refits made (what the tests check).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np
import pandas as pd

from scalelab.laws import lbfgs
from scalelab.laws.formkit import Form, _numeric_jacobian
from scalelab.laws.objective import Objective

MIN_HELDOUT = 3
MIN_FIT_DOF = 3  # fitted runs beyond the parameter count each fold needs
MIN_CALIBRATION = 9  # held-out scores for a calibrated quantile: the largest of 9 covers >= 90%
GROWTH = "1 + d, d = decades beyond the fitted runs (N, D, N*D or C)"
SCORE = (
    "|log error| / (s (1 + d)) of each (fold, held-out run)'s final point, s the fold fit's "
    "predictive sd (delta method + run scatter)"
)
SCALE_VARIABLES = ("N", "D", "C")
CALLS = {"heldout": 0, "skipped": 0}
"""How many times :func:`heldout` refitted, and how many it was skipped (:func:`skipped`)."""
_SKIP = contextvars.ContextVar("scalelab_misspec_skip", default=False)


@contextmanager
def skipped() -> Iterator[None]:
    """Within the block, :func:`heldout` makes no refits and returns None: for fits used only
    to score point predictions (the form selection's folds), whose laws carry no interval."""
    token = _SKIP.set(True)
    try:
        yield
    finally:
        _SKIP.reset(token)


def distance(logx: Mapping[str, np.ndarray], max_logx: Mapping[str, float]) -> np.ndarray:
    """Decades beyond the fitted range: the largest of log10(x / max fitted x) over the variables
    in ``max_logx`` (and "N*D" as the sum of N's and D's logs), at least 0."""
    d = None
    for v, top in max_logx.items():
        x = logx["N"] + logx["D"] if v == "N*D" else logx.get(v)
        if x is None:
            continue
        dv = (np.asarray(x, dtype=float) - top) / np.log(10.0)
        d = dv if d is None else np.maximum(d, dv)
    return np.zeros(1) if d is None else np.maximum(d, 0.0)


def max_log(form: Form, logx: Mapping[str, np.ndarray], rows=None) -> dict[str, float]:
    """The largest log of each of the form's variables (and of N*D) over ``rows``."""
    sel = slice(None) if rows is None else rows
    out = {v: float(np.max(np.asarray(logx[v])[sel])) for v in form.variables}
    if {"N", "D"} <= set(form.variables):
        out["N*D"] = float(np.max((np.asarray(logx["N"]) + np.asarray(logx["D"]))[sel]))
    return out


def final_rows(ids: np.ndarray, D: Optional[np.ndarray]) -> np.ndarray:
    """Mask of each run's last row (largest D; the last listed without D)."""
    frame = pd.DataFrame({"id": ids, "D": np.arange(len(ids)) if D is None else np.asarray(D)})
    last = frame.sort_values(["id", "D"], kind="stable").groupby("id", sort=False).tail(1)
    mask = np.zeros(len(ids), dtype=bool)
    mask[last.index.to_numpy()] = True
    return mask


def _run_scale(form: Form, logx, codes: np.ndarray, n_runs: int):
    """Per run: its log N (or None) and its log scale (log C, log N*D, or the variables' sum)."""
    scale_vars = [v for v in SCALE_VARIABLES if v in form.variables] or list(form.variables)
    if "C" in scale_vars:
        scale_vars = ["C"]
    scale = sum(np.asarray(logx[v], dtype=float) for v in scale_vars)
    run_scale = pd.Series(scale).groupby(codes).max().reindex(range(n_runs)).to_numpy()
    run_n = None
    if "N" in form.variables:
        run_n = pd.Series(np.asarray(logx["N"])).groupby(codes).max().reindex(range(n_runs))
        run_n = run_n.to_numpy()
    return run_n, run_scale


def _folds(run_n, run_scale) -> list[tuple[str, np.ndarray]]:
    """(name, held-out run mask) of the folds; fitted runs are the complement, except for size
    folds where only runs smaller than every held-out size are fitted (as the backtest)."""
    out = []
    if run_n is not None:
        sizes = np.unique(np.round(run_n, 9))[::-1]
        for k in (1, 2):
            if sizes.size > k:
                out.append((f"{k} largest size(s)", np.round(run_n, 9) >= sizes[k - 1]))
    for ratio in (10.0, 100.0):
        out.append((f"C > max/{ratio:g}", run_scale > run_scale.max() - np.log(ratio)))
    return out


def heldout(
    form: Form,
    objective: Objective,
    starts: np.ndarray,
    run_ids: np.ndarray,
    D: Optional[np.ndarray] = None,
    max_iter: int = 1000,
) -> Optional[dict[str, Any]]:
    """Refit on each fold's runs, predict the held-out final points, score them (module doc).
    ``starts`` are the full fit's minima (S, P); a run's final point is its largest ``D`` (its
    last row without D). Returns None when no fold can be refitted, or inside :func:`skipped`."""
    if _SKIP.get():
        CALLS["skipped"] += 1
        return None
    CALLS["heldout"] += 1
    final = final_rows(np.asarray(run_ids), D)
    logx = {v: np.asarray(objective.logx[v], dtype=float) for v in form.variables}
    logy = np.asarray(objective.logy, dtype=float)
    codes, unique = pd.factorize(pd.Series(np.asarray(run_ids)).astype(str))
    n_runs, p = len(unique), len(form.params)
    run_n, run_scale = _run_scale(form, logx, codes, n_runs)
    plans = []
    for name, held_runs in _folds(run_n, run_scale):
        fit_runs = ~held_runs
        if name.endswith("size(s)"):
            fit_runs = run_n < np.min(run_n[held_runs]) - 1e-9
        if not held_runs.any() or fit_runs.sum() < p + MIN_FIT_DOF:
            continue
        fit_rows = fit_runs[codes]
        if any(np.unique(np.round(x[fit_rows], 9)).size < 2 for x in logx.values()):
            continue
        plans.append((name, fit_rows, held_runs[codes] & final))
    if not plans:
        return None
    weights = np.array([rows.astype(float) for _, rows, _ in plans])  # (K, n)
    s = len(starts)
    refit = Objective(
        form, objective.logx, logy, np.repeat(weights, s, axis=0), objective.loss, objective.delta
    )
    res = lbfgs.minimize(
        refit.value_grad,
        np.tile(starts, (len(plans), 1)),
        form.lower,
        form.upper,
        max_iter=max_iter,
    )
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf).reshape(len(plans), s)
    pick = np.argmin(fun, axis=1)
    excess, spread, rows_out, scores, score_runs = [], [], [], [], []
    for k, (name, fit_rows, held) in enumerate(plans):
        if not np.isfinite(fun[k, pick[k]]):
            continue
        theta = res.x[k * s + pick[k]]
        out_rows = held & ~fit_rows
        got = _fold_terms(form, theta, logx, logy, fit_rows, final, out_rows)
        if got is None:
            continue
        e, s2, d = got
        excess.append(e**2 - s2)
        spread.append((1.0 + d) ** 2)
        scores.append((e, s2, d))
        score_runs.append(codes[out_rows])
        rows_out.append(
            {
                "fold": name,
                "n": int(e.size),
                "rms_log_error": float(np.sqrt(np.mean(e**2))),
                "rms_expected": float(np.sqrt(np.mean(s2))),
                "max_distance": float(np.max(d)),
            }
        )
    if not rows_out:
        return None
    excess, spread = np.concatenate(excess), np.concatenate(spread)
    tau2 = max(float(np.sum(excess) / np.sum(spread)), 0.0) if excess.size >= MIN_HELDOUT else 0.0
    e, s2, d = (np.concatenate(x) for x in zip(*scores))
    # one score per (fold, held-out run) extrapolation, normalized by the fold fit's own
    # predictive sd and the distance (module doc)
    per_pair = np.sort(np.abs(e) / (np.sqrt(s2) * growth(d)))
    out: dict[str, Any] = {
        "n_heldout": int(excess.size),
        "folds": rows_out,
        "source": "held-out refits over the selection's folds",
        "tau_moments": float(np.sqrt(tau2)),
    }
    out["n_runs_heldout"] = int(np.unique(np.concatenate(score_runs)).size)
    if per_pair.size >= MIN_CALIBRATION and np.all(np.isfinite(per_pair)) and np.all(s2 > 0):
        out["method"] = "calibrated"
        out["scores"] = [float(x) for x in per_pair]
        out["normalized"] = True
        out["score"] = SCORE
        out["growth"] = GROWTH
    else:  # too few held-out runs to calibrate: the moment estimate, added as a variance
        out["method"] = "moments"
        out["tau"] = float(np.sqrt(tau2))
        out["growth"] = "tau * (1 + d), d = decades beyond the fitted runs"
    return out


def growth(d: np.ndarray) -> np.ndarray:
    """How the error of an extrapolation is assumed to grow with its distance d (decades beyond
    the fitted runs in N, D or compute): 1 + d."""
    return 1.0 + np.asarray(d, dtype=float)


def quantile(scores, level: float) -> dict[str, Any]:
    """The split-conformal quantile of sorted ``scores`` at ``level``: the k-th smallest of the
    n scores, k = ceil((n + 1) level). With too few scores for the level (k > n) it is the
    largest, which covers a new run with probability at least n / (n + 1) (not ``level``);
    ``guaranteed`` says which."""
    r = np.sort(np.asarray(scores, dtype=float))
    n = int(r.size)
    k = int(np.ceil((n + 1) * float(level) - 1e-9))
    rank = min(max(k, 1), n)
    return {
        "q": float(r[rank - 1]),
        "rank": rank,
        "n": n,
        "guaranteed": float(min(float(level), n / (n + 1.0))),
        "enough": k <= n,
    }


def predictive_sd(form: Form, theta, fit_logx, held_logx, sigma2: float) -> np.ndarray:
    """A fit's predictive standard deviation (log scale) at ``held_logx``: the delta-method
    parameter term, Gauss-Newton covariance sigma^2 (J^T J)^+ over the fitted rows ``fit_logx``,
    added in quadrature to the run scatter sigma^2 (NaN where a Jacobian is not finite)."""
    _, jac = _numeric_jacobian(form.log_predict, theta[None, :], fit_logx)
    return sd_from_cov(form, theta, held_logx, _covariance(jac[0], sigma2), sigma2)


def _covariance(J: np.ndarray, sigma2: float) -> Optional[np.ndarray]:
    if not np.all(np.isfinite(J)):
        return None
    return np.linalg.pinv(J.T @ J, rcond=1e-10) * sigma2


def sd_from_cov(form: Form, theta, held_logx, cov, sigma2: float) -> np.ndarray:
    """sqrt(g^T cov g + sigma^2) at ``held_logx``, g the gradient of the log-prediction."""
    _, g = _numeric_jacobian(form.log_predict, theta[None, :], held_logx)
    g = g[0]
    if cov is None or not np.all(np.isfinite(g)):
        return np.full(g.shape[0], np.nan)
    s_param2 = np.maximum(np.einsum("ij,jk,ik->i", g, np.asarray(cov, dtype=float), g), 0.0)
    return np.sqrt(s_param2 + sigma2)


def _fold_terms(form: Form, theta, logx, logy, fit_rows, final, held):
    """(log errors, expected variance, distance) of one fold's held-out final points; the
    fold's run scatter from its fitted runs' final points (as :func:`intervals.scatter`)."""
    if not held.any():
        return None
    fit_x = {v: x[fit_rows] for v, x in logx.items()}
    held_x = {v: x[held] for v, x in logx.items()}
    last = fit_rows & final
    r = logy[last] - form.log_predict(theta[None, :], {v: x[last] for v, x in logx.items()})[0]
    dof = max(int(last.sum()) - len(form.params), 1)
    sigma2 = float(np.sum(r**2) / dof)
    sd = predictive_sd(form, theta, fit_x, held_x, sigma2)
    e = logy[held] - form.log_predict(theta[None, :], held_x)[0]
    d = distance(held_x, max_log(form, logx, fit_rows))
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(sd))):
        return None
    return e, sd**2, np.broadcast_to(d, e.shape)
