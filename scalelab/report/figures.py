"""Figures of a scaling-law study (matplotlib, PNG and SVG).

Two layers:

* **plain-data figures** take lists and dicts, so any part of scalelab (or a user) can draw them:
  :func:`loss_figure`, :func:`isoflop_figure`, :func:`frontier_figure`, :func:`learning_curves_figure`,
  :func:`residuals_figure`, :func:`backtest_figure`, :func:`catalog_figure`, :func:`sensitivity_figure`;
* **builders** compute that data from fitted objects (a :class:`~scalelab.laws.Law`, a run table,
  an IsoFLOP result): :func:`loss_data`, :func:`isoflop_data`, :func:`frontier_data`,
  :func:`learning_curve_data`, :func:`residual_data`.

matplotlib is imported lazily with the Agg backend: importing this module costs nothing, and
fitting from the command line never loads it.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from scalelab import atomic

LABELS = {"N": "parameters N", "D": "training tokens D", "C": "training compute C (FLOPs)",
          "S": "optimiser steps S"}
LOSS_LABEL = "loss (nats/token)"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
PUBLISHED_FRONTIERS = ("chinchilla-2022", "besiroglu-2024", "kaplan-2020-nd")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "scalelab", "font.size": 9.5, "axes.titlesize": 10.5,
                                "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 100,
                                "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.3):
    plt = _plt()
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False, layout="constrained")
    return fig, list(axes[0])


# -- output ---------------------------------------------------------------------------------------
def svg_text(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def png_bytes(fig, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def data_uri(fig, fmt: str = "svg") -> str:
    """The figure as a ``data:`` URI (an ``<img src>`` that needs no network)."""
    if fmt == "svg":
        return "data:image/svg+xml;base64," + base64.b64encode(svg_text(fig).encode("utf-8")).decode("ascii")
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")


def save(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically; return both paths."""
    stem = Path(stem)
    paths = []
    for suffix, content in ((".png", png_bytes(fig)), (".svg", svg_text(fig).encode("utf-8"))):
        path = stem.with_suffix(suffix)
        with atomic.atomic_path(path) as tmp:
            tmp.write_bytes(content)
        paths.append(path)
    return paths


def close(fig) -> None:
    _plt().close(fig)


