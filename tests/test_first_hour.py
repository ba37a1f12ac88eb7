"""What a new user met in the first hour (issue 23), each fixed and kept fixed: hangs and
tracebacks, silent acceptances, and the command line's consistency. Small synthetic inputs; the
whole file runs in a few seconds."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_cli

from scalelab.compare.multiplier import verdict
from scalelab.laws import Law
from scalelab.laws.guards import derived_warnings
from scalelab.plan import watch_source as ws

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(("error:", "failed:"))]


@pytest.fixture
def runs(tmp_path):  # a small ladder on the law TRUTH
    rows = [
        {"run_id": f"r{i}-{j}", "N": N, "D": N * r, "loss": float(TRUTH.predict(N=N, D=N * r))}
        for i, N in enumerate([1e7, 3e7, 1e8, 3e8])
        for j, r in enumerate([5, 20, 80])
    ]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# -- hangs and tracebacks ----------------------------------------------------------------------


@pytest.mark.parametrize("target", [".", "/proc/law.json"])
def test_output_onto_a_folder_or_unwritable_path_is_one_line(runs, tmp_path, target):
    code, _, err = run_cli("fit", runs, "--form", "power:N", "--json", "-o", target)
    assert code == 2 and "Traceback" not in err
    (line,) = error_lines(err)
    assert target in line and ("folder" in line or "cannot write" in line)


def test_every_file_output_refuses_a_folder(runs, tmp_path):
    for argv in (
        ["backtest", runs, "--form", "power:N", "-o", tmp_path],
        ["curves", runs, "-o", tmp_path],
        ["bcrit", runs, "-o", tmp_path],
        ["fit", runs, "--form", "power:N", "--checklist", tmp_path],
    ):
        code, _, err = run_cli(*argv)
        assert code == 2 and len(error_lines(err)) == 1 and "folder" in err, (argv, err)


def test_follow_a_plain_table_ends_when_it_stops_changing(tmp_path):
    """A run table cannot say its run finished: following it ends after --idle seconds of no
    change (a fake clock: no real waiting)."""
    table = tmp_path / "run.csv"
    D = np.geomspace(1e8, 2e9, 6)
    frame = pd.DataFrame({"run_id": "r", "N": 1e8, "D": D, "loss": TRUTH.predict(N=1e8, D=D)})
    frame.to_csv(table, index=False)
    now = [0.0]
    judge = ws.judge_with(TRUTH, law_name="truth")
    result, why = ws.follow(
        table,
        judge,
        lambda p: None,
        read=lambda: ws.read_run(table),
        interval=10.0,
        idle=60.0,
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
    )
    assert why == "idle" and 60.0 <= now[0] <= 70.0 and result is not None
    law = tmp_path / "law.json"
    TRUTH.save(law)
    argv = ["watch", table, "--law", law, "--follow", "--interval", "0.01", "--idle", "0.05"]
    code, out, err = run_cli(*argv)
    assert code == 0 and "has not changed for 0.05 s" in err and out.count("D=") == 6


# -- silent acceptances ------------------------------------------------------------------------


def test_data_spec_cut_after_a_table_header_is_an_error(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "x"\n[[sources]]\nkind = "synthetic"\nn_docs = 20\n[tokenizer]\n')
    code, _, err = run_cli("data", "prepare", spec, "-o", tmp_path / "out")
    assert code == 2 and "[tokenizer] has no keys (is the file cut short?)" in err
    assert not (tmp_path / "out").exists()


def test_data_spec_cut_mid_line_is_said(tmp_path):
    from scalelab.data.spec import cut_short

    spec = tmp_path / "spec.toml"
    spec.write_text('name = "x"\n[[sources]]\nkind = "synthetic"\nn_docs = 2')  # was 2000
    assert "does not end with a newline" in cut_short(spec)
    spec.write_text('name = "x"\n[[sources]]\nkind = "synthetic"\nn_docs = 2000\n')
    assert cut_short(spec) is None


def test_law_file_with_absurd_bootstrap_samples_is_refused(tmp_path):
    law = Law("chinchilla", dict(TRUTH.params))
    law.samples = np.full((5, 5), 1e308)
    path = tmp_path / "law.json"
    path.write_text(json.dumps(law.to_dict()))
    code, out, err = run_cli("predict", "--law", path, "--N", "1B", "--D", "20B")
    assert code == 2 and out == ""
    (line,) = error_lines(err)
    assert "samples[0]" in line and "outside the form's bounds" in line


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("run_id,N,D,C,loss\nr1,1e8,1e9,1e30,2.5\n", "C is 1.67e+12 x 6*N*D"),
        ("run_id,N,D,C,loss\nr1,1e8,1e9,1e300,2.5\n", "column 'C': expected 1 to 1e+38 FLOPs"),
        ("run_id,N,D,loss\nr1,1e300,1e9,2.5\n", "column 'N': expected 1 to 1e+16 parameters"),
        ("run_id,N,D,loss\nr1,1e8,1e9,1e300\n", "column 'loss': expected 1e-06 to 1e+09"),
        ("run_id,N,C,loss\nr1,1e8,1e300,2.5\n", "column 'C': expected 1 to 1e+38 FLOPs"),
    ],
)
def test_one_row_with_absurd_numbers_is_an_input_error(tmp_path, text, needle):
    path = tmp_path / "runs.csv"
    path.write_text(text)
    code, _, err = run_cli("fit", path, "--json")
    assert code == 2 and needle in err, err


def test_absurd_derived_numbers_warn():
    law = Law("chinchilla", dict(TRUTH.params))
    law.derived = {"tokens_per_param": 1.01e-4, "N_opt": 0.5, "loss_at_budget": -1.0}
    found = " | ".join(derived_warnings(law))
    assert "tokens/parameter" in found and "N_opt" in found and "not positive" in found
    law.derived = {"tokens_per_param": 20.0, "N_opt": 7e10, "loss_at_budget": 1.9}
    assert derived_warnings(law) == []


# -- the command line's consistency ------------------------------------------------------------


def test_python_warnings_are_one_line_each(monkeypatch):
    import warnings

    import scalelab.cli.laws as laws_cli

    resolve = laws_cli._resolve_law

    def noisy(spec):
        for _ in range(3):
            warnings.warn("overflow encountered in exp", RuntimeWarning, stacklevel=1)
        return resolve(spec)

    monkeypatch.setattr(laws_cli, "_resolve_law", noisy)
    code, _, err = run_cli("predict", "--law", "chinchilla-2022", "--N", "1B", "--D", "20B")
    assert code == 0
    assert err.splitlines() == ["warning: overflow encountered in exp (RuntimeWarning)"], err


def test_durations_take_units():
    def plan(*extra):
        code, out, err = run_cli("plan", "--law", "chinchilla", "--device", "H100", *extra)
        assert code == 0, err
        return json.loads(out)

    gpus = ["--gpus", "64", "--mfu", "0.4", "--json"]
    assert plan(*gpus, "--days", "30d") == plan(*gpus, "--days", "30")
    assert plan(*gpus, "--hours", "12h") == plan(*gpus, "--days", "0.5")
    claim = ["--N", "7B", "--D", "1T", "--claim-days"]
    assert plan(*gpus, *claim, "26d") == plan(*gpus, *claim, "624h")
    code, _, err = run_cli("plan", "--law", "chinchilla", "--gpus", "8", "--days", "30x")
    assert code == 2 and "--days: expected a time such as 30d" in err


def test_compare_verdict_names_the_group():
    assert verdict([1.5, 2.5], "baseline", "muon") == "muon better"
    assert verdict([0.2, 0.8], "baseline", "muon") == "baseline better"
    assert verdict([0.8, 1.2], "baseline", "muon") == "not distinguishable"


def test_tables_are_not_cut_in_a_pipe():
    code, out, _ = run_cli("catalog")
    assert code == 0 and "…" not in out and "params" in out and "verdict" in out


def test_fit_without_bootstrap_prints_no_interval_column():
    from scalelab.cli.laws import _print_law

    def printed(law: Law) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            _print_law(law, 1e23)
        return out.getvalue()

    law = Law("chinchilla", dict(TRUTH.params))
    text = printed(law)
    header = next(ln for ln in text.splitlines() if "parameter" in ln)
    assert "interval" not in text and header.rstrip().endswith("estimate ┃"), header
    law.ci = {name: [0.9 * v, 1.1 * v] for name, v in TRUTH.params.items()}
    assert "95% interval" in printed(law) and "[1.638, 2.002]" in printed(law)


def test_isoflop_on_porian2024_needs_no_where_and_examples_lists_the_configurations():
    code, out, err = run_cli("isoflop", "--example", "porian2024", "--bootstrap", "0", "--json")
    assert code == 0, err
    assert "using config=rw/tuned/short/const/standard/val" in err
    assert 0.4 < json.loads(out)["a"] < 0.6
    code, out, _ = run_cli("examples")
    assert (
        code == 0 and "--where config=VALUE" in out and "owt2/base/long/kaplan/kaplan/train" in out
    )


def test_train_tiny_says_it_trains_on_synthetic_tokens():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    example = (root / "examples" / "train_tiny.toml").read_text()
    assert 'train = "synthetic"' in example and "SYNTHETIC tokens" in example
    readme = root / "README.md"
    line = next(ln for ln in readme.read_text().splitlines() if "train_tiny.toml" in ln)
    assert "synthetic" in line
