"""FLOP and parameter conventions are explicit options of every fit, and recorded in the law."""

import numpy as np
import pandas as pd
import pytest

from scalelab import examples
from scalelab.errors import InputError
from scalelab.laws import Conventions, fit
from scalelab.runs import RunTable


def table_with_shapes():
    frame = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "N": [1e6, 4e6],
            "N_total": [1.5e6, 5e6],
            "D": [1e8, 2e8],
            "loss": [3.5, 3.0],
            "n_layer": [4, 8],
            "n_ctx": [256, 256],
            "d_model": [128, 256],
            "flops_per_token": [7e6, 2.6e7],
        }
    )
    return RunTable.from_frame(frame)


def test_each_flop_convention_computes_its_own_c():
    t = table_with_shapes()
    N, D = t["N"], t["D"]
    np.testing.assert_allclose(Conventions().variables(t)["C"], 6 * N * D)
    np.testing.assert_allclose(Conventions("total").variables(t)["C"], 6 * t["N_total"] * D)
    attn = Conventions(flops="6ND+attention").variables(t)["C"]
    np.testing.assert_allclose(attn, (6 * N + 6 * t["n_layer"] * t["n_ctx"] * t["d_model"]) * D)
    np.testing.assert_allclose(
        Conventions(flops="table").variables(t)["C"], t["flops_per_token"] * D
    )


def test_table_convention_needs_a_given_count():
    t = RunTable.from_records([{"N": 1e6, "D": 1e8, "loss": 3.0}])
    with pytest.raises(InputError, match="needs a C or flops_per_token column"):
        Conventions(flops="table").variables(t)


def test_parameter_convention_changes_the_fit_and_is_recorded():
    table = examples.load("gadre2024")
    grid = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5], "beta": [0.5]}
    kaplan, hoffmann = (  # a small start grid: the conventions, not the grid, are under test
        fit(table, "chinchilla", params="non-embedding", grid=grid),
        fit(table, "chinchilla", params="total", grid=grid),
    )
    assert (
        kaplan.conventions["params"] == "non-embedding"
        and hoffmann.conventions["params"] == "total"
    )
    assert (
        kaplan.conventions["params_column"] == "N"
        and hoffmann.conventions["params_column"] == "N_total"
    )
    assert abs(kaplan.params["alpha"] - hoffmann.params["alpha"]) > 1e-3
    assert kaplan.data["ranges"]["N"][0] < hoffmann.data["ranges"]["N"][0]


def test_demo_runs_and_writes_its_outputs(tmp_path):
    from rich.console import Console

    from scalelab.pipelines.demo_published import run_demo

    summary = run_demo(tmp_path, Console(file=open(tmp_path / "log.txt", "w")))
    for name in (
        "chinchilla_gadre2024.json",
        "kaplan_nd_gadre2024.json",
        "isoflop_porian2024.json",
        "summary.json",
    ):
        assert (tmp_path / name).stat().st_size > 100
    assert 0.4 < summary["isoflop"]["a"] < 0.7
    assert all(
        p["fit"]["ci"]["loss"][0] <= p["fit"]["loss"] <= p["fit"]["ci"]["loss"][1]
        for p in summary["plans"]
    )
