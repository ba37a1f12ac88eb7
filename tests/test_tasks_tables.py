"""Task tables: the schema's task columns, the wide and lm-eval readers, and their errors (one line
per problem, exit status 2 through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from scalelab.errors import InputError
from scalelab.runs.table import RunTable
from scalelab.runs.tasktable import read_lm_eval, read_tasks, read_wide, wide_columns

BASE = {"run_id": "r1", "N": 1e6, "D": 2e7, "step": 10, "task": "hellaswag"}


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-2000:]
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def rows(**changes) -> pd.DataFrame:
    row = {
        **BASE,
        "accuracy": 0.4,
        "chance": 0.25,
        "task_loss": 2.5,
        "task_loss_unit": "nats/token",
    }
    row.update(changes)
    return pd.DataFrame([row, {**row, "run_id": "r2", "N": 2e6}])


def test_task_table_without_general_loss_is_accepted_but_a_run_table_is_not():
    table = RunTable.from_frame(rows())
    assert table.has("task_loss") and not table.has("loss")
    with pytest.raises(InputError, match="missing column"):
        RunTable.from_frame(rows().drop(columns=["task", "task_loss"]))


def test_table_with_plain_rows_reads_and_fills_chance_of_known_tasks(tmp_path):
    """A ladder's table mixes plain held-out rows (no task) with task rows, as the demo exports:
    the reader fills a known task's chance and leaves the plain rows alone."""
    task_rows = rows(chance=np.nan, loss=3.0)
    plain = task_rows.drop(columns=["task", "accuracy", "chance", "task_loss", "task_loss_unit"])
    path = tmp_path / "runs.csv"
    pd.concat([plain, task_rows], ignore_index=True).to_csv(path, index=False)
    data = read_tasks(path).data
    assert data.loc[data["task"].notna(), "chance"].astype(float).tolist() == [0.25, 0.25]
    assert data.loc[data["task"].isna(), "chance"].isna().all()


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"accuracy": 1.2}, ("'accuracy'", "expected a fraction in [0, 1], got 1.2")),
        ({"accuracy": -0.1}, ("'accuracy'", "expected a fraction in [0, 1], got -0.1")),
        ({"chance": 1.0}, ("'chance'", "expected a fraction in [0, 1) (below the ceiling)")),
        ({"task_loss": -2.0}, ("'task_loss'", "expected a positive number, got -2")),
        ({"task_loss_unit": "bits/token"}, ("'task_loss_unit'", "nats/token, nats/char")),
        ({"accuracy": np.nan, "task_loss": np.nan}, ("'task'", "an accuracy or a task_loss")),
    ],
)
def test_bad_task_table_gets_one_line_and_exit_2(tmp_path, change, needle):
    path = tmp_path / "tasks.csv"
    rows(**change).to_csv(path, index=False)
    code, out, err = run_cli("tasks", "predict", path, "--N", "1B", "--D", "20B", "--json")
    lines = error_lines(err)
    assert code == 2 and out == ""
    assert len(lines) == 1, lines
    assert all(n in lines[0] for n in needle) and str(path) in lines[0], lines


@settings(max_examples=40, deadline=None)
@given(st.floats(-2, 3, allow_nan=False), st.floats(-1, 2, allow_nan=False))
def test_validation_boundary(accuracy, chance):
    ok = 0 <= accuracy <= 1 and 0 <= chance < 1
    try:
        RunTable.from_frame(rows(accuracy=accuracy, chance=chance))
    except InputError:
        assert not ok
    else:
        assert ok


def test_wide_reader_round_trips(tmp_path):
    long = pd.DataFrame(
        [
            {"run_id": f"r{i}", "N": n, "D": 20 * n, "task": t, "accuracy": a, "task_loss": l}
            for i, n in enumerate((1e6, 2e6, 4e6))
            for t, a, l in (("hellaswag", 0.3 + i / 10, 3 - i / 5), ("piqa", 0.6 + i / 20, 2.0))
        ]
    )
    wide = long.pivot(index=["run_id", "N", "D"], columns="task", values=["accuracy", "task_loss"])
    wide.columns = [f"{t}_{'acc' if m == 'accuracy' else 'loss'}" for m, t in wide.columns]
    path = tmp_path / "ladder.csv"
    wide.reset_index().to_csv(path, index=False)
    assert set(wide_columns(pd.read_csv(path).columns)) == {"hellaswag", "piqa"}
    table = read_wide(path)
    got = table.data.sort_values(["task", "run_id"]).reset_index(drop=True)
    want = long.sort_values(["task", "run_id"]).reset_index(drop=True)
    for column in ("run_id", "task"):
        assert list(got[column]) == list(want[column])
    for column in ("N", "D", "accuracy", "task_loss"):
        np.testing.assert_allclose(got[column].to_numpy(float), want[column].to_numpy(float))
    assert set(got["chance"]) == {0.25, 0.5}  # known chance of hellaswag and piqa
    assert set(got["task_loss_unit"]) == {"nats/token"}
    renamed = wide.reset_index().rename(columns={"piqa_acc": "PIQA", "piqa_loss": "PIQA loss"})
    renamed.to_csv(path, index=False)
    mapped = read_tasks(path, task_columns={"piqa": ("PIQA", "PIQA loss")})
    assert sorted(mapped.data["task"].unique()) == ["piqa"]
    np.testing.assert_allclose(
        mapped.data.sort_values("run_id")["accuracy"], want[want.task == "piqa"]["accuracy"]
    )


