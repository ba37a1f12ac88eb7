"""The fitting CLI: JSON contracts, files written atomically, errors as one line and exit 2."""

import json

import numpy as np
import pytest

from scalelab.cli import main
from scalelab.laws import Law, synthetic

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})


@pytest.fixture
def runs_csv(tmp_path):
    table = synthetic.simulate(
        TRUTH, N=np.geomspace(2e7, 2e9, 5), D=np.geomspace(4e8, 4e11, 5), noise=0.003
    )
    return table.write(tmp_path / "runs.csv")


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_fit_json_contract_and_output_file(tmp_path, runs_csv, capsys):
    law_path = tmp_path / "law.json"
    result = run_json(
        capsys,
        [
            "fit",
            str(runs_csv),
            "--form",
            "chinchilla",
            "--bootstrap",
            "40",
            "--seed",
            "1",
            "--json",
            "-o",
            str(law_path),
        ],
    )
    assert result["form"] == "chinchilla"
    assert set(result["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert result["n_points"] == 25 and result["objective"] > 0
    assert set(result["ci"]) >= {"E", "alpha", "beta", "a", "b", "tokens_per_param"}
    assert set(result["optimal"]) >= {"a", "b"}
    assert result["optimal"]["a"] == pytest.approx(
        result["params"]["beta"] / (result["params"]["alpha"] + result["params"]["beta"])
    )
    assert Law.load(law_path).params == result["params"]


def test_optimal_and_predict_json(tmp_path, runs_csv, capsys):
    law_path = tmp_path / "law.json"
    assert main(["fit", str(runs_csv), "--bootstrap", "30", "-o", str(law_path)]) == 0
    capsys.readouterr()
    alloc = run_json(capsys, ["optimal", "--law", str(law_path), "--flops", "1e22", "--json"])
    assert set(alloc) >= {"N_opt", "D_opt", "tokens_per_param", "loss"}
    assert 6 * alloc["N_opt"] * alloc["D_opt"] == pytest.approx(1e22)
    pred = run_json(
        capsys, ["predict", "--law", str(law_path), "--N", "1e9", "--D", "2e10", "--json"]
    )
    assert pred["interval"][0] <= pred["loss"] <= pred["interval"][1]
    assert pred["loss"] == pytest.approx(float(TRUTH.predict(N=1e9, D=2e10)), rel=0.01)


def test_published_law_by_name(capsys):
    alloc = run_json(
        capsys, ["optimal", "--law", "chinchilla-2022", "--flops", "5.76e23", "--json"]
    )
    assert alloc["tokens_per_param"] == pytest.approx(92.6, rel=0.01)


def test_isoflop_json_contract(capsys):
    result = run_json(
        capsys,
        [
            "isoflop",
            "--example",
            "porian2024",
            "--where",
            "config=rw/tuned/short/const/standard/val",
            "--bootstrap",
            "50",
            "--json",
        ],
    )
    assert 0.45 < result["a"] < 0.6 and result["a"] + result["b"] == pytest.approx(1.0, abs=1e-6)
    assert all(set(b) >= {"C", "N_opt", "D_opt", "loss"} for b in result["budgets"])


def test_fit_example(capsys):
    result = run_json(capsys, ["fit", "--example", "gadre2024", "--params", "total", "--json"])
    assert result["n_points"] == 34 and 0.1 < result["params"]["alpha"] < 0.6


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "--form", "nope", "--example", "gadre2024"], "unknown form 'nope'"),
        (["fit", "--example", "nope"], "unknown example 'nope'"),
        (["fit"], "give a run table (RUNS) or --example NAME"),
        (["fit", "--example", "gadre2024", "--params", "weird"], "parameter convention"),
        (["fit", "--example", "gadre2024", "--flops", "6ND+attention"], "needs column(s) n_layer"),
        (["fit", "--example", "gadre2024", "--loss", "l1"], "fitting loss"),
        (["fit", "--example", "gadre2024", "--column", "N"], "expected NAME=VALUE"),
        (["optimal", "--law", "nope-law", "--flops", "1e21"], "unknown published law 'nope-law'"),
        (
            ["optimal", "--law", "kaplan-2020-n", "--flops", "1e21"],
            "compute-optimal allocation needs a law in N and D",
        ),
        (["optimal", "--law", "chinchilla-2022", "--flops", "-5"], "budget C"),
        (["predict", "--law", "chinchilla-2022", "--N", "1e9"], "missing D"),
        (["isoflop", "--example", "gadre2024", "--approach", "3"], "--approach"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("error:")]
    assert len(err) == 1 and message in err[0], err


def test_numerical_failure_exits_3(tmp_path, capsys):
    path = synthetic.simulate(TRUTH, N=[1e8, 1e9], D=[1e10, 1e11]).write(tmp_path / "few.csv")
    assert main(["fit", str(path)]) == 3
    assert "too few points" in capsys.readouterr().err


def test_fit_writes_its_checklist_and_marks_unknowns(tmp_path, runs_csv, capsys):
    path = tmp_path / "checklist.json"
    result = run_json(capsys, ["fit", str(runs_csv), "--json", "--checklist", str(path)])
    written = json.loads(path.read_text())
    assert written == result["checklist"]
    items = {i["item"]: i for i in written["items"]}
    assert items["data_sources"]["status"] == "unknown"  # a bare CSV says nothing about its data
    assert all(i["value"] == "unknown" for i in written["items"] if i["status"] == "unknown")
    known = {k for k, i in items.items() if i["status"] == "known"}
    assert {
        "form",
        "fit_loss",
        "fit_optimizer",
        "init_grid",
        "param_convention",
        "flop_convention",
    } <= known


def test_fit_warns_about_runs_it_left_out(tmp_path, capsys):
    table = synthetic.simulate(
        TRUTH, N=np.geomspace(2e7, 2e9, 5), D=np.geomspace(4e8, 4e11, 5), noise=0.003
    )
    frame = table.data.copy()
    frame["status"] = "done"
    frame.loc[frame.index[0], "status"] = "diverged"
    bad = str(frame["run_id"].iloc[0])
    path = table.with_data(frame, "one diverged").write(tmp_path / "runs.csv")
    fitted = run_json(capsys, ["fit", str(path), "--json"])
    assert fitted["n_points"] == 24
    assert main(["fit", str(path)]) == 0
    warnings = [
        ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning: left out")
    ]
    assert len(warnings) == 1 and bad in warnings[0] and "diverged" in warnings[0]
