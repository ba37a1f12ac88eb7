"""Step 2 of a task prediction: accuracy as a function of an intermediate loss (the *link*).

Two links, each fitted by least squares on accuracy, all points (or bootstrap replicates) at once
with the batched L-BFGS of :mod:`scalelab.laws.lbfgs`:

* ``sigmoid`` (Bhagia et al. 2024): acc = chance + (ceiling - chance) / (1 + exp(k (L - L0))),
  with the ceiling fitted in (chance, 1]: internally ceiling = chance + (1 - chance) sigma(u);
  parameters u, log k, L0;
* ``exp`` (Gadre et al. 2024): Err = epsilon - k exp(-gamma L), acc = 1 - Err, with epsilon in
  [0, 1 - chance] so that accuracy stays at or above chance; parameters epsilon, log k, log gamma.

Bootstrap replicates start from the full fit's optimum (warm starts): each is one row of the batch,
with weights that count how often each point's run was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import lbfgs

LINKS = ("sigmoid", "exp")


@dataclass
class LinkFit:
    """A fitted link: internal parameters, natural ones, bootstrap samples (internal)."""

    link: str
    chance: float
    theta: np.ndarray
    params: dict
    residual_sd: float
    n_points: int
    samples: Optional[np.ndarray] = None

    def predict(self, L, theta: Optional[np.ndarray] = None) -> np.ndarray:
        """Accuracy at intermediate values L (n,) for parameters theta (K, P): (K, n); or at the
        fitted parameters: (n,)."""
        L = np.atleast_1d(np.asarray(L, dtype=float))
        if theta is None:
            return value(self.link, self.theta[None, :], L, self.chance)[0][0]
        return value(self.link, theta, L, self.chance)[0]

    def predict_pairs(self, L: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Accuracy of replicate i at L[i] with parameters theta[i]: (K,)."""
        with np.errstate(over="ignore", invalid="ignore"):
            if self.link == "sigmoid":
                ceiling = self.chance + (1 - self.chance) * _sig(theta[:, 0])
                z = np.exp(theta[:, 1]) * (L - theta[:, 2])
                return self.chance + (ceiling - self.chance) * _sig(-z)
            return 1 - theta[:, 0] + np.exp(theta[:, 1] - np.exp(theta[:, 2]) * L)

    def natural_samples(self) -> dict[str, np.ndarray]:
        return natural(self.link, self.samples, self.chance) if self.samples is not None else {}


