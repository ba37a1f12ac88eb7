"""Batched, bound-constrained L-BFGS: many independent small problems advanced together.

A scaling-law fit is thousands of independent minimisations of a function of ~5 parameters (one
per start of the initialisation grid, or one per bootstrap resample). Looping over
``scipy.optimize.minimize`` pays Python overhead per start and per iteration; here every start is a
row of a ``(K, P)`` array, and each iteration evaluates all active rows in one vectorised call.

Each row keeps its own curvature memory, its own backtracking (Armijo) line search and its own
convergence test, so the result for a row is what a sequential projected L-BFGS would give for
that start alone. Bounds are handled by projection: a step is clipped to the box, and directions
that push an active bound outward are zeroed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ValueGrad = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""f(x, rows) -> (values (k,), gradients (k, P)) for the batch rows ``rows`` at points x (k, P)."""

CONVERGED, STALLED, MAX_ITER, NOT_FINITE, STAGNATED = 0, 1, 2, 3, 4
STATUS_NAMES = {CONVERGED: "converged", STALLED: "line search stalled", MAX_ITER: "iteration limit",
                NOT_FINITE: "non-finite objective", STAGNATED: "stagnated (no progress over a window)"}


@dataclass
class BatchResult:
    x: np.ndarray          # (K, P) final points
    fun: np.ndarray        # (K,) final objective values
    grad: np.ndarray       # (K, P) final gradients
    n_iter: np.ndarray     # (K,) iterations taken
    status: np.ndarray     # (K,) one of CONVERGED, STALLED, MAX_ITER, NOT_FINITE
    n_evals: int           # total row-evaluations of the objective (for benchmarks)

    @property
    def converged(self) -> np.ndarray:
        """Rows that met a tolerance, stagnated, or stalled because no further decrease was representable."""
        return (self.status == CONVERGED) | (self.status == STALLED) | (self.status == STAGNATED)


