"""The annealing law's lambda chosen blind to any held-out run (profile likelihood): on synthetic
curves made with a known lambda under cosine, WSD and constant schedules it is recovered; on
curves that do not tell lambdas apart it is reported as not identified and the paper's 0.999 is
kept."""

import json

import pytest
from test_curves import synth_rows

from scalelab.cli import main
from scalelab.laws.curve_decay import DECAY_GRID
from scalelab.laws.curves import fit_curves
from scalelab.runs.table import RunTable

LAMBDA = 0.99
NOISE = 0.003


def rows(kinds, sizes=(1e5, 3e5, 1e6), total=500, seed=0):
    return synth_rows(
        kinds, sizes, total, seed, warmup=25, cooldown=0.3, points=24, noise=NOISE, decay=LAMBDA
    )


def test_auto_recovers_a_known_lambda():
    law = fit_curves(
        RunTable.from_records(rows(("cosine", "wsd", "constant"))), decay="auto", bootstrap=0
    )
    prof = law.data["decay_profile"]
    assert prof["identified"] and law.decay == LAMBDA
    lo, hi = prof["interval"]
    assert lo <= LAMBDA <= hi and (lo, hi) != (DECAY_GRID[0], DECAY_GRID[-1])
    assert law.decay == prof["chosen"] and not any("lambda" in w for w in law.warnings)


def test_curves_without_annealing_do_not_identify_lambda(tmp_path, capsys):
    path = tmp_path / "runs.csv"  # constant schedules: S2 = 0 whatever lambda is
    RunTable.from_records(rows(("constant",))).data.to_csv(path, index=False)
    code = main(["curves", str(path), "--decay", "auto", "--bootstrap", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["decay"] == 0.999
    assert not out["data"]["decay_profile"]["identified"]
    assert any("lambda is not identified" in w for w in out["warnings"])


@pytest.mark.parametrize("bad", ["1.5", "0", "fast"])
def test_bad_decay_exits_2(bad, tmp_path, capsys):
    path = tmp_path / "runs.csv"
    RunTable.from_records(rows(("wsd",), sizes=(1e5,), total=100)).data.to_csv(path, index=False)
    assert main(["curves", str(path), "--decay", bad]) == 2
    err = capsys.readouterr().err
    assert "--decay" in err and "Traceback" not in err


def test_example_curves_ladder_is_one_run_per_size(tmp_path):
    from pathlib import Path

    from scalelab.ladder.runner import load_plan

    spec = Path(__file__).parents[1] / "examples" / "ladder_curves.toml"
    plan = load_plan(spec, str(tmp_path / "lad"))
    sizes = {p.N for p in plan.points}
    assert len(plan.jobs) == len(plan.points) == len(sizes) == 5 and not plan.warnings
    assert plan.spec.eval.points == 24 and plan.spec.eval.sets == ["val"]
    assert len({p.steps for p in plan.points}) == 1  # every size at the one largest budget
