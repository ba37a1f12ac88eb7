"""Data for the figures, computed from fitted objects (a :class:`~scalelab.laws.Law`, a run table,
an IsoFLOP result): :func:`loss_data`, :func:`isoflop_data`, :func:`frontier_data`,
:func:`learning_curve_data`, :func:`residual_data`, :func:`shape_data`. The drawing functions in
:mod:`scalelab.report.figures` take what these return (and re-export them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np

from scalelab.compare.shape import TOLERANCE as SHAPE_TOLERANCE
from scalelab.errors import ScalelabError
from scalelab.laws import optimal
from scalelab.laws import published as pub
from scalelab.laws.conventions import Conventions
from scalelab.laws.isoflop import group_budgets
from scalelab.laws.options import FitOptions
from scalelab.report import axes

LABELS = {
    "N": "parameters N",
    "D": "training tokens D",
    "C": "training compute C (FLOPs)",
    "S": "optimiser steps S",
}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
PUBLISHED_FRONTIERS = ("chinchilla-2022", "besiroglu-2024", "kaplan-2020-nd")


def conventions_of(recorded: Optional[Mapping]) -> Conventions:
    """The conventions a law or result recorded (its ``conventions`` dict); defaults where
    absent."""
    recorded = recorded or {}
    return Conventions(**{k: recorded[k] for k in ("params", "flops", "bcrit") if k in recorded})


def band_kind(law) -> Optional[str]:
    """What the loss figures' bands are: ``"prediction"`` (the prediction interval of a new run,
    :mod:`scalelab.laws.intervals`: parameter uncertainty, run scatter, tied forms and the form's
    held-out misspecification) when the law measured its run scatter, ``"bootstrap"`` (parameter
    uncertainty only) with bootstrap samples alone, else None."""
    if law.scatter:
        return "prediction"
    return "bootstrap" if law.samples is not None and len(law.samples) else None


def band_label(law) -> str:
    """Words for a figure's title or caption naming its band (empty without one)."""
    kind = band_kind(law)
    if kind == "prediction":
        return f"{law.level:.0%} prediction interval of a new run"
    return f"{law.level:.0%} bootstrap band (parameters only)" if kind else ""


def _sample_band(law, level: Optional[float] = None, **variables):
    """Point prediction and band (:func:`band_kind`): the prediction interval of a new run's
    loss, or the percentile band over the law's bootstrap samples; (y, None, None) without
    either."""
    form = law.law_form
    y = form.predict(law.theta, **variables)
    kind = band_kind(law)
    if kind == "prediction":
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            lo, hi = law.interval(level=level, **variables)
        return y, np.asarray(lo, float), np.asarray(hi, float)
    if kind is None:
        return y, None, None
    values = form.predict(law.samples, **variables)
    tail = 50.0 * (1.0 - (level or law.level))
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
    return y, lo, hi


def fit_variables(law, table):
    """The rows the law was fitted to and their variables under the law's conventions."""
    opts = law.options or FitOptions()
    sel = table.select(
        eval_set=opts.eval_set, task=opts.task, points=opts.points or law.law_form.points
    )
    return sel, conventions_of(law.conventions).variables(sel)