def minimize(value_grad: ValueGrad, x0: np.ndarray, lower: np.ndarray,
             upper: np.ndarray, *, memory: int = 10, max_iter: int = 1000, ftol: float = 1e-12,
             gtol: float = 1e-12, window: int = 50, window_rtol: float = 1e-8,
             max_backtracks: int = 40) -> BatchResult:
    """Minimise K independent objectives from the starts ``x0`` (K, P) inside [lower, upper].

    A row stops when its relative decrease over one iteration is below ``ftol`` (relative to |f|,
    not to max(|f|, 1): scaling-law objectives are small numbers and scipy's absolute floor would
    stop them early), when its projected gradient is below ``gtol`` in the max-norm, when it has
    stagnated (its objective fell by less than ``window_rtol``, relative, over the last ``window``
    iterations: a start creeping along a plateau), when its line search cannot decrease f any more
    (stalled at machine precision), or after ``max_iter``.
    """
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    K, P = x.shape
    f, g = value_grad(x, np.arange(K))
    n_evals = K
    S = np.zeros((K, memory, P))
    Y = np.zeros((K, memory, P))
    rho = np.zeros((K, memory))
    n_pairs = np.zeros(K, dtype=int)       # valid pairs in memory: the last n_pairs slots; the others are zero
    n_iter = np.zeros(K, dtype=int)
    f_window = f.copy()                    # objective at the start of each row's current window
    status = np.full(K, -1)
    status[~np.isfinite(f)] = NOT_FINITE
    active = np.flatnonzero(status < 0)

    for _ in range(max_iter):
        if active.size == 0:
            break
        xa, fa, ga = x[active], f[active], g[active]
        pg = _projected_gradient(xa, ga, lower, upper)
        small = np.max(np.abs(pg), axis=1) <= gtol
        status[active[small]] = CONVERGED
        keep = ~small
        active, xa, fa, ga = active[keep], xa[keep], fa[keep], ga[keep]
        if active.size == 0:
            break

        d = _two_loop(ga, S[active], Y[active], rho[active], n_pairs[active])
        d = _respect_bounds(xa, d, lower, upper)
        slope = np.einsum("kp,kp->k", ga, d)
        bad = ~(slope < 0)                 # not a descent direction: reset memory, steepest descent
        if bad.any():
            reset = active[bad]
            n_pairs[reset] = 0
            S[reset], Y[reset], rho[reset] = 0.0, 0.0, 0.0
            d[bad] = _respect_bounds(xa[bad], -ga[bad], lower, upper)
        first = n_pairs[active] == 0       # no curvature yet: scale the step like scipy (1/||d||)
        step = np.ones(active.size)
        norms = np.linalg.norm(d, axis=1)
        step[first] = 1.0 / np.maximum(norms[first], 1e-300)
        step[first] = np.minimum(step[first], 1.0)

        # Backtracking line search on the projected path, all rows at once. Values and gradients
        # are computed together at each trial: the first trial is accepted almost always.
        x_new = np.empty_like(xa)
        f_m_all = np.full(active.size, np.inf)
        g_m_all = np.empty_like(ga)
        pending = np.arange(active.size)
        for _ in range(max_backtracks):
            trial = np.clip(xa[pending] + step[pending, None] * d[pending], lower, upper)
            ft, gt = value_grad(trial, active[pending])
            n_evals += pending.size
            decrease = np.einsum("kp,kp->k", ga[pending], trial - xa[pending])
            ok = np.isfinite(ft) & (ft <= fa[pending] + 1e-4 * decrease)
            acc = pending[ok]
            x_new[acc], f_m_all[acc], g_m_all[acc] = trial[ok], ft[ok], gt[ok]
            pending = pending[~ok]
            if pending.size == 0:
                break
            step[pending] *= 0.5
        if pending.size:                   # no acceptable step: nothing more to gain from here
            status[active[pending]] = STALLED
        moved = np.setdiff1d(np.arange(active.size), pending, assume_unique=True)
        if moved.size == 0:
            active = np.empty(0, dtype=int)
            break

        rows = active[moved]
        f_m, g_m = f_m_all[moved], g_m_all[moved]
        s = x_new[moved] - xa[moved]
        y = g_m - ga[moved]
        sy = np.einsum("kp,kp->k", s, y)
        yy = np.einsum("kp,kp->k", y, y)
        good = sy > 1e-10 * yy
        if good.any():
            gr = rows[good]
            S[gr] = np.roll(S[gr], -1, axis=1)
            Y[gr] = np.roll(Y[gr], -1, axis=1)
            rho[gr] = np.roll(rho[gr], -1, axis=1)
            S[gr, -1] = s[good]
            Y[gr, -1] = y[good]
            rho[gr, -1] = 1.0 / sy[good]
            n_pairs[gr] = np.minimum(n_pairs[gr] + 1, memory)
        rel = (fa[moved] - f_m) / np.maximum(np.maximum(np.abs(fa[moved]), np.abs(f_m)), 1e-300)
        x[rows], f[rows], g[rows] = x_new[moved], f_m, g_m
        n_iter[rows] += 1
        done = rel <= ftol
        status[rows[done]] = CONVERGED
        check = (n_iter[rows] % window == 0) & ~done
        if check.any():
            cr = rows[check]
            stuck = (f_window[cr] - f[cr]) / np.maximum(np.abs(f[cr]), 1e-300) <= window_rtol
            status[cr[stuck]] = STAGNATED
            f_window[cr] = f[cr]
        status[rows[~np.isfinite(f_m)]] = NOT_FINITE
        active = rows[status[rows] < 0]

    status[status < 0] = MAX_ITER
    return BatchResult(x, f, g, n_iter, status, n_evals)


def _projected_gradient(x, g, lower, upper):
    pg = g.copy()
    pg[(x <= lower) & (g > 0)] = 0.0
    pg[(x >= upper) & (g < 0)] = 0.0
    return pg


def _respect_bounds(x, d, lower, upper):
    d = d.copy()
    d[(x <= lower) & (d < 0)] = 0.0
    d[(x >= upper) & (d > 0)] = 0.0
    return d


def _two_loop(g, S, Y, rho, n_pairs):
    """L-BFGS two-loop recursion for every row: the direction -H g.

    Memory slots hold the newest pair last; slots a row has not filled are all zero (``rho`` = 0),
    so they drop out of the recursion without masking, and slots no row uses are skipped.
    """
    m = S.shape[1]
    used = int(n_pairs.max()) if n_pairs.size else 0
    q = -g
    alpha = np.empty((g.shape[0], m))
    for i in range(m - 1, m - 1 - used, -1):
        alpha[:, i] = rho[:, i] * np.einsum("kp,kp->k", S[:, i], q)
        q = q - alpha[:, i, None] * Y[:, i]
    if used:
        last_y = Y[:, -1]
        yy = np.einsum("kp,kp->k", last_y, last_y)
        gamma = np.where(n_pairs > 0, 1.0 / np.maximum(rho[:, -1] * yy, 1e-300), 1.0)
        q = q * gamma[:, None]
    for i in range(m - used, m):
        beta = rho[:, i] * np.einsum("kp,kp->k", Y[:, i], q)
        q = q + (alpha[:, i] - beta)[:, None] * S[:, i]
    return q
