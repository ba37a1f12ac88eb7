"""Axis helpers of the report's figures: log axes whose tick labels are always there and never
overlap (whatever the span: a tenth of a decade or twenty decades), y-limits taken from the data,
and legend entries that show a marker and a line in one colour.

matplotlib is imported inside the functions (lazily: importing this module costs nothing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def compact(value: float, _pos=None) -> str:
    """A short tick label: ``0.5``, ``20``, ``3000``; ``2e4``, ``1.5e-11`` beyond that."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else ""
    exponent = math.floor(math.log10(abs(value)) + 1e-9)
    if -2 <= exponent <= 3:
        return f"{float(f'{value:.3g}'):g}" if exponent < 3 else f"{value:.0f}"
    mantissa = float(f"{value / 10**exponent:.2g}")
    return f"{mantissa:g}e{exponent}"


def log_axis(ax, which: str = "x") -> None:
    """Major ticks on a log axis at 1-2-5 (or 1-3, or every few decades) with compact labels,
    chosen from the axis's current span; minor ticks unlabelled. Call it after the data are
    drawn and the limits set."""
    from matplotlib.ticker import (  # noqa: PLC0415 (lazy matplotlib)
        FuncFormatter,
        LogLocator,
        NullFormatter,
        NullLocator,
    )

    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    lo, hi = min(lo, hi), max(lo, hi)
    if not (lo > 0 and math.isfinite(hi)):
        return
    decades = math.log10(hi / lo)
    if decades <= 0.5:
        subs = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
    elif decades <= 1.2:
        subs = (1.0, 2.0, 3.0, 5.0)
    elif decades <= 2.5:
        subs = (1.0, 2.0, 5.0)
    elif decades <= 4.5:
        subs = (1.0, 3.0)
    else:
        subs = (1.0,)
    axis = ax.xaxis if which == "x" else ax.yaxis
    # numticks large enough that a multi-sub locator keeps a stride of one decade
    numticks = 30 if len(subs) > 1 else 8
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=numticks))
    axis.set_major_formatter(FuncFormatter(compact))
    axis.set_minor_formatter(NullFormatter())
    if decades > 4.5:  # labels every decade or more: unlabelled minor ticks add only clutter
        axis.set_minor_locator(NullLocator())


def data_ylim(ax, values: Sequence[float], margin: float = 0.06) -> tuple[float, float]:
    """Set a log y-axis to the finite positive ``values`` (observed data), widened by ``margin``
    (relative) each way; a law's curve drawn beyond them is clipped. Returns the limits."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return ax.get_ylim()
    lo, hi = float(v.min()) / (1.0 + margin), float(v.max()) * (1.0 + margin)
    ax.set_ylim(lo, hi)
    return lo, hi


def marker_line(color, label: str, line: bool = True):
    """A legend handle: a dot and (when ``line``) a line, in one colour."""
    from matplotlib.lines import Line2D  # noqa: PLC0415 (lazy matplotlib)

    return Line2D(
        [], [], color=color, marker="o", ms=5, ls="-" if line else "", lw=1.8, label=label
    )


def groups(values: Sequence[float], max_groups: int = 6, rtol: float = 0.05):
    """Group values that agree within ``rtol`` (relative): (group index of each value, the
    groups' geometric means), or None when there are more than ``max_groups`` groups."""
    v = np.asarray(values, dtype=float)
    if not len(v) or np.any(~(v > 0)):
        return None
    logs = np.log(v)
    order = np.argsort(logs, kind="stable")
    labels = np.empty(len(v), dtype=int)
    g, start = 0, logs[order[0]]
    for i in order:
        if logs[i] - start > math.log1p(rtol):
            g, start = g + 1, logs[i]
        labels[i] = g
    if g + 1 > max_groups:
        return None
    centres = np.array([float(np.exp(logs[labels == k].mean())) for k in range(g + 1)])
    return labels, centres


def nearest_levels(values: Sequence[float], n: int = 3):
    """``n`` levels at log-quantiles of ``values`` and the index of the nearest level (in log)
    for each value: for colouring points by the law curve drawn nearest them."""
    v = np.asarray(values, dtype=float)
    levels = np.unique(np.exp(np.quantile(np.log(v), np.linspace(0.1, 0.9, n))))
    labels = np.argmin(np.abs(np.log(v)[:, None] - np.log(levels)[None, :]), axis=1)
    return labels, levels


def two_line_title(text: str) -> str:
    """A long title as two lines, broken before its parenthesis (``loss against D (chinchilla
    fit, ...)``), so it never runs past a figure's edge."""
    if "\n" in text:
        return text
    head, sep, tail = text.partition(" (")
    return f"{head}\n({tail}" if sep and len(text) > 48 else text


def short_labels(labels: Sequence[str]) -> list[str]:
    """Labels without the prefix they all share up to a ``/`` (``rw/tuned/.../C=1e16/N=5e6`` ->
    ``C=1e16/N=5e6``): what tells the points apart."""
    labels = [str(s) for s in labels]
    if len(labels) < 2:
        return labels
    prefix = labels[0]
    for s in labels[1:]:
        while not s.startswith(prefix):
            prefix = prefix[:-1]
    cut = prefix.rfind("/") + 1
    return [s[cut:] or s for s in labels]


LABEL_OFFSETS = ((4, 3), (4, -3), (-4, 3), (-4, -3), (0, 8), (0, -8), (8, 10), (-8, -10))
"""Where a point's label may sit (points from the point; first that fits wins)."""


def place_labels(ax, xs, ys, labels: Sequence[str], fontsize: float = 7.0) -> int:
    """Label points without two labels overlapping, any label leaving the axes, or a label over
    the legend: each label takes the first free place of :data:`LABEL_OFFSETS` around its point;
    a label with no free place is left out (the figure's table names every point). Draws the
    figure once to settle its layout (and fixes the legend where it was drawn). Returns how many
    labels were left out."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend()
    taken = []
    if legend is not None:
        box = legend.get_window_extent(renderer)
        corner = ax.transAxes.inverted().transform((box.x0, box.y0))
        legend.set_loc(tuple(float(v) for v in corner))  # stays put whatever is added
        taken.append(box)
    frame = ax.bbox
    left_out = 0
    order = np.argsort(np.asarray(xs, float), kind="stable")
    for i in order:
        x, y, text = xs[i], ys[i], str(labels[i])
        for dx, dy in LABEL_OFFSETS:
            ann = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                fontsize=fontsize,
                ha="left" if dx >= 0 else "right",
                va="bottom" if dy >= 0 else "top",
                annotation_clip=False,
            )
            ann.set_in_layout(False)
            box = ann.get_window_extent(renderer)
            inside = (
                box.x0 >= frame.x0
                and box.x1 <= frame.x1
                and box.y0 >= frame.y0
                and box.y1 <= frame.y1
            )
            if inside and not any(_overlaps(box, b) for b in taken):
                taken.append(box)
                break
            ann.remove()
        else:
            left_out += 1
    return left_out


def _overlaps(a, b, slack: float = 1.0) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0)) > -slack and (
        min(a.y1, b.y1) - max(a.y0, b.y0)
    ) > -slack


def compact_colorbar(colorbar) -> None:
    """A colour bar's ticks as compact numbers (``1e6``, ``3e5``), not ``3 x 10^5`` mathtext."""
    log_axis(colorbar.ax, "y" if colorbar.orientation == "vertical" else "x")
