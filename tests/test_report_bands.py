"""The report's loss figures shade the prediction interval of a new run (laws.intervals) and say
so; a law with bootstrap samples but no measured scatter keeps the parameter band."""

import copy

import numpy as np
import pytest

from scalelab.laws import Law, fit, optimal, synthetic
from scalelab.report import figures as F
from scalelab.report.sections import figures_section

pytest.importorskip("matplotlib")

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
GRID = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}


@pytest.fixture(scope="module")
def fitted():
    table = synthetic.simulate(
        TRUTH, N=np.geomspace(2e7, 2e9, 4), D=np.geomspace(4e8, 4e11, 4), noise=0.01, seed=1
    )
    return table, fit(table, grid=GRID, bootstrap=10)


def test_loss_figure_band_is_the_prediction_interval(fitted):
    table, law = fitted
    assert F.band_kind(law) == "prediction"
    frontier = [c for c in F.loss_data(law, table, "C")[1] if c["label"].startswith("law on")]
    N, D = optimal.allocate(law.law_form, law.theta[None, :], frontier[0]["x"])
    lo, hi = law.interval(N=N[0], D=D[0])
    assert np.allclose(frontier[0]["lo"], lo) and np.allclose(frontier[0]["hi"], hi)
    for var in ("N", "D", "C"):
        for c in F.loss_data(law, table, var)[1]:
            assert np.all(c["lo"] < c["y"]) and np.all(c["y"] < c["hi"])
            # wider than the bootstrap (parameter-only) band of the same curve
            ci_lo, ci_hi = _bootstrap_band(law, table, var, c)
            assert np.all(c["hi"] / c["lo"] > ci_hi / ci_lo)
    # a law in C alone: its one curve is the prediction interval along the grid
    c_law = fit(table, "power-offset:C")
    (curve,) = F.loss_data(c_law, table, "C")[1]
    lo, hi = c_law.interval(C=curve["x"])
    assert np.allclose(curve["lo"], lo) and np.allclose(curve["hi"], hi)


def _bootstrap_band(law, table, var, curve):
    """The same curve from the law without its scatter: the bootstrap percentile band."""
    bare = copy.deepcopy(law)
    bare.scatter = {}
    assert F.band_kind(bare) == "bootstrap"
    for c in F.loss_data(bare, table, var)[1]:
        if c["label"] == curve["label"]:
            return c["lo"], c["hi"]
    raise AssertionError(f"no curve {curve['label']} without the scatter")


def test_report_section_names_the_band(fitted):
    table, law = fitted
    section = figures_section(law, table)
    assert "95% prediction interval of a new run" in section.body
    assert "bootstrap band" not in section.body
    bare = copy.deepcopy(law)
    bare.scatter = {}
    assert "95% bootstrap band (parameters only)" in figures_section(bare, table).body
    for fig in list(section.figures.values()):
        F.close(fig)


def test_backtest_caption_names_the_prediction_interval(fitted):
    from scalelab.laws.select import backtest
    from scalelab.report.checks import backtest_section
    from scalelab.report.inputs import backtest_rows

    table, _ = fitted
    bt = backtest(table, "chinchilla", split="size", folds=1, grid=GRID, bootstrap=0)
    rows = backtest_rows(bt)
    assert all(r["lo"] is not None for r in rows)
    section = backtest_section(rows, "ok")
    assert "bars: prediction interval of a new run" in section.body
    plain = [dict(r, interval_kind=None) for r in rows]  # rows given as plain data: no claim
    assert "bars:" not in backtest_section(plain, "ok").body
    for fig in section.figures.values():
        F.close(fig)
