"""``scalelab tasks predict`` and ``backtest`` through the command line: the JSON they print."""

from __future__ import annotations

import contextlib
import io
import json

from scalelab.cli import main
from scalelab.tasks import synthetic


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_predict_and_backtest_json(tmp_path):
    tasks = {"a": {"chance": 0.25, **synthetic.STEP2}, "flat": {"chance": 0.5, "stuck": True}}
    path = tmp_path / "tasks.csv"
    synthetic.chain_table(tasks=tasks, points=4, seed=2).to_csv(path, index=False)
    code, out, err = run_cli(
        "tasks",
        "predict",
        path,
        "--task",
        "a",
        "--task",
        "flat",
        "--N",
        "128M",
        "--D",
        "2.56B",
        "--bootstrap",
        "20",
        "--form",
        "chinchilla",
        "--json",
    )
    assert code == 0, err
    a, flat = json.loads(out)
    assert a["task"] == "a" and 0.25 < a["accuracy"] <= 1
    lo, hi = a["interval"]
    assert lo <= a["accuracy"] <= hi
    assert a["intermediate"]["name"] == "task_loss" and len(a["intermediate"]["interval"]) == 2
    assert set(a["step1"]["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert a["step2"]["link"] in ("sigmoid", "olmo", "exp")  # --link auto, the default
    assert a["step2"]["link"] in a["step2"]["selection"]["decision"]
    assert set(a["step2"]["selection"]["errors"]) == {"sigmoid", "olmo", "exp"}
    assert flat["accuracy"] is None and "never leaves chance" in flat["reason"]
    code, out, err = run_cli(
        "tasks", "backtest", path, "--task", "a", "--bootstrap", "20", "--level", "0.9",
        "--form", "chinchilla", "--link", "sigmoid", "--json",
    )  # fmt: skip
    assert code == 0, err
    bt = json.loads(out)
    assert bt["task"] == "a" and "largest size" in bt["held_out"]
    for key in ("step1_rel_error", "step2_error", "chain_error"):
        assert 0 <= bt[key] < 0.1, bt
    covered = [r["interval"][0] <= r["accuracy"] <= r["interval"][1] for r in bt["runs"]]
    assert [r["covered"] for r in bt["runs"]] == covered
    assert bt["coverage"] == sum(covered) / len(covered) and bt["level"] == 0.9
    assert bt["link"] == "sigmoid" and bt["form"] == "chinchilla" and bt["width"] > 0
    code, _, err = run_cli("tasks", "predict", path, "--task", "nope", "--N", "1B", "--D", "2B")
    assert code == 2 and "task(s) 'nope' not found" in err
