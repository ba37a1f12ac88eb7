"""``predict`` without a target schedule assumes the fitted runs' own hyper-parameter rule
(issue 22, item 5: laws/schedule_rule.py): a peak lr that follows a power law in N across the
runs is extrapolated by that law, a constant one stays constant, a warm-up of a fixed number of
tokens per parameter is read as such, and the note says what was assumed."""

from __future__ import annotations

import copy

import pytest
from test_curves import TRUE, synth_rows

from scalelab.laws import fit as fit_law
from scalelab.laws import schedule_predict, schedule_rule
from scalelab.laws.curves import CurveLaw
from scalelab.laws.schedule_select import reference
from scalelab.runs.curves import learning_curves
from scalelab.runs.table import RunTable

SIZES = (102400.0, 204800.0, 409600.0, 819200.0)  # warm-up N/10 tokens = 10, 20, 40, 80 steps
TARGET = 1638400.0


def _ladder(lr_exp: float, warm_per_param: float = 0.0):
    """Cosine runs of 300 and 900 steps (1024 tokens per step) whose peak lr is 3e-3·(N/1e5)^
    lr_exp and whose warm-up is warm_per_param·N tokens (30 steps when 0)."""
    rows = []
    for N in SIZES:
        peak = 3e-3 * (N / 1e5) ** lr_exp
        warm = round(warm_per_param * N / 1024) if warm_per_param else 30
        for total, seed, tag in ((300, 0, ""), (900, 1, "-long")):
            rows += [
                dict(r, run_id=r["run_id"] + tag)
                for r in synth_rows(
                    kinds=("cosine",),
                    sizes=(N,),
                    total=total,
                    seed=seed,
                    points=8,
                    peak=peak,
                    warmup=warm,
                )  # fmt: skip
            ]
    return RunTable.from_records(rows)


def _carried(table):
    """Chinchilla on the final points carrying the generating annealing law, as fit --form auto
    records a winning schedule-aware law (no fit of the curve law needed here)."""
    final = fit_law(table, "chinchilla", bootstrap=0)
    curve = CurveLaw(law="annealing", joint=True, params=dict(TRUE), sigma=0.005)
    record = {
        "winner": "annealing",
        "why": "annealing won",
        "reference": reference(table, learning_curves(table)),
        "law": curve.to_dict(),
    }
    law = copy.deepcopy(final)
    law.options = final.options.replace(auto={"schedule_aware": record})
    return law


def test_power_law_lr_and_per_parameter_warmup_are_extrapolated():
    table = _ladder(-0.5, warm_per_param=0.1)
    rule = reference(table, learning_curves(table))["rule"]
    assert rule["peak_lr"]["how"] == "trend"
    assert rule["peak_lr"]["coef"]["logN"] == pytest.approx(-0.5, abs=1e-9)
    assert rule["warmup"]["unit"] == "tokens" and rule["warmup"]["how"] == "trend"
    law = _carried(table)
    r = schedule_predict.predict(law, {"N": TARGET, "S": 900})
    truth_lr = 3e-3 * (TARGET / 1e5) ** -0.5
    assert r["schedule_assumed"] and r["schedule"]["peak_lr"] == pytest.approx(truth_lr, rel=1e-9)
    assert r["schedule"]["warmup_steps"] == round(0.1 * TARGET / 1024)  # 160 steps
    assert r["schedule"]["kind"] == "cosine" and r["schedule"]["min_lr_ratio"] == 0.1
    note = r["notes"][0]
    assert f"peak lr {truth_lr:.3g} (the fitted runs' trend lr ∝ N^-0.50" in note
    assert "warm-up 160 steps (the fitted runs' trend warm-up tokens ∝ N^1.00" in note
    # the largest run's schedule stretched (the old default) would have kept its higher lr
    largest = 3e-3 * (SIZES[-1] / 1e5) ** -0.5
    assert r["schedule"]["peak_lr"] < largest / 1.4
    # a law file written before the rule: the largest run's schedule, said so
    old = copy.deepcopy(law)
    del old.options.auto["schedule_aware"]["reference"]["rule"]
    o = schedule_predict.predict(old, {"N": TARGET, "S": 900})
    assert o["schedule"]["peak_lr"] == pytest.approx(largest) and o["assumed"] == []
    assert "the largest fitted run's, cosine-819200-long" in o["notes"][0]


def test_constant_lr_and_warmup_stay_constant():
    table = _ladder(0.0)
    rule = reference(table, learning_curves(table))["rule"]
    assert rule["peak_lr"] == {"how": "constant", "value": 3e-3}
    assert rule["warmup"]["how"] == "constant" and rule["warmup"]["unit"] == "steps"
    fields, said = schedule_rule.at(rule, TARGET, 900, 1024.0)
    assert fields["peak_lr"] == 3e-3 and fields["warmup_steps"] == 30
    assert said[0] == "peak lr 0.003 (the same in every fitted run)"
    # the same as the largest run's schedule at this length (the behaviour before the rule)
    r = schedule_predict.predict(_carried(table), {"N": TARGET, "S": 900})
    assert (r["schedule"]["peak_lr"], r["schedule"]["warmup_steps"]) == (3e-3, 30)


def test_disagreeing_kinds_use_the_largest_and_say_so():
    rows = synth_rows(kinds=("cosine", "wsd"), sizes=SIZES[:3], total=300, points=6)
    rows += synth_rows(kinds=("wsd",), sizes=SIZES[3:], total=300, points=6)
    table = RunTable.from_records(rows)
    rule = reference(table, learning_curves(table))["rule"]
    fields, said = schedule_rule.at(rule, TARGET, 900, 1024.0)
    assert fields["kind"] == "wsd" and not rule["kind"]["agree"]
    assert "the fitted runs disagree on kind" in said[-1]


def test_trend_that_overflows_falls_back_to_the_largest_run():
    r = {"how": "trend", "coef": {"const": 0.0, "logN": 80.0}, "rms": 0.0, "value": 2e-3}
    assert schedule_rule.value(r, 1e12, 1e12) == (2e-3, False)