def loss_data(law, table, var: str):
    """(points, curves) for :func:`loss_figure`, or None where the law cannot draw against
    ``var``.

    For a law in N and D, the points are grouped (``points["group"]``) and each group gets the law
    drawn through it (``curve["group"]``), so a point and its law share a colour: against N, one
    curve per D (or per tokens/parameter D/N, as a ladder varies it), against D one per N, against
    C one per N (plus the law on its compute-optimal frontier); values that form too many groups
    are binned to the nearest of three levels."""
    sel, v = fit_variables(law, table)
    loss = sel["loss"].astype(float)
    form = law.law_form
    x = v[var]
    grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 120)
    if tuple(form.variables) == (var,):
        y, lo, hi = _sample_band(law, **{var: grid})
        return (
            {"x": x, "loss": loss, "color": None},
            [{"label": f"{law.form} fit", "x": grid, "y": y, "lo": lo, "hi": hi}],
        )
    if set(form.variables) != {"N", "D"} or var not in ("N", "D", "C"):
        return None
    other = "N" if var in ("D", "C") else "D"
    ratio = v["D"] / v["N"]
    kind, found = other, axes.groups(v[other])
    by_ratio = axes.groups(ratio) if var != "C" else None
    if by_ratio is not None and (found is None or len(by_ratio[1]) < len(found[1])):
        kind, found = "D/N", by_ratio  # a ladder: sizes trained at a few tokens/parameter
    if found is None:  # too many distinct values: the nearest of three levels
        kind, found = other + " ≈", axes.nearest_levels(v[other])
    labels, levels = found
    curves = []
    for k, level in enumerate(levels):
        mine = labels == k
        xs = np.geomspace(x[mine].min() / 1.5, x[mine].max() * 1.5, 60)
        if var == "C":  # along this size's own budgets: D in proportion to C
            at = {"N": np.full_like(xs, level), "D": xs * float(np.median(v["D"][mine] / x[mine]))}
        elif kind == "D/N":
            at = {"N": xs, "D": xs * level} if var == "N" else {"N": xs / level, "D": xs}
        else:
            at = {var: xs, other: np.full_like(xs, level)}
        y, lo, hi = _sample_band(law, **at)
        if kind == "D/N":
            name = f"D/N = {level:.3g}"
        else:
            name = f"{other} {'=' if kind == other else '≈'} {level:.2g}"
        curves.append({"label": name, "x": xs, "y": y, "lo": lo, "hi": hi, "group": k})
    points = {"x": x, "loss": loss, "color": None, "group": labels}
    if var == "C":
        Cg = np.geomspace(v["C"].min() / 1.5, v["C"].max() * 1.5, 80)
        y = frontier_loss(law, law.theta[None, :], Cg)[0]
        lo = hi = None
        if band_kind(law) == "prediction":  # a new run at the law's compute-optimal (N, D)
            N, D = optimal.allocate(law.law_form, law.theta[None, :], Cg)
            ok = np.isfinite(N[0]) & np.isfinite(D[0])
            lo, hi = np.full(Cg.shape, np.nan), np.full(Cg.shape, np.nan)
            if ok.any():
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    lo[ok], hi[ok] = law.interval(N=N[0][ok], D=D[0][ok])
        elif law.samples is not None and len(law.samples):
            values = frontier_loss(law, law.samples, Cg)
            tail = 50.0 * (1.0 - law.level)
            with np.errstate(invalid="ignore"):
                lo, hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
        curves.append(
            {
                "label": "law on its compute-optimal frontier",
                "x": Cg,
                "y": y,
                "lo": lo,
                "hi": hi,
                "color": "0.15",
                "style": "--",
            }
        )
    return points, curves


