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

import itertools

import numpy as np

from scalelab.laws import lbfgs
from scalelab.laws.curve_forms import params

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


def starts(law: str, joint: bool, x: dict, loss: np.ndarray) -> np.ndarray:
    """The grid of starts scaled to the data: floor, power-law gap and annealing terms of
    sensible size."""
    lo = float(np.min(loss))
    s1 = float(np.exp(np.median(x["logS1"])))
    s2 = max(float(np.max(x["S2"])), 1e-12)
    logN = float(np.median(x["logN"]))
    axes = []
    for p in params(law, joint):
        if p.name in ("E", "L0"):
            axes.append(np.log(lo * np.array([0.5, 0.85])))
        elif p.name == "B":
            axes.append([np.log(0.3 * lo) + 0.3 * logN])
        elif p.name == "beta":
            axes.append([0.3])
        elif p.name == "nu":
            axes.append([0.0, 0.3] if law == "annealing" else [0.1])
        elif p.name == "alpha":
            axes.append([0.3, 0.8] if law == "annealing" else [0.5])
        elif p.name == "A":
            gap = np.log(np.array([0.1, 0.5]) * lo)
            axes.append(gap + 0.5 * np.log(s1) + (0.15 * logN if joint else 0.0))
        elif p.name == "C":
            axes.append(np.log(np.array([0.01, 0.1]) * lo / s2))
        elif p.name == "Bbeta_d":
            axes.append(np.log(np.array([15.0, 150.0]) * lo))
        elif p.name == "C_d":
            axes.append([0.0, 2.0])
        elif p.name in ("beta_d", "gamma_d"):
            axes.append([0.5])
    x0 = np.array(list(itertools.product(*axes)), dtype=float)
    f = params(law, joint)
    return np.clip(x0, [p.lower for p in f], [p.upper for p in f])


def polish(f, obj, theta, max_iter: int) -> tuple[np.ndarray, float, bool]:
    """The unweighted objective's minimum from ``theta`` in centred coordinates: (theta, its
    objective, converged). The grid's best start can stop short of the minimum (the multi-power
    law on the OLMo rungs: at the iteration limit, or stalled in theta's own coordinates with
    gamma_d still moving), and one refit in centred coordinates walks the rest of the way: the
    reported fit and the bootstrap's common start. ``theta`` is kept (converged as the caller
    says: ``converged`` False here) where the walk does not lower the objective."""
    res = minimize(obj.value_grad, theta[None, :], f, obj.logx, max_iter=max_iter)
    f0 = float(obj.value_grad(theta[None, :], np.zeros(1, dtype=int))[0][0])
    if np.isfinite(res.fun[0]) and res.fun[0] <= f0:
        return res.x[0], float(res.fun[0]), bool(res.converged[0])
    return theta, f0, False
