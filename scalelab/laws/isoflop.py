"""IsoFLOP analysis: Hoffmann et al. 2022, approaches 1 and 2.

Approach 2 (IsoFLOP profiles): rows that share a budget C (within a relative ``rtol``) form one
profile; at each budget a parabola of loss against log N gives the optimal N and the loss there;
then log N_opt = log k_N + a log C and log D_opt = log k_D + b log C by least squares.

Approach 1 (minimum-loss envelope): at each FLOP level, the run with the lowest loss (over all
evaluation points of all runs, binned by C) gives (N, D); then the same power-law fits.

Uncertainty: a run-level bootstrap. For approach 2, each profile's points are resampled and the
parabolas refitted (all replicates as one batched weighted least-squares solve); for approach 1,
runs are resampled and the envelope recomputed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import NumericalError
from scalelab.laws.conventions import Conventions
from scalelab.laws.law import _percentiles
from scalelab.runs.table import RunTable

MIN_PROFILE_POINTS = 3
MIN_BUDGETS = 2


@dataclass
class IsoFLOPResult:
    """Exponents of N_opt ~ k_N C^a and D_opt ~ k_D C^b, with the per-budget optima behind them."""

    approach: int
    a: float
    b: float
    k_N: float
    k_D: float
    budgets: list[dict] = field(default_factory=list)  # {C, N_opt, D_opt, loss, n_points, ...}
    ci: dict[str, list[float]] = field(default_factory=dict)
    level: float = 0.95
    bootstrap: int = 0
    warnings: list[str] = field(default_factory=list)
    conventions: dict = field(default_factory=dict)
    source: str = ""

    def predict(self, C):
        """(N_opt, D_opt) at budget(s) C from the fitted power laws."""
        C = np.asarray(C, dtype=float)
        return self.k_N * C**self.a, self.k_D * C**self.b

    def to_dict(self) -> dict:
        return asdict(self)


def group_budgets(C: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """Label rows by budget: sorted C values within a relative ``rtol`` of a group's first share
    it."""
    order = np.argsort(C, kind="stable")
    labels = np.empty(len(C), dtype=int)
    label, start = -1, None
    for i in order:
        if start is None or C[i] > start * (1.0 + rtol):
            label += 1
            start = C[i]
        labels[i] = label
    return labels


def isoflop_profiles(
    table: RunTable,
    *,
    rtol: float = 1e-6,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    conventions: Optional[Conventions] = None,
    eval_set: Optional[str] = None,
    points: str = "final",
    keep_edge: bool = False,
) -> IsoFLOPResult:
    """Approach 2: a parabola in log N at each budget, then power laws in C.

    Budgets whose parabola opens downwards, or whose minimum lies outside the sampled sizes (the
    optimum was not bracketed), are dropped with a warning unless ``keep_edge``.
    """
    conventions = conventions or Conventions()
    sel = table.select(eval_set=eval_set, points=points)
    v = conventions.variables(sel)
    C, N, D, L = v["C"], v["N"], v["D"], sel["loss"].astype(float)
    labels = group_budgets(C, rtol)
    warnings: list[str] = []
    rng = np.random.default_rng(seed)

    budgets, boot_logN, boot_logD = [], [], []
    for g in range(labels.max() + 1):
        idx = np.flatnonzero(labels == g)
        Cg = float(np.exp(np.mean(np.log(C[idx]))))
        if np.unique(N[idx]).size < MIN_PROFILE_POINTS:
            warnings.append(
                f"budget C={Cg:.3g}: {np.unique(N[idx]).size} model size(s), need "
                f"{MIN_PROFILE_POINTS}; skipped"
            )
            continue
        x, y, logD = np.log(N[idx]), L[idx], np.log(D[idx])
        coef = _parabola(x, y, np.ones((1, len(idx))))[0]
        vertex, ok = _vertex(coef, x)
        if not ok and not keep_edge:
            reason = (
                "opens downwards"
                if not coef[2] > 0
                else "has its minimum outside the sampled sizes"
            )
            warnings.append(
                f"budget C={Cg:.3g}: the parabola {reason}; budget dropped (optimum not bracketed)"
            )
            continue
        dline = np.polyfit(x, logD, 1)  # log D against log N on the profile (exact for C = 6ND)
        entry = {
            "C": Cg,
            "N_opt": float(np.exp(vertex)),
            "D_opt": float(np.exp(np.polyval(dline, vertex))),
            "loss": float(coef[0] + coef[1] * vertex + coef[2] * vertex**2),
            "n_points": int(len(idx)),
            "bracketed": bool(ok),
        }
        if bootstrap:
            W = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)), size=bootstrap).astype(
                float
            )
            cb = _parabola(x, y, W)
            vb, okb = _vertex(cb, x)
            vb = np.where(okb, vb, np.nan)
            boot_logN.append(vb)
            boot_logD.append(np.polyval(dline, vb))
            entry["N_opt_ci"] = _percentiles(np.exp(vb), level)
        entry["D_opt"] = float(entry["D_opt"])
        budgets.append(entry)

    result = _power_laws(2, budgets, warnings, table.source, conventions, level, bootstrap)
    if bootstrap and budgets:
        lc = np.log([b["C"] for b in budgets])
        a_s, b_s = _slopes(lc, np.array(boot_logN)), _slopes(lc, np.array(boot_logD))
        result.ci = {"a": _percentiles(a_s, level), "b": _percentiles(b_s, level)}
    return result


def envelope(
    table: RunTable,
    *,
    bins: Optional[int] = None,
    rtol: float = 1e-6,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    conventions: Optional[Conventions] = None,
    eval_set: Optional[str] = None,
) -> IsoFLOPResult:
    """Approach 1: the minimum-loss envelope over all evaluation points, binned by C.

    Without ``bins``, budgets shared by several rows (IsoFLOP grids) are the levels when there are
    at least three of them; otherwise C is split into log-spaced bins (default 12).
    """
    conventions = conventions or Conventions()
    sel = table.select(eval_set=eval_set, points="all")
    v = conventions.variables(sel)
    C, N, D, L = v["C"], v["N"], v["D"], sel["loss"].astype(float)
    labels = group_budgets(C, rtol)
    shared = np.bincount(labels)
    if bins is None and (shared >= 2).sum() >= 3:
        levels = labels
    else:
        edges = np.linspace(np.log(C.min()), np.log(C.max()) * (1 + 1e-12), (bins or 12) + 1)
        levels = np.clip(np.digitize(np.log(C), edges) - 1, 0, len(edges) - 2)
    runs = pd.factorize(sel.run_ids)[0]
    n_runs = runs.max() + 1

    def frontier(weights_per_run: np.ndarray):
        out = []
        present = weights_per_run[runs] > 0
        for lvl in np.unique(levels):
            idx = np.flatnonzero((levels == lvl) & present)
            if idx.size == 0:
                continue
            i = idx[np.argmin(L[idx])]
            out.append((C[i], N[i], D[i], L[i], lvl))
        return out

    points = frontier(np.ones(n_runs))
    budgets = [
        {"C": float(c), "N_opt": float(n), "D_opt": float(d), "loss": float(l), "level": int(k)}
        for c, n, d, l, k in points
    ]
    warnings: list[str] = []
    result = _power_laws(1, budgets, warnings, table.source, conventions, level, bootstrap)
    if bootstrap:
        rng = np.random.default_rng(seed)
        a_s, b_s = [], []
        for counts in rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=bootstrap):
            pts = frontier(counts)
            if len(pts) < MIN_BUDGETS:
                continue
            lc = np.log([p[0] for p in pts])
            a_s.append(np.polyfit(lc, np.log([p[1] for p in pts]), 1)[0])
            b_s.append(np.polyfit(lc, np.log([p[2] for p in pts]), 1)[0])
        result.ci = {
            "a": _percentiles(np.array(a_s), level),
            "b": _percentiles(np.array(b_s), level),
        }
    return result


def _power_laws(
    approach, budgets, warnings, source, conventions, level, bootstrap
) -> IsoFLOPResult:
    if len(budgets) < MIN_BUDGETS:
        raise NumericalError(
            f"{source}: approach {approach} found {len(budgets)} usable budget(s); "
            f"need at least {MIN_BUDGETS} to fit N_opt ~ C^a"
            + (" (" + "; ".join(warnings[:3]) + ")" if warnings else "")
        )
    lc = np.log([b["C"] for b in budgets])
    a, log_kn = np.polyfit(lc, np.log([b["N_opt"] for b in budgets]), 1)
    b, log_kd = np.polyfit(lc, np.log([b["D_opt"] for b in budgets]), 1)
    return IsoFLOPResult(
        approach,
        float(a),
        float(b),
        float(np.exp(log_kn)),
        float(np.exp(log_kd)),
        budgets=budgets,
        level=level,
        bootstrap=int(bootstrap),
        warnings=warnings,
        conventions=conventions.describe(),
        source=source,
    )


def _parabola(x: np.ndarray, y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Weighted least squares y ~ c0 + c1 x + c2 x^2 for each weight row of W (R, n) -> (R, 3)."""
    xc = x.mean()
    X = np.stack([np.ones_like(x), x - xc, (x - xc) ** 2], axis=1)  # centred for conditioning
    A = np.einsum("rn,ni,nj->rij", W, X, X)
    rhs = np.einsum("rn,ni,n->ri", W, X, y)
    singular = np.abs(np.linalg.det(A)) < 1e-12 * np.maximum(1.0, np.abs(A).max(axis=(1, 2))) ** 3
    A[singular] = np.eye(3)
    c = np.linalg.solve(A, rhs[..., None])[..., 0]
    c[singular] = np.nan
    # Back to uncentred coefficients: c0 + c1 (x - xc) + c2 (x - xc)^2.
    c0 = c[:, 0] - c[:, 1] * xc + c[:, 2] * xc**2
    c1 = c[:, 1] - 2 * c[:, 2] * xc
    return np.stack([c0, c1, c[:, 2]], axis=1)


def _vertex(coef: np.ndarray, x: np.ndarray):
    """Vertex of each parabola and whether it is a minimum inside [min x, max x]."""
    coef = np.atleast_2d(coef)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = -coef[:, 1] / (2 * coef[:, 2])
    ok = (coef[:, 2] > 0) & (vertex >= x.min()) & (vertex <= x.max())
    return (vertex[0], bool(ok[0])) if vertex.shape[0] == 1 else (vertex, ok)


def _slopes(lc: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of Y (budgets, R) against lc, skipping NaN budgets."""
    out = np.full(Y.shape[1], np.nan)
    for r in range(Y.shape[1]):
        ok = np.isfinite(Y[:, r])
        if ok.sum() >= MIN_BUDGETS:
            out[r] = np.polyfit(lc[ok], Y[ok, r], 1)[0]
    return out