def _lm_eval(tmp_path, new_style=True):
    folder = tmp_path / "results"
    folder.mkdir()
    runs = [("small", 1e6, 2e7, 0.31), ("big", 4e6, 8e7, 0.42)]
    for name, _, _, acc in runs:
        if new_style:
            metrics = {"acc,none": acc, "acc_stderr,none": 0.01, "acc_norm,none": acc + 0.02}
            lamb = {"perplexity,none": 20.0, "acc,none": acc / 2}
        else:
            metrics = {"acc": acc, "acc_stderr": 0.01, "acc_norm": acc + 0.02}
            lamb = {"ppl": 20.0, "perplexity": 20.0, "acc": acc / 2}
        doc = {"results": {"arc_easy": metrics, "lambada_openai": lamb}, "config": {"model": "hf"}}
        (folder / f"{name}.json").write_text(json.dumps(doc))
    mapping = tmp_path / "map.csv"
    mapping.write_text(
        "file,run_id,N,D\n" + "".join(f"{n}.json,{n},{N:g},{D:g}\n" for n, N, D, _ in runs)
    )
    return folder, mapping, runs


@pytest.mark.parametrize("new_style", [True, False])
def test_lm_eval_reader_round_trips(tmp_path, new_style):
    folder, mapping, runs = _lm_eval(tmp_path, new_style)
    table = read_lm_eval(folder, mapping)
    arc = table.data[table.data.task == "arc_easy"].set_index("run_id")
    for name, N, D, acc in runs:
        assert arc.loc[name, "accuracy"] == pytest.approx(acc)
        assert (arc.loc[name, "N"], arc.loc[name, "D"]) == (N, D)
        assert arc.loc[name, "chance"] == 0.25
    lamb = table.data[table.data.task == "lambada_openai"]
    np.testing.assert_allclose(lamb["task_loss"], np.log(20.0))
    assert set(lamb["task_loss_unit"]) == {"nats/word"}  # LAMBADA's perplexity is per target word
    norm = read_lm_eval(folder, mapping, metric="acc_norm")
    assert norm.data[norm.data.task == "arc_easy"]["accuracy"].max() == pytest.approx(0.44)


def test_lm_eval_mapping_in_toml(tmp_path):
    folder, mapping, runs = _lm_eval(tmp_path)
    toml = tmp_path / "map.toml"
    toml.write_text(
        "".join(
            f'[[file]]\nfile = "{n}.json"\nrun_id = "{n}"\nN = {N:g}\nD = {D:g}\nstep = 100\n'
            for n, N, D, _ in runs
        )
    )
    a, b = read_lm_eval(folder, mapping).data, read_lm_eval(folder, toml).data
    assert set(b["step"]) == {100}
    np.testing.assert_allclose(
        a.sort_values(["run_id", "task"])["accuracy"], b.sort_values(["run_id", "task"])["accuracy"]
    )


def test_lm_eval_errors_via_cli(tmp_path):
    folder, mapping, _ = _lm_eval(tmp_path)
    (folder / "stray.json").write_text(json.dumps({"config": {}}))
    mapping.write_text(mapping.read_text() + "stray.json,stray,8e6,1.6e8\n")
    code, _, err = run_cli("tasks", "backtest", folder, "--lm-eval-map", mapping)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "no 'results' object" in lines[0], lines


def test_wide_reader_takes_prefixed_columns(tmp_path):
    """The OLMo ladder's layout: acc_<task>, bpb_<task> (bits/byte, the task loss) and ce_<task>
    (kept as task_ce), with the general loss mapped from another column."""
    frame = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "N": [1e8, 2e8],
            "D": [2e9, 4e9],
            "loss_c4": [3.5, 3.2],
            "acc_piqa_val": [0.6, 0.65],
            "bpb_piqa_val": [1.1, 1.0],
            "ce_piqa_val": [0.68, 0.66],
            "acc_mystery": [0.3, 0.4],
        }
    )
    path = tmp_path / "rungs.csv"
    frame.to_csv(path, index=False)
    table = read_tasks(path, wide=True, columns={"loss": "loss_c4"})
    data = table.data.set_index(["task", "run_id"]).sort_index()
    assert sorted(table.data["task"].unique()) == ["mystery", "piqa_val"]
    piqa = data.loc["piqa_val"]
    np.testing.assert_allclose(piqa["task_loss"], [1.1, 1.0])
    np.testing.assert_allclose(piqa["task_ce"], [0.68, 0.66])
    np.testing.assert_allclose(piqa["loss"], [3.5, 3.2])
    assert set(piqa["task_loss_unit"]) == {"bits/byte"} and set(piqa["chance"]) == {0.5}
    assert data.loc["mystery", "chance"].isna().all()
    assert not any(c.startswith(("acc_", "bpb_", "ce_")) for c in table.data.columns)


OLMO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "olmo_ladder" / "rungs.csv"


@pytest.mark.skipif(not OLMO.is_file(), reason=f"LOUD SKIP: real data absent: {OLMO}")
def test_real_olmo_ladder_reads_as_a_wide_task_table():
    table = read_tasks(OLMO, wide=True, columns={"loss": "loss_c4"})
    data = table.data
    assert len(data) == 2459 * 22 and data["task"].nunique() == 22
    assert data["chance"].notna().all() and set(data["task_loss_unit"]) == {"bits/byte"}
    row = data[(data.run_id == "1B-10xC") & (data.is_final == 1) & (data.task == "hellaswag_val")]
    row = row.iloc[0]
    assert row["accuracy"] == pytest.approx(0.64499104)
    assert row["task_loss"] == pytest.approx(0.758699536)
    assert row["loss"] == pytest.approx(2.83228183)
    assert data.loc[data.task == "csqa_val", "chance"].iloc[0] == pytest.approx(0.2)
