"""IsoFLOP analysis: Hoffmann et al. 2022, approaches 1 and 2.

Approach 2 (IsoFLOP profiles): rows that share a budget C (within a relative ``rtol``) form one
profile; at each budget a window of the profile around its minimum gives the optimal N and the
loss there (a parabola in log N within 0.4 decades of the minimum by default; Porian et al.'s Akima
spline; or the whole-profile parabola: :mod:`scalelab.laws.isoflop_window`); then
log N_opt = log k_N + a log C and log D_opt = log k_D + b log C by least squares.

Approach 1 (minimum-loss envelope): at each FLOP level, the run with the lowest loss (over all
evaluation points of all runs, binned by C) gives (N, D); then the same power-law fits.

Uncertainty: for approach 2, a seed-noise bootstrap (Porian et al. 2024): noise on every loss,
every optimum re-found with its own window, the exponents fitted with weights from each budget's
bootstrap spread; for approach 1, runs are resampled and the envelope recomputed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.laws import isoflop_window as isw
from scalelab.laws.conventions import Conventions
from scalelab.laws.isoflop_window import Window
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
    window: dict = field(default_factory=dict)  # approach 2: how each optimum was located
    noise: Optional[float] = None  # approach 2: seed-noise sd of log L used by the bootstrap

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
    window: Window | str | None = None,
    noise: Optional[float] = None,
) -> IsoFLOPResult:
    """Approach 2: each budget's optimum from a window of its profile, then power laws in C.

    ``window`` (:class:`~scalelab.laws.isoflop_window.Window` or its text, e.g. ``parabola:0.4``,
    ``akima``, ``all``) says which points locate the optimum. Budgets whose optimum is not
    bracketed are dropped with a warning unless ``keep_edge``. With ``bootstrap``, each replicate
    adds seed noise (sd ``noise`` of log L; estimated from the window fits when None) and
    re-finds every optimum; the exponents are then weighted least squares with each budget's
    bootstrap sd of log N_opt, and their intervals are percentiles over replicates.
    """
    conventions = conventions or Conventions()
    window = Window.parse(window)
    if noise is not None and not (np.isfinite(noise) and noise >= 0):
        raise InputError(f"IsoFLOP noise: expected a non-negative number, got {noise}")
    sel = table.select(eval_set=eval_set, points=points)
    v = conventions.variables(sel)
    C, N, D, L = v["C"], v["N"], v["D"], sel["loss"].astype(float)
    labels = group_budgets(C, rtol)
    warnings: list[str] = []

    budgets, profiles, dlines = [], [], []
    for g in range(labels.max() + 1):
        idx = np.flatnonzero(labels == g)
        Cg = float(np.exp(np.mean(np.log(C[idx]))))
        if np.unique(N[idx]).size < MIN_PROFILE_POINTS:
            warnings.append(
                f"budget C={Cg:.3g}: {np.unique(N[idx]).size} model size(s), need "
                f"{MIN_PROFILE_POINTS}; skipped"
            )
            continue
        x, y = isw.prepare(window, np.log(N[idx]), L[idx])
        vertex, loss, ok, reason, coef, mask = isw.optima(window, x, y[None, :])
        vertex, ok = float(vertex[0]), bool(ok[0])
        if not ok and not (keep_edge and np.isfinite(vertex)):
            warnings.append(
                f"budget C={Cg:.3g}: {reason[0]}; budget dropped (optimum not bracketed)"
            )
            continue
        # log D against log N on the profile (exact for C = 6ND)
        dline = np.polyfit(np.log(N[idx]), np.log(D[idx]), 1)
        used = x[mask[0]]
        entry = {
            "C": Cg,
            "N_opt": float(np.exp(vertex)),
            "D_opt": float(np.exp(np.polyval(dline, vertex))),
            "loss": float(loss[0]),
            "n_points": int(len(idx)),
            "n_window": int(mask[0].sum()),
            "N_window": [float(np.exp(used.min())), float(np.exp(used.max()))],
            "bracketed": ok,
        }
        if np.all(np.isfinite(coef[0])):
            entry["coef"] = [float(c) for c in coef[0]]  # loss = c0 + c1 log N + c2 log^2 N
        budgets.append(entry)
        profiles.append((x, y))
        dlines.append(dline)

    sd, boot_logN = None, None
    if bootstrap and len(budgets) >= MIN_BUDGETS:
        if noise is None:
            noise = isw.estimate_noise(window, profiles)
            if not np.isfinite(noise):
                noise = isw.estimate_noise(isw.Window("all"), profiles)
        if not np.isfinite(noise):
            warnings.append(
                "bootstrap skipped: no profile has more points than its window parabola has "
                "parameters, so the seed noise cannot be estimated (give noise=)"
            )
        else:
            rng = np.random.default_rng(seed)
            boot_logN, sd = isw.profile_bootstrap(window, profiles, bootstrap, noise, rng)
            keep = np.isfinite(sd)
            for b in np.flatnonzero(~keep):
                warnings.append(
                    f"budget C={budgets[b]['C']:.3g}: fewer than half the bootstrap replicates "
                    "bracket an optimum; budget dropped"
                )
            for b, entry in enumerate(budgets):
                entry["N_opt_ci"] = _percentiles(np.exp(boot_logN[b]), level)
                entry["log_N_opt_sd"] = float(sd[b]) if keep[b] else None
            budgets = [b for b, k in zip(budgets, keep) if k]
            dlines = [d for d, k in zip(dlines, keep) if k]
            boot_logN, sd = boot_logN[keep], sd[keep]
            if window.method == "akima":  # Porian et al.: the bootstrap median is the observation
                for entry, d, row in zip(budgets, dlines, boot_logN):
                    med = float(np.nanmedian(row))
                    entry["N_opt"] = float(np.exp(med))
                    entry["D_opt"] = float(np.exp(np.polyval(d, med)))
                    entry["N_opt_from"] = "bootstrap median"

    result = _power_laws(2, budgets, warnings, table.source, conventions, level, bootstrap, sd)
    result.window = window.describe()
    result.noise = None if boot_logN is None else float(noise)
    if boot_logN is not None:
        lc = np.log([b["C"] for b in budgets])
        boot_logD = np.array([np.polyval(d, row) for d, row in zip(dlines, boot_logN)])
        a_s = isw.weighted_slope(lc, boot_logN, sd)[0]
        b_s = isw.weighted_slope(lc, boot_logD, sd)[0]
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
    approach, budgets, warnings, source, conventions, level, bootstrap, sd=None
) -> IsoFLOPResult:
    if len(budgets) < MIN_BUDGETS:
        raise NumericalError(
            f"{source}: approach {approach} found {len(budgets)} usable budget(s); "
            f"need at least {MIN_BUDGETS} to fit N_opt ~ C^a"
            + (" (" + "; ".join(warnings[:3]) + ")" if warnings else "")
        )
    lc = np.log([b["C"] for b in budgets])
    a, log_kn = isw.weighted_slope(lc, np.log([b["N_opt"] for b in budgets]), sd)
    b, log_kd = isw.weighted_slope(lc, np.log([b["D_opt"] for b in budgets]), sd)
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


def checklist_items(result: IsoFLOPResult) -> list[dict]:
    """The IsoFLOP analysis's (Mis)Fitting checklist items (the same record as
    :func:`scalelab.report.checklist.build`'s): approach, window and uncertainty."""

    def item(key: str, label: str, value: str) -> dict:
        return {
            "group": "isoflop",
            "item": key,
            "label": label,
            "value": value,
            "status": "known",
            "source": "the IsoFLOP result",
        }

    approach = (
        "approach 2: the optimum of each IsoFLOP profile, then N_opt ~ C^a, D_opt ~ C^b"
        if result.approach == 2
        else "approach 1: the minimum-loss envelope, then N_opt ~ C^a, D_opt ~ C^b"
    )
    items = [item("isoflop_approach", "IsoFLOP approach", approach)]
    if result.window:
        items.append(item("isoflop_window", "IsoFLOP window", result.window["text"]))
    if not result.bootstrap or not result.ci:
        unc = "none: no bootstrap"
    elif result.approach == 2:
        unc = (
            f"{result.bootstrap} seed-noise bootstrap replicates (sd of log L {result.noise:.3g}), "
            f"fit weighted by each budget's sd of log N_opt, {result.level:.0%} percentile "
            "intervals"
        )
    else:
        unc = f"{result.bootstrap} run-level bootstrap resamples, {result.level:.0%} percentiles"
    items.append(item("isoflop_uncertainty", "IsoFLOP uncertainty", unc))
    return items