# -- plain-data figures ---------------------------------------------------------------------------
def loss_figure(var: str, points: Mapping[str, Any], curves: Sequence[Mapping[str, Any]], title: str = ""):
    """Observed losses against ``var`` (log-log) with law curves and their interval bands.

    Args:
        var: ``N``, ``D`` or ``C`` (axis label).
        points: ``{"x": [...], "loss": [...], "color": [...] or None, "color_label": str}``.
        curves: ``[{"label", "x", "y", "lo" (optional), "hi" (optional), "color" (optional)}]``.
    """
    fig, (ax,) = _figure()
    x, y = np.asarray(points["x"], float), np.asarray(points["loss"], float)
    color = points.get("color")
    if color is not None and len(color):
        import matplotlib.colors as mcolors

        sc = ax.scatter(x, y, c=color, cmap="viridis", norm=mcolors.LogNorm(), s=16, alpha=0.85, zorder=3,
                        edgecolors="none", label="runs")
        fig.colorbar(sc, ax=ax, label=points.get("color_label", ""))
    else:
        ax.scatter(x, y, s=16, color="0.3", zorder=3, label="runs")
    for i, c in enumerate(curves):
        col = c.get("color", COLORS[i % len(COLORS)])
        ax.plot(c["x"], c["y"], color=col, lw=1.8, label=c["label"], zorder=4)
        if c.get("lo") is not None and c.get("hi") is not None:
            ax.fill_between(c["x"], c["lo"], c["hi"], color=col, alpha=0.2, lw=0, zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(LABELS.get(var, var))
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(title or f"loss against {LABELS.get(var, var)}")
    _log_ticks(ax)
    ax.legend(fontsize=8, loc="best")
    return fig


def _log_ticks(ax) -> None:
    from matplotlib.ticker import LogLocator, ScalarFormatter

    lo, hi = ax.get_ylim()
    if hi / lo < 20:                       # losses span little: plain numbers on the y axis
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        ax.yaxis.get_minor_formatter().set_scientific(False)
        ax.tick_params(axis="y", which="minor", labelleft=False)


def _plain_log_axis(axis) -> None:
    """Plain numbers (2, 5, 10, 20, ...) on a log axis instead of 2x10^0."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def isoflop_figure(profiles: Sequence[Mapping[str, Any]], title: str = "IsoFLOP profiles"):
    """Loss against N at fixed budgets with each profile's parabola and its minimum.

    Args:
        profiles: ``[{"C", "N": [...], "loss": [...], "N_opt", "loss_opt", "coef": [c0, c1, c2] (optional,
            loss = c0 + c1 log N + c2 log^2 N)}]``.
    """
    fig, (ax,) = _figure()
    plt = _plt()
    cmap = plt.get_cmap("plasma")
    cs = np.log([p["C"] for p in profiles]) if profiles else np.array([0.0])
    span = (cs.max() - cs.min()) or 1.0
    for p in profiles:
        col = cmap(0.85 * (np.log(p["C"]) - cs.min()) / span)
        N, L = np.asarray(p["N"], float), np.asarray(p["loss"], float)
        ax.scatter(N, L, color=col, s=18, zorder=3)
        if p.get("coef") is not None:
            xs = np.linspace(np.log(N.min()), np.log(N.max()), 100)
            c0, c1, c2 = p["coef"]
            ax.plot(np.exp(xs), c0 + c1 * xs + c2 * xs ** 2, color=col, lw=1.2, label=f"C = {p['C']:.2g}")
        if p.get("N_opt") is not None:
            ax.scatter([p["N_opt"]], [p["loss_opt"]], marker="*", s=110, color=col, edgecolors="k", lw=0.6, zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(title + " (stars: fitted minima)")
    if profiles:
        ax.legend(fontsize=7.5, ncol=2, loc="best")
    return fig


def frontier_figure(C: Sequence[float], lines: Sequence[Mapping[str, Any]],
                    points: Optional[Mapping[str, Any]] = None, title: str = "compute-optimal frontier"):
    """N_opt(C) and D_opt(C), two panels, one line per law.

    Args:
        C: budgets (FLOPs).
        lines: ``[{"label", "N_opt": [...], "D_opt": [...], "N_lo", "N_hi", "D_lo", "D_hi" (optional), "style"}]``.
        points: optional measured optima ``{"C": [...], "N_opt": [...], "D_opt": [...], "label"}``.
    """
    fig, axes = _figure(2, width=9.6, height=4.2)
    C = np.asarray(C, float)
    for i, line in enumerate(lines):
        col = line.get("color", COLORS[i % len(COLORS)])
        for ax, key in zip(axes, ("N", "D")):
            y = np.asarray(line[f"{key}_opt"], float)
            ax.plot(C, y, line.get("style", "-"), color=col, lw=1.8 if i == 0 else 1.3, label=line["label"])
            if line.get(f"{key}_lo") is not None:
                ax.fill_between(C, line[f"{key}_lo"], line[f"{key}_hi"], color=col, alpha=0.18, lw=0)
    if points:
        for ax, key in zip(axes, ("N", "D")):
            ax.scatter(points["C"], points[f"{key}_opt"], color="k", marker="o", s=20, zorder=5,
                       label=points.get("label", "measured optima"))
    for ax, key in zip(axes, ("N", "D")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["C"])
        ax.set_ylabel(f"compute-optimal {LABELS[key]}")
        ax.legend(fontsize=7.5, loc="upper left")
    axes[0].set_title(f"{title}: N_opt(C)")
    axes[1].set_title("D_opt(C)")
    return fig


def learning_curves_figure(runs: Sequence[Mapping[str, Any]], xlabel: str = "training tokens D",
                           title: str = "learning curves and the law's prediction"):
    """Observed loss along each run (solid) and the law's prediction (dashed).

    Args:
        runs: ``[{"label", "x": [...], "loss": [...], "pred": [...] or None}]``.
    """
    fig, (ax,) = _figure()
    plt = _plt()
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(runs):
        col = cmap(0.9 * i / max(1, len(runs) - 1))
        ax.plot(r["x"], r["loss"], "-", color=col, lw=1.4, label=r["label"])
        if r.get("pred") is not None:
            ax.plot(r["x"], r["pred"], "--", color=col, lw=1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(title + " (dashed)")
    _log_ticks(ax)
    ax.legend(fontsize=7, ncol=2, loc="best")
    return fig


def residuals_figure(panels: Sequence[Mapping[str, Any]], title: str = "residuals: log(observed / predicted)"):
    """Residuals against one or more variables.

    Args:
        panels: ``[{"var": "N", "x": [...], "residual": [...], "color": [...] or None, "color_label"}]``.
    """
    fig, axes = _figure(len(panels), width=4.8 * len(panels), height=4.0)
    for ax, p in zip(axes, panels):
        color = p.get("color")
        if color is not None:
            import matplotlib.colors as mcolors

            sc = ax.scatter(p["x"], p["residual"], c=color, cmap="viridis", norm=mcolors.LogNorm(), s=14,
                            edgecolors="none")
            ax.figure.colorbar(sc, ax=ax, label=p.get("color_label", ""))
        else:
            ax.scatter(p["x"], p["residual"], s=14, color="0.3")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(LABELS.get(p["var"], p["var"]))
        ax.set_ylabel("log(observed / predicted loss)")
    axes[0].set_title(title)
    return fig


def backtest_figure(predicted: Sequence[float], actual: Sequence[float], lo: Optional[Sequence[float]] = None,
                    hi: Optional[Sequence[float]] = None, labels: Optional[Sequence[str]] = None,
                    title: str = "backtest: predicted against actual loss"):
    """Predicted against actual held-out loss, with intervals, on the y = x line."""
    fig, (ax,) = _figure(width=5.4, height=4.6)
    p, a = np.asarray(predicted, float), np.asarray(actual, float)
    if lo is not None and hi is not None:
        err = np.vstack([p - np.asarray(lo, float), np.asarray(hi, float) - p])
        ax.errorbar(a, p, yerr=np.clip(err, 0, None), fmt="o", ms=5, color=COLORS[0], ecolor="0.5", capsize=3,
                    label="prediction and interval")
    else:
        ax.scatter(a, p, s=30, color=COLORS[0], label="prediction")
    both = np.concatenate([p, a])
    lim = [both.min() * 0.98, both.max() * 1.02]
    ax.plot(lim, lim, "k--", lw=0.9, label="y = x")
    for x, y, name in zip(a, p, labels or []):
        ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("actual held-out " + LOSS_LABEL)
    ax.set_ylabel("predicted " + LOSS_LABEL)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def catalog_figure(models: Sequence[Mapping[str, Any]], frontier: Mapping[str, Any],
                   title: str = "published models against the compute-optimal frontier"):
    """Tokens per parameter against training compute for models, beside the frontier's ratio.

    Args:
        models: ``[{"name", "N", "D"}]`` (parameters, tokens; C = 6 N D).
        frontier: ``{"C": [...], "tokens_per_param": [...], "label"}``.
    """
    fig, (ax,) = _figure(width=7.0, height=4.6)
    ax.plot(frontier["C"], frontier["tokens_per_param"], "-", color=COLORS[1], lw=1.8,
            label=frontier.get("label", "compute-optimal"))
    for m in models:
        C = 6.0 * m["N"] * m["D"]
        ax.scatter([C], [m["D"] / m["N"]], s=26, color=COLORS[0], zorder=4)
        ax.annotate(m["name"], (C, m["D"] / m["N"]), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis)
    ax.margins(0.12)
    ax.set_xlabel(LABELS["C"] + ", C = 6ND")
    ax.set_ylabel("tokens per parameter D/N")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def sensitivity_figure(rows: Sequence[Mapping[str, Any]], budget: float,
                       title: str = "tokens per parameter under each fitting choice"):
    """One dot per variant (colour: kind of choice) on a log axis, joined to the baseline."""
    ok = [r for r in rows if r.get("tokens_per_param") is not None]
    fig, (ax,) = _figure(width=7.2, height=1.2 + 0.3 * max(1, len(ok)))
    groups = list(dict.fromkeys(r["group"] for r in ok))
    colors = {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups)}
    y = np.arange(len(ok))[::-1]
    base = next((r["tokens_per_param"] for r in ok if r["group"] == "baseline"), None)
    for yi, r in zip(y, ok):
        if base:
            ax.plot([base, r["tokens_per_param"]], [yi, yi], color=colors[r["group"]], lw=2.5, alpha=0.45)
        ax.scatter([r["tokens_per_param"]], [yi], color=colors[r["group"]], s=36, zorder=4)
    ax.set_yticks(y, [r["name"] for r in ok], fontsize=7.5)
    if base:
        ax.axvline(base, color="k", lw=1, ls="--", label=f"baseline {base:.3g}")
    ax.axvline(20, color="0.5", lw=1, ls=":", label="20 (Chinchilla rule of thumb)")
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    for g in groups:
        ax.scatter([], [], color=colors[g], s=30, label=g)
    ax.set_xlabel(f"tokens per parameter at C = {budget:.3g} FLOPs")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


# -- builders from fitted objects -------------------------------------------------------------------
def _sample_band(law, level: Optional[float] = None, **variables):
    """Point prediction and percentile band over the law's bootstrap samples (None without samples)."""
    form = law.law_form
    y = form.predict(law.theta, **variables)
    if law.samples is None or len(law.samples) == 0:
        return y, None, None
    values = form.predict(law.samples, **variables)
    tail = 50.0 * (1.0 - (level or law.level))
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
    return y, lo, hi


def fit_variables(law, table):
    """The rows the law was fitted to and their variables under the law's conventions."""
    from scalelab.laws.conventions import Conventions

    opts = law.options or {}
    sel = table.select(eval_set=opts.get("eval_set"), task=opts.get("task"),
                       points=opts.get("points") or law.law_form.points)
    conv = law.conventions or {}
    v = Conventions(conv.get("params", "non-embedding"), conv.get("flops", "6ND")).variables(sel)
    return sel, v


def loss_data(law, table, var: str):
    """(points, curves) for :func:`loss_figure`, or None where the law cannot draw against ``var``."""
    sel, v = fit_variables(law, table)
    loss = sel["loss"].astype(float)
    form = law.law_form
    x = v[var]
    grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 120)
    if tuple(form.variables) == (var,):
        y, lo, hi = _sample_band(law, **{var: grid})
        return ({"x": x, "loss": loss, "color": None},
                [{"label": f"{law.form} fit", "x": grid, "y": y, "lo": lo, "hi": hi}])
    if set(form.variables) != {"N", "D"}:
        return None
    if var in ("N", "D"):
        other = "D" if var == "N" else "N"
        levels = np.unique(np.quantile(v[other], [0.1, 0.5, 0.9]))
        curves = []
        for lvl in levels:
            y, lo, hi = _sample_band(law, **{var: grid, other: lvl})
            curves.append({"label": f"law at {other} = {lvl:.2g}", "x": grid, "y": y, "lo": lo, "hi": hi})
        return ({"x": x, "loss": loss, "color": v[other], "color_label": LABELS[other]}, curves)
    if var == "C":
        Cg = np.geomspace(v["C"].min() / 1.5, v["C"].max() * 1.5, 80)
        y = frontier_loss(law, law.theta[None, :], Cg)[0]
        lo = hi = None
        if law.samples is not None and len(law.samples):
            values = frontier_loss(law, law.samples, Cg)
            tail = 50.0 * (1.0 - law.level)
            with np.errstate(invalid="ignore"):
                lo, hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
        return ({"x": v["C"], "loss": loss, "color": v["N"], "color_label": LABELS["N"]},
                [{"label": "law on its compute-optimal frontier", "x": Cg, "y": y, "lo": lo, "hi": hi}])
    return None