def _sig(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


def value(link: str, theta: np.ndarray, L: np.ndarray, chance: float):
    """(accuracy (K, n), d accuracy / d theta (K, n, P)) of the link."""
    with np.errstate(over="ignore", invalid="ignore"):
        if link == "sigmoid":
            u, logk, L0 = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
            su = _sig(u)
            span = (1 - chance) * su
            k = np.exp(logk)
            z = k * (L[None, :] - L0)
            s = _sig(-z)
            acc = chance + span * s
            ds = -s * (1 - s)  # d s / d z
            grad = np.stack(
                [
                    s * (1 - chance) * su * (1 - su) * np.ones_like(z),
                    span * ds * z,
                    -span * ds * k,
                ],
                axis=-1,
            )
            return acc, grad
        eps, logk, logg = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        gamma = np.exp(logg)
        t = np.exp(logk - gamma * L[None, :])
        acc = 1 - eps + t
        grad = np.stack([-np.ones_like(t), t, -t * gamma * L[None, :]], axis=-1)
        return acc, grad


def natural(link: str, theta: np.ndarray, chance: float) -> dict[str, np.ndarray]:
    """Published parameters of each row of theta (K, P)."""
    theta = np.atleast_2d(theta)
    if link == "sigmoid":
        return {
            "ceiling": chance + (1 - chance) * _sig(theta[:, 0]),
            "k": np.exp(theta[:, 1]),
            "L0": theta[:, 2],
        }
    return {"epsilon": theta[:, 0], "k": np.exp(theta[:, 1]), "gamma": np.exp(theta[:, 2])}


def _bounds(link: str, L: np.ndarray, chance: float):
    lo, hi = float(L.min()), float(L.max())
    span = max(hi - lo, 1e-6)
    if link == "sigmoid":
        return (
            np.array([-15.0, np.log(1e-3 / span), lo - 10 * span]),
            np.array([15.0, np.log(1e4 / span), hi + 10 * span]),
        )
    return np.array([0.0, -40.0, np.log(1e-3 / span)]), np.array([1 - chance, 40.0, 3.0])


def _grid(link: str, L: np.ndarray, chance: float) -> np.ndarray:
    span = max(float(L.max() - L.min()), 1e-6)
    if link == "sigmoid":
        return np.array(
            [
                [u, np.log(k / span), L0]
                for u in (-1.0, 1.0, 3.0)
                for k in (1.0, 4.0, 16.0)
                for L0 in np.quantile(L, [0.1, 0.5, 0.9])
            ]
        )
    mid = float(np.median(L))
    return np.array(
        [
            [e * (1 - chance), g / span * mid + np.log(t), np.log(g / span)]
            for e in (0.7, 1.0)
            for g in (0.5, 2.0, 8.0)
            for t in (0.05, 0.3, 1.0)
        ]
    )


class _Objective:
    """Half the (weighted) sum of squared accuracy residuals and its gradient, with the gradient
    reduced point by point (no (K, n, P) Jacobian is formed)."""

    def __init__(self, link, L, acc, chance, weights=None):
        self.link, self.L, self.acc, self.chance, self.weights = link, L, acc, chance, weights

    def __call__(self, theta: np.ndarray, rows: np.ndarray):
        c, L = self.chance, self.L[None, :]
        with np.errstate(over="ignore", invalid="ignore"):
            if self.link == "sigmoid":
                su = _sig(theta[:, 0:1])
                span = (1 - c) * su
                k = np.exp(theta[:, 1:2])
                z = k * (L - theta[:, 2:3])
                s = _sig(-z)
                r = c + span * s - self.acc[None, :]
                wr = r if self.weights is None else r * self.weights[rows]
                wds = wr * (s * (s - 1))  # w r ds/dz
                g = np.column_stack(
                    [
                        (1 - c) * su[:, 0] * (1 - su[:, 0]) * np.einsum("kn,kn->k", wr, s),
                        span[:, 0] * np.einsum("kn,kn->k", wds, z),
                        -span[:, 0] * k[:, 0] * wds.sum(axis=1),
                    ]
                )
            else:
                gamma = np.exp(theta[:, 2:3])
                t = np.exp(theta[:, 1:2] - gamma * L)
                r = 1 - theta[:, 0:1] + t - self.acc[None, :]
                wr = r if self.weights is None else r * self.weights[rows]
                wt = wr * t
                g = np.column_stack([-wr.sum(axis=1), wt.sum(axis=1), -gamma[:, 0] * (wt @ self.L)])
            f = 0.5 * np.einsum("kn,kn->k", wr, r)
        f[~np.isfinite(f)] = np.inf
        g[~np.isfinite(g)] = 0.0
        return f, g


def fit_link(
    link: str,
    L: np.ndarray,
    acc: np.ndarray,
    chance: float,
    run_codes: Optional[np.ndarray] = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> LinkFit:
    """Fit the link to points (L, acc); with ``bootstrap`` resamples of runs (``run_codes``, one
    integer per point), warm-started at the fit."""
    if link not in LINKS:
        raise InputError(f"link: expected one of {', '.join(LINKS)}, got {link!r}")
    L = np.asarray(L, dtype=float)
    acc = np.asarray(acc, dtype=float)
    if len(L) < 4:
        raise NumericalError(f"step 2 ({link}) needs at least 4 points, got {len(L)}")
    lower, upper = _bounds(link, L, chance)
    starts = np.clip(_grid(link, L, chance), lower, upper)
    res = lbfgs.minimize(_Objective(link, L, acc, chance), starts, lower, upper, max_iter=500)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
    best = int(np.argmin(fun))
    if not np.isfinite(fun[best]):
        raise NumericalError(f"step 2 ({link}) failed: no start reached a finite objective")
    theta = res.x[best]
    resid = value(link, theta[None, :], L, chance)[0][0] - acc
    p = len(theta)
    sd = float(np.sqrt(np.sum(resid**2) / max(len(L) - p, 1)))
    params = {k: float(v[0]) for k, v in natural(link, theta, chance).items()}
    out = LinkFit(link, float(chance), theta, params, sd, int(len(L)))
    if bootstrap and run_codes is not None:
        codes = np.asarray(run_codes)
        n_runs = int(codes.max()) + 1
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=bootstrap)
        weights = counts[:, codes].astype(float)
        boot = lbfgs.minimize(
            _Objective(link, L, acc, chance, weights),
            np.tile(theta, (bootstrap, 1)),
            lower,
            upper,
            max_iter=300,
        )
        ok = np.isfinite(boot.fun)
        out.samples = boot.x[ok]
    return out
