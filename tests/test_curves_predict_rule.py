"""``curves --predict`` assumes what its spec leaves out from the fitted runs' own hyper-parameter
rule (:mod:`scalelab.laws.schedule_rule`), as ``predict`` does: synthetic annealing-law curves
of ladders whose peak lr falls as N^-0.5, or stays constant, across 3 sizes."""

import json

import numpy as np
import pytest
from test_curves import synth_rows

from scalelab.cli import main
from scalelab.laws.curve_predict import (
    curves_analysis,
    parse_schedule,
    reference,
    rule_of,
    spec_items,
    target_schedule,
)
from scalelab.laws.curves import fit_curves
from scalelab.runs.curves import learning_curves
from scalelab.runs.table import RunTable

SIZES = (1e5, 3e5, 1e6)
LR0 = 3e-3


def ladder(peak=lambda N: LR0 * (N / 1e5) ** -0.5, total=lambda N: 600, frac=0.05):
    """Runs of each size with its own peak lr, length and warm-up (a fraction of the length)."""
    rows = []
    for k, N in enumerate(SIZES):
        steps = total(N)
        rows += synth_rows(
            ("cosine", "wsd"),
            (N,),
            steps,
            seed=k,
            warmup=round(frac * steps),
            peak=peak(N),
            points=15,
        )
    return RunTable.from_records(rows)


@pytest.fixture(scope="module")
def sqrt_table():
    return ladder()


def test_the_assumed_lr_at_a_new_size_is_the_runs_rule(sqrt_table):
    curves = learning_curves(sqrt_table)
    rule = rule_of(sqrt_table, curves)
    N, sched, said = parse_schedule("N=3M,steps=900", curves, rule)
    assert sched.peak_lr == pytest.approx(LR0 * 30**-0.5, rel=1e-6)
    assert sched.total_steps == 900 and sched.warmup_steps == 30  # 30 steps in every run
    assert any(s.startswith("peak lr") and "N^-0.50" in s for s in said)
    # the largest run's lr, what the spec's defaults were before the rule, is 1.7x larger
    assert reference(curves).peak_lr == pytest.approx(LR0 * 10**-0.5)
    fitted, preds = curves_analysis(sqrt_table, predict=["N=3M,steps=900"], bootstrap=0)
    assert preds[0]["loss"] == pytest.approx(fitted.final(N, sched)["loss"], rel=1e-12)
    assert preds[0]["assumed"] == said


def test_an_explicit_lr_wins_over_the_rule(sqrt_table):
    curves = learning_curves(sqrt_table)
    _, sched, said = parse_schedule("N=3M,steps=900,lr=1e-3", curves, rule_of(sqrt_table, curves))
    assert sched.peak_lr == 1e-3
    assert not any("peak lr" in s for s in said) and any("warm-up" in s for s in said)


def test_a_constant_lr_ladder_gives_the_largest_runs_schedule_as_before():
    """Constant lr, lengths growing with N and a constant warm-up fraction: the rule is the
    largest run's schedule stretched to the target, what ``--predict`` assumed before it."""
    lengths = dict(zip(SIZES, (400, 500, 640), strict=True))  # warm-up 5%: 20, 25, 32 steps
    table = ladder(peak=lambda N: LR0, total=lengths.get)
    curves = learning_curves(table)
    rule = rule_of(table, curves)
    assert rule["peak_lr"]["how"] == "constant" and rule["warmup"]["unit"] == "fraction"
    fitted = fit_curves(table, "annealing", curves=curves, bootstrap=0)
    for spec in ("N=3M,steps=3000", "N=200k,steps=450,kind=cosine"):
        where = f"--predict {spec!r}"
        before = target_schedule(spec_items(spec, where), reference(curves), None, where)
        N, sched, said = parse_schedule(spec, curves, rule)
        assert sched == before and said
        assert fitted.final(N, sched) == fitted.final(N, before)


def test_without_tokens_the_largest_run_is_assumed_and_said(sqrt_table, tmp_path, capsys):
    """No D (nor tokens_per_step) column: no rule; the largest run's schedule, as it says."""
    path = tmp_path / "runs.csv"
    sqrt_table.data.drop(columns="D").to_csv(path, index=False)  # C stays: D is C / 6N
    assert (
        main(["curves", str(path), "--bootstrap", "0", "--json", "--predict", "N=3M,steps=900"])
        == 0
    )
    pred = json.loads(capsys.readouterr().out)["predictions"][0]
    assert len(pred["assumed"]) == 1 and "no D column" in pred["assumed"][0]
    assert "peak lr 0.000949" in pred["assumed"][0]  # the largest run's, 3e-3 / sqrt(10)
    with_rule = tmp_path / "with_d.csv"
    sqrt_table.write(with_rule)
    assert main(["curves", str(with_rule), "--bootstrap", "0", "--predict", "N=3M,steps=900"]) == 0
    text = capsys.readouterr().out
    assert "  assumed: peak lr 0.000548 (the fitted runs' trend lr ∝ N^-0.50, exact)" in text
    assert np.isfinite(float(text.split("final loss ")[1].split()[0]))
