"""Run tables: the three formats read alike; every bad input gets its own line and exit 2."""

import json

import numpy as np
import pandas as pd
import pytest

from scalelab.cli import main
from scalelab.errors import InputError
from scalelab.runs import RunTable, read_table

ROWS = [
    {"run_id": f"r{i}", "N": n, "D": d, "loss": 2.0 + 100 / n**0.3 + 200 / d**0.3}
    for i, (n, d) in enumerate(
        [(1e6, 2e7), (1e6, 8e7), (4e6, 2e7), (4e6, 8e7), (1.6e7, 2e8), (1.6e7, 8e8), (6e7, 1e9)]
    )
]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_formats_round_trip(tmp_path, suffix):
    table = RunTable.from_records(ROWS)
    path = table.write(tmp_path / f"runs{suffix}")
    back = read_table(path)
    assert list(back.run_ids) == [r["run_id"] for r in ROWS]
    np.testing.assert_allclose(back["loss"], table["loss"])
    np.testing.assert_allclose(back["C"], 6 * back["N"] * back["D"])


def test_c_is_filled_and_said(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    table = read_table(path)
    assert any("C filled as 6*N*D" in n for n in table.notes)
    assert "C" in table.derived
    np.testing.assert_allclose(table["C"], 6 * table["N"] * table["D"])


def test_d_derived_from_c_and_ids_from_rows():
    t = RunTable.from_records(
        [{"N": 1e6, "C": 6e13, "loss": 3.0}, {"N": 2e6, "C": 6e13, "loss": 2.9}]
    )
    np.testing.assert_allclose(t["D"], [1e7, 5e6])
    assert list(t.run_ids) == ["row1", "row2"]


def test_column_mapping():
    frame = pd.DataFrame({"params": [1e6, 2e6], "tokens": [1e8, 1e8], "val": [3.0, 2.9]})
    t = RunTable.from_frame(frame, columns={"N": "params", "D": "tokens", "loss": "val"})
    assert list(t["N"]) == [1e6, 2e6]


def test_final_points_and_status_selection():
    rows = [
        {"run_id": "a", "N": 1e6, "D": d, "loss": 4 - d / 1e8, "status": "done"}
        for d in (1e7, 5e7, 1e8)
    ]
    rows += [{"run_id": "b", "N": 2e6, "D": 1e8, "loss": 2.5, "status": "diverged"}]
    t = RunTable.from_records(rows).select()
    assert list(t["D"]) == [1e8] and list(t.run_ids) == ["a"]
    assert any("status" in n for n in t.notes)


BAD = {
    "missing column": ("run_id,N,D\na,1e6,1e8\n", ["missing column(s) loss"]),
    "non-numeric": (
        "run_id,N,D,loss\na,1e6,1e8,3.0\nb,abc,1e8,2.9\n",
        ["row 2, column 'N': expected a number, got 'abc'"],
    ),
    "non-positive": (
        "run_id,N,D,loss\na,1e6,0,3.0\nb,2e6,1e8,-1\n",
        [
            "row 1, column 'D': expected a positive number, got 0",
            "row 2, column 'loss': expected a positive number, got -1",
        ],
    ),
    "nan": (
        "run_id,N,D,loss\na,1e6,1e8,\nb,2e6,1e8,2.9\n",
        ["row 1, column 'loss': missing value (NaN)"],
    ),
    "duplicate": (
        "run_id,N,D,loss\na,1e6,1e8,3.0\na,1e6,1e8,3.1\n",
        ["rows 1, 2: duplicate (run_id, D)"],
    ),
    "empty": ("", ["the file is empty"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tables_exit_2_with_one_line_per_problem(tmp_path, capsys, case):
    text, expected = BAD[case]
    path = write(tmp_path, "runs.csv", text)
    out = tmp_path / "law.json"
    assert main(["fit", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(expected), err
    for line, want in zip(err, expected):
        assert line.startswith("error: ") and str(path) in line and want in line, line
        assert "Traceback" not in line
    assert not out.exists()


def test_missing_file_and_unknown_format(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    path = write(tmp_path, "runs.xlsx", "x")
    assert main(["fit", str(path)]) == 2
    assert "unknown table format '.xlsx'" in capsys.readouterr().err


def test_bad_jsonl_line(tmp_path, capsys):
    path = write(tmp_path, "runs.jsonl", json.dumps(ROWS[0]) + "\n{not json\n")
    assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cannot be read as jsonl" in err and err.count("\n") == 1


def test_problems_are_capped():
    frame = pd.DataFrame({"N": ["x"] * 50, "D": [1e8] * 50, "loss": [3.0] * 50})
    with pytest.raises(InputError) as info:
        RunTable.from_frame(frame, "big.csv")
    assert len(info.value.problems) == 21 and "30 more" in info.value.problems[-1]
