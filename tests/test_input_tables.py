"""The input boundary of run tables, law files and quantities, case by case: each bad input exits
2 (or 3 for a failed computation) with one to a few lines naming the user's file and the key or
column, no traceback, nothing written; and every --json output is strict JSON."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import typer

from scalelab import laws
from scalelab.cli import app, main
from scalelab.cli.common import emit_json

GOOD = "N,D,loss\n1e6,2e7,3.1\n2e6,4e7,2.9\n4e6,8e7,2.7\n8e6,1.6e8,2.6\n"
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def strict(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def problem_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-2000:]
    return [ln for ln in stderr.splitlines() if ln.startswith(("error:", "failed:"))]


def expect_error(code, stderr, *needles, status=2, most=3):
    lines = problem_lines(stderr)
    assert code == status, (code, stderr[-2000:])
    assert 1 <= len(lines) <= most, lines
    assert all(len(ln) <= 400 for ln in lines), lines
    text = "\n".join(lines)
    for needle in needles:
        assert needle in text, (needle, lines)
    return lines


# -- law files ------------------------------------------------------------------------------------


def _law(**changes):
    doc = {"form": "chinchilla", "params": dict(CHINCHILLA)}
    for key, value in changes.items():
        if key in CHINCHILLA:
            doc["params"][key] = value
        else:
            doc[key] = value
    return json.dumps(doc)


def _deep(depth=100_000):
    return "[" * depth + "]" * depth


LAW_CASES = {
    "directory": (None, ["is a directory"]),
    "deeply nested": (_deep(), ["nested too deeply"]),
    "deeply nested inside": ('{"form": "chinchilla", "params": ' + _deep() + "}", ["nested"]),
    "form is a list": (_law(form=["chinchilla"]), ["form:", "expected a form name"]),
    "form is a number": (_law(form=3), ["form:"]),
    "params is a list": (_law(params=[1, 2]), ["params:", "expected a JSON object"]),
    "null parameter": (_law(E=None), ["params.E", "got null"]),
    "text parameter": (_law(A="x"), ["params.A"]),
    "list parameter": (_law(alpha=[1.0]), ["params.alpha"]),
    "NaN parameter": (_law(E=float("nan")), ["params.E", "got nan"]),
    "infinite parameter": (_law(B=float("inf")), ["params.B"]),
    "negative E": (_law(E=-5), ["params.E", "got -5"]),
    "negative beta": (_law(beta=-0.3), ["params.beta", "got -0.3"]),
    "unknown parameter": (
        json.dumps({"form": "chinchilla", "params": CHINCHILLA | {"Z": 1}}),
        ["'Z'"],
    ),
    "missing parameter": (json.dumps({"form": "chinchilla", "params": {"E": 1.0}}), ["lacks"]),
    "samples too narrow": (_law(samples=[[1.0] * 3] * 4), ["samples[0]", "expected 5 numbers"]),
    "samples too wide": (_law(samples=[[1.0] * 7] * 4), ["samples[0]", "got 7 value(s)"]),
    "samples not a list": (_law(samples=5), ["samples:"]),
    "samples with NaN": (_law(samples=[[float("nan")] * 5]), ["samples[0]", "finite"]),
    "options bad type": (_law(options={"bootstrap": "x"}), ["options.bootstrap"]),
    "options bad level": (_law(options={"level": 7.0}), ["options:", "level"]),
    "a list": (json.dumps([1, 2]), ["not a scalelab law"]),
    "null": ("null", ["not a scalelab law"]),
    "not JSON": ("{form", ["not valid JSON"]),
}


def _law_path(tmp_path, text):
    if text is None:
        path = tmp_path / "law.json"
        path.mkdir()
        return path
    path = tmp_path / "law.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(LAW_CASES))
@pytest.mark.parametrize(
    "command",
    [
        ("predict", "--N", "1e9", "--D", "1e10", "--json"),
        ("optimal", "--flops", "1e23", "--json"),
        ("plan", "--flops", "1e23", "--json"),
    ],
    ids=["predict", "optimal", "plan"],
)
def test_bad_law_files_exit_2_naming_file_and_key(tmp_path, case, command):
    text, needles = LAW_CASES[case]
    path = _law_path(tmp_path, text)
    code, stdout, stderr = run_cli(command[0], "--law", path, *command[1:])
    lines = expect_error(code, stderr, str(path), *needles, most=8 if "samples" in case else 3)
    assert all(str(path) in ln for ln in lines)
    assert stdout == ""


def test_law_round_trip_is_strict_json(tmp_path):
    law = laws.Law("chinchilla", dict(CHINCHILLA), ci={"E": [float("nan"), float("nan")]})
    law.derived = {"N_opt": float("inf")}
    path = law.save(tmp_path / "law.json")
    strict(path.read_text())
    back = laws.Law.load(path)
    assert math.isnan(back.derived["N_opt"]) and math.isnan(back.ci["E"][0])


def test_prediction_that_overflows_exits_3(tmp_path):
    path = _law_path(tmp_path, _law(alpha=5.0))
    code, stdout, stderr = run_cli("predict", "--law", path, "--N", "1e-100", "--D", "1e10")
    expect_error(code, stderr, "not a finite number", status=3)
    assert stdout == ""


# -- run tables -----------------------------------------------------------------------------------


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, pd.DataFrame):
        content.to_parquet(path)
    else:
        path.write_text(content)
    return path


TABLE_CASES = {
    "jsonl line not an object": (
        "runs.jsonl",
        '{"N":1e6,"D":2e7,"loss":3.1}\n42\n',
        (),
        ["line 2", "expected a JSON object"],
    ),
    "jsonl line an array": ("runs.jsonl", '{"N":1e6,"D":2e7,"loss":3.1}\n[1, 2]\n', (), ["line 2"]),
    "jsonl nested too deep": ("runs.jsonl", '{"N": ' + _deep() + "}\n", (), ["line 1", "nested"]),
    "jsonl duplicate key": (
        "runs.jsonl",
        '{"N":1e6,"N":2e6,"D":2e7,"loss":3.1}\n',
        (),
        ["line 1", "'N' given more than once"],
    ),
    "csv duplicate column": (
        "runs.csv",
        "N,D,N,loss\n1e6,2e7,3e6,3.1\n",
        (),
        ["'N'", "more than once"],
    ),
    "mapped column named as the user's": (
        "runs.csv",
        "params,D,loss\n1e6,2e7,3.1\n2e6,4e7,2.9\n3e6,4e7,2.9\nabc,1e8,2.5\n",
        ("--column", "N=params"),
        ["row 4, column 'params' (mapped to N)", "'abc'"],
    ),
    "huge value is cut": (
        "runs.csv",
        "N,D,loss\n" + "x" * 5_000_000 + ",2e7,3.1\n2e6,4e7,2.9\n",
        (),
        ["row 1, column 'N'", "..."],
    ),
    "overflowing C": (
        "runs.csv",
        "N,D,loss\n1e300,1e300,3\n2e300,1e300,2.9\n3e300,1e300,2.8\n",
        (),
        ["column 'N': 3 rows are outside 1 to 1e+16 parameters", "rows 1, 2, 3"],
    ),
    "vanishing D": ("runs.csv", "N,C,loss\n1e300,1e-300,3\n", (), ["column 'N'", "row 1"]),
    "many bad cells, one line per column": (
        "runs.csv",
        "N,D,loss\n" + "x,2e7,y\n" * 40,
        (),
        ["column 'N': 40 rows are not numbers", "column 'loss': 40 rows"],
    ),
    "unknown schema column in mapping": (
        "runs.csv",
        GOOD.replace("N,", "params,", 1),
        ("--column", "X=params"),
        ["X=params", "not a run-table column", "N_total"],
    ),
    "mapping onto an existing column": (
        "runs.csv",
        "N,N_no_emb,D,loss\n1e6,9e5,2e7,3.1\n",
        ("--column", "N=N_no_emb"),
        ["N=N_no_emb", "already has a column 'N'"],
    ),
    "mapping to a missing column": (
        "runs.csv",
        GOOD,
        ("--column", "N=nope"),
        ["'nope'", "not found"],
    ),
    "boolean cell in jsonl": ("runs.jsonl", '{"N":true,"D":2e7,"loss":3.1}\n', (), ["column 'N'"]),
    "list cell in jsonl": ("runs.jsonl", '{"N":[1],"D":2e7,"loss":3.1}\n', (), ["column 'N'"]),
}
PARQUET_CASES = {
    "parquet timestamp column": (
        pd.DataFrame({"N": pd.date_range("2024", periods=3), "D": [2e7] * 3, "loss": [3.0] * 3}),
        ["column 'N'", "datetime64", "not numbers"],
    ),
    "parquet mistyped column": (
        pd.DataFrame({"N": ["x"] * 30, "D": [2e7] * 30, "loss": [3.0] * 30}),
        ["column 'N': 30 rows are not numbers"],
    ),
    "parquet boolean column": (
        pd.DataFrame({"N": [1e6, 2e6], "D": [2e7] * 2, "loss": [3.0, 2.9], "seed": [True, False]}),
        ["column 'seed'", "bool"],
    ),
}

READERS = {  # each command that reads a run table, with its output option where it has one
    "fit": ("fit", "--form", "power:N", "--json", "-o", "{out}"),
    "isoflop": ("isoflop", "--bootstrap", "0", "--json"),
    "backtest": ("backtest", "--bootstrap", "0", "--json", "-o", "{out}"),
    "report": ("report", "--bootstrap", "0", "--no-sensitivity", "--json", "-o", "{out}"),
    "sensitivity": ("sensitivity", "--fast", "--json"),
}


def _check_table_error(tmp_path, path, command, extra, needles):
    written = tmp_path / "written.out"
    options = [a.format(out=written) for a in command[1:]]
    code, stdout, stderr = run_cli(command[0], path, *extra, *options)
    expect_error(code, stderr, str(path), *needles)
    assert not written.exists() and stdout == ""


@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_bad_tables_exit_2(tmp_path, case):
    name, text, extra, needles = TABLE_CASES[case]
    path = _write(tmp_path, name, text)
    _check_table_error(tmp_path, path, READERS["fit"], extra, needles)


@pytest.mark.parametrize("case", sorted(PARQUET_CASES))
def test_bad_parquet_tables_exit_2(tmp_path, case):
    frame, needles = PARQUET_CASES[case]
    path = _write(tmp_path, "runs.parquet", frame)
    _check_table_error(tmp_path, path, READERS["fit"], (), needles)


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(
    "case", ["jsonl line not an object", "mapping onto an existing column", "overflowing C"]
)
def test_every_reader_reports_alike(tmp_path, reader, case):
    name, text, extra, needles = TABLE_CASES[case]
    path = _write(tmp_path, name, text)
    _check_table_error(tmp_path, path, READERS[reader], extra, needles)


@pytest.mark.parametrize("option", ["--column", "--where"])
def test_a_name_given_twice_is_an_error(tmp_path, option):
    path = _write(tmp_path, "runs.csv", GOOD)
    code, _, stderr = run_cli("fit", path, option, "N=N", option, "N=D")
    expect_error(code, stderr, option, "'N' given twice", most=1)


def test_total_parameters_by_mapping(tmp_path):
    path = _write(tmp_path, "runs.csv", GOOD.replace("N,", "params,", 1))
    code, stdout, stderr = run_cli(
        "fit", path, "--column", "N_total=params", "--params", "total", "--form", "power:N",
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    law = strict(stdout)
    assert law["conventions"]["params"] == "total" and law["n_points"] == 4


def test_one_file_column_feeds_two_schema_columns(tmp_path):
    path = _write(tmp_path, "runs.csv", GOOD.replace("N,", "params,", 1))
    code, _, stderr = run_cli(
        "fit", path, "--column", "N=params", "--column", "N_total=params", "--form", "power:N"
    )
    assert code == 0, stderr


def test_column_swap_is_allowed(tmp_path):
    path = _write(tmp_path, "runs.csv", "N,N_no_emb,D,loss\n" + "".join(
        f"{n * 1.2},{n},{20 * n},{2 + 100 / n**0.3}\n" for n in (1e6, 2e6, 4e6, 8e6)
    ))  # fmt: skip
    code, stdout, stderr = run_cli(
        "fit", path, "--column", "N_total=N", "--column", "N=N_no_emb", "--form", "power:N",
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert strict(stdout)["n_points"] == 4


def test_sensitivity_exits_3_when_every_refit_fails(tmp_path):
    path = _write(tmp_path, "runs.csv", GOOD)
    code, stdout, stderr = run_cli("sensitivity", path, "--fast", "--json")
    expect_error(code, stderr, "every refit failed", status=3)
    assert stdout == ""


# -- quantities -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, value",
    [
        (("predict", "--law", "chinchilla-2022", "--N", "27B", "--D", "14T"), None),
        (("predict", "--law", "chinchilla-2022", "--N", "2.7e10", "--D", "1.4e13"), None),
        (("optimal", "--law", "chinchilla-2022", "--flops", "576e21"), 5.76e23),
        (("optimal", "--law", "chinchilla-2022", "--flops", "1e23"), 1e23),
    ],
)
def test_quantities_as_people_write_them(argv, value):
    code, stdout, stderr = run_cli(*argv, "--json")
    assert code == 0, stderr
    result = strict(stdout)
    if value is not None:
        assert result["C"] == pytest.approx(value)
    else:
        assert 1.5 < result["loss"] < 3


@pytest.mark.parametrize("bad", ["inf", "nan", "-1", "0", "1e400", "x", "", "-27B"])
@pytest.mark.parametrize(
    "argv, option",
    [
        (("optimal", "--law", "chinchilla-2022", "--flops"), "--flops"),
        (("predict", "--law", "chinchilla-2022", "--D", "1e10", "--N"), "--N"),
        (("predict", "--law", "chinchilla-2022", "--N", "1e10", "--D"), "--D"),
        (("fit", "--example", "gadre2024", "--budget"), "--budget"),
        (("report", "--example", "gadre2024", "--budget"), "--budget"),
        (("sensitivity", "--example", "gadre2024", "--budget"), "--budget"),
        (("backtest", "--example", "gadre2024", "--max-flops"), "--max-flops"),
    ],
)
def test_bad_quantities_name_the_option(argv, option, bad):
    code, stdout, stderr = run_cli(*argv, bad, "--json")
    expect_error(code, stderr, option, most=1)
    assert stdout == ""


@pytest.mark.parametrize(
    "argv, option",
    [
        (("fit", "--example", "gadre2024", "--delta", "inf"), "--delta"),
        (("fit", "--example", "gadre2024", "--level", "nan"), "--level"),
        (("isoflop", "--example", "porian2024", "--rtol", "nan"), "--rtol"),
        (("backtest", "--example", "gadre2024", "--ratio", "inf"), "--ratio"),
        (("isoflop", "--example", "porian2024", "--bootstrap", "-1"), "--bootstrap"),
    ],
)
def test_bad_plain_numbers_name_the_option(argv, option):
    code, _, stderr = run_cli(*argv)
    expect_error(code, stderr, option, most=1)


# -- strict JSON ----------------------------------------------------------------------------------


def test_emit_json_writes_null_with_a_reason(capsys):
    emit_json({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64("nan")})
    data = strict(capsys.readouterr().out)
    assert data["a"] is None and data["b"] == [1.0, None]
    assert set(data["null_reasons"]) == {"a", "b[1]", "c"}


@pytest.fixture
def no_optimum(monkeypatch):
    """``laws.fit`` returning a law whose allocation at the budget could not be computed."""
    real = laws.fit

    def fit(table, form, options=None):
        law = real(table, form, options=options)
        law.derived = {k: float("nan") for k in ("a", "b", "N_opt", "D_opt", "tokens_per_param")}
        return law

    monkeypatch.setattr(laws, "fit", fit)


def test_uncomputed_number_is_null_with_a_reason(no_optimum, tmp_path):
    out = tmp_path / "law.json"
    argv = ("fit", "--example", "gadre2024", "--form", "chinchilla-tied", "--json", "-o", out)
    code, stdout, stderr = run_cli(*argv)
    assert code == 0, stderr
    data = strict(stdout)
    assert data["optimal"]["N_opt"] is None
    assert "compute-optimal" in data["null_reasons"]["optimal.N_opt"]
    strict(out.read_text())


def test_uncomputed_number_asked_for_exits_3(no_optimum, tmp_path):
    out = tmp_path / "law.json"
    argv = ("fit", "--example", "gadre2024", "--form", "chinchilla-tied", "--budget", "1e23")
    code, stdout, stderr = run_cli(*argv, "--json", "-o", out)
    expect_error(code, stderr, "N_opt", "--budget", status=3)
    assert stdout == "" and not out.exists()


JSON_COMMANDS = [
    ("fit", "--example", "gadre2024", "--form", "chinchilla-tied"),
    ("predict", "--law", "chinchilla-2022", "--N", "7B", "--D", "1.4T"),
    ("optimal", "--law", "chinchilla-2022", "--flops", "1e23", "--flops", "1e24"),
    (
        "isoflop",
        "--example",
        "porian2024",
        "--where",
        "config=rw/base/long/kaplan/kaplan/train",
        "--bootstrap",
        "20",
    ),
    ("forms",),
    ("published",),
]
SLOW_JSON_COMMANDS = [
    ("backtest", "--example", "gadre2024", "--form", "chinchilla-tied", "--bootstrap", "0"),
    ("sensitivity", "--example", "gadre2024", "--fast"),
    ("report", "--example", "gadre2024", "--form", "chinchilla-tied", "--bootstrap", "0",
     "--no-sensitivity", "-o", "{tmp}/r.html"),
]  # fmt: skip


def _strict_json(tmp_path, argv):
    code, stdout, stderr = run_cli(*(a.format(tmp=tmp_path) for a in argv), "--json")
    assert code == 0, stderr[-2000:]
    strict(stdout)


@pytest.mark.parametrize("argv", JSON_COMMANDS, ids=lambda a: a[0])
def test_json_output_is_strict(tmp_path, argv):
    _strict_json(tmp_path, argv)


@pytest.mark.slow
@pytest.mark.parametrize("argv", SLOW_JSON_COMMANDS, ids=lambda a: a[0])
def test_json_output_is_strict_slow(tmp_path, argv):
    _strict_json(tmp_path, argv)


# -- help -----------------------------------------------------------------------------------------

MINE = (
    "fit", "predict", "optimal", "isoflop", "backtest", "forms", "published", "examples", "report",
    "sensitivity",
)  # fmt: skip


@pytest.mark.parametrize("name", MINE)
def test_help_every_option_explained_flags_without_value(name):
    command = typer.main.get_command(app).commands[name]
    for param in command.params:
        if param.param_type_name == "argument":
            assert param.metavar == "RUNS", param.name
        else:
            assert param.help, f"{name} {param.opts}: no help text"
            if param.is_flag:
                assert param.metavar == "", f"{name} {param.opts}: use cli.common.Flag"
