"""Sensitivity analysis: small spread on a known law, large spread on a mis-specified range,
and the survey's finding on Chinchilla's runs."""

import json

import numpy as np
import pandas as pd
import pytest

from scalelab.cli import main
from scalelab.laws import Law, synthetic
from scalelab.report import sensitivity as sens
from scalelab.runs import RunTable

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
GRID = {
    "e": [-1.0, 0.5],
    "a": [5.0, 15.0],
    "b": [5.0, 15.0],
    "alpha": [0.3, 0.8],
    "beta": [0.3, 0.8],
    "n_c": [20.0, 40.0],
    "d_c": [20.0, 40.0],
    "alpha_N": [0.1, 0.4],
    "alpha_D": [0.1, 0.4],
}
SIZES = np.geomspace(2e7, 4e9, 8)
TOKENS = np.geomspace(4e8, 4e11, 6)


def choice_spread(result, exclude=("form",)):
    values = [r["tokens_per_param"] for r in result.ok_rows if r["group"] not in exclude]
    return max(values) / min(values)


def test_known_law_small_spread():
    table = synthetic.simulate(TRUTH, N=SIZES, D=TOKENS, noise=0.002, seed=1)
    result = sens.analyse(table, budget=1e22, grid=GRID)
    truth = TRUTH.optimal(1e22).tokens_per_param
    assert result.baseline["tokens_per_param"] == pytest.approx(truth, rel=0.15)
    # every fitting choice (loss, initialisation, range, conventions) lands near the truth
    assert choice_spread(result) < 1.35, [
        (r["name"], r["tokens_per_param"]) for r in result.ok_rows
    ]
    groups = {r["group"] for r in result.rows}
    assert groups >= {
        "baseline",
        "form",
        "fitting loss",
        "initialisation",
        "fitting range",
        "parameter convention",
        "FLOP convention",
    }
    # the table has no N_total and no shapes: those variants say so instead of inventing
    na = {r["name"]: r["reason"] for r in result.rows if r["status"] == "not available"}
    assert "N_total" in na["total parameters"] and "n_layer" in na["FLOPs 6ND+attention"]


def test_mis_specified_range_large_spread():
    # The smallest models follow a different (steeper) law: a fitting range that includes them is
    # mis-specified, and whether they are dropped moves the answer a lot.
    small = Law("chinchilla", {"E": 1.82, "A": 6000.0, "B": 2085.0, "alpha": 0.55, "beta": 0.37})
    a = synthetic.simulate(small, N=np.geomspace(2e6, 1e7, 3), D=TOKENS, noise=0.002, seed=2).data
    b = synthetic.simulate(TRUTH, N=np.geomspace(2e7, 4e9, 5), D=TOKENS, noise=0.002, seed=3).data
    frame = pd.concat([a, b], ignore_index=True)
    frame["run_id"] = [f"r{i}" for i in range(len(frame))]
    result = sens.analyse(RunTable.from_frame(frame), budget=1e22, grid=GRID)
    assert choice_spread(result) > 2.0, [(r["name"], r["tokens_per_param"]) for r in result.ok_rows]
    assert result.spread["tokens_per_param"]["ratio"] > 2.0
    assert "drop" in result.spread["tokens_per_param"]["max_departure_variant"]


def test_conventions_variants_with_columns():
    table = synthetic.simulate(TRUTH, N=SIZES, D=TOKENS, noise=0.002, seed=4)
    frame = table.data.copy()
    d_model = np.round((frame["N"] / (12 * 8)) ** 0.5)
    frame["n_layer"], frame["d_model"], frame["n_ctx"] = 8, d_model, 2048
    frame["N_total"] = frame["N"] + 50_000 * d_model  # embeddings: vocab 50k
    result = sens.analyse(RunTable.from_frame(frame), budget=1e22, grid=GRID)
    rows = {r["name"]: r for r in result.rows}
    assert rows["total parameters"]["status"] == "ok"
    assert rows["total parameters"]["conventions"]["params"] == "total"
    attn = rows["FLOPs 6ND+attention"]
    assert attn["status"] == "ok" and attn["flop_model"]["ratio_at_N_opt"] > 1.0
    # attention FLOPs make each token dearer: fewer (N, D) for the same C, and a costs what it says
    product = attn["N_opt"] * attn["D_opt"]
    assert product < rows["baseline"]["N_opt"] * rows["baseline"]["D_opt"]
    assert 6 * product * attn["flop_model"]["ratio_at_N_opt"] == pytest.approx(1e22, rel=1e-6)


