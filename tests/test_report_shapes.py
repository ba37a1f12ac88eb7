"""The comparison section's shape figure (Kaplan et al. 2020, Fig. 5): loss penalty over the best
shape at fixed N and D against aspect ratio d_model/n_layer, one colour per N, with the band the
shape analysis counts as noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from scalelab.compare import shape as shape_mod
from scalelab.report import comparison as cmp
from scalelab.report import figures as F
from scalelab.report import html as report_html
from scalelab.runs.table import RunTable

SIZES = (1e7, 4e7, 1.6e8)
LAYERS = (2, 4, 8, 16, 32, 64)


def _family(penalty=0.0, noise=0.0, seeds=(0, 1), sizes=SIZES, best=64.0) -> pd.DataFrame:
    """Shapes of equal N (n_layer x d_model), loss = base(N, D) * (1 + penalty * ln(a/best)^2)."""
    rng = np.random.default_rng(0)
    rows = []
    for N in sizes:
        for L in LAYERS:
            d = int(round(np.sqrt(N / (12 * L)) / 8) * 8)
            base = 1.7 + 400 / N**0.34 + 410 / (20 * N) ** 0.28
            for s in seeds:
                loss = base * (1 + penalty * np.log(d / L / best) ** 2)
                rows.append(
                    {
                        "run_id": f"{N:g}-L{L}-s{s}",
                        "N": N,
                        "D": 20 * N,
                        "loss": loss * np.exp(rng.normal(0, noise)),
                        "shape": f"L{L}-d{d}",
                        "n_layer": L,
                        "d_model": d,
                        "seed": s,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def flat():
    result, section = _section(_family(penalty=0.0))
    yield result, section
    F.close(section.figures["comparison_shape"])


@pytest.fixture(scope="module")
def penalised():
    """A whole report of a shape family (the table groups by shape on its own)."""
    frame = _family(penalty=0.01, noise=0.001)
    rep = _build(frame)
    yield frame, rep
    rep.close()


def _section(frame):
    table = RunTable(frame)
    by = cmp.grouping(table, None)
    assert by == "shape"
    result, offsets, why = cmp.analyse(table, by, "chinchilla", 20)
    assert why == "ok", why
    return result, cmp.comparison_section(result, table, offsets, why)


def _lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_identical_losses_give_zero_penalties_and_no_shape_effect(flat):
    result, section = flat
    assert result.shape.verdict == shape_mod.NO_EFFECT
    fig = section.figures["comparison_shape"]
    (ax,) = fig.axes
    lines = _lines(ax)
    assert len(lines) == len(SIZES)  # one line per N
    for line in lines:
        assert np.allclose(line.get_ydata(), 0.0, atol=1e-9)
    assert "No shape effect" in section.body and "comparison_shape" in section.body
    assert ax.get_xscale() == "log"
    # no seed noise (identical replicates): the band is the analysis' tolerance, in percent
    (band,) = ax.patches
    assert band.get_label().startswith("tolerance")
    assert np.isclose(F.shape_data(result.shape)["band"], shape_mod.TOLERANCE)


def test_penalty_at_extreme_aspect_ratios_shows_per_n(penalised):
    frame, rep = penalised
    assert "Shape effect" in rep.html
    fig = rep.figures["comparison_shape"]
    (ax,) = fig.axes
    lines = _lines(ax)
    assert [line.get_label() for line in lines] == [f"N={n:.3g}" for n in SIZES]
    colours = {to_hex(line.get_color()) for line in lines}
    assert len(colours) == len(SIZES)  # one colour per N
    for N, line in zip(SIZES, lines, strict=True):
        rows = frame[frame["N"] == N].drop_duplicates("shape")
        aspects = np.sort((rows["d_model"] / rows["n_layer"]).to_numpy())
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert np.allclose(x, aspects)  # x data: the aspect ratios, sorted
        assert line.get_marker() == "o" and line.get_linestyle() == "-"
        near = np.abs(np.log(x / 64.0)) < 0.5
        assert y[near].min() < 0.3 and y[~near].max() > 5.0  # percent: extremes cost > 5%
        assert y[0] > 2.0 and y[-1] > 1.0
    (band,) = ax.patches  # measured seed noise (2 sd of log L, in percent): far below 5%
    assert band.get_label().startswith("seed noise") and 0 < band.get_height() < 1.0


def test_several_d_at_one_n_share_its_colour():
    frame = pd.concat([_family(sizes=(1e7,)), _family(sizes=(1e7,)).assign(D=80 * 1e7)])
    frame["run_id"] = frame["run_id"] + frame["D"].astype(str)
    _, section = _section(frame)
    lines = _lines(section.figures["comparison_shape"].axes[0])
    assert len(lines) == 2 and len({to_hex(line.get_color()) for line in lines}) == 1
    assert {line.get_linestyle() for line in lines} == {"-", "--"}
    F.close(section.figures["comparison_shape"])


def test_grouping_finds_a_shape_family_only():
    assert cmp.grouping(RunTable(_family()), None) == "shape"
    one_shape_per_n = _family()
    one_shape_per_n = one_shape_per_n[one_shape_per_n["n_layer"] == 8]
    assert cmp.grouping(RunTable(one_shape_per_n), None) is None
    recipes = _family().assign(recipe=lambda f: np.where(f["seed"] == 0, "a", "b"))
    assert cmp.grouping(RunTable(recipes), None) == "recipe"
    assert cmp.grouping(RunTable(recipes), "shape") == "shape"


GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5], "beta": [0.5]}
"""A small start grid for the report's own fit (the shape figure, not that fit, is under test)."""


def _build(frame, **kw):
    return report_html.build(
        frame,
        bootstrap=20,
        sensitivity=False,
        backtest=None,
        catalog=None,
        form="chinchilla",
        grid=GRID,
        **kw,
    )


def test_report_shows_the_figure_for_a_shape_family(penalised):
    _, rep = penalised
    assert rep.sections["comparison"] == "ok"
    assert "comparison_shape" in rep.figures and 'id="fig-comparison_shape"' in rep.html
    assert "comparison_laws" not in rep.figures


def test_no_aspect_ratio_columns_no_figure():
    frame = _family(penalty=0.01, noise=0.001, sizes=(1e7,)).drop(columns=["n_layer", "d_model"])
    table = RunTable(frame)
    result, offsets, why = cmp.analyse(table, cmp.grouping(table, None), "chinchilla", 20)
    section = cmp.comparison_section(result, table, offsets, why)
    assert "comparison_shape" not in section.figures and "no n_layer and d_model" in section.body
