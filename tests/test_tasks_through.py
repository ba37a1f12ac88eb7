"""Tasks without a loss of their own, through another task's loss (``task_loss:OTHER``): the
Pythia files' PIQA, ARC, ... through LAMBADA's; the single-step error in backtests; warnings
shared by several tasks printed once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_cli

from scalelab.errors import InputError
from scalelab.runs.tasktable import fittable, task_table
from scalelab.tasks import backtest, predict, synthetic
from scalelab.tasks import data as taskdata

SPECS = {
    "proxy": {"chance": 0.0, "k": 3.0, "L0": 2.6},
    "mute": {"chance": 0.25, "k": 4.0, "L0": 2.7},
}


def _table(tmp_path=None):
    """Two tasks evaluated at the same points; ``mute`` has no task loss (as lm-eval's PIQA)."""
    frame = synthetic.chain_table(tasks=SPECS, points=8, seed=3)
    mute = frame["task"] == "mute"
    frame.loc[mute, "task_loss"] = np.nan
    frame.loc[mute, "task_loss_unit"] = None
    if tmp_path is None:
        return frame
    path = tmp_path / "tasks.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_intermediate_is_the_other_tasks_loss_at_the_same_points():
    frame = _table()
    table = task_table(frame, "<t>")
    pts = taskdata.task_points(table, "mute", "task_loss:proxy")
    proxy = frame[frame.task == "proxy"].set_index(["run_id", "D", "step"])["task_loss"]
    mine = frame[frame.task == "mute"].set_index(["run_id", "D", "step"])["accuracy"]
    keys = list(zip(pts["run_id"], pts["D"], pts["step"], strict=True))
    assert len(pts) == len(mine)
    np.testing.assert_array_equal(pts["x"].to_numpy(), proxy.loc[keys].to_numpy())
    np.testing.assert_array_equal(pts["accuracy"].to_numpy(), mine.loc[keys].to_numpy())
    assert pts.attrs["unit"] == "nats/token"
    with pytest.raises(InputError, match="has no task_loss values"):
        taskdata.task_points(table, "mute", "task_loss")
    with pytest.raises(InputError, match="no task 'nothing'"):
        taskdata.task_points(table, "mute", "task_loss:nothing")
    with pytest.raises(InputError, match="'mute' has no task loss to lend"):
        taskdata.task_points(table, "proxy", "task_loss:mute")
    with pytest.raises(InputError, match="task_loss:TASK"):
        taskdata.task_points(table, "mute", "task_los")


def test_task_all_keeps_loss_less_tasks_through_another_and_hints_at_it():
    table = task_table(_table(), "<t>")
    kept = fittable(table, "task_loss")
    assert sorted(kept.data["task"].unique()) == ["proxy"]
    assert any("--through task_loss:proxy" in n and "mute" in n for n in kept.notes), kept.notes
    both = fittable(table, "task_loss:proxy")
    assert sorted(both.data["task"].unique()) == ["mute", "proxy"]
    with pytest.raises(InputError, match="'mute' has no task loss"):
        fittable(table, "task_loss:mute")


def test_predict_and_backtest_through_another_task_share_step_1():
    table = task_table(_table(), "<t>")
    kw = {"form": "chinchilla", "link": "sigmoid", "bootstrap": 0}
    got = predict(table, ["mute", "proxy"], N=6.4e7, D=1.3e9, through="task_loss:proxy", **kw)
    mute, proxy = got
    assert mute.predictable and proxy.predictable
    # one intermediate, one step-1 law: the same predicted loss for both tasks
    assert mute.intermediate["value"] == proxy.intermediate["value"]
    assert mute.intermediate["name"] == "task_loss:proxy"
    # the true accuracy of the mute task at the true intermediate is recovered
    truth = synthetic.link_value(SPECS["mute"], mute.intermediate["value"])
    assert mute.accuracy == pytest.approx(float(truth), abs=0.05)
    bt = backtest(table, ["mute"], through="task_loss:proxy", **kw)[0]
    assert bt.predictable and bt.chain_error < 0.05
    # the single-step fit is scored beside the chain, per run and on average
    singles = [r["single_step_error"] for r in bt.runs]
    assert bt.single_step_error == pytest.approx(np.mean(np.abs(singles)))


def test_cli_task_all_through_another_task_and_shared_warnings_printed_once(tmp_path):
    path = _table(tmp_path)
    base = ("tasks", "predict", str(path), "--N", "64M", "--D", "1.3B", "--bootstrap", "0")
    base += ("--form", "chinchilla", "--link", "sigmoid")
    code, out, err = run_cli(*base, "--json")
    assert code == 0, err
    assert json.loads(out)["task"] == "proxy"
    assert sum("--through task_loss:proxy" in ln for ln in err.splitlines()) == 1, err
    code, out, err = run_cli(*base, "--json", "--through", "task_loss:proxy")
    assert code == 0, err
    assert sorted(r["task"] for r in json.loads(out)) == ["mute", "proxy"]
    code, _, err = run_cli(*base, "--through", "task_loss:")
    assert code == 2 and "no such task" in err and "Traceback" not in err, err


def test_a_shared_warning_names_every_task_once(tmp_path, monkeypatch):
    import scalelab.tasks
    from scalelab.tasks.predict import TaskPrediction

    def fake_predict(table, task, **kw):
        target = {"N": 1e9, "D": 2e10, "C": 1.2e20}
        return [
            TaskPrediction(
                name,
                None,
                target,
                True,
                accuracy=0.5,
                interval=[0.4, 0.6],
                intermediate={"name": "task_loss", "value": 1.0, "interval": [0.9, 1.1]},
                step1={"form": "chinchilla", "warnings": ["few runs", own]},
            )  # fmt: skip
            for name, own in (("a", "only a"), ("b", "only b"))
        ]

    monkeypatch.setattr(scalelab.tasks, "predict", fake_predict)
    path = str(_table(tmp_path))
    code, _, err = run_cli("tasks", "predict", path, "--task", "proxy", "--N", "1B", "--D", "2B")
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert warnings == ["warning: a, b: few runs", "warning: a: only a", "warning: b: only b"]