def frontier_loss(law, theta: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Loss at the compute-optimal (N, D) for each parameter row (K, P) and budget -> (K, M)."""
    from scalelab.laws import optimal

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
        panels.append({"var": var, "x": v[var], "residual": r, "color": None if other is None else v[other],
                       "color_label": LABELS.get(other, "")})
    return panels


def isoflop_data(result, table, rtol: float = 1e-6) -> list[dict]:
    """Profiles for :func:`isoflop_figure` from an :class:`~scalelab.laws.isoflop.IsoFLOPResult`."""
    from scalelab.laws.conventions import Conventions
    from scalelab.laws.isoflop import group_budgets

    conv = result.conventions or {}
    sel = table.select()
    v = Conventions(conv.get("params", "non-embedding"), conv.get("flops", "6ND")).variables(sel)
    labels = group_budgets(v["C"], rtol)
    loss = sel["loss"].astype(float)
    out = []
    for b in result.budgets:
        g = labels[np.argmin(np.abs(np.log(v["C"]) - np.log(b["C"])))]
        idx = np.flatnonzero(labels == g)
        x = np.log(v["N"][idx])
        coef = np.polyfit(x, loss[idx], 2)[::-1] if len(idx) >= 3 else None
        out.append({"C": b["C"], "N": v["N"][idx], "loss": loss[idx], "N_opt": b["N_opt"], "loss_opt": b["loss"],
                    "coef": None if coef is None else list(coef)})
    return out


def frontier_data(law, C: np.ndarray, published: Sequence[str] = PUBLISHED_FRONTIERS) -> list[dict]:
    """Lines for :func:`frontier_figure`: the fitted law (with bands) and published laws."""
    from scalelab.laws import optimal

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
    from scalelab.laws import optimal
    from scalelab.laws import published as pub

    C = np.asarray(C, float)
    lines = []
    for i, name in enumerate(published):
        ref = pub.get(name)
        Np, Dp = optimal.allocate(ref.law_form, ref.theta, C)
        if np.all(np.isfinite(Np)):
            lines.append({"label": f"{name} ({ref.conventions.get('params', '?')} N)", "N_opt": Np, "D_opt": Dp,
                          "style": "--", "color": COLORS[(i + 1) % len(COLORS)]})
    return lines


def learning_curve_data(law, table, max_runs: int = 10) -> list[dict]:
    """Runs with several evaluation points, up to ``max_runs`` spread over sizes, with the law's
    prediction at each point (N and D seen so far, or N and S for step laws)."""
    from scalelab.laws.conventions import Conventions

    opts = law.options or {}
    try:
        sel = table.select(eval_set=opts.get("eval_set"), task=opts.get("task"), points="all")
    except Exception:
        return []
    counts = sel.data.groupby("run_id").size()
    multi = counts[counts >= 3].index
    if len(multi) == 0:
        return []
    conv = law.conventions or {}
    v = Conventions(conv.get("params", "non-embedding"), conv.get("flops", "6ND")).variables(sel)
    frame = sel.data.assign(_N=v["N"], _D=v["D"], _S=v.get("S", np.full(len(sel), np.nan)))
    sizes = frame[frame["run_id"].isin(multi)].groupby("run_id")["_N"].first().sort_values()
    pick = sizes.index[np.unique(np.linspace(0, len(sizes) - 1, min(max_runs, len(sizes))).round().astype(int))]
    variables = law.law_form.variables
    xvar = "S" if "S" in variables else "D"
    runs = []
    for rid in pick:
        r = frame[frame["run_id"] == rid].sort_values("_D")
        x = r["_S"].to_numpy() if xvar == "S" else r["_D"].to_numpy()
        pred = None
        if set(variables) <= {"N", "D", "S"}:
            args = {k: r[f"_{k}"].to_numpy() for k in variables}
            with np.errstate(all="ignore"):
                pred = law.predict(**args) if np.all(np.concatenate([a for a in args.values()]) > 0) else None
        runs.append({"label": f"{rid} (N={r['_N'].iloc[0]:.3g})", "x": x, "loss": r["loss"].to_numpy(), "pred": pred})
    return runs
