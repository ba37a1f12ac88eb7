"""The schedule-aware law as a real candidate of ``fit --form auto`` (issue 22, item 5): when it
wins the held-out comparison the law file carries it, ``predict`` uses it under the target's
schedule (or an assumed annealed end, said so), ``backtest`` reports it beside the final-point
form; a table without schedules behaves as before; a bad schedule is one line, exit status 2."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from test_curves import law_loss, synth_rows

from scalelab.cli import main
from scalelab.laws import fit as fit_law
from scalelab.laws import schedule_predict
from scalelab.laws.curves import CurveLaw, fit_curves
from scalelab.laws.schedule_backtest import compare
from scalelab.laws.schedule_select import reference, schedule_aware
from scalelab.runs.curves import learning_curves
from scalelab.runs.schedules import Schedule
from scalelab.runs.table import RunTable

SIZES = (1e5, 2e5, 4e5, 8e5)
SCHEDULE = ("schedule", "total_steps", "warmup_steps", "lr_step", "decay_start", "min_lr_ratio")


def _rows(points=25):
    """Annealing-law curves, 4 sizes x 2 cosine lengths (300 and 900 steps, 1024 tokens/step)."""
    rows = synth_rows(kinds=("cosine",), sizes=SIZES, total=300, points=points)
    rows += [
        dict(r, run_id=r["run_id"] + "-long")
        for r in synth_rows(kinds=("cosine",), sizes=SIZES, total=900, seed=1, points=points)
    ]
    return rows


@pytest.fixture(scope="module")
def table():
    return RunTable.from_records(_rows())


@pytest.fixture(scope="module")
def final(table):
    return fit_law(table, "chinchilla", bootstrap=0)


@pytest.fixture(scope="module")
def law(table, final):
    """Chinchilla on the final points, carrying an annealing law fitted to every checkpoint as
    ``fit --form auto`` records it when that law wins (the comparison itself: the slow test)."""
    curves = learning_curves(table)
    curve = fit_curves(table, "annealing", curves=curves, bootstrap=10, misspec=False)
    record = {
        "winner": "annealing",
        "why": "annealing predicted the held-out runs' final losses better",
        "reference": reference(table, curves),
        "law": curve.to_dict(),
    }
    carried = copy.deepcopy(final)
    carried.options = final.options.replace(auto={"schedule_aware": record})
    return carried


@pytest.mark.slow  # the comparison's fits: about 8 s of CPU
def test_winner_recorded_and_carried(table, final):
    record = schedule_aware(
        table, "chinchilla", lambda t: fit_law(t, "chinchilla", bootstrap=0), bootstrap=10
    )
    final = copy.deepcopy(final)
    final.options = final.options.replace(auto={"schedule_aware": record})
    assert schedule_predict.predict(final, {"N": 1.6e6, "S": 900})["form"].startswith("annealing")
    assert record["winner"] == "annealing", record
    errors = record["mean_abs_rel_error"]
    assert errors["annealing"] < errors["chinchilla"]
    assert record["fold"].startswith("largest size held out")
    carried = CurveLaw.from_dict(record["law"])
    assert carried.n_runs == 8 and len(carried.samples) > 0
    assert record["reference"]["tokens_per_step"] == 1024.0
    assert record["reference"]["schedule"]["total_steps"] == 900  # the largest, longest run


def test_predict_uses_the_curve_law_and_recovers_the_truth(law):
    """A size 2x beyond the fitted ones, 900 steps: the annealed-end assumption (cosine, the
    largest run's schedule) and an explicit constant lr, against the generating law."""
    N, S = 1.6e6, 900
    annealed = schedule_predict.predict(law, {"N": N, "S": S})
    constant = schedule_predict.predict(law, {"N": N, "S": S}, "kind=constant")
    assert annealed["schedule_assumed"] and "annealed end" in annealed["notes"][0]
    assert not constant["schedule_assumed"] and len(constant["notes"]) == 1
    # what the spec leaves out comes from the runs' rule: lr and warm-up are the same in every run
    assert constant["notes"][0].startswith("--schedule leaves out") and "kind" not in " ".join(
        constant["assumed"]
    )
    for r in (annealed, constant):
        assert r["schedule"]["peak_lr"] == 3e-3 and r["schedule"]["warmup_steps"] == 30
    assert "peak lr 0.003 (the same in every fitted run)" in annealed["notes"][0]
    truth = {
        k: law_loss(N, Schedule(k, 3e-3, S, warmup_steps=30), [S])[0]
        for k in ("cosine", "constant")
    }
    assert annealed["loss"] == pytest.approx(truth["cosine"], rel=0.02)
    assert constant["loss"] == pytest.approx(truth["constant"], rel=0.02)
    assert constant["loss"] > annealed["loss"] * 1.1  # no annealing: a higher loss
    lo, hi = annealed["interval"]
    assert lo < annealed["loss"] < hi
    # the prediction is the carried curve law's, not the final-point form's
    curve = CurveLaw.from_dict(law.options.auto["schedule_aware"]["law"])
    sched = Schedule("cosine", 3e-3, S, warmup_steps=30)
    assert annealed["loss"] == pytest.approx(curve.final(N, sched)["loss"], rel=1e-9)
    assert annealed["final_point_loss"] == pytest.approx(float(law.predict(N=N, D=S * 1024)))
    # D in tokens is turned into steps with the fitted runs' tokens per step
    by_tokens = schedule_predict.predict(law, {"N": N, "D": S * 1024})
    assert by_tokens["steps"] == S and by_tokens["loss"] == pytest.approx(annealed["loss"])
    spelled = schedule_predict.predict(law, {"N": N}, f"kind=cosine,steps={S},warmup=30")
    assert spelled["D"] == S * 1024 and spelled["loss"] == pytest.approx(annealed["loss"])


def test_predict_cli(law, tmp_path, capsys):
    path = tmp_path / "law.json"
    law.save(path)
    code = main(["predict", "--law", str(path), "--N", "1.6e6", "--S", "900", "--json"])
    res = capsys.readouterr()
    assert code == 0
    d = json.loads(res.out)
    assert d["form"] == "annealing (schedule-aware)" and d["schedule_assumed"] is True
    assert "note: no target schedule given" in res.err
    code = main(
        ["predict", "--law", str(path), "--N", "1.6e6", "--S", "900"]
        + ["--schedule", "kind=wsd,cooldown_frac=0.3"]
    )
    res = capsys.readouterr()
    assert code == 0 and "under wsd from peak lr 0.003" in res.out
    assert "note: --schedule leaves out" in res.err and "no target schedule" not in res.err
    full = "kind=wsd,lr=3e-3,warmup=30,min_lr_ratio=0.1,cooldown_frac=0.3,cooldown_shape=linear"
    code = main(["predict", "--law", str(path), "--N", "1.6e6", "--S", "900", "--schedule", full])
    res = capsys.readouterr()
    assert code == 0 and "note:" not in res.err  # nothing assumed, nothing said


@pytest.mark.parametrize(
    "spec, message",
    [
        ("kind=linear", "kind: expected one of cosine, wsd, constant"),
        ("peak=1e-3", "expected KEY=VALUE with KEY one of kind, steps"),
        ("kind=cosine,warmup=2000", "0 <= warmup < steps"),
        ("kind=cosine,steps=lots", "--schedule 'kind=cosine,steps=lots': steps"),
    ],
)
def test_bad_schedule_one_line_exit_2(law, tmp_path, capsys, spec, message):
    path = tmp_path / "law.json"
    law.save(path)
    code = main(["predict", "--law", str(path), "--N", "1e6", "--S", "900", "--schedule", spec])
    res = capsys.readouterr()
    assert code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.err


def test_without_schedules_nothing_changes(table, tmp_path, capsys):
    """No schedule columns: no record, predict prints what it always did, a target schedule is
    an error (exit 2), backtest has no schedule-aware entry."""
    plain = RunTable.from_records(
        [{k: v for k, v in r.items() if k not in SCHEDULE and k != "lr"} for r in _rows()]
    )
    law = fit_law(plain, "chinchilla", bootstrap=0)
    assert schedule_predict.record(law) is None
    assert schedule_predict.predict(law, {"N": 1e6, "D": 1e6}) is None
    assert schedule_aware(plain, "chinchilla", lambda t: fit_law(t, "chinchilla")) is None
    path = tmp_path / "plain.json"
    law.save(path)
    assert main(["predict", "--law", str(path), "--N", "1e6", "--D", "1e6"]) == 0
    res = capsys.readouterr()
    loss = float(law.predict(N=1e6, D=1e6))
    assert res.out.startswith(f"loss at N=1e+06, D=1e+06: {loss:.4f} nats/token")
    assert "schedule" not in res.out + res.err
    code = main(["predict", "--law", str(path), "--N", "1e6", "--D", "1e6", "--schedule", "x=1"])
    res = capsys.readouterr()
    assert code == 2 and "has no schedule-aware law" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_final_point_winner_notes_annealed_end(law):
    """When the final-point form wins, predict is the form's, with a note; no target schedule."""
    record = dict(law.options.auto["schedule_aware"], winner="chinchilla")
    record.pop("law")
    lost = copy.deepcopy(law)
    lost.options = lost.options.replace(auto={"schedule_aware": record})
    assert schedule_predict.predict(lost, {"N": 1e6, "S": 900}) is None
    assert "assumes an annealed end" in schedule_predict.annealed_note(lost)
    with pytest.raises(Exception, match="final-point form chinchilla won"):
        schedule_predict.predict(lost, {"N": 1e6, "S": 900}, "kind=constant")


@pytest.mark.slow  # a curve-law fit with its held-out folds: about 6 s of CPU
def test_backtest_reports_the_schedule_aware_law(table):
    from scalelab.laws.select import backtest

    result = backtest(table, "chinchilla", split="size", folds=1, bootstrap=0)
    record = compare(table, result)
    assert record["n_predictions"] == 2  # the two runs of the largest size
    errors = record["mean_abs_rel_error"]
    finals = [p["rel_error"] for f in result.folds for p in f.predictions]
    assert errors["chinchilla"] == pytest.approx(np.mean(np.abs(finals)))
    assert record["winner"] == "annealing" and errors["annealing"] < errors["chinchilla"]
    assert 0 <= record["coverage"] <= 1
    from scalelab.report.checks import backtest_section
    from scalelab.report.inputs import backtest_rows

    body = backtest_section(backtest_rows(result), "ok", record).body
    assert "Schedule-aware law (annealing on every checkpoint" in body and record["why"] in body


def test_report_states_the_comparison(law):
    from scalelab.report.sections import law_section

    body = law_section(law, 1e20).body
    assert "Schedule-aware laws" in body and "annealing predicted" in body


def test_fit_json_counts_the_curve_law_samples(law):
    from scalelab.laws.schedule_select import summarised

    record = law.options.auto["schedule_aware"]
    shown = summarised(record)
    assert shown["law"]["samples"] == len(record["law"]["samples"]) > 0
    assert isinstance(record["law"]["samples"], list)  # the law's own record is untouched


def test_damaged_record_is_one_line_exit_2(law, tmp_path, capsys):
    doc = law.to_dict()
    del doc["options"]["auto"]["schedule_aware"]["law"]["params"]
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(doc, default=float))
    code = main(["predict", "--law", str(path), "--N", "1e6", "--S", "900"])
    res = capsys.readouterr()
    assert code == 2 and len(res.err.strip().splitlines()) == 1, res.err


@pytest.mark.slow  # the selection over every form, then the comparison's fits: about 20 s of CPU
def test_backtest_compare_adds_the_schedule_aware_comparison(table, tmp_path, capsys):
    path = tmp_path / "runs.csv"
    table.data.to_csv(path, index=False)
    assert main(["backtest", str(path), "--compare", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    record = d["schedule_aware"]
    assert record["winner"] == "annealing" and "law" not in record  # compared, not carried
    assert set(record["mean_abs_rel_error"]) == {d["chosen"], "annealing"}
    assert main(["backtest", str(path), "--compare"]) == 0
    assert "schedule-aware laws: annealing predicted" in capsys.readouterr().out
