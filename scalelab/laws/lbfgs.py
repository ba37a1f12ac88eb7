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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# What np.clip(x, lo, hi) (floats) and np.einsum (optimize=False, the default) call, without their
# Python wrappers: the same numbers, for a small share of the optimiser's many tiny calls.
# They are private names: a NumPy without them gets the public functions (the same numbers).
try:
    from numpy._core.multiarray import c_einsum as einsum
    from numpy._core.umath import clip
except ImportError:
    try:  # NumPy 1.x
        from numpy.core.multiarray import c_einsum as einsum
        from numpy.core.umath import clip
    except ImportError:
        einsum, clip = np.einsum, np.clip

ValueGrad = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""f(x, rows) -> (values (k,), gradients (k, P)) for the batch rows ``rows`` at points x (k, P)."""

CONVERGED, STALLED, MAX_ITER, NOT_FINITE, STAGNATED = 0, 1, 2, 3, 4
STATUS_NAMES = {
    CONVERGED: "converged",
    STALLED: "line search stalled",
    MAX_ITER: "iteration limit",
    NOT_FINITE: "non-finite objective",
    STAGNATED: "stagnated (no progress over a window)",
}


@dataclass
class BatchResult:
    x: np.ndarray  # (K, P) final points
    fun: np.ndarray  # (K,) final objective values
    grad: np.ndarray  # (K, P) final gradients
    n_iter: np.ndarray  # (K,) iterations taken
    status: np.ndarray  # (K,) one of CONVERGED, STALLED, MAX_ITER, NOT_FINITE
    n_evals: int  # total row-evaluations of the objective (for benchmarks)

    @property
    def converged(self) -> np.ndarray:
        """Rows that met a tolerance, stagnated, or stalled because no further decrease was
        representable."""
        return (self.status == CONVERGED) | (self.status == STALLED) | (self.status == STAGNATED)


def minimize(
    value_grad: ValueGrad,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    memory: int = 10,
    max_iter: int = 1000,
    ftol: float = 1e-12,
    gtol: float = 1e-12,
    window: int = 25,
    window_rtol: float = 1e-7,
    max_backtracks: int = 40,
) -> BatchResult:
    """Minimise K independent objectives from the starts ``x0`` (K, P) inside [lower, upper].

    A row stops when its relative decrease over one iteration is below ``ftol`` (relative to |f|,
    not to max(|f|, 1): scaling-law objectives are small numbers and scipy's absolute floor would
    stop them early), when its projected gradient is below ``gtol`` in the max-norm, when it has
    stagnated (its objective fell by less than ``window_rtol``, relative, over the last ``window``
    iterations: a start creeping along a plateau), when its line search cannot decrease f any more
    (stalled at machine precision), or after ``max_iter``.

    Only active rows are kept in the working arrays (finished rows are written out and dropped).
    The curvature memory is a ring shared by all rows: each iteration writes one slot, and a row
    whose step fails the curvature condition writes a zero pair there, which the recursion skips.
    """
    x_out = np.clip(np.array(x0, dtype=float), lower, upper)
    K, P = x_out.shape
    f_out, g_out = value_grad(x_out, np.arange(K))
    n_evals = K
    n_iter_out = np.zeros(K, dtype=int)
    status_out = np.full(K, -1)
    status_out[~np.isfinite(f_out)] = NOT_FINITE

    rows = np.flatnonzero(status_out < 0)  # original index of each working row
    x, f, g = x_out[rows], f_out[rows], g_out[rows]
    S = np.zeros((rows.size, memory, P))
    Y = np.zeros((rows.size, memory, P))
    rho = np.zeros((rows.size, memory))
    gamma = np.ones(rows.size)  # H0 scale from each row's latest accepted pair
    fresh = np.ones(rows.size, dtype=bool)  # no curvature pair yet (first step, or after a reset)
    n_iter = np.zeros(rows.size, dtype=int)
    f_window = f.copy()  # objective at the start of each row's current window
    head, filled = -1, 0  # newest ring slot, and how many slots were written

    for _ in range(max_iter):
        if rows.size == 0:
            break
        stop = np.full(rows.size, -1)
        stop[np.max(np.abs(_projected_gradient(x, g, lower, upper)), axis=1) <= gtol] = CONVERGED

        d = _respect_bounds(x, _two_loop(g, S, Y, rho, gamma, head, filled), lower, upper)
        slope = einsum("kp,kp->k", g, d)
        bad = ~(slope < 0)  # not a descent direction: reset memory, steepest descent
        if bad.any():
            S[bad], Y[bad], rho[bad], gamma[bad], fresh[bad] = 0.0, 0.0, 0.0, 1.0, True
            d[bad] = _respect_bounds(x[bad], -g[bad], lower, upper)
        step = np.ones(rows.size)  # first step scaled like scipy: 1/||d||, at most 1
        step[fresh] = np.minimum(1.0 / np.maximum(np.linalg.norm(d[fresh], axis=1), 1e-300), 1.0)

        # Backtracking (Armijo) line search on the projected path; values and gradients together:
        # the first trial is accepted almost always.
        # The pending rows' x, d, g, f and step are gathered once and shrunk with them.
        x_new, f_new, g_new = x.copy(), np.full(rows.size, np.inf), g.copy()
        pending = np.flatnonzero(stop < 0)
        xp, dp, gp, fp, sp = x[pending], d[pending], g[pending], f[pending], step[pending]
        for _ in range(max_backtracks):
            if pending.size == 0:
                break
            trial = clip(xp + sp[:, None] * dp, lower, upper)
            ft, gt = value_grad(trial, rows[pending])
            n_evals += pending.size
            decrease = einsum("kp,kp->k", gp, trial - xp)
            ok = np.isfinite(ft) & (ft <= fp + 1e-4 * decrease)
            if ok.all():
                x_new[pending], f_new[pending], g_new[pending] = trial, ft, gt
                pending = pending[:0]
                break
            if ok.any():
                acc = pending[ok]
                x_new[acc], f_new[acc], g_new[acc] = trial[ok], ft[ok], gt[ok]
                rest = ~ok
                pending, xp, dp, gp, fp, sp = (a[rest] for a in (pending, xp, dp, gp, fp, sp))
            sp = sp * 0.5
        stop[pending] = STALLED  # no acceptable step: nothing more to gain from here
        moved = stop < 0

        # Curvature pair into the next ring slot (a zero pair where the condition fails).
        head = (head + 1) % memory
        filled = min(filled + 1, memory)
        s_k, y_k = x_new - x, g_new - g
        sy = einsum("kp,kp->k", s_k, y_k)
        yy = einsum("kp,kp->k", y_k, y_k)
        # curvature condition; also drop pairs too small to invert (1/sy would overflow to inf)
        good = (
            moved & (sy > 1e-10 * yy) & (sy > 1e-200) & (yy > 0) & np.isfinite(sy) & np.isfinite(yy)
        )
        S[:, head] = np.where(good[:, None], s_k, 0.0)
        Y[:, head] = np.where(good[:, None], y_k, 0.0)
        rho[:, head] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        gamma = np.where(good, sy / np.where(good, yy, 1.0), gamma)
        fresh &= ~good

        rel = np.full(rows.size, np.inf)
        rel[moved] = (f[moved] - f_new[moved]) / np.maximum(
            np.maximum(np.abs(f[moved]), np.abs(f_new[moved])), 1e-300
        )
        x = np.where(moved[:, None], x_new, x)
        f = np.where(moved, f_new, f)
        g = np.where(moved[:, None], g_new, g)
        n_iter += moved
        stop[moved & (rel <= ftol)] = CONVERGED
        check = moved & (stop < 0) & (n_iter % window == 0)
        stuck = check & ((f_window - f) / np.maximum(np.abs(f), 1e-300) <= window_rtol)
        stop[stuck] = STAGNATED
        f_window = np.where(check, f, f_window)
        stop[moved & ~np.isfinite(f)] = NOT_FINITE

        done = stop >= 0
        if done.any():  # write finished rows out, shrink the working set
            r = rows[done]
            x_out[r], f_out[r], g_out[r], n_iter_out[r], status_out[r] = (
                x[done],
                f[done],
                g[done],
                n_iter[done],
                stop[done],
            )
            keep = ~done
            rows, x, f, g = rows[keep], x[keep], f[keep], g[keep]
            S, Y, rho, gamma, fresh = S[keep], Y[keep], rho[keep], gamma[keep], fresh[keep]
            n_iter, f_window = n_iter[keep], f_window[keep]

    if rows.size:  # still running at the iteration limit
        x_out[rows], f_out[rows], g_out[rows], n_iter_out[rows] = x, f, g, n_iter
        status_out[rows] = MAX_ITER
    return BatchResult(x_out, f_out, g_out, n_iter_out, status_out, n_evals)


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


def _two_loop(g, S, Y, rho, gamma, head, filled):
    """L-BFGS two-loop recursion for every row: the direction -H g.

    The ring's newest slot is ``head``; ``filled`` slots have been written. Zero pairs (rho = 0)
    drop out of the recursion, so rows whose memory holds fewer pairs need no masking.
    """
    m = S.shape[1]
    slots = [(head - j) % m for j in range(filled)]  # newest first
    q = -g  # a new array: updated in place below (the same arithmetic, fewer temporaries)
    alpha = {}
    for i in slots:
        alpha[i] = rho[:, i] * einsum("kp,kp->k", S[:, i], q)
        q -= alpha[i][:, None] * Y[:, i]
    q *= gamma[:, None]
    for i in reversed(slots):
        beta = rho[:, i] * einsum("kp,kp->k", Y[:, i], q)
        q += (alpha[i] - beta)[:, None] * S[:, i]
    return q