def test_allocate_under_matches_closed_form():
    a = TRUTH.optimal(1e23)
    N, D = sens.allocate_under(TRUTH, 1e23)
    assert N == pytest.approx(a.N_opt, rel=1e-6) and D == pytest.approx(a.D_opt, rel=1e-6)


def test_cli_sensitivity_json_and_table(tmp_path, capsys, monkeypatch):
    path = synthetic.simulate(TRUTH, N=SIZES[:6], D=TOKENS[:4], noise=0.002).write(
        tmp_path / "runs.csv"
    )
    assert main(["sensitivity", str(path), "--fast", "--budget", "1e22", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["budget"] == 1e22 and result["rows"][0]["name"] == "baseline"
    assert set(result["spread"]["tokens_per_param"]) >= {
        "min",
        "max",
        "ratio",
        "min_variant",
        "max_variant",
    }
    # the table view of the same result (not refitted: the fits were checked above)
    monkeypatch.setattr(sens, "analyse", lambda *a, **k: sens.SensitivityResult(**result))
    assert main(["sensitivity", str(path), "--fast", "--budget", "1e22"]) == 0
    text = capsys.readouterr().out
    assert "spread" in text and "tokens/parameter" in text and "MSE" in text


def test_cli_sensitivity_bad_input(tmp_path, capsys):
    assert main(["sensitivity", str(tmp_path / "missing.csv")]) == 2
    assert main(["sensitivity", "--example", "gadre2024", "--form", "power:N"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "compute-optimal" in err


def test_chinchilla_choices_move_tokens_per_param(shared_data):
    """Li et al. 2025's qualitative finding on Chinchilla's own runs: fitting choices move the
    compute-optimal tokens/parameter substantially (here several-fold)."""
    frame = pd.read_csv(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv")
    frame = frame[frame["loss"] < np.sort(frame["loss"])[-5]]
    table = RunTable.from_frame(
        frame, "chinchilla_epoch", columns={"N": "Model Size", "C": "Training FLOP"}
    )
    result = sens.analyse(table, grid=sens.FAST_GRID)
    s = result.spread["tokens_per_param"]
    assert 10 < result.baseline["tokens_per_param"] < 30
    assert s["ratio"] > 3, sens.headline(result)
    assert s["max"] > 30 and s["min"] < 10
    assert result.spread["tokens_per_param_by_group"]["fitting range"]["ratio"] > 3


@pytest.mark.slow
def test_chinchilla_full_grid_numbers(shared_data):
    """The README's numbers: the full 4,500-start grid for every refit (about a minute here)."""
    frame = pd.read_csv(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv")
    frame = frame[frame["loss"] < np.sort(frame["loss"])[-5]]
    table = RunTable.from_frame(
        frame, "chinchilla_epoch", columns={"N": "Model Size", "C": "Training FLOP"}
    )
    rows = {r["name"]: r["tokens_per_param"] for r in sens.analyse(table).rows}
    assert rows["baseline"] == pytest.approx(17.9, abs=0.1)
    assert rows["drop largest 10 of 40 sizes"] == pytest.approx(5.5, abs=0.1)
    assert rows["drop smallest 10 of 40 sizes"] == pytest.approx(36.3, abs=0.2)
    assert rows["MSE"] == pytest.approx(14.3, abs=0.1)


def test_cli_sensitivity_default_budget_is_the_reports(tmp_path, capsys, monkeypatch):
    table = synthetic.simulate(TRUTH, N=SIZES[:6], D=TOKENS[:4], noise=0.002)
    path = table.write(tmp_path / "runs.csv")
    # one variant (the baseline) is enough to see the budget: the rule is under test, not fits
    only_baseline = [sens.Variant("baseline", "baseline")]
    monkeypatch.setattr(sens, "default_variants", lambda *a, **k: only_baseline)
    assert main(["sensitivity", str(path), "--fast", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    largest = float(np.max(6.0 * table["N"] * table["D"]))  # C = 6ND, the default convention
    assert result["budget"] == pytest.approx(100.0 * largest, rel=1e-9)
    assert "100x the largest run's compute" in result["budget_origin"]
    # the same rule as the report's (scalelab report's default budget on the same runs)
    from scalelab.report.options import ReportOptions, resolve_budget

    assert resolve_budget(ReportOptions(), table)[0] == result["budget"]
    assert result["baseline"]["tokens_per_param"] is not None
    # an asked budget is kept, and said to be asked
    assert main(["sensitivity", str(path), "--fast", "--budget", "1e22", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["budget"] == 1e22 and result["budget_origin"] == "asked"
