"""The effective-compute multiplier of recipe B over recipe A (design.md §2).

k(C) = C_A(L_B*(C)) / C: the compute A needs to reach the loss B reaches with C, each recipe at its
own compute-optimal allocation. k > 1: B is better (A needs more compute for B's loss); k < 1: A is
better. A crossover is a budget where k = 1, the winner changing there.

L*(C), the loss at the compute-optimal allocation of budget C, comes from the laws layer
(:func:`scalelab.laws.optimal.allocate`: the closed-form frontier for ``chinchilla`` and
``chinchilla-tied``, a numerical search for other forms in N and D); a law in C alone is its own
frontier. C_A(L) inverts A's frontier on a log-spaced grid of budgets (L* falls with C), for the
point estimate and for every bootstrap sample at once.

Every multiplier comes with its bootstrap interval and a verdict naming the group: ``<B> better``
(B's name) when the interval lies above 1, ``<A> better`` below 1, ``not distinguishable`` when it
holds 1; ``winner`` holds the group's name (None for a tie).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from scalelab.compare.joint import JointFit, percentiles
from scalelab.errors import NumericalError
from scalelab.laws import optimal
from scalelab.laws.formkit import Form

GRID_PER_DECADE = 50
"""Budgets per decade of the grid on which C_A(L) is inverted (log-linear in between)."""
REACH = 8.0
"""Decades above (and below) the budgets that C_A is searched in; beyond it k is unbounded."""
TIE = "not distinguishable"


@dataclass
class AtBudget:
    """k at one budget C, with its interval and verdict."""

    C: float
    multiplier: Optional[float]
    interval: list[Optional[float]]
    verdict: str
    loss_a: Optional[float] = None  # A's and B's compute-optimal loss at C
    loss_b: Optional[float] = None
    reason: Optional[str] = None  # why a number is null
    winner: Optional[str] = None  # the group the verdict names; None when not distinguishable

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Pair:
    """Recipe B against recipe A: k at each budget and the crossover."""

    a: str
    b: str
    budgets: list[AtBudget]
    crossover: Optional[float]
    crossover_interval: Optional[list[float]] = None
    crossover_reason: Optional[str] = None
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "budgets": [x.to_dict() for x in self.budgets],
            "crossover": self.crossover,
            "crossover_interval": self.crossover_interval,
            "crossover_reason": self.crossover_reason,
            "level": self.level,
            "notes": list(self.notes),
        }


def frontier_loss(form: Form, theta: np.ndarray, C: np.ndarray) -> np.ndarray:
    """L*(C) (K, M) for parameter rows ``theta`` (K, P) and budgets C (M,): the loss at the
    compute-optimal allocation (NaN where the law has none)."""
    theta = np.atleast_2d(theta)
    C = np.asarray(C, dtype=float)
    if form.variables == ("C",):
        return form.predict(theta, C=C)
    N, D = optimal.allocate(form, theta, C)
    ok = np.isfinite(N)
    out = np.full(N.shape, np.nan)
    if ok.any():
        K, M = N.shape
        rows = np.repeat(np.arange(K)[:, None], M, axis=1)[ok]
        out[ok] = form.predict_each(theta[rows], N=N[ok], D=D[ok])
    return out


def multiplier_samples(
    form: Form, theta_a: np.ndarray, theta_b: np.ndarray, budgets: np.ndarray
) -> np.ndarray:
    """k(C) (K, M) for paired rows of A's and B's parameters; +inf where A cannot reach B's loss
    within REACH decades above C, 0 where it reaches it REACH decades below, NaN where a law has no
    compute-optimal allocation."""
    theta_a, theta_b = np.atleast_2d(theta_a), np.atleast_2d(theta_b)
    budgets = np.asarray(budgets, dtype=float)
    target = frontier_loss(form, theta_b, budgets)  # (K, M)
    lo = np.log10(budgets.min()) - REACH
    hi = np.log10(budgets.max()) + REACH
    grid = np.linspace(lo, hi, int(round((hi - lo) * GRID_PER_DECADE)) + 1)
    curve = np.log(frontier_loss(form, theta_a, 10.0**grid))  # (K, T), falling in C
    logt = np.log(target)
    out = np.full(target.shape, np.nan)
    for k in range(curve.shape[0]):
        c = curve[k]
        if not np.all(np.isfinite(c)):
            continue
        c = np.minimum.accumulate(c)  # guard against round-off bumps: a falling curve
        t = logt[k]
        logc = np.interp(-t, -c, grid)  # -c rises with C
        row = 10.0 ** (logc - np.log10(budgets))
        row[t < c[-1]] = np.inf
        row[t > c[0]] = 0.0
        row[~np.isfinite(t)] = np.nan
        out[k] = row
    return out


def verdict(interval: Sequence[Optional[float]], a: str = "A", b: str = "B") -> str:
    """``"<b> better"`` when k's interval lies above 1, ``"<a> better"`` below 1 (the groups by
    name), ``not distinguishable`` when it holds 1."""
    winner = _winner(interval, a, b)
    return TIE if winner is None else f"{winner} better"


def _winner(interval: Sequence[Optional[float]], a: str, b: str) -> Optional[str]:
    lo, hi = interval
    if lo is not None and lo > 1.0:
        return b
    if hi is not None and hi < 1.0:
        return a
    return None


def _interval(samples: np.ndarray, level: float) -> tuple[list[Optional[float]], Optional[str]]:
    """Percentile interval of k over samples; an infinite bound is None with a reason."""
    s = samples[~np.isnan(samples)]
    if s.size == 0:
        return [None, None], "no bootstrap sample has a compute-optimal allocation"
    tail = 50.0 * (1.0 - level)
    logs = np.log10(np.clip(s, 1e-300, None))
    logs[np.isinf(s)] = np.inf
    lo, hi = np.percentile(np.where(np.isinf(logs), 1e300, logs), [tail, 100.0 - tail])
    reason = None
    out: list[Optional[float]] = []
    for v in (lo, hi):
        if v >= 1e299:
            out.append(None)
            reason = f"upper bound: A does not reach B's loss within 1e{REACH:g} x the budget"
        elif v <= -299:
            out.append(0.0)
        else:
            out.append(float(10.0**v))
    return out, reason


def compare_pair(
    fit: JointFit, form: Form, a: str, b: str, budgets: Sequence[float], level: float
) -> Pair:
    """k at each budget with its interval and verdict, and the crossover, for B over A."""
    budgets = np.asarray(sorted(float(c) for c in budgets))
    theta_a, theta_b = fit.group_theta(a), fit.group_theta(b)
    k = multiplier_samples(form, theta_a, theta_b, budgets)[0]
    la = frontier_loss(form, theta_a, budgets)[0]
    lb = frontier_loss(form, theta_b, budgets)[0]
    sa, sb = fit.group_samples(a), fit.group_samples(b)
    if sa is None:
        raise NumericalError("a multiplier's verdict needs bootstrap samples (bootstrap > 0)")
    ks = multiplier_samples(form, sa, sb, budgets)
    out = []
    for m, C in enumerate(budgets):
        interval, reason = _interval(ks[:, m], level)
        point: Optional[float] = float(k[m])
        if not np.isfinite(k[m]):
            reason = (
                "A's law never reaches B's loss at this budget (B's loss is below A's floor)"
                if np.isinf(k[m])
                else "no compute-optimal allocation at this budget"
            )
            point = None
        out.append(
            AtBudget(
                float(C),
                point,
                interval,
                verdict(interval, a, b),
                _num(la[m]),
                _num(lb[m]),
                reason,
                _winner(interval, a, b),
            )
        )
    cross, cross_ci, cross_reason = crossover(form, theta_a, theta_b, sa, sb, budgets, level)
    return Pair(a, b, out, cross, cross_ci, cross_reason, level)


def _num(x) -> Optional[float]:
    return float(x) if np.isfinite(x) else None


def crossover(form, theta_a, theta_b, sa, sb, budgets, level, span: float = 4.0):
    """The lowest budget where k crosses 1, searched from the lowest budget / 10^span to the
    highest x 10^span (None, with a reason, when k stays on one side there); and its interval
    over the bootstrap samples that cross."""
    lo, hi = np.log10(budgets.min()) - span, np.log10(budgets.max()) + span
    grid = 10.0 ** np.linspace(lo, hi, int((hi - lo) * 10) + 1)

    def first_cross(ks: np.ndarray) -> np.ndarray:
        logk = np.log(np.where(ks > 0, ks, 1e-300))
        out = np.full(ks.shape[0], np.nan)
        for i, row in enumerate(logk):
            sign = np.sign(row)
            idx = np.flatnonzero(
                np.isfinite(row[:-1]) & np.isfinite(row[1:]) & (sign[:-1] * sign[1:] < 0)
            )
            if idx.size:
                j = idx[0]
                w = row[j] / (row[j] - row[j + 1])
                out[i] = 10.0 ** (
                    np.log10(grid[j]) + w * (np.log10(grid[j + 1]) - np.log10(grid[j]))
                )
        return out

    point = first_cross(multiplier_samples(form, theta_a, theta_b, grid))[0]
    samples = first_cross(multiplier_samples(form, sa, sb, grid))
    share = float(np.mean(np.isfinite(samples)))
    interval = percentiles(samples, level) if share >= level else None
    reason = None
    if not np.isfinite(point):
        reason = (
            f"k stays on one side of 1 from {grid[0]:.3g} to {grid[-1]:.3g} FLOPs "
            f"({share:.0%} of bootstrap samples cross in that range)"
        )
    elif interval is None:
        reason = f"only {share:.0%} of bootstrap samples cross between {grid[0]:.3g} and {grid[-1]:.3g} FLOPs"
    return (float(point) if np.isfinite(point) else None), interval, reason


def default_budgets(C: np.ndarray) -> list[float]:
    """The smallest and largest run's compute, their geometric mean, and 100x and 10,000x the
    largest: budgets spanning the data and beyond."""
    lo, hi = float(np.min(C)), float(np.max(C))
    return [float(f"{c:.2g}") for c in (lo, np.sqrt(lo * hi), hi, 1e2 * hi, 1e4 * hi)]
