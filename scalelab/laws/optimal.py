"""Compute-optimal allocation: for a budget C, the N and D that minimise the law's loss.

The budget is spent as C = 6 N D (the convention the law's N was fitted under). For
``chinchilla`` and ``chinchilla-tied`` the frontier has a closed form (Hoffmann et al. 2022, Eq. 4);
for any other form in N and D it is found numerically: a log-spaced scan of N followed by a
golden-section refinement, vectorised over budgets and over bootstrap parameter samples.
"""

from __future__ import annotations

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.formkit import Form

FLOPS_PER_PARAM_TOKEN = 6.0
SCAN_POINTS = 241
SCAN_HALF_WIDTH = 30.0  # scan log N within +-30 of log sqrt(C/6): tokens/param from e^-60 to e^60
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def require_nd(form: Form) -> None:
    if set(form.variables) != {"N", "D"}:
        raise InputError(
            f"form '{form.name}' depends on {', '.join(form.variables)}; a compute-optimal "
            "allocation needs a law in N and D (e.g. chinchilla, chinchilla-tied, kaplan-nd)"
        )


def allocate(form: Form, theta: np.ndarray, C, numeric: bool = False):
    """N_opt and D_opt for parameter vectors ``theta`` (K, P) or (P,) and budgets ``C``.

    Returns arrays of shape theta.shape[:-1] + C.shape. Entries are NaN where the law has no
    interior optimum within tokens/parameter e^+-60 (the loss keeps falling towards an edge).
    ``numeric=True`` forces the numerical search even where a closed form exists (for tests).
    """
    require_nd(form)
    theta = np.asarray(theta, dtype=float)
    C = np.asarray(C, dtype=float)
    batch = theta.reshape(-1, theta.shape[-1])
    half = np.log(C.ravel() / FLOPS_PER_PARAM_TOKEN)  # log(N D)
    if form.frontier is not None and not numeric:
        a, b, G = form.frontier(form.natural(batch))
        with np.errstate(
            divide="ignore", invalid="ignore", over="ignore"
        ):  # G = 0 or inf: no optimum
            logN = np.log(G)[:, None] + a[:, None] * half[None, :]
    else:
        logN = _numeric_log_n(form, batch, half)
    logN = np.where(
        np.isfinite(logN) & (np.abs(logN - 0.5 * half[None, :]) <= SCAN_HALF_WIDTH), logN, np.nan
    )
    N = np.exp(logN)
    D = np.exp(half[None, :] - logN)
    shape = theta.shape[:-1] + C.shape
    return N.reshape(shape), D.reshape(shape)


def exponents(form: Form, theta: np.ndarray, C_ref: float = 1e21):
    """Exponents a, b of N_opt ~ C^a, D_opt ~ C^b for each parameter vector (K, P) -> (K,), (K,).

    Exact for closed-form frontiers; otherwise the local slope d log N_opt / d log C at ``C_ref``
    (a central difference over a factor e in C). a + b = 1 under C = 6 N D.
    """
    require_nd(form)
    batch = np.asarray(theta, dtype=float).reshape(-1, np.shape(theta)[-1])
    if form.frontier is not None:
        a, b, _ = form.frontier(form.natural(batch))
        return np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    N, _ = allocate(form, batch, np.array([C_ref * np.exp(-0.5), C_ref * np.exp(0.5)]))
    a = np.log(N[:, 1]) - np.log(N[:, 0])
    return a, 1.0 - a


def _numeric_log_n(form: Form, batch: np.ndarray, half: np.ndarray) -> np.ndarray:
    """argmin over log N of log L(N, C/(6N)) for every (parameter row, budget) pair -> (K, M)."""
    offsets = np.linspace(-SCAN_HALF_WIDTH, SCAN_HALF_WIDTH, SCAN_POINTS)
    step = offsets[1] - offsets[0]
    out = np.empty((batch.shape[0], half.shape[0]))
    for m, h in enumerate(half):
        grid = 0.5 * h + offsets  # around log sqrt(C/6), shared by every row
        with np.errstate(over="ignore", invalid="ignore"):
            values = form.log_predict(batch, {"N": grid, "D": h - grid})
        values = np.where(np.isfinite(values), values, np.inf)
        idx = np.argmin(values, axis=1)
        edge = (idx == 0) | (idx == SCAN_POINTS - 1) | ~np.isfinite(values.min(axis=1))

        def f(x, h=h):  # one log N per row: per-row variables (K, 1)
            with np.errstate(over="ignore", invalid="ignore"):
                return form.log_predict(batch, {"N": x[:, None], "D": h - x[:, None]})[:, 0]

        lo, hi = grid[idx] - step, grid[idx] + step
        x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
        f1, f2 = f(x1), f(x2)
        while np.max(hi - lo) > 1e-9:
            left = f1 < f2  # the minimum lies in [lo, x2]
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            new = np.where(left, hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo))
            f_new = f(new)
            x1, x2, f1, f2 = (
                np.where(left, new, x2),
                np.where(left, x1, new),
                np.where(left, f_new, f2),
                np.where(left, f1, f_new),
            )
        out[:, m] = np.where(edge, np.nan, 0.5 * (lo + hi))
    return out
