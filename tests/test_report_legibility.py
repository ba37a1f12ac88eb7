"""Every figure of the report is legible (issue 23), on the demo ladder's runs (the run table of
a `scalelab demo` run, 2026-12-07, 2-vCPU machine: tests/data/demo_ladder_runs.csv, with learning
curves and task rows) and on each bundled example: the axes hold their data points and no law curve
stretches the y range far beyond them, no text is cut by the figure's edge, and no two texts
overlap (scalelab.report.legibility, from matplotlib's own extents).

The reports are built by the real `report.html.build` with a one-start fit grid, few bootstrap
resamples and the SVG embedding skipped, so the check stays fast; the figures are the report's."""

from pathlib import Path

import numpy as np
import pytest

from scalelab import examples
from scalelab.report import figures as F
from scalelab.report import html as report_html
from scalelab.report import legibility
from scalelab.runs.table import read_table

pytest.importorskip("matplotlib")

DEMO = Path(__file__).parent / "data" / "demo_ladder_runs.csv"
GRID = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}
PORIAN_CONFIG = "rw/tuned/short/const/standard/val"
"""Porian et al.'s example holds 15 configurations: the report is of one (``--where config=``)."""


def _table(name: str):
    if name == "demo":
        return read_table(DEMO)
    table = examples.load(name)
    return table.where(config=PORIAN_CONFIG) if name == "porian2024" else table


CASES = ["demo", *examples.names()]
UNION = "gadre2024-all"
"""The union of the three Gadre et al. examples, each checked on its own in the default suite:
checked by ``make test-all`` (it would take the default suite past ~20 s of CPU)."""
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n == UNION else n for n in CASES]


@pytest.fixture
def no_svg(monkeypatch):
    """The check needs the figures, not their SVG: skip embedding them (most of a report's time)."""
    monkeypatch.setattr(F, "data_uri", lambda fig, fmt="svg": "data:,")


@pytest.mark.parametrize("name", PARAMS)
def test_every_report_figure_is_legible(name, no_svg):
    rep = report_html.build(
        _table(name),
        bootstrap=8,
        grid=GRID,
        sensitivity=name == "demo",  # one sensitivity figure (its refits dominate the time)
        sensitivity_grid=GRID,
    )
    try:
        assert len(rep.figures) >= 7, sorted(rep.figures)
        if name == "demo":  # the annealing law's figure and the tasks' are checked too
            assert {"curves", "learning_curves", "sensitivity"} <= set(rep.figures)
            assert any(k.startswith("downstream_") for k in rep.figures)
        found = [p for key, fig in rep.figures.items() for p in legibility.problems(fig, key)]
    finally:
        rep.close()
    assert found == [], "\n".join(found)


def test_the_check_catches_each_defect():
    """Each check fails on a figure made to break it."""
    plt = F._plt()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.scatter([1, 2, 3], [2.0, 2.1, 2.2])
    ax.plot([0.5, 3.5], [2.0, 5000.0], "--")  # a law diverging where it is not fitted
    ax.set_title("a title far too long for a figure four inches wide, so it runs off the edge")
    ax.annotate("label one", (2, 2.1))
    ax.annotate("label two", (2, 2.1))
    try:
        found = "\n".join(legibility.problems(fig, "bad"))
    finally:
        plt.close(fig)
    assert "reaches far beyond the data points" in found
    assert "is cut by the figure's edge" in found
    assert "text 'label one' overlaps text 'label two'" in found
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.scatter([1, 2, 3], [2.0, 2.1, 2.2])
    ax.set_ylim(2.05, 2.3)
    try:
        assert "1 data point(s) outside the y limits" in "\n".join(legibility.problems(fig, "b"))
    finally:
        plt.close(fig)


def test_a_legible_figure_passes():
    plt = F._plt()
    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    x = np.geomspace(1e6, 1e8, 6)
    ax.scatter(x, 2 + 10 / x**0.1)
    ax.plot(x, 2 + 10 / x**0.1, "-", label="law")
    ax.set_xscale("log")
    ax.set_title("short")
    ax.legend()
    try:
        assert legibility.problems(fig, "ok") == []
    finally:
        plt.close(fig)


def test_learning_curves_draw_the_law_only_where_it_was_fitted():
    """The fit figures' learning curves: the law (fitted to final points) is drawn from the
    smallest D it was fitted on, not down to the first evaluation's few thousand tokens."""
    from scalelab.laws.options import FitOptions
    from scalelab.laws.select import fit

    table = _table("demo")
    law = fit(table, "chinchilla", options=FitOptions(grid=GRID))
    runs = F.learning_curve_data(law, table)
    low = law.data["ranges"]["D"][0]
    assert runs and all(r["pred"] is not None for r in runs)
    for r in runs:
        drawn = np.isfinite(r["pred"])
        assert drawn.any() and np.all(r["x"][drawn] >= low * (1 - 1e-9))
        assert not drawn[np.asarray(r["x"]) < low * 0.999].any()
        assert (np.asarray(r["x"]) < low).any()  # there were evaluations below it
