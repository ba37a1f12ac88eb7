"""Figures drawn from real fitted objects, written as PNG and SVG."""

import numpy as np
import pandas as pd
import pytest

from scalelab.laws import Law, fit, isoflop, synthetic
from scalelab.report import figures as F
from scalelab.runs import RunTable

pytest.importorskip("matplotlib")

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
GRID = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}
BUDGETS = [1e18, 1e19, 1e20]


def ladder_table() -> RunTable:
    """IsoFLOP runs with three evaluations each (learning curves), losses from a known law."""
    base = synthetic.simulate(TRUTH, isoflop=BUDGETS, N=np.geomspace(3e7, 3e9, 5), noise=0.0).data
    rows = []
    rng = np.random.default_rng(0)
    for i, r in base.iterrows():
        for f in (0.25, 0.5, 1.0):
            D = r["D"] * f
            rows.append(
                {
                    "run_id": f"run{i}",
                    "N": r["N"],
                    "D": D,
                    "C": 6 * r["N"] * D,
                    "loss": float(TRUTH.predict(N=r["N"], D=D))
                    * np.exp(0.003 * rng.standard_normal()),
                }
            )
    return RunTable.from_frame(pd.DataFrame(rows), "ladder")


@pytest.fixture(scope="module")
def fitted():
    table = ladder_table()
    return table, fit(table, grid=GRID, bootstrap=20)


def test_loss_figures_with_bands(fitted, tmp_path):
    table, law = fitted
    for var in ("N", "D", "C"):
        points, curves = F.loss_data(law, table, var)
        assert len(points["x"]) == 15 and curves
        for c in curves:  # bands from the law's bootstrap samples, around the point prediction
            assert np.all(c["lo"] <= c["y"] * 1.0001) and np.all(c["hi"] >= c["y"] * 0.9999)
        fig = F.loss_figure(var, points, curves)
        png, svg = F.save(fig, tmp_path / f"loss_{var}")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "<svg" in svg.read_text()
        F.close(fig)


def test_isoflop_frontier_residuals_learning_curves(fitted, tmp_path):
    table, law = fitted
    result = isoflop.isoflop_profiles(table, bootstrap=0)
    profiles = F.isoflop_data(result, table)
    assert len(profiles) == 3 and all(len(p["N"]) == 5 and p["coef"] is not None for p in profiles)
    C = np.geomspace(1e18, 1e24, 20)
    lines = F.frontier_data(law, C)
    assert lines[0]["N_lo"] is not None and {l["label"].split()[0] for l in lines[1:]} == {
        "chinchilla-2022",
        "besiroglu-2024",
        "kaplan-2020-nd",
    }
    np.testing.assert_allclose(lines[0]["N_opt"] * lines[0]["D_opt"], C / 6, rtol=1e-9)
    curves = F.learning_curve_data(law, table)
    assert len(curves) == 10 and all(len(c["x"]) == 3 and c["pred"] is not None for c in curves)
    panels = F.residual_data(law, table)
    assert [p["var"] for p in panels] == ["N", "D"] and np.abs(panels[0]["residual"]).max() < 0.05
    for _name, fig in {
        "isoflop": F.isoflop_figure(profiles),
        "frontier": F.frontier_figure(C, lines),
        "learning": F.learning_curves_figure(curves),
        "residuals": F.residuals_figure(panels),
    }.items():
        assert F.data_uri(fig).startswith("data:image/svg+xml;base64,")
        F.close(fig)


def test_plain_data_figures(fitted):
    table, law = fitted
    # backtest: the held-out runs predicted by a law fitted without them
    held = table.data[table.data["C"] > 5e19]
    fig = F.backtest_figure(
        law.predict(N=held["N"].to_numpy(), D=held["D"].to_numpy()),
        held["loss"],
        labels=list(held["run_id"]),
    )
    assert "<svg" in F.svg_text(fig)
    C = np.geomspace(1e20, 1e26, 20)
    N = np.array(F.frontier_data(law, C, published=())[0]["N_opt"])
    fig2 = F.catalog_figure(
        [{"name": "model-a", "N": 7e9, "D": 2e12}, {"name": "model-b", "N": 7e10, "D": 1.4e12}],
        {"C": C, "tokens_per_param": (C / 6) / N**2},
    )
    assert "<svg" in F.svg_text(fig2)
    labels = {t.get_text() for ax in fig2.axes for t in ax.texts}  # SVG draws text as paths
    assert {"model-a", "model-b"} <= labels
    rows = [
        {"name": "baseline", "group": "baseline", "tokens_per_param": 20.0},
        {"name": "MSE", "group": "fitting loss", "tokens_per_param": 12.0},
        {"name": "drop largest", "group": "fitting range", "tokens_per_param": None},
    ]
    fig3 = F.sensitivity_figure(rows, 1e23)
    assert "<svg" in F.svg_text(fig3)
    for f in (fig, fig2, fig3):
        F.close(f)
