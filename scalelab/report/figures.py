"""Figures of a scaling-law study (matplotlib, PNG and SVG).

Two layers:

* **plain-data figures** take lists and dicts, so any part of scalelab (or a user) can draw them:
  :func:`loss_figure`, :func:`isoflop_figure`, :func:`frontier_figure`,
  :func:`learning_curves_figure`,
  :func:`residuals_figure`, :func:`backtest_figure`, :func:`catalog_figure`,
  :func:`sensitivity_figure`;
* **builders** compute that data from fitted objects (a :class:`~scalelab.laws.Law`, a run table,
  an IsoFLOP result): :func:`loss_data`, :func:`isoflop_data`, :func:`frontier_data`,
  :func:`learning_curve_data`, :func:`residual_data` (in :mod:`scalelab.report.figure_data`,
  re-exported here).

matplotlib is imported lazily with the Agg backend (:mod:`scalelab.report.canvas`, whose output
functions are re-exported here): importing this module costs nothing, and fitting from the
command line never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from scalelab.report import axes as style
from scalelab.report import legibility
from scalelab.report.canvas import (  # re-exported: F.save(...), F.data_uri(...)
    _figure,
    _plt,  # noqa: F401 (the report's other figure modules draw with F._plt)
    close,
    data_uri,
    png_bytes,
    save,
    svg_text,
)
from scalelab.report.figure_data import (  # the builders, re-exported: F.loss_data(...)
    COLORS,
    LABELS,
    PUBLISHED_FRONTIERS,
    band_kind,
    band_label,
    fit_variables,
    frontier_data,
    frontier_loss,
    isoflop_data,
    learning_curve_data,
    loss_data,
    published_lines,
    residual_data,
    shape_data,
)

__all__ = [
    "COLORS",
    "LABELS",
    "LOSS_LABEL",
    "PUBLISHED_FRONTIERS",
    "backtest_figure",
    "band_kind",
    "band_label",
    "catalog_figure",
    "close",
    "data_uri",
    "fit_variables",
    "frontier_data",
    "frontier_figure",
    "frontier_loss",
    "isoflop_data",
    "isoflop_figure",
    "learning_curve_data",
    "learning_curves_figure",
    "loss_data",
    "loss_figure",
    "png_bytes",
    "published_lines",
    "residual_data",
    "residuals_figure",
    "save",
    "sensitivity_figure",
    "shape_data",
    "svg_text",
]

LOSS_LABEL = "loss (nats/token)"


# -- plain-data figures ---------------------------------------------------------------------------
def loss_figure(
    var: str, points: Mapping[str, Any], curves: Sequence[Mapping[str, Any]], title: str = ""
):
    """Observed losses against ``var`` (log-log) with law curves and their interval bands.

    Args:
        var: ``N``, ``D`` or ``C`` (axis label).
        points: ``{"x": [...], "loss": [...], "group": [...] or None}``: point i has the colour of
            the curve whose ``"group"`` is ``group[i]`` (a point and its law share a colour); or
            ``"color": [...]`` numbers on a colour bar (``"color_label"``).
        curves: ``[{"label", "x", "y", "lo" (optional), "hi" (optional), "group" or "color"
            (optional), "style" (optional)}]``.
    """
    fig, (ax,) = _figure()
    x, y = np.asarray(points["x"], float), np.asarray(points["loss"], float)
    group, color = points.get("group"), points.get("color")
    palette = {c["group"]: COLORS[c["group"] % len(COLORS)] for c in curves if "group" in c}
    handles = []
    if group is not None and palette:
        group = np.asarray(group)
        for g, col in palette.items():
            ax.scatter(x[group == g], y[group == g], s=18, color=col, zorder=3, edgecolors="none")
    elif color is not None and len(color):
        import matplotlib.colors as mcolors  # noqa: PLC0415 (lazy)

        sc = ax.scatter(
            x, y, c=color, cmap="viridis", norm=mcolors.LogNorm(), s=16, zorder=3, label="runs"
        )
        style.compact_colorbar(fig.colorbar(sc, ax=ax, label=points.get("color_label", "")))
    else:
        ax.scatter(x, y, s=16, color="0.3", zorder=3, label="runs")
    for i, c in enumerate(curves):
        col = palette[c["group"]] if "group" in c else c.get("color", COLORS[i % len(COLORS)])
        ax.plot(c["x"], c["y"], c.get("style", "-"), color=col, lw=1.8, zorder=4)
        if c.get("lo") is not None and c.get("hi") is not None:
            alpha = 0.15 if "group" in c else 0.07
            ax.fill_between(c["x"], c["lo"], c["hi"], color=col, alpha=alpha, lw=0, zorder=2)
        handles.append(style.marker_line(col, c["label"], line=True))
        if "group" not in c:
            handles[-1].set_marker("")
            handles[-1].set_linestyle(c.get("style", "-"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(LABELS.get(var, var))
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(style.two_line_title(title or f"loss against {LABELS.get(var, var)}"))
    # y from the runs (and the law's lines near them), not from a band that runs off to 20 nats
    ys = np.concatenate([y] + [np.asarray(c["y"], float) for c in curves])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    style.data_ylim(ax, [max(ys.min(), y.min() / 1.25), min(ys.max(), y.max() * 1.25)], 0.03)
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, fontsize=7.5, loc="best")
    return fig


def isoflop_figure(profiles: Sequence[Mapping[str, Any]], title: str = "IsoFLOP profiles"):
    """Loss against N at fixed budgets with each profile's parabola and its minimum.

    Args:
        profiles: ``[{"C", "N": [...], "loss": [...], "N_opt", "loss_opt", "coef": [c0, c1, c2]
        (optional,
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
            lo, hi = p.get("N_window") or (N.min(), N.max())
            xs = np.linspace(np.log(lo), np.log(hi), 100)
            c0, c1, c2 = p["coef"]
            ax.plot(
                np.exp(xs), c0 + c1 * xs + c2 * xs**2, color=col, lw=1.2, label=f"C = {p['C']:.2g}"
            )
        if p.get("N_opt") is not None:
            ax.scatter(
                [p["N_opt"]],
                [p["loss_opt"]],
                marker="*",
                s=110,
                color=col,
                edgecolors="k",
                lw=0.6,
                zorder=5,
            )
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(title + " (stars: fitted minima)")
    if profiles:
        ax.legend(fontsize=7.5, ncol=2, loc="best")
    return fig


def frontier_figure(
    C: Sequence[float],
    lines: Sequence[Mapping[str, Any]],
    points: Optional[Mapping[str, Any]] = None,
    title: str = "compute-optimal frontier",
):
    """N_opt(C) and D_opt(C), two panels, one line per law.

    Args:
        C: budgets (FLOPs).
        lines: ``[{"label", "N_opt": [...], "D_opt": [...], "N_lo", "N_hi", "D_lo", "D_hi"
        (optional), "style"}]``.
        points: optional measured optima ``{"C": [...], "N_opt": [...], "D_opt": [...], "label"}``.
    """
    fig, axes = _figure(2, width=9.6, height=4.2)
    C = np.asarray(C, float)
    for i, line in enumerate(lines):
        col = line.get("color", COLORS[i % len(COLORS)])
        for ax, key in zip(axes, ("N", "D"), strict=False):
            y = np.asarray(line[f"{key}_opt"], float)
            (drawn,) = ax.plot(
                C,
                y,
                line.get("style", "-"),
                color=col,
                lw=1.8 if i == 0 else 1.3,
                label=line["label"],
            )
            legibility.content(drawn)  # the frontiers are what the figure compares
            if line.get(f"{key}_lo") is not None:
                ax.fill_between(
                    C, line[f"{key}_lo"], line[f"{key}_hi"], color=col, alpha=0.18, lw=0
                )
    if points:
        for ax, key in zip(axes, ("N", "D"), strict=False):
            ax.scatter(
                points["C"],
                points[f"{key}_opt"],
                color="k",
                marker="o",
                s=20,
                zorder=5,
                label=points.get("label", "measured optima"),
            )
    for ax, key in zip(axes, ("N", "D"), strict=False):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["C"])
        ax.set_ylabel(f"compute-optimal {LABELS[key]}")
        ax.legend(fontsize=7.5, loc="upper left")
    for ax in axes:
        style.log_axis(ax, "x")
        style.log_axis(ax, "y")
    axes[0].set_title(f"{title}: N_opt(C)")
    axes[1].set_title("D_opt(C)")
    return fig


def learning_curves_figure(
    runs: Sequence[Mapping[str, Any]],
    xlabel: str = "training tokens D",
    title: str = "learning curves and the law's prediction",
):
    """Observed loss along each run (solid) and the law's prediction (dashed).

    Args:
        runs: ``[{"label", "x": [...], "loss": [...], "pred": [...] or None}]``.
    """
    fig, (ax,) = _figure()
    plt = _plt()
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(runs):
        col = cmap(0.9 * i / max(1, len(runs) - 1))
        (line,) = ax.plot(r["x"], r["loss"], "-", color=col, lw=1.4, label=r["label"])
        legibility.content(line)  # the observed curve: data
        if r.get("pred") is not None:
            ax.plot(r["x"], r["pred"], "--", color=col, lw=1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(title + " (dashed)")
    # y from the observed losses: the law at the first, tiny D would stretch it to ~20 nats
    style.data_ylim(ax, np.concatenate([np.asarray(r["loss"], float) for r in runs] or [[]]))
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    ax.legend(fontsize=7, ncol=2, loc="best")
    return fig


def residuals_figure(
    panels: Sequence[Mapping[str, Any]], title: str = "residuals: log(observed / predicted)"
):
    """Residuals against one or more variables.

    Args:
        panels: ``[{"var": "N", "x": [...], "residual": [...], "color": [...] or None,
        "color_label"}]``.
    """
    fig, axes = _figure(len(panels), width=4.8 * len(panels), height=4.0)
    # room between a panel's colour bar (its label) and the next panel's axis label
    fig.get_layout_engine().set(wspace=0.05)
    for ax, p in zip(axes, panels, strict=False):
        color = p.get("color")
        if color is not None:
            import matplotlib.colors as mcolors  # noqa: PLC0415 (lazy)

            sc = ax.scatter(
                p["x"],
                p["residual"],
                c=color,
                cmap="viridis",
                norm=mcolors.LogNorm(),
                s=14,
                edgecolors="none",
            )
            bar = ax.figure.colorbar(sc, ax=ax, label=p.get("color_label", ""), pad=0.02)
            style.compact_colorbar(bar)
        else:
            ax.scatter(p["x"], p["residual"], s=14, color="0.3")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(LABELS.get(p["var"], p["var"]))
        ax.set_ylabel("log(observed / predicted loss)")
        style.log_axis(ax, "x")
    axes[0].set_title(title)
    return fig


def backtest_figure(
    predicted: Sequence[float],
    actual: Sequence[float],
    lo: Optional[Sequence[float]] = None,
    hi: Optional[Sequence[float]] = None,
    labels: Optional[Sequence[str]] = None,
    title: str = "backtest: predicted against actual loss",
):
    """Predicted against actual held-out loss, with intervals, on the y = x line."""
    fig, (ax,) = _figure(width=5.4, height=4.6)
    p, a = np.asarray(predicted, float), np.asarray(actual, float)
    if lo is not None and hi is not None:
        err = np.vstack([p - np.asarray(lo, float), np.asarray(hi, float) - p])
        bars = ax.errorbar(
            a,
            p,
            yerr=np.clip(err, 0, None),
            fmt="o",
            ms=5,
            color=COLORS[0],
            ecolor="0.5",
            capsize=3,
            label="prediction and interval",
        )
        for cap in bars[1]:  # the intervals' ends belong in view, like the points
            legibility.content(cap)
    else:
        ax.scatter(a, p, s=30, color=COLORS[0], label="prediction")
    both = np.concatenate([p, a] + [np.asarray(b, float) for b in (lo, hi) if b is not None])
    both = both[np.isfinite(both)]
    lim = [both.min() * 0.98, both.max() * 1.02]  # the points and their whole intervals
    ax.plot(lim, lim, "k--", lw=0.9, label="y = x")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("actual held-out " + LOSS_LABEL)
    ax.set_ylabel("predicted " + LOSS_LABEL)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    if labels:  # the runs' names where they fit (the table below names every run)
        style.place_labels(ax, a, p, style.short_labels(labels))
    return fig


def catalog_figure(
    models: Sequence[Mapping[str, Any]],
    frontier: Mapping[str, Any],
    title: str = "published models against the compute-optimal frontier",
):
    """Tokens per parameter against training compute for models, beside the frontier's ratio.

    Args:
        models: ``[{"name", "N", "D"}]`` (parameters, tokens; C = 6 N D).
        frontier: ``{"C": [...], "tokens_per_param": [...], "label"}``.
    """
    fig, (ax,) = _figure(width=7.0, height=4.6)
    (line,) = ax.plot(
        frontier["C"],
        frontier["tokens_per_param"],
        "-",
        color=COLORS[1],
        lw=1.8,
        label=frontier.get("label", "compute-optimal"),
    )
    legibility.content(line)  # the comparison itself: it sets the range like the models do
    C = np.array([6.0 * m["N"] * m["D"] for m in models], float)
    ratio = np.array([m["D"] / m["N"] for m in models], float)
    ax.scatter(C, ratio, s=26, color=COLORS[0], zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.12)
    ax.set_xlabel(LABELS["C"] + ", C = 6ND")
    ax.set_ylabel("tokens per parameter D/N")
    ax.set_title(title)
    ax.legend(fontsize=8)
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    style.place_labels(ax, C, ratio, [m["name"] for m in models])
    return fig


def sensitivity_figure(
    rows: Sequence[Mapping[str, Any]],
    budget: float,
    title: str = "tokens per parameter under each fitting choice",
):
    """One dot per variant (colour: kind of choice) on a log axis, joined to the baseline."""
    ok = [r for r in rows if r.get("tokens_per_param") is not None]
    fig, (ax,) = _figure(width=7.2, height=1.2 + 0.3 * max(1, len(ok)))
    groups = list(dict.fromkeys(r["group"] for r in ok))
    colors = {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups)}
    y = np.arange(len(ok))[::-1]
    base = next((r["tokens_per_param"] for r in ok if r["group"] == "baseline"), None)
    for yi, r in zip(y, ok, strict=False):
        if base:
            ax.plot(
                [base, r["tokens_per_param"]],
                [yi, yi],
                color=colors[r["group"]],
                lw=2.5,
                alpha=0.45,
            )
        ax.scatter([r["tokens_per_param"]], [yi], color=colors[r["group"]], s=36, zorder=4)
    ax.set_yticks(y, [r["name"] for r in ok], fontsize=7.5)
    if base:
        ax.axvline(base, color="k", lw=1, ls="--", label=f"baseline {base:.3g}")
    ax.axvline(20, color="0.5", lw=1, ls=":", label="20 (Chinchilla rule of thumb)")
    ax.set_xscale("log")
    for g in groups:
        ax.scatter([], [], color=colors[g], s=30, label=g)
    ax.set_xlabel(f"tokens per parameter at C = {budget:.3g} FLOPs")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    style.log_axis(ax, "x")
    return fig
