"""``--where`` conditions (scalelab.runs.conditions): the parser, the matching (numbers through
scalelab.units, text for = and != only), RunTable.filter, and the commands that take --where."""

from __future__ import annotations

import json
import operator
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib
from cli_helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalelab.errors import InputError
from scalelab.laws import Law, synthetic
from scalelab.runs import conditions as cond
from scalelab.runs.conditions import Condition, parse_conditions
from scalelab.runs.table import RunTable

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
PYTHIA = Path("/work/shared/data/pythia_evals")
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _table() -> RunTable:
    table = synthetic.simulate(
        TRUTH, N=np.geomspace(2e7, 2e9, 5), D=np.geomspace(4e8, 4e11, 5), noise=0.003, seed=3
    )
    data = table.data.assign(dataset=np.where(np.arange(len(table)) % 2 == 0, "c4", "pile"))
    return RunTable.from_frame(data)


# -- the parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("N<=2.8B", ("N", "<=", "2.8B")),
        ("N>=1e8", ("N", ">=", "1e8")),
        ("D<10B", ("D", "<", "10B")),
        ("C>1e21", ("C", ">", "1e21")),
        ("dataset!=c4", ("dataset", "!=", "c4")),
        (" dataset = c4 ", ("dataset", "=", "c4")),
        ("config=rw/base/a=b", ("config", "=", "rw/base/a=b")),  # the first = splits, as before
        ("run_id=", ("run_id", "=", "")),
    ],
)
def test_parse(text, expected):
    c = Condition.parse(text)
    assert (c.column, c.op, c.value) == expected
    assert Condition.parse(str(c)) == c


@pytest.mark.parametrize("text", ["N", "<3", "=c4", "", "N~3"])
def test_parse_refuses_what_is_no_condition(text):
    with pytest.raises(InputError, match="--where: expected COLUMN=VALUE or a comparison"):
        Condition.parse(text)


def test_equal_twice_on_a_column_is_refused_but_a_range_is_not():
    with pytest.raises(InputError, match="'N' given twice"):
        parse_conditions(["N=1", "N=2"])
    assert [str(c) for c in parse_conditions(["N>=1e8", "N<=1e9"])] == ["N>=1e8", "N<=1e9"]
    assert parse_conditions({"dataset": "c4"}) == [Condition("dataset", "=", "c4")]


# -- matching ------------------------------------------------------------------------------------


def test_comparisons_read_quantities():
    table = _table()
    n = table["N"]
    assert np.array_equal(table.filter(["N<=2e8"])["N"], n[n <= 2e8])
    assert np.array_equal(table.filter(["N<=0.2B"])["N"], n[n <= 2e8])  # 0.2B = 2e8
    assert np.array_equal(
        table.filter(["D>=10B", "N<1e9"])["D"], table["D"][(table["D"] >= 1e10) & (n < 1e9)]
    )
    note = table.filter(["N<=0.2B", "dataset=c4"]).notes[-1]
    assert note.startswith("rows where N<=0.2B, dataset=c4 (")


def test_equality_keeps_todays_text_match_and_adds_the_number():
    table = _table()
    n = table["N"]
    text = str(table.data["N"].astype(str).iloc[0])  # the value as written ('20000000.0')
    assert np.array_equal(table.filter([f"N={text}"])["N"], n[n == n[0]])
    assert np.array_equal(table.filter(["N=2e7"])["N"], n[n == 2e7])  # the number; text misses
    assert np.array_equal(table.filter(["N=20M"])["N"], n[n == 2e7])
    assert len(table.filter(["N!=2e7"])) == int((n != 2e7).sum())
    assert set(table.where(dataset="c4")["dataset"]) == {"c4"}
    assert set(table.filter(["dataset!=c4"])["dataset"]) == {"pile"}


def test_a_comparison_on_a_text_column_names_it():
    with pytest.raises(InputError, match="column 'dataset' holds text; compare it with = or !="):
        _table().filter(["dataset<c4"])


def test_an_unknown_column_is_named_with_the_columns():
    with pytest.raises(InputError, match=r"no column 'params' to filter on; columns are \[.*'N'"):
        _table().filter(["params<1e9"])


def test_the_condition_that_empties_the_table_is_named():
    with pytest.raises(InputError) as info:
        _table().filter(["N<=1e9", "dataset=c4", "D>1e13"])
    message = str(info.value)
    assert "--where 'D>1e13' left none" in message and "'D' ranges" in message
    assert "\n" not in message


def test_a_bad_number_names_the_condition():
    with pytest.raises(InputError, match="--where 'N<=lots': expected a number"):
        _table().filter(["N<=lots"])


