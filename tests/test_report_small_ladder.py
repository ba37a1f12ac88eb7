"""The report and checklist of a small ladder: the checklist knows how scalelab trained the runs
(optimiser, data set, code version), and the figures stay readable at small scale -- tick labels
present and apart, y-ranges from the data, one colour per group shared by points and their law.
Asserts on matplotlib objects, not pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ladder_helpers import cli

from scalelab import laws
from scalelab.ladder.registry import Registry
from scalelab.laws import Law
from scalelab.report import checklist, html
from scalelab.report import figures as F
from scalelab.runs import RunTable

pytest.importorskip("matplotlib")

TRUTH = Law("chinchilla", {"E": 1.5, "A": 8.0, "B": 40.0, "alpha": 0.3, "beta": 0.35})
GRID = {"e": [0.5], "a": [4.0], "b": [6.0], "alpha": [0.4], "beta": [0.4]}
SIZES, RATIOS = (3.1e3, 6.2e3, 2.5e4), (4, 8, 16)
START_LOSS = 4.16  # ln(64): a tiny model starts near the uniform loss, far below the law at tiny D


# -- the checklist of a ladder scalelab trained -----------------------------------------------
def test_checklist_of_a_tiny_ladder_knows_optimizer_data_and_code(tmp_path, tiny_ladder):
    spec, lad, r = tiny_ladder  # `scalelab ladder run l.toml --quiet`, once per session
    assert r.returncode == 0, r.stderr
    with Registry.open(lad) as reg:
        table = reg.table()
    frame = table.data
    assert frame["optimizer"].str.startswith("AdamW (beta1=0.9, beta2=0.95, eps=1e-08").all()
    assert frame["dataset"].str.contains("synthetic Markov").all()
    assert frame["code_version"].str.startswith("scalelab ").all()
    law = laws.fit(table, "power:C")
    items = {i["item"]: i for i in checklist.build(law, table)}
    for key in ("optimizer", "code_version", "data_name", "tokenizer"):
        assert items[key]["status"] == checklist.KNOWN, items[key]
    assert "weight_decay=0.1" in items["optimizer"]["value"]
    # the exported CSV carries the same columns (what `scalelab report runs.csv` reads)
    r = cli("ladder", "export", str(spec), "-o", str(tmp_path / "runs.csv"))
    assert r.returncode == 0, r.stderr
    exported = pd.read_csv(tmp_path / "runs.csv")
    assert {"optimizer", "dataset", "code_version", "tokenizer"} <= set(exported.columns)


# -- the figures of a small ladder --------------------------------------------------------------
def small_ladder() -> RunTable:
    """Three sizes at 4, 8, 16 tokens/parameter, five evaluations each (tiny D first), from a known
    law, capped at the loss a model starts from."""
    rng = np.random.default_rng(0)
    rows = []
    for N in SIZES:
        for r in RATIOS:
            for f in (1 / 64, 1 / 16, 1 / 4, 1 / 2, 1.0):
                D = r * N * f
                loss = min(float(TRUTH.predict(N=N, D=D)), START_LOSS)
                rows.append(
                    {
                        "run_id": f"N{N:.2g}-r{r}",
                        "N": N,
                        "D": D,
                        "loss": loss * float(np.exp(0.01 * rng.standard_normal())),
                    }
                )
    return RunTable.from_frame(pd.DataFrame(rows), "small ladder")


@pytest.fixture(scope="module")
def report():
    rep = html.build(
        small_ladder(), sensitivity=False, backtest=None, grid=GRID, bootstrap=20, seed=1
    )
    yield rep
    rep.close()


def _labels(fig, ax, which):
    """The visible major tick labels inside the axis limits: (texts, window extents)."""
    fig.canvas.draw()
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    ticks = [
        t
        for t, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=False)
        if lo <= loc <= hi and t.label1.get_visible()
    ]
    renderer = fig.canvas.get_renderer()
    return [t.label1.get_text() for t in ticks], [
        t.label1.get_window_extent(renderer) for t in ticks
    ]


def _readable(fig, ax, which):
    texts, boxes = _labels(fig, ax, which)
    assert len(texts) >= 2 and all(texts), (which, texts)
    boxes = sorted(boxes, key=lambda b: b.x0 if which == "x" else b.y0)
    for a, b in zip(boxes, boxes[1:], strict=False):  # neighbours do not overlap
        assert not a.overlaps(b), (which, texts)


def _rgba(c):
    import matplotlib.colors as mcolors

    return tuple(np.round(mcolors.to_rgba(c), 4))


@pytest.mark.parametrize("var", ["N", "D", "C"])
def test_loss_figures_share_colours_and_read(report, var):
    fig = report.figures[f"loss_vs_{var}"]
    ax = fig.axes[0]
    _readable(fig, ax, "x")
    _readable(fig, ax, "y")
    laws_by_colour = {_rgba(line.get_color()) for line in ax.lines if line.get_linestyle() == "-"}
    points = [c for c in ax.collections if c.get_offsets().shape[0] and hasattr(c, "get_sizes")]
    point_colours = {
        _rgba(c.get_facecolor()[0]) for c in points if len(c.get_facecolor()) and c.get_sizes().size
    }
    assert len(laws_by_colour) >= 2  # one law line per group ...
    assert point_colours <= laws_by_colour | {_rgba("0.15")}  # ... in its points' colour
    assert laws_by_colour <= point_colours  # and every law line has its points
    y = np.concatenate([np.asarray(c.get_offsets())[:, 1] for c in points])
    lo, hi = ax.get_ylim()
    assert lo >= y.min() / 1.35 and hi <= y.max() * 1.35


def test_learning_curves_y_range_from_the_data(report):
    fig = report.figures["learning_curves"]
    ax = fig.axes[0]
    observed = np.concatenate(
        [line.get_ydata() for line in ax.lines if line.get_linestyle() == "-"]
    )
    lo, hi = ax.get_ylim()
    assert hi <= observed.max() * 1.1 and lo >= observed.min() / 1.1  # not stretched to ~20 nats
    low = report.law.data["ranges"]["D"][0]  # the law is drawn only over the D it was fitted on
    for ln in ax.lines:
        if ln.get_linestyle() == "--":
            x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
            assert np.all(x[np.isfinite(y)] >= low * (1 - 1e-9))  # not at a tiny D, off the plot
    _readable(fig, ax, "x")
    _readable(fig, ax, "y")
    solid = {_rgba(ln.get_color()) for ln in ax.lines if ln.get_linestyle() == "-"}
    dashed = {_rgba(ln.get_color()) for ln in ax.lines if ln.get_linestyle() == "--"}
    assert dashed == solid  # each run's law in the run's colour


def test_residuals_and_catalog_tick_labels(report):
    fig = report.figures["residuals"]
    for ax in fig.axes[:2] if len(fig.axes) == 2 else [a for a in fig.axes if a.get_xlabel()]:
        _readable(fig, ax, "x")
    fig = report.figures["catalog"]
    _readable(fig, fig.axes[0], "x")
    _readable(fig, fig.axes[0], "y")


@pytest.mark.parametrize(
    "spread",
    [(8.0, 30.0), (8.69e-11, 1e4)],  # a well-determined fit; a degenerate one (a real tiny ladder)
)
def test_sensitivity_and_catalog_have_tick_labels_at_any_span(spread):
    base, far = spread
    rows = [
        {"group": "baseline", "name": "baseline", "tokens_per_param": base},
        {"group": "form", "name": "form chinchilla-tied", "tokens_per_param": far},
        {"group": "form", "name": "form kaplan-nd", "tokens_per_param": base / 2},
        {"group": "fitting loss", "name": "MSE", "tokens_per_param": 30.0},
    ]
    fig = F.sensitivity_figure(rows, 5.76e23)
    _readable(fig, fig.axes[0], "x")
    F.close(fig)
    C = np.geomspace(1e19, 1e26, 20)
    models = [{"name": "A", "N": 7e10, "D": 1.4e12}, {"name": "B", "N": 1.75e11, "D": 3e11}]
    fig = F.catalog_figure(models, {"C": C, "tokens_per_param": base * (C / 1e19) ** -0.1})
    _readable(fig, fig.axes[0], "y")
    F.close(fig)
