"""Step 2 of a task prediction: accuracy as a function of an intermediate loss L (the *link*).

Links, each fitted by least squares on accuracy, all starts (or bootstrap replicates) at once with
the batched L-BFGS of :mod:`scalelab.laws.lbfgs`. ``c`` is chance, ``top`` the task's maximum
accuracy (1 unless given: a model whose loss on the correct answers is zero always picks them):

* ``sigmoid`` (the default; both ends pinned by what is known, not by where the ladder stopped):
  acc = c + (top - c) (1 + e^(-k L0)) / (1 + e^(k (L - L0))): chance at high loss, exactly
  ``top`` at L = 0; parameters log k, L0. The ceiling a free sigmoid would fit from ladder
  points that never approach it is here implied by the ideal point.
* ``olmo`` (Bhagia et al. 2024, ``src/scripts/step2.py`` of allenai/OLMo-ladder):
  acc = a / (1 + e^(-k (L - L0))) + b, a in [-1, 0], b in [0, 1], k >= 0, fitted with one extra
  "ideal" point (L = 0, acc = top); parameters a, L0, log k, b.
* ``exp`` (Gadre et al. 2024, ``scaling/shared.py`` of mlfoundations/scaling):
  Err = epsilon - k e^(-gamma L), acc = 1 - Err, epsilon free in [0, 1]; parameters epsilon,
  log k, log gamma.
* ``sigmoid-free``: acc = c + (ceiling - c) / (1 + e^(k (L - L0))), the ceiling fitted in
  (c, 1] (internally c + (1 - c) sigma(u)); parameters u, log k, L0. It settles near the best
  rung's accuracy: kept for comparison.

Every prediction is clipped to [0, 1] (:meth:`LinkFit.predict`), intervals too
(:mod:`scalelab.tasks.chain`). Bootstrap replicates start from the full fit's optimum (warm
starts): each is one row of the batch, with weights that count how often each point's run was
drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import lbfgs
from scalelab.tasks.options import LINKS

AUTO_LINKS = ("olmo", "sigmoid", "exp")
STARTS = 4
"""Grid starts minimised (the best by objective value of the initialisation grid)."""
TOP = 1.0
"""The task's maximum accuracy at zero task loss (the OLMo ladder's ``task_maximum``)."""
PARAMS = {
    "sigmoid": ("log_k", "L0"),
    "olmo": ("a", "L0", "log_k", "b"),
    "exp": ("epsilon", "log_k", "log_gamma"),
    "sigmoid-free": ("u", "log_k", "L0"),
}
if set(PARAMS) != set(LINKS) or not set(AUTO_LINKS) <= set(LINKS):  # the names' source: options
    raise ImportError(f"tasks.links: links {sorted(PARAMS)} differ from TaskOptions' {LINKS}")


def _sig(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


def raw(link: str, theta: np.ndarray, L: np.ndarray, chance: float, top: float = TOP):
    """Unclipped accuracy (K, n) of each row of theta (K, P) at L (n,)."""
    L = np.asarray(L, dtype=float)[None, :]
    t = np.atleast_2d(theta)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if link == "sigmoid":
            k, L0 = np.exp(t[:, 0:1]), t[:, 1:2]
            # (1 + e^(-k L0)) / (1 + e^(k (L - L0))) in logs, stable for large k L0
            log_ratio = np.logaddexp(0.0, -k * L0) - np.logaddexp(0.0, k * (L - L0))
            return chance + (top - chance) * np.exp(np.minimum(log_ratio, 0.0))
        if link == "olmo":
            a, L0, k, b = t[:, 0:1], t[:, 1:2], np.exp(t[:, 2:3]), t[:, 3:4]
            return a * _sig(k * (L - L0)) + b
        if link == "exp":
            eps, logk, gamma = t[:, 0:1], t[:, 1:2], np.exp(t[:, 2:3])
            return 1.0 - eps + np.exp(logk - gamma * L)
        if link == "sigmoid-free":
            ceiling = chance + (1 - chance) * _sig(t[:, 0:1])
            return chance + (ceiling - chance) * _sig(-np.exp(t[:, 1:2]) * (L - t[:, 2:3]))
    raise InputError(f"link: expected one of {', '.join(LINKS)} or auto, got {link!r}")


def jacobian(link: str, theta: np.ndarray, L: np.ndarray, chance: float, top: float = TOP):
    """d accuracy / d theta of each row of theta (K, P) at L (n,): (K, n, P)."""
    return raw_and_jacobian(link, theta, L, chance, top)[1]


def raw_and_jacobian(link: str, theta: np.ndarray, L: np.ndarray, chance: float, top: float = TOP):
    """The link's accuracy (as :func:`raw`, bit for bit) and its d accuracy / d theta, sharing
    their intermediate terms (the fits' inner loop)."""
    L = np.asarray(L, dtype=float)[None, :]
    t = np.atleast_2d(theta)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if link == "sigmoid":
            k, L0 = np.exp(t[:, 0:1]), t[:, 1:2]
            z = k * (L - L0)
            log_ratio = np.logaddexp(0.0, -k * L0) - np.logaddexp(0.0, z)
            scale = (top - chance) * np.exp(np.minimum(log_ratio, 0.0))
            s0, s1 = _sig(-k * L0), _sig(z)
            d_logk = k * (-L0 * s0 - (L - L0) * s1)
            d_L0 = k * (s1 - s0)
            return chance + scale, np.stack([scale * d_logk, scale * d_L0], axis=-1)
        if link == "olmo":
            a, L0, k, b = t[:, 0:1], t[:, 1:2], np.exp(t[:, 2:3]), t[:, 3:4]
            u = k * (L - L0)
            S = _sig(u)
            dS = a * S * (1 - S)
            return a * S + b, np.stack([S, -k * dS, u * dS, np.ones_like(S)], axis=-1)
        if link == "exp":
            eps, gamma = t[:, 0:1], np.exp(t[:, 2:3])
            e = np.exp(t[:, 1:2] - gamma * L)
            return 1.0 - eps + e, np.stack([-np.ones_like(e), e, -e * gamma * L], axis=-1)
        if link == "sigmoid-free":
            su = _sig(t[:, 0:1])
            k, L0 = np.exp(t[:, 1:2]), t[:, 2:3]
            z = k * (L - L0)
            S = _sig(-z)
            span = (1 - chance) * su
            dS = S * (1 - S)
            value = chance + (chance + span - chance) * S  # as raw() computes it, bit for bit
            d = [(1 - chance) * su * (1 - su) * S, -span * dS * z, span * dS * k]
            return value, np.stack(d, axis=-1)
    return raw(link, theta, L[0], chance, top), None  # raw() names the unknown link


def natural(link: str, theta: np.ndarray, chance: float, top: float = TOP) -> dict:
    """Published parameters of each row of theta (K, P)."""
    t = np.atleast_2d(theta)
    if link == "sigmoid":
        k, L0 = np.exp(t[:, 0]), t[:, 1]
        return {"k": k, "L0": L0, "ceiling": chance + (top - chance) * (1 + np.exp(-k * L0))}
    if link == "olmo":
        return {"a": t[:, 0], "L0": t[:, 1], "k": np.exp(t[:, 2]), "b": t[:, 3]}
    if link == "exp":
        return {"epsilon": t[:, 0], "k": np.exp(t[:, 1]), "gamma": np.exp(t[:, 2])}
    return {
        "ceiling": chance + (1 - chance) * _sig(t[:, 0]),
        "k": np.exp(t[:, 1]),
        "L0": t[:, 2],
    }


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
    top: float = TOP

    def predict(self, L, theta: Optional[np.ndarray] = None) -> np.ndarray:
        """Accuracy in [0, 1] at L (n,) for parameters theta (K, P): (K, n); or at the fitted
        parameters: (n,)."""
        L = np.atleast_1d(np.asarray(L, dtype=float))
        if theta is None:
            return np.clip(raw(self.link, self.theta, L, self.chance, self.top)[0], 0.0, 1.0)
        return np.clip(raw(self.link, theta, L, self.chance, self.top), 0.0, 1.0)

    def predict_pairs(self, L: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Unclipped accuracy of replicate i at L[i] with parameters theta[i]: (K,)."""
        L = np.asarray(L, dtype=float)
        out = np.empty(len(L))
        for i in range(0, len(L), 256):  # rows i of the (K, K) table, without forming it
            block = slice(i, i + 256)
            vals = raw(self.link, theta[block], L[block], self.chance, self.top)
            out[block] = np.diagonal(vals)
        return out

    def natural_samples(self) -> dict[str, np.ndarray]:
        if self.samples is None:
            return {}
        return natural(self.link, self.samples, self.chance, self.top)


def _bounds(link: str, L: np.ndarray):
    lo, hi = float(L.min()), float(L.max())
    span = max(hi - lo, 1e-6)
    logk = (np.log(1e-3 / span), np.log(1e4 / span))
    if link == "sigmoid":
        return np.array([logk[0], -10 * max(hi, span)]), np.array([logk[1], hi + 10 * span])
    if link == "olmo":
        return (
            np.array([-1.0, lo - 10 * span, logk[0], 0.0]),
            np.array([0.0, hi + 10 * span, logk[1], 1.0]),
        )
    if link == "exp":
        return np.array([0.0, -40.0, np.log(1e-3 / span)]), np.array([1.0, 40.0, 3.0])
    return (
        np.array([-15.0, logk[0], lo - 10 * span]),
        np.array([15.0, logk[1], hi + 10 * span]),
    )


def _grid(link: str, L: np.ndarray, chance: float) -> np.ndarray:
    span = max(float(L.max() - L.min()), 1e-6)
    qs = np.quantile(L, [0.1, 0.5, 0.9])
    ks = [np.log(k / span) for k in (0.5, 2.0, 8.0)]
    if link == "sigmoid":
        mid = float(np.median(L))
        return np.array([[k, L0] for k in ks for L0 in (*qs, 0.5 * mid, 0.0)])
    if link == "olmo":
        return np.array(
            [[chance - 1.0, L0, k, 1.0] for L0 in qs for k in ks]
            + [[-0.5, L0, k, 0.8] for L0 in qs for k in ks]
        )
    if link == "exp":
        mid = float(np.median(L))
        return np.array(
            [
                [e, g / span * mid + np.log(t), np.log(g / span)]
                for e in (0.5 * (1 - chance), 1 - chance, 0.95)
                for g in (0.5, 2.0, 8.0)
                for t in (0.05, 0.3, 1.0)
            ]
        )
    return np.array([[u, k, L0] for u in (-1.0, 1.0, 3.0) for k in ks for L0 in qs])


class _Objective:
    """Half the (weighted) sum of squared accuracy residuals per row of theta, and its gradient
    (:func:`jacobian`)."""

    def __init__(self, link, L, acc, chance, top, weights=None):
        self.link, self.L, self.acc, self.chance, self.top = link, L, acc, chance, top
        self.weights = weights

    def _f(self, theta, rows):
        r = raw(self.link, theta, self.L, self.chance, self.top) - self.acc[None, :]
        w = 1.0 if self.weights is None else self.weights[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            f = 0.5 * np.sum(w * r * r, axis=1)
        return np.where(np.isfinite(f), f, np.inf)

    def __call__(self, theta: np.ndarray, rows: np.ndarray):
        acc, jac = raw_and_jacobian(self.link, theta, self.L, self.chance, self.top)
        r = acc - self.acc[None, :]
        w = 1.0 if self.weights is None else self.weights[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            wr = w * r
            f = 0.5 * np.sum(wr * r, axis=1)
            g = np.einsum("kn,knp->kp", wr, jac)
        f = np.where(np.isfinite(f), f, np.inf)
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
    top: float = TOP,
) -> LinkFit:
    """Fit the link to points (L, acc); with ``bootstrap`` resamples of runs (``run_codes``, one
    integer per point), warm-started at the fit. ``olmo`` adds its ideal point (0, ``top``)."""
    if link not in LINKS:
        raise InputError(f"link: expected one of {', '.join(LINKS)} or auto, got {link!r}")
    L = np.asarray(L, dtype=float)
    acc = np.asarray(acc, dtype=float)
    n_params = len(PARAMS[link])
    if len(L) < n_params + 2:
        raise NumericalError(f"step 2 ({link}) needs at least {n_params + 2} points, got {len(L)}")
    codes = np.zeros(len(L), dtype=int) if run_codes is None else np.asarray(run_codes, int)
    if link == "olmo":  # the ideal point, a run of its own that every replicate keeps
        L, acc = np.append(L, 0.0), np.append(acc, top)
    lower, upper = _bounds(link, L)
    objective = _Objective(link, L, acc, chance, top)
    starts = np.clip(_grid(link, L, chance), lower, upper)
    starts = starts[np.argsort(objective._f(starts, np.arange(len(starts))))[:STARTS]]
    res = lbfgs.minimize(objective, starts, lower, upper, max_iter=300, ftol=1e-10, window=10,
                         window_rtol=1e-6)  # fmt: skip
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
    best = int(np.argmin(fun))
    if not np.isfinite(fun[best]):
        raise NumericalError(f"step 2 ({link}) failed: no start reached a finite objective")
    theta = res.x[best]
    resid = raw(link, theta, L, chance, top)[0] - acc
    sd = float(np.sqrt(np.sum(resid**2) / max(len(L) - n_params, 1)))
    params = {k: float(v[0]) for k, v in natural(link, theta, chance, top).items()}
    out = LinkFit(link, float(chance), theta, params, sd, int(len(L)), top=float(top))
    if bootstrap:
        n_runs = int(codes.max()) + 1
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=bootstrap)
        weights = counts[:, codes].astype(float)
        if link == "olmo":
            weights = np.column_stack([weights, np.ones(bootstrap)])
        boot = lbfgs.minimize(
            _Objective(link, L, acc, chance, top, weights),
            np.tile(theta, (bootstrap, 1)),
            lower,
            upper,
            max_iter=200,
            ftol=1e-10,
            window=10,
            window_rtol=1e-6,
        )
        out.samples = boot.x[np.isfinite(boot.fun)]
    return out