_values = st.floats(-1e12, 1e12, allow_nan=False, allow_subnormal=False) | st.just(np.nan)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_values, min_size=1, max_size=30),
    st.floats(-1e12, 1e12, allow_nan=False, allow_subnormal=False),
    st.sampled_from(sorted(OPS)),
)
def test_comparison_equals_the_numpy_mask(values, threshold, op):
    frame = pd.DataFrame({"x": np.array(values, dtype=float), "i": np.arange(len(values))})
    expected = OPS[op](frame["x"].to_numpy(), threshold)
    condition = Condition("x", op, repr(threshold))
    if not expected.any():
        with pytest.raises(InputError, match="left none"):
            cond.apply(frame, [condition])
        return
    kept = cond.apply(frame, [condition])
    assert kept["i"].tolist() == frame["i"][expected].tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([1.0, 2.5, 1e9, 3e-7, 123456789.0]), min_size=1, max_size=20))
def test_equality_where_text_matched_is_unchanged(values):
    """Wherever ``=`` matched as text (the only way it matched before), it keeps the same rows."""
    frame = pd.DataFrame({"x": values})
    for written in set(frame["x"].astype(str)):
        before = (frame["x"].astype(str) == written).to_numpy()
        assert np.array_equal(Condition("x", "=", written).mask(frame), before)
        assert np.array_equal(Condition("x", "!=", written).mask(frame), ~before)


# -- the commands --------------------------------------------------------------------------------


def test_fit_where_equals_fitting_the_filtered_file(tmp_path):
    table = _table()
    whole = table.write(tmp_path / "runs.csv")
    cut = table.data[table.data["N"] <= 5e8]
    cut.to_csv(tmp_path / "small.csv", index=False)
    common = ["--form", "chinchilla-tied", "--bootstrap", "0", "--seed", "1", "--json"]
    code, out, err = run_cli("fit", whole, "--where", "N<=0.5B", *common)
    assert code == 0, err
    assert "note: rows where N<=0.5B (15 of 25 rows, 15 of 25 runs)" in err
    code2, out2, err2 = run_cli("fit", tmp_path / "small.csv", *common)
    assert code2 == 0, err2
    filtered, direct = json.loads(out), json.loads(out2)
    assert filtered["n_points"] == direct["n_points"] == len(cut) == 15
    assert filtered["data"]["run_ids"] == direct["data"]["run_ids"]
    for name, value in direct["params"].items():
        assert filtered["params"][name] == pytest.approx(value, rel=1e-9), name


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["fit", "--example", "gadre2024", "--where", "nope<3"], "no column 'nope'"),
        (["fit", "--example", "gadre2024", "--where", "run_id<3"], "column 'run_id' holds text"),
        (["fit", "--example", "gadre2024", "--where", "N<=1e3"], "--where 'N<=1e3' left none"),
        (["fit", "--example", "gadre2024", "--where", "N<lots"], "expected a number"),
        (["fit", "--example", "gadre2024", "--where", "N"], "expected COLUMN=VALUE"),
        (["isoflop", "--example", "porian2024", "--where", "N>1e15"], "left none"),
        (["backtest", "--example", "gadre2024", "--where", "dataset<x"], "holds text"),
        (["report", "--example", "gadre2024", "--where", "C<1"], "left none"),
        (["compare", "--example", "gadre2024", "--by", "dataset", "--where", "x=1"], "no column"),
    ],
)
def test_bad_conditions_exit_2_with_one_line(argv, needle):
    code, out, err = run_cli(*argv)
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err


def test_tasks_where_on_a_task_table(tmp_path):
    rows = [
        {"run_id": f"r{i}", "N": n, "D": 20 * n, "task": "t", "accuracy": a, "chance": 0.25,
         "task_loss": 3.0 - 0.3 * i}
        for i, (n, a) in enumerate(zip(np.geomspace(1e7, 1e9, 5), [0.3, 0.35, 0.45, 0.55, 0.6]))
    ]  # fmt: skip
    path = tmp_path / "tasks.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, _, err = run_cli("tasks", "rank", path, "--where", "N>1e12")
    assert code == 2 and "--where 'N>1e12' left none" in err, err
    code, _, err = run_cli("tasks", "rank", path, "--where", "task<3")
    assert code == 2 and "column 'task' holds text" in err, err


@pytest.mark.skipif(not PYTHIA.is_dir(), reason="the Pythia evals are not here")
def test_tasks_predict_on_pythia_up_to_3e9():
    code, out, err = run_cli(
        "tasks", "predict", PYTHIA, "--map", "pythia", "--task", "lambada_openai",
        "--N", "6.4B", "--D", "300B", "--form", "power:N", "--bootstrap", "20",
        "--where", "N<=3e9", "--json",
    )  # fmt: skip
    assert code == 0, err
    mapping = tomllib.loads(
        resources.files("scalelab.examples").joinpath("pythia_lm_eval.toml").read_text()
    )
    small = [r for r in mapping["run"] if r["N"] <= 3e9]
    assert 0 < len(small) < len(mapping["run"])
    result = json.loads(out)
    result = result[0] if isinstance(result, list) else result
    assert result["step1"]["n_runs"] == len(small)
    assert 0 < result["accuracy"] < 1
    assert f"rows, {len(small)} of {len(mapping['run'])} runs)" in err, err