def frontier_loss(law, theta: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Loss at the compute-optimal (N, D) for each parameter row (K, P) and budget -> (K, M)."""
    form = law.law_form
    N, D = optimal.allocate(form, theta, C)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.exp(form.log_predict(theta, {"N": np.log(N), "D": np.log(D)}))


def residual_data(law, table) -> list[dict]:
    sel, v = fit_variables(law, table)
    pred = law.predict(**{k: v[k] for k in law.law_form.variables})
    r = np.log(sel["loss"].astype(float)) - np.log(pred)
    panels = []
    for var in law.law_form.variables:
        other = next((o for o in law.law_form.variables if o != var), None)
        panels.append(
            {
                "var": var,
                "x": v[var],
                "residual": r,
                "color": None if other is None else v[other],
                "color_label": LABELS.get(other, ""),
            }
        )
    return panels


def isoflop_data(result, table, rtol: float = 1e-6) -> list[dict]:
    """Profiles for :func:`isoflop_figure` from an :class:`~scalelab.laws.isoflop.IsoFLOPResult`."""
    sel = table.select()
    v = conventions_of(result.conventions).variables(sel)
    labels = group_budgets(v["C"], rtol)
    loss = sel["loss"].astype(float)
    out = []
    for b in result.budgets:
        g = labels[np.argmin(np.abs(np.log(v["C"]) - np.log(b["C"])))]
        idx = np.flatnonzero(labels == g)
        x = np.log(v["N"][idx])
        coef = np.polyfit(x, loss[idx], 2)[::-1] if len(idx) >= 3 else None
        if "coef" in b or getattr(result, "window", None):  # the window parabola, where it was fit
            coef = b.get("coef")
        out.append(
            {
                "C": b["C"],
                "N": v["N"][idx],
                "loss": loss[idx],
                "N_opt": b["N_opt"],
                "loss_opt": b["loss"],
                "coef": None if coef is None else list(coef),
                "N_window": b.get("N_window"),
            }
        )
    return out


def frontier_data(law, C: np.ndarray, published: Sequence[str] = PUBLISHED_FRONTIERS) -> list[dict]:
    """Lines for :func:`frontier_figure`: the fitted law (with bands) and published laws."""
    C = np.asarray(C, float)
    lines = []
    N, D = optimal.allocate(law.law_form, law.theta, C)
    line = {"label": f"this fit ({law.form})", "N_opt": N, "D_opt": D}
    if law.samples is not None and len(law.samples):
        Ns, Ds = optimal.allocate(law.law_form, law.samples, C)
        tail = 50.0 * (1.0 - law.level)
        with np.errstate(invalid="ignore"):
            line["N_lo"], line["N_hi"] = np.nanpercentile(Ns, [tail, 100 - tail], axis=0)
            line["D_lo"], line["D_hi"] = np.nanpercentile(Ds, [tail, 100 - tail], axis=0)
    lines.append(line)
    return lines + published_lines(C, published)


def published_lines(C: np.ndarray, published: Sequence[str] = PUBLISHED_FRONTIERS) -> list[dict]:
    """Frontier lines of published laws (dashed) for :func:`frontier_figure`."""
    C = np.asarray(C, float)
    lines = []
    for i, name in enumerate(published):
        ref = pub.get(name)
        Np, Dp = optimal.allocate(ref.law_form, ref.theta, C)
        if np.all(np.isfinite(Np)):
            lines.append(
                {
                    "label": f"{name} ({ref.conventions.get('params', '?')} N)",
                    "N_opt": Np,
                    "D_opt": Dp,
                    "style": "--",
                    "color": COLORS[(i + 1) % len(COLORS)],
                }
            )
    return lines


def learning_curve_data(law, table, max_runs: int = 10) -> list[dict]:
    """Runs with several evaluation points, up to ``max_runs`` spread over sizes, with the law's
    prediction at each point (N and D seen so far, or N and S for step laws)."""
    opts = law.options or FitOptions()
    try:
        sel = table.select(eval_set=opts.eval_set, task=opts.task, points="all")
    except ScalelabError:
        return []
    counts = sel.data.groupby("run_id").size()
    multi = counts[counts >= 3].index
    if len(multi) == 0:
        return []
    v = conventions_of(law.conventions).variables(sel)
    frame = sel.data.assign(_N=v["N"], _D=v["D"], _S=v.get("S", np.full(len(sel), np.nan)))
    sizes = frame[frame["run_id"].isin(multi)].groupby("run_id")["_N"].first().sort_values()
    pick = sizes.index[
        np.unique(np.linspace(0, len(sizes) - 1, min(max_runs, len(sizes))).round().astype(int))
    ]
    variables = law.law_form.variables
    xvar = "S" if "S" in variables else "D"
    fitted = (law.data or {}).get("ranges", {}).get(xvar)  # the law is drawn only where fitted
    runs = []
    for rid in pick:
        r = frame[frame["run_id"] == rid].sort_values("_D")
        x = r["_S"].to_numpy() if xvar == "S" else r["_D"].to_numpy()
        pred = None
        if set(variables) <= {"N", "D", "S"}:
            args = {k: r[f"_{k}"].to_numpy() for k in variables}
            with np.errstate(all="ignore"):
                pred = (
                    law.predict(**args)
                    if np.all(np.concatenate([a for a in args.values()]) > 0)
                    else None
                )
        if pred is not None and fitted:
            pred = np.where(x >= float(fitted[0]) * (1 - 1e-9), pred, np.nan)
        runs.append(
            {
                "label": f"{rid} (N={r['_N'].iloc[0]:.3g})",
                "x": x,
                "loss": r["loss"].to_numpy(),
                "pred": pred,
            }
        )
    return runs


def shape_data(analysis, tolerance: float = SHAPE_TOLERANCE) -> Optional[dict]:
    """Data of the shape figure from a :class:`~scalelab.compare.ShapeAnalysis` (Kaplan et al.
    2020, Fig. 5), or None when no shape has an aspect ratio (no ``n_layer``/``d_model``).

    ``lines``: one per cell (same N and D), its shapes by aspect ratio d_model/n_layer with their
    loss penalty over the cell's best shape (relative, 0.01 = 1%), ``group`` the index of its N
    (one colour per N); ``band``: the height of the band the analysis counts as noise: two seed
    standard deviations of log L when it measured the seed noise, else its tolerance."""
    cells = [c for c in analysis.cells if any(s["aspect"] for s in c["shapes"].values())]
    if not cells:
        return None
    sizes = sorted({c["N"] for c in cells})
    n_group = axes.groups(sizes, max_groups=len(sizes), rtol=0.10)[0]
    group_of = dict(zip(sizes, (int(g) for g in n_group), strict=True))
    per_n: dict[int, int] = {}
    lines = []
    for c in sorted(cells, key=lambda c: (c["N"], c["D"])):
        shapes = sorted(
            ((s, v) for s, v in c["shapes"].items() if v["aspect"]), key=lambda sv: sv[1]["aspect"]
        )
        g = group_of[c["N"]]
        per_n[g] = per_n.get(g, 0) + 1
        lines.append(
            {
                "N": c["N"],
                "D": c["D"],
                "group": g,
                "shapes": [s for s, _ in shapes],
                "aspect": np.array([v["aspect"] for _, v in shapes], dtype=float),
                "penalty": np.array([v["excess"] for _, v in shapes], dtype=float),
                "best": c["best"],
            }
        )
    for line in lines:
        line["label"] = f"N={line['N']:.3g}" + (
            f", D={line['D']:.3g}" if per_n[line["group"]] > 1 else ""
        )
    if analysis.noise_sd is not None and analysis.noise_sd > 0:
        band, band_label = 2.0 * analysis.noise_sd, "seed noise (2 sd of log L)"
    else:
        band, band_label = tolerance, f"tolerance ({tolerance:.0%} of loss, no seed noise measured)"
    return {
        "lines": lines,
        "band": float(band),
        "band_label": band_label,
        "verdict": analysis.verdict,
        "penalty": analysis.penalty,
    }
