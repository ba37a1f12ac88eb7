"""The embedded default, `scalelab demo`: a training ladder on the built-in corpus whose science holds.

The end-to-end test trains the whole demo ladder (about 5 minutes on 2 cores), so it is marked
slow (`make test-all`). The fast tests check the demo's analysis on a ladder export recorded from
a real `scalelab demo` run (tests/data/demo_runs.csv, 2026-11-25, 2-vCPU machine), so a change
to the fitting code that breaks the demo's identifiability or its backtest is caught by `make test`.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.spec import spec_from_dict
from scalelab.pipelines.demo_ladder import DEMO_SPEC, analyse

RECORDED = Path(__file__).parent / "data" / "demo_runs.csv"


def _check_science(summary: dict) -> None:
    """What issue 8 asks of the demo: monotone trends, an identifiable fit, a <= 3% backtest."""
    assert summary["trend_violations"] == []
    assert len(summary["sizes"]) >= 5 and summary["points"] >= 15
    chin = summary["fits"]["chinchilla"]
    assert chin["identifiable"]["no_parameter_on_bound"], chin["identifiable"]["warnings"]
    assert chin["identifiable"]["finite_intervals"]
    assert 0 < chin["params"]["E"] < min(p["loss"] for p in summary["backtest"]["points"])
    bt = summary["backtest"]
    assert bt["held_out_N"] == max(summary["sizes"]) and len(bt["points"]) == 3
    assert bt["max_abs_rel_error"] <= 0.03
    for name in ("kaplan-nd", "kaplan-n", "kaplan-d"):
        assert "params" in summary["fits"][name], summary["fits"][name]
    frontier = [f for f in chin["frontier"] if "N_opt" in f]
    assert len(frontier) >= 3
    assert all(
        a["N_opt"] < b["N_opt"] and a["D_opt"] < b["D_opt"] and a["loss"] > b["loss"]
        for a, b in zip(frontier, frontier[1:])
    )


def test_demo_spec_is_a_real_grid():
    plan = plan_ladder(spec_from_dict(DEMO_SPEC, "demo"), "demo")
    assert len(plan.jobs) >= 5 and len(plan.points) >= 15
    ratios = [p.D / p.N for p in plan.points]
    assert (
        min(ratios) < 5 and max(ratios) > 80
    )  # budgets well below and well above ~20 tokens/param
    assert min(p.steps for p in plan.points) >= 1000  # every point takes >= 1000 optimiser steps
    assert not plan.warnings


def test_demo_analysis_of_a_recorded_demo_ladder(tmp_path):
    summary = analyse(RECORDED, tmp_path, bootstrap=100)
    _check_science(summary)
    assert (tmp_path / "chinchilla.json").is_file() and (tmp_path / "demo_summary.json").is_file()


def test_demo_analysis_reports_broken_trends(tmp_path):
    import pandas as pd

    frame = pd.read_csv(RECORDED)
    big = frame["N"] == frame["N"].max()
    frame.loc[big, "loss"] += 0.5  # the largest model, suddenly much worse
    frame.to_csv(tmp_path / "runs.csv", index=False)
    summary = analyse(tmp_path / "runs.csv", tmp_path, bootstrap=0)
    assert len(summary["trend_violations"]) == 3  # one per budget
    assert summary["backtest"]["max_abs_rel_error"] > 0.03


@pytest.mark.slow
def test_scalelab_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "scalelab.cli", "demo", "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    _check_science(summary)
    assert summary["counts"]["done"] == 5 and summary["counts"]["failed"] == 0
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "chinchilla" in html
    assert json.loads((out / "demo_summary.json").read_text())["backtest"] == summary["backtest"]
