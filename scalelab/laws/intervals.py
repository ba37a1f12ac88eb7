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

The interval is centre * exp(+-t * sqrt(a^2 + b^2 + c^2)), t the Student quantile with the
residual degrees of freedom. Its centre is the law's prediction, or the mean log-prediction of the
tied forms when the selection stacked them. Everything a law needs travels in ``law.scatter``
(sigma, how it was measured, degrees of freedom, the covariance) and ``law.options.auto``.
"""

from __future__ import annotations

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


def log_components(law, variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Centre (log), and the three standard deviations (a), (b), (c) at the given variables."""
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
    mis = info.get("misspecification") or {}
    if mis.get("tau") and info.get("max_log"):
        flat = {k: np.broadcast_to(v, shape) for k, v in logx.items()}
        s_mis = float(mis["tau"]) * (1.0 + misspec.distance(flat, info["max_log"]))
        s_mis = np.broadcast_to(s_mis, shape)
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
    c = log_components(law, variables)
    total = np.sqrt(
        c["param"] ** 2 + c["noise"] ** 2 + c["forms"] ** 2 + c["misspecification"] ** 2
    )
    dof = int((law.scatter or {}).get("dof", 0))
    q = _quantile(0.5 + level / 2, dof)
    lo, hi = np.exp(c["centre"] - q * total), np.exp(c["centre"] + q * total)
    if np.ndim(lo) == 0:
        return [float(lo), float(hi)]
    return lo, hi


def stacked_predict(law, variables: Mapping[str, Any]) -> np.ndarray:
    """The law's point prediction: the geometric mean of the tied forms when stacked."""
    return np.exp(log_components(law, variables)["centre"])


def _quantile(p: float, dof: int) -> float:
    """Student's t quantile with ``dof`` degrees of freedom (the normal one when ``dof`` is 0)."""
    # Imported here: scipy.special costs a few tenths of a second, paid only by a prediction.
    from scipy import special  # noqa: PLC0415

    return float(special.stdtrit(dof, p)) if dof > 0 else float(special.ndtri(p))
