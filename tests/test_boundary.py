"""Property-based tests of the input boundary (Hypothesis): whatever a user hands scalelab -- a run
table, a law file, a quantity -- the command exits 0 with finite, strictly valid JSON, or exits 2/3
with one to a few lines on stderr and no traceback, and writes nothing when it fails.

The default profile runs a modest number of examples; ``-m slow`` runs the ``thorough`` profile.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from cli_helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile(
    "boundary", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FAST = settings.get_profile("boundary")


def _strict(text: str):
    def no_constant(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=no_constant)


def _finite_everywhere(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


def check_outcome(code: int, stdout: str, stderr: str, *, json_out: bool = True) -> None:
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-2000:]
    assert code in (0, 2, 3), (code, stderr[-2000:])
    if code == 0:
        if json_out:
            data = _strict(stdout)
            assert _finite_everywhere(data)
    else:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        problems = [ln for ln in lines if ln.startswith(("error:", "failed:"))]
        assert 1 <= len(problems) <= 8, stderr[-2000:]
        assert all(len(ln) <= 400 for ln in problems), "an error line echoes too much"


# -- run tables ---------------------------------------------------------------------------------

_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=1e3, max_value=1e12),
    st.integers(min_value=-(2**70), max_value=2**70),
)
_cell = st.one_of(_number, st.text(max_size=8), st.just(""))
_columns = st.lists(
    st.sampled_from(["run_id", "N", "D", "C", "loss", "params", "step", "N", "x y"]),
    min_size=1,
    max_size=6,
)


@st.composite
def run_tables(draw):
    columns = draw(_columns)
    rows = draw(
        st.lists(st.lists(_cell, min_size=len(columns), max_size=len(columns)), max_size=12)
    )
    kind = draw(st.sampled_from(["csv", "jsonl"]))
    if kind == "csv":
        text = ",".join(columns) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    else:
        lines = []
        for r in rows:
            if draw(st.booleans()) and draw(st.booleans()):
                lines.append(draw(st.sampled_from(["42", "[1, 2]", '"x"', "null", "{"])))
            else:
                lines.append(json.dumps(dict(zip(columns, r))))
        text = "\n".join(lines) + "\n"
    return kind, text


@FAST
@given(run_tables())
def test_fit_on_any_table(tmp_path_factory, table):
    kind, text = table
    folder = tmp_path_factory.mktemp("t")
    path = folder / f"runs.{kind}"
    path.write_text(text)
    law = folder / "law.json"
    code, stdout, stderr = run_cli("fit", path, "--form", "power:N", "--json", "-o", law)
    check_outcome(code, stdout, stderr)
    if code != 0:
        assert not law.exists()


_mapping = st.lists(
    st.tuples(
        st.sampled_from(["N", "D", "C", "loss", "N_total", "X", "run_id", ""]),
        st.sampled_from(["params", "N", "D", "loss", "nope", "x y"]),
    ),
    max_size=3,
)


@FAST
@given(run_tables(), _mapping)
def test_fit_with_any_column_mapping(tmp_path_factory, table, mapping):
    kind, text = table
    folder = tmp_path_factory.mktemp("m")
    path = folder / f"runs.{kind}"
    path.write_text(text)
    law = folder / "law.json"
    options = [a for k, v in mapping for a in ("--column", f"{k}={v}")]
    code, stdout, stderr = run_cli(
        "fit", path, *options, "--params", "total" if "N_total" in dict(mapping) else "non-embedding",
        "--form", "power:N", "--json", "-o", law,
    )  # fmt: skip
    check_outcome(code, stdout, stderr)
    if code != 0:
        assert not law.exists()


_kinds = st.sampled_from(["float", "int", "text", "bool", "time", "null"])


@st.composite
def parquet_frames(draw):
    n = draw(st.integers(0, 8))
    columns = draw(st.lists(st.sampled_from(["N", "D", "C", "loss", "params", "step"]), min_size=1,
                            max_size=5, unique=True))  # fmt: skip
    frame = {}
    for name in columns:
        kind = draw(_kinds)
        if kind == "float":
            values = draw(st.lists(_number.filter(lambda x: isinstance(x, float)), min_size=n,
                                   max_size=n))  # fmt: skip
        elif kind == "int":
            values = draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
        elif kind == "text":
            values = draw(st.lists(st.text(max_size=6), min_size=n, max_size=n))
        elif kind == "bool":
            values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        elif kind == "time":
            values = list(pd.date_range("2024-01-01", periods=n))
        else:
            values = [None] * n
        frame[name] = values
    return pd.DataFrame(frame)


@FAST
@given(parquet_frames())
def test_fit_on_any_parquet_table(tmp_path_factory, frame):
    pytest.importorskip("pyarrow")
    folder = tmp_path_factory.mktemp("p")
    path = folder / "runs.parquet"
    frame.to_parquet(path)
    law = folder / "law.json"
    code, stdout, stderr = run_cli("fit", path, "--form", "power:N", "--json", "-o", law)
    check_outcome(code, stdout, stderr)
    if code != 0:
        assert not law.exists()


# -- law files ----------------------------------------------------------------------------------

_param = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.none(), st.text(max_size=3), st.just([1.0])
)


@st.composite
def law_files(draw):
    names = ["E", "A", "B", "alpha", "beta"]
    params = {n: draw(st.one_of(st.floats(0.01, 500), _param)) for n in names}
    doc = {
        "form": draw(
            st.one_of(st.just("chinchilla"), st.just(["chinchilla"]), st.none(), st.just(3))
        ),
        "params": draw(st.one_of(st.just(params), st.just([1, 2]), st.none())),
    }
    if draw(st.booleans()):
        width = draw(st.integers(0, 7))
        doc["bootstrap"] = {"samples": [[1.0] * width for _ in range(3)]}
    return doc


_law_command = st.sampled_from(
    [
        ("predict", "--N", "1e9", "--D", "1e10"),
        ("predict", "--N", "1e-30", "--D", "1e300"),
        ("optimal", "--flops", "1e23"),
        ("optimal", "--flops", "1e300"),
    ]
)


@FAST
@given(law_files(), _law_command)
def test_predict_with_any_law_file(tmp_path_factory, doc, command):
    path = tmp_path_factory.mktemp("law") / "law.json"
    path.write_text(json.dumps(doc))
    code, stdout, stderr = run_cli(command[0], "--law", path, *command[1:], "--json")
    check_outcome(code, stdout, stderr)


# -- quantities ---------------------------------------------------------------------------------

_quantity = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["27B", "14T", "1e23", "-1", "0", "inf", "nan", "1e400", "x", "", "1,000"]),
    st.text(max_size=6),
)


@FAST
@given(_quantity)
def test_optimal_with_any_budget(flops):
    code, stdout, stderr = run_cli(
        "optimal", "--law", "chinchilla-2022", "--flops", flops, "--json"
    )
    check_outcome(code, stdout, stderr)


@FAST
@given(_quantity, _quantity)
def test_plan_with_any_devices_and_days(gpus, days):
    code, stdout, stderr = run_cli(
        "plan", "--law", "chinchilla-2022", "--gpus", gpus, "--days", days, "--device", "H100",
        "--json",
    )  # fmt: skip
    check_outcome(code, stdout, stderr)


THOROUGH = settings.get_profile("thorough")


@pytest.mark.slow
@THOROUGH
@given(run_tables())
def test_fit_on_any_table_thorough(tmp_path_factory, table):
    test_fit_on_any_table.hypothesis.inner_test(tmp_path_factory, table)


@pytest.mark.slow
@THOROUGH
@given(run_tables(), _mapping)
def test_fit_with_any_column_mapping_thorough(tmp_path_factory, table, mapping):
    test_fit_with_any_column_mapping.hypothesis.inner_test(tmp_path_factory, table, mapping)


@pytest.mark.slow
@THOROUGH
@given(parquet_frames())
def test_fit_on_any_parquet_table_thorough(tmp_path_factory, frame):
    test_fit_on_any_parquet_table.hypothesis.inner_test(tmp_path_factory, frame)


@pytest.mark.slow
@THOROUGH
@given(law_files(), _law_command)
def test_predict_with_any_law_file_thorough(tmp_path_factory, doc, command):
    test_predict_with_any_law_file.hypothesis.inner_test(tmp_path_factory, doc, command)


@pytest.mark.slow
@THOROUGH
@given(_quantity)
def test_optimal_with_any_budget_thorough(flops):
    test_optimal_with_any_budget.hypothesis.inner_test(flops)
