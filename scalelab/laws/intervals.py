"""Prediction intervals for a new run's loss, apart from parameter confidence intervals.

A parameter (confidence) interval says where the *law* is; a new run's loss also scatters about
the law (seed noise, data order) and, when several forms fit the runs equally well, the forms
disagree about the extrapolation. The prediction interval of a loss at (N, D) combines, on the log
scale, where all three are nearly normal:

(a) parameter uncertainty: the spread of the bootstrap laws' predictions (16th-84th percentile
    half-width, robust to a few wild refits), or without bootstrap samples the delta method with
    the Gauss-Newton covariance sigma^2 (J^T J)^+ of the fit;
(b) the scatter of single runs about the law, sigma: the residual standard deviation of each
    run's final point (degrees of freedom n - p), or the pooled standard deviation of reruns of
    the same configuration (same N and D) when the table has them, whichever is larger;
(c) the disagreement between the forms tied with the chosen one by ``fit --form auto``: the
    root-mean-square distance between their log-predictions and the centre.

(d) the form's own extrapolation error, calibrated on held-out refits (:mod:`scalelab.laws.misspec`):
    each (fold, held-out run)'s |log error| divided by s (1 + d) -- s the fold fit's predictive
    standard deviation there (delta method ⊕ run scatter), d its distance beyond the fold's
    fitted runs in decades -- and the split-conformal quantile q of those scores at the level
    (the k-th smallest of n, k = ceil((n + 1) level); the largest when n is too small).

With the calibration (at least :data:`~scalelab.laws.misspec.MIN_CALIBRATION` held-out scores) the
interval is centre * exp(+-sqrt((q s(x) (1 + d))^2 + (t c)^2)), s(x) the law's own predictive
standard deviation (:func:`predictive_sd`: the delta method with the fit's covariance ⊕ its
residual scatter, as the scores were normalized): the held-out errors already carry the folds'
parameter error and each held-out run's own scatter, so (a) and (b) are not added again
(``log_components`` reports the calibrated width's excess over them as the misspecification
part). A law file from before the normalization (scores, no ``normalized``) keeps q (1 + d).
Without the calibration (too few runs to hold out) it is centre * exp(+-t * sqrt(a^2 + b^2 + c^2 +
m^2)), m = tau (1 + d) the moment estimate of the form's error, t the Student quantile with the
residual degrees of freedom. Its centre is the law's prediction, or the mean log-prediction of the
tied forms when the selection stacked them. Everything a law needs travels in ``law.scatter``
(sigma, how it was measured, degrees of freedom, the covariance, the held-out scores) and
``law.options.auto``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import pandas as pd

from scalelab.errors import NumericalError
from scalelab.laws import misspec
from scalelab.laws.formkit import Form, _numeric_jacobian

KINDS = ("prediction", "ci")


def scatter(
    form: Form,
    theta: np.ndarray,
    logx: Mapping[str, np.ndarray],
    logy: np.ndarray,
    run_ids: np.ndarray,
    D: Optional[np.ndarray] = None,
) -> dict[str, Any]:
    """Residual scatter of single runs about the fitted law (see module doc, (b)), and the
    Gauss-Newton covariance of the internal parameters for the delta method."""
    logy = np.asarray(logy, dtype=float)
    resid = logy - form.log_predict(theta[None, :], logx)[0]
    ids = pd.Series(np.asarray(run_ids)).astype(str).to_numpy()
    final = misspec.final_rows(ids, D)
    r = resid[final]
    p = len(form.params)
    dof = max(int(r.size - p), 1)
    sigma_resid = float(np.sqrt(np.sum(r**2) / dof))
    out: dict[str, Any] = {
        "sigma": sigma_resid,
        "sigma_residuals": sigma_resid,
        "dof": dof,
        "n_runs": int(r.size),
        "source": "residuals of each run's final point",
    }
    reruns = _rerun_sigma({v: np.asarray(x)[final] for v, x in logx.items()}, logy[final])
    if reruns is not None:
        out["sigma_reruns"], out["rerun_dof"] = reruns
        if reruns[0] > sigma_resid:
            out["sigma"], out["source"] = reruns[0], "reruns of the same configuration"
    _, jac = _numeric_jacobian(form.log_predict, theta[None, :], logx)
    J = jac[0]
    if np.all(np.isfinite(J)):
        cov = np.linalg.pinv(J.T @ J, rcond=1e-10) * out["sigma"] ** 2
        out["cov"] = cov.tolist() if np.all(np.isfinite(cov)) else None
    return out


def _rerun_sigma(logx: Mapping[str, np.ndarray], logy: np.ndarray):
    """Pooled within-configuration standard deviation of log-loss over configurations run more
    than once, with its degrees of freedom; None without at least 3 such degrees of freedom."""
    if not logx:
        return None
    frame = pd.DataFrame({k: np.round(v, 6) for k, v in logx.items()}).assign(y=logy)
    groups = frame.groupby(list(logx), sort=False)["y"]
    n = groups.transform("size").to_numpy()
    dev = (frame["y"] - groups.transform("mean")).to_numpy()
    dof = int(np.sum(groups.size().to_numpy() - 1))
    if dof < 3:
        return None
    return float(np.sqrt(np.sum(dev[n > 1] ** 2) / dof)), dof


def _tied(law) -> tuple[list[tuple[str, dict]], bool]:
    """(form, natural parameters) of the forms tied with the law's by ``fit --form auto``, and
    whether the selection stacked them."""
    auto = law.options.auto if law.options is not None else None
    if not auto or not auto.get("tied_params"):
        return [], False
    return [(name, params) for name, params in auto["tied_params"].items()], bool(
        auto.get("stacked")
    )


def log_components(
    law, variables: Mapping[str, Any], level: Optional[float] = None
) -> dict[str, Any]:
    """Centre (log), the standard deviations (a), (b), (c) and the misspecification part at the
    given variables; ``scale`` is the calibrated standard deviation q s(x) (1 + d) / t and
    ``calibrated`` whether the law carries the held-out calibration (module doc)."""
    from scalelab.laws import forms

    form = law.law_form
    X = {k: np.asarray(v, dtype=float) for k, v in variables.items()}
    logx = {k: np.log(v) for k, v in X.items()}
    mu = np.log(np.asarray(form.predict(law.theta, **X), dtype=float))
    shape = np.broadcast(*X.values()).shape if X else mu.shape
    mu = np.broadcast_to(mu, shape)
    info = law.scatter or {}
    if law.samples is not None and len(law.samples):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            values = np.log(np.asarray(form.predict(law.samples, **X), dtype=float))
        values = values.reshape(len(law.samples), -1)
        values[~np.isfinite(values)] = np.nan
        lo, hi = np.nanpercentile(values, [15.87, 84.13], axis=0)
        s_param = np.nan_to_num((hi - lo) / 2.0, nan=0.0).reshape(shape)
    elif info.get("cov") is not None:
        flat = {k: np.broadcast_to(v, shape).ravel() for k, v in logx.items()}
        _, jac = _numeric_jacobian(form.log_predict, law.theta[None, :], flat)
        g = jac[0]
        cov = np.asarray(info["cov"], dtype=float)
        s_param = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov, g), 0.0)).reshape(shape)
    else:
        s_param = np.zeros(shape)
    s_noise = np.full(shape, float(info.get("sigma", 0.0)))
    s_mis = np.zeros(shape)
    scale = None
    mis = info.get("misspecification") or {}
    if info.get("max_log") and (mis.get("scores") or mis.get("tau")):
        flat = {k: np.broadcast_to(v, shape) for k, v in logx.items()}
        g = np.broadcast_to(misspec.growth(misspec.distance(flat, info["max_log"])), shape)
        if mis.get("scores"):  # calibrated: q s(x) (1 + d) on the log scale (module doc)
            q = misspec.quantile(mis["scores"], level or law.level)["q"]
            t = _quantile(0.5 + float(level or law.level) / 2, int(info.get("dof", 0)))
            if mis.get("normalized"):  # scores |e| / (s (1 + d)): the law's own s(x) scales q
                g = g * predictive_sd(law, flat, shape)
            scale = q * g / t  # the calibrated standard deviation
            s_mis = np.sqrt(np.maximum(scale**2 - s_param**2 - s_noise**2, 0.0))
        else:  # a law file from before the calibration: tau (1 + d) added in quadrature
            s_mis = float(mis["tau"]) * g
    centre = mu
    s_forms = np.zeros(shape)
    tied, stacked = _tied(law)
    if tied:
        preds = [mu]
        for name, params in tied:
            other = forms.get(name)
            if not set(other.variables) <= set(X):
                continue
            theta = other.internal(params)
            sub = {v: X[v] for v in other.variables}
            preds.append(np.broadcast_to(np.log(other.predict(theta, **sub)), shape))
        preds = np.array(preds)
        if stacked:
            centre = preds.mean(axis=0)
        s_forms = np.sqrt(np.mean((preds - centre) ** 2, axis=0))
    return {
        "centre": centre,
        "param": s_param,
        "noise": s_noise,
        "forms": s_forms,
        "misspecification": s_mis,
        "scale": np.ones(shape) if scale is None else scale,
        "calibrated": scale is not None,
    }


def prediction_interval(law, variables: Mapping[str, Any], level: Optional[float] = None):
    """(lo, hi) of the prediction interval of a new run's loss (module doc); scalars for scalar
    input, arrays otherwise."""
    level = float(level or law.level)
    if not (law.scatter or (law.samples is not None and len(law.samples))):
        raise NumericalError(
            f"law '{law.form}' has neither bootstrap samples nor a measured run scatter: "
            "no prediction interval (fit it, or fit with bootstrap > 0)"
        )
    c = log_components(law, variables, level)
    dof = int((law.scatter or {}).get("dof", 0))
    t = _quantile(0.5 + level / 2, dof)
    if c["calibrated"]:
        # the held-out calibration q (1 + d) (as an sd: / t), the tied forms added
        total = np.sqrt(c["scale"] ** 2 + c["forms"] ** 2)
    else:
        total = np.sqrt(
            c["param"] ** 2 + c["noise"] ** 2 + c["forms"] ** 2 + c["misspecification"] ** 2
        )
    lo, hi = np.exp(c["centre"] - t * total), np.exp(c["centre"] + t * total)
    if c["calibrated"] and law.samples is not None and len(law.samples):
        # a new run's interval contains the law's own (bootstrap) confidence interval
        lo, hi = _with_parameter_interval(law, variables, level, lo, hi)
    if np.ndim(lo) == 0:
        return [float(lo), float(hi)]
    return lo, hi


def _with_parameter_interval(law, variables, level: float, lo, hi):
    """(lo, hi) widened to the percentile interval of the bootstrap laws' predictions."""
    X = {k: np.asarray(v, dtype=float) for k, v in variables.items()}
    shape = np.shape(lo)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        values = np.asarray(law.law_form.predict(law.samples, **X), dtype=float)
    values = values.reshape(len(law.samples), -1)
    values[~np.isfinite(values)] = np.nan
    if np.all(np.isnan(values)):
        return lo, hi
    tail = 50.0 * (1.0 - level)
    with warnings.catch_warnings():  # a column no bootstrap law reached: NaN, left to fmin
        warnings.simplefilter("ignore", RuntimeWarning)
        plo, phi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
    plo, phi = plo.reshape(shape), phi.reshape(shape)
    return np.fmin(lo, plo), np.fmax(hi, phi)


