"""The learning-curve laws' minimisation in centred coordinates.

The laws' coefficients multiply powers of N, S1 and the lr: ``A·N^-nu·S1^-alpha`` is, on the
log scale, ``log A - nu·log N - alpha·log S1``, with log N about 20 and log S1 about 0..10. A
step in ``nu`` then moves the prediction 20 times more than the same step in ``log A``, and the
two are almost collinear: the batched L-BFGS crawled along that valley (hundreds of iterations
from a warm start; a bootstrap of the multi-power law stopped early was narrower than a
converged one). The refits from a fit's minimum (the run bootstrap, held-out folds) therefore
work in the coordinates ``z = T·theta`` where each log
coefficient is replaced by its value at the data's centre (``log A - nu·c_N - alpha·c_S``,
``log B - beta·c_N``, ``log C_d - gamma_d·c_eta``, c the mean of log N, log S1, log lr); exponents
are unchanged, so their bounds stay boxes, and the centred coefficients get wide boxes (the
natural coefficients' bounds are re-imposed on the way back). The law and its parameters are the
same; only the path of the minimiser changes. (Measured on the OLMo rungs' 1,158 points: 100
multi-power bootstrap refits from 605 to 414 iterations on average; the grid of starts, far from
the minimum, converges no faster this way and keeps theta's own coordinates. Whitening with the
Gauss-Newton Hessian at the minimum gained nothing more: the valleys are curved, not just
skewed.)
"""

from __future__ import annotations

import numpy as np

from scalelab.laws import lbfgs

# coefficient -> the exponents (and the feature they multiply) that it is centred along
COUPLED = {
    "A": (("nu", "logN"), ("alpha", "logS1")),
    "B": (("beta", "logN"),),
    "C_d": (("gamma_d", "log_eta"),),
}


def centring(f, x) -> np.ndarray:
    """T (P, P) with z = T·theta for the form ``f`` on the features ``x``."""
    names = [p.name for p in f.params]
    T = np.eye(len(names))
    for coef, pairs in COUPLED.items():
        if coef not in names:
            continue
        for expo, feature in pairs:
            if expo not in names:
                continue
            T[names.index(coef), names.index(expo)] = _centre(x, feature)
    return T


def _centre(x, feature) -> float:
    if feature == "log_eta":
        live = (np.asarray(x["d"]) != 0) & (np.asarray(x["Sk"]) > 0)
        eta = np.asarray(x["eta"])[live]
        return -float(np.mean(np.log(eta))) if eta.size else 0.0
    return -float(np.mean(x[feature]))  # z = log A - nu·c: T[A, nu] = -c


def minimize(value_grad, theta0, f, x, T=None, **kwargs) -> lbfgs.BatchResult:
    """:func:`scalelab.laws.lbfgs.minimize` of ``value_grad`` (on theta) in the coordinates
    z = T·theta (default: :func:`centring`); the result is in theta. Coordinates that T mixes get
    wide boxes, and theta is clipped to the form's bounds before every evaluation."""
    T = centring(f, x) if T is None else T
    if np.array_equal(T, np.eye(len(T))):
        return lbfgs.minimize(value_grad, theta0, f.lower, f.upper, **kwargs)
    Tinv = np.linalg.inv(T)
    lower, upper = f.lower.copy(), f.upper.copy()
    moved = np.flatnonzero((np.abs(T - np.eye(len(T))) > 0).any(axis=1))
    lower[moved], upper[moved] = -1e4, 1e4

    def vg(z, rows):
        theta = np.clip(z @ Tinv.T, f.lower, f.upper)
        val, g = value_grad(theta, rows)
        return val, g @ Tinv

    res = lbfgs.minimize(vg, np.asarray(theta0) @ T.T, lower, upper, **kwargs)
    theta = np.clip(res.x @ Tinv.T, f.lower, f.upper)
    return lbfgs.BatchResult(theta, res.fun, res.grad @ T, res.n_iter, res.status, res.n_evals)
