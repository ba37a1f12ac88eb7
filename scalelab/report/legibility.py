"""Is a figure legible? Three checks on a drawn matplotlib figure, from the extents matplotlib
reports for its own artists (``get_window_extent`` with the figure's renderer):

* **data in view**: every data point (scatter points, marker-only lines, error-bar markers, and
  lines a figure marks as its content with :func:`content`) lies inside its axes' limits, and no
  other curve (a law drawn through the points, a band) sets the y range: the y limits reach at
  most half the points' span (in the axis's own scale: decades on a log axis) beyond them;
* **no clipped text**: no visible text (titles, axis and tick labels, annotations, legends,
  colour-bar labels) extends past the figure's edge;
* **no overlapping text**: no two text boxes overlap, texts of two panels keep
  :data:`PANEL_GAP_PX` apart, and no text of one panel reaches into another panel.

:func:`problems` returns one line per failure (empty: legible); the report's test runs it on every
figure of the report on the demo ladder and the bundled examples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONTENT = "content"
"""Role of a line that is the figure's content (a frontier, a published law), not a law drawn
through the data points: it sets the axis range like a data point."""
MAX_PAD = 0.5
"""How far (a fraction of the points' own span) the y limits may reach beyond the points."""
SLACK_PX = 1.0
PANEL_GAP_PX = 12.0
"""Texts of two panels (a colour bar counts with its panel) keep a line of text apart: closer,
they read as one label (the residual panels' colour-bar label against the next panel's)."""
CAPS = ("_", "|", 0, 1, 2, 3)
"""Markers of error-bar caps (interval ends, not data points)."""
"""Overlaps and overshoots of up to this many pixels are rounding, not defects."""


def content(artist: Any) -> Any:
    """Mark ``artist`` (a line) as the figure's content: the legibility check counts it as data."""
    artist.scalelab_role = CONTENT
    return artist


def _is_content(artist) -> bool:
    return getattr(artist, "scalelab_role", None) == CONTENT


def data_points(ax) -> tuple[np.ndarray, np.ndarray]:
    """The axes' data points in data coordinates, (x values, y values): scatter offsets,
    marker-only lines (error-bar markers included) and lines marked :func:`content` (a
    horizontal reference such as chance accuracy gives y values only)."""
    from matplotlib.collections import PathCollection  # noqa: PLC0415 (lazy)

    xs, ys = [], []
    for c in ax.collections:
        if isinstance(c, PathCollection) and c.get_visible():
            if c.get_offset_transform() is ax.transData or _is_content(c):
                off = np.asarray(c.get_offsets(), float).reshape(-1, 2)
                ok = np.all(np.isfinite(off), axis=1)
                xs.append(off[ok, 0])
                ys.append(off[ok, 1])
    for line in ax.lines:
        if not line.get_visible():
            continue
        x = np.asarray(line.get_xdata(), float)
        y = np.asarray(line.get_ydata(), float)
        if _is_content(line) and line.get_transform() == ax.get_yaxis_transform():
            ys.append(y[np.isfinite(y)])  # a horizontal reference line: its y is data
            continue
        if line.get_transform() is not ax.transData:
            continue
        if line.get_marker() in CAPS and not _is_content(line):
            continue  # an error bar's caps: the ends of an interval, not data
        marker_only = line.get_marker() not in (None, "", "None", " ") and (
            line.get_linestyle() in ("None", "", " ")
        )
        if marker_only or _is_content(line):
            ok = np.isfinite(x) & np.isfinite(y)
            xs.append(x[ok])
            ys.append(y[ok])
    join = lambda parts: np.concatenate(parts) if parts else np.empty(0)  # noqa: E731
    return join(xs), join(ys)


def _scaled(axis, values: np.ndarray) -> np.ndarray:
    """Values in the axis's own scale (log10 on a log axis); non-positive values on a log axis
    become NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(axis.get_transform().transform(np.asarray(values, float)), float)
    return np.where(np.isfinite(out), out, np.nan)


def _axes_problems(ax, name: str) -> list[str]:
    xy = data_points(ax)
    out = []
    for k, axis, lim in ((0, ax.xaxis, ax.get_xlim()), (1, ax.yaxis, ax.get_ylim())):
        v = _scaled(axis, xy[k])
        v = v[np.isfinite(v)]
        lo, hi = sorted(_scaled(axis, np.asarray(lim)))
        if not len(v):
            continue
        span = float(v.max() - v.min())
        tol = 1e-9 * max(1.0, abs(lo), abs(hi)) + 1e-6 * span
        outside = int(np.sum((v < lo - tol) | (v > hi + tol)))
        if outside:
            out.append(
                f"{name}: {outside} data point(s) outside the {'xy'[k]} limits "
                f"{lim[0]:.3g}..{lim[1]:.3g}"
            )
        if k == 1:
            floor = 0.05 if axis.get_scale() == "log" else 0.05 * max(abs(v).max(), 1e-12)
            allowed = max(MAX_PAD * span, floor)
            pad = max(v.min() - lo, hi - v.max())
            if pad > allowed + tol:
                out.append(
                    f"{name}: the y range {lim[0]:.3g}..{lim[1]:.3g} reaches far beyond the data "
                    f"points' {_unscale(axis, v.min()):.3g}..{_unscale(axis, v.max()):.3g} "
                    "(a curve sets it)"
                )
    return out


def _unscale(axis, value: float) -> float:
    return float(axis.get_transform().inverted().transform(np.array([value]))[0])


def _drawn_tick_labels(ax) -> tuple[list, set[int]]:
    """The tick labels the axes draws (ticks inside the view), and the ids of all its tick-label
    texts (drawn or not)."""
    drawn, every = [], set()
    for axis in (ax.xaxis, ax.yaxis):
        for t in list(axis.majorTicks) + list(axis.minorTicks):  # those made so far: no new ones
            every.update({id(t.label1), id(t.label2)})
        for t in axis._update_ticks():  # the ticks inside the view: the ones drawn
            drawn += [lab for lab in (t.label1, t.label2) if lab.get_visible()]
        if axis.offsetText.get_visible():
            drawn.append(axis.offsetText)
        every.add(id(axis.offsetText))
    return drawn, every


def text_boxes(fig, renderer) -> list[tuple[str, Any, Any]]:
    """``(label, bbox in pixels, owning axes or None)`` of every visible, non-empty text of the
    figure; a legend counts as one box."""
    from matplotlib.text import Text  # noqa: PLC0415 (lazy)

    boxes, skip = [], set()
    for ax in fig.axes:
        drawn, every = _drawn_tick_labels(ax)
        skip |= every
        for t in drawn:
            if t.get_text().strip():
                boxes.append((f"tick label '{t.get_text()}'", t.get_window_extent(renderer), ax))
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            boxes.append(("legend", legend.get_window_extent(renderer), ax))
            skip |= {id(t) for t in legend.findobj(Text)}
    for legend in fig.legends:
        boxes.append(("legend", legend.get_window_extent(renderer), None))
        skip |= {id(t) for t in legend.findobj(Text)}
    owner = {}  # an axes' titles and axis labels belong to it (their own .axes may be None)
    for ax in fig.axes:
        for t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            owner[id(t)] = ax
    for t in fig.findobj(Text):
        if id(t) in skip or not t.get_visible() or not t.get_text().strip():
            continue
        if t.get_figure(root=True) is None:
            continue
        label = f"text '{t.get_text()[:40]}'"
        boxes.append((label, t.get_window_extent(renderer), owner.get(id(t), t.axes)))
    return boxes


def _overlap(a, b, slack: float = SLACK_PX) -> bool:
    """Whether two boxes overlap by more than ``slack`` pixels both ways (a negative slack: come
    closer than that)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > slack and h > slack


def _panel(ax):
    """The panel an axes belongs to: a colour bar's is the panel it colours."""
    cb = getattr(ax, "_colorbar", None)
    parent = getattr(getattr(cb, "mappable", None), "axes", None)
    return parent if parent is not None else ax


def problems(fig, name: str = "figure") -> list[str]:
    """Every legibility problem of ``fig`` (drawn here), one line each; empty when legible."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for i, ax in enumerate(fig.axes):
        out += _axes_problems(ax, f"{name} (panel {i + 1})")
    W, H = fig.bbox.width, fig.bbox.height
    boxes = text_boxes(fig, renderer)
    for label, bb, _ in boxes:
        if bb.x0 < -SLACK_PX or bb.y0 < -SLACK_PX or bb.x1 > W + SLACK_PX or bb.y1 > H + SLACK_PX:
            out.append(f"{name}: {label} is cut by the figure's edge")
    for i, (la, a, pa) in enumerate(boxes):
        for lb, b, pb in boxes[i + 1 :]:
            if _overlap(a, b):
                out.append(f"{name}: {la} overlaps {lb}")
            elif _panel(pa) is not _panel(pb) and _overlap(a, b, -PANEL_GAP_PX):
                out.append(f"{name}: {la} and {lb}, of two panels, nearly touch")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for label, bb, owner in boxes:
        for ax in panels:
            if owner is None or ax is owner or ax.bbox is None:
                continue
            if _overlap(bb, ax.bbox) and not _colorbar_of(owner, ax):
                out.append(f"{name}: {label} reaches into another panel")
    return out


def _colorbar_of(a, b) -> bool:
    """Whether one of two axes is the other's colour bar (a colour bar sits against its panel)."""
    for x, y in ((a, b), (b, a)):
        cb = getattr(x, "_colorbar", None)
        if cb is not None and getattr(cb, "mappable", None) is not None:
            if getattr(cb.mappable, "axes", None) is y:
                return True
    return False