def stacked_predict(law, variables: Mapping[str, Any]) -> np.ndarray:
    """The law's point prediction: the geometric mean of the tied forms when stacked."""
    return np.exp(log_components(law, variables)["centre"])


def predictive_sd(law, logx: Mapping[str, np.ndarray], shape) -> np.ndarray:
    """The law's predictive standard deviation on the log scale at ``logx``, as the held-out
    scores were normalized (:func:`scalelab.laws.misspec.predictive_sd`): the delta-method
    parameter term with the fit's Gauss-Newton covariance ⊕ the residual run scatter (not the
    bootstrap, not the reruns: the folds had neither)."""
    info = law.scatter
    sigma = float(info.get("sigma_residuals", info.get("sigma", 0.0)))
    cov = info.get("cov")
    if cov is not None and info.get("sigma"):  # the covariance was scaled by sigma^2
        cov = np.asarray(cov, dtype=float) * (sigma / float(info["sigma"])) ** 2
    flat = {k: np.broadcast_to(v, shape).ravel() for k, v in logx.items()}
    sd = misspec.sd_from_cov(law.law_form, law.theta, flat, cov, sigma**2)
    return np.where(np.isfinite(sd), sd, sigma).reshape(shape)


def _quantile(p: float, dof: int) -> float:
    """Student's t quantile with ``dof`` degrees of freedom (the normal one when ``dof`` is 0)."""
    # Imported here: scipy.special costs a few tenths of a second, paid only by a prediction.
    from scipy import special  # noqa: PLC0415

    return float(special.stdtrit(dof, p)) if dof > 0 else float(special.ndtri(p))
