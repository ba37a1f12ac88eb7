"""Ladder spec and planning: grids, WSD trunks with branches, the per-size batch/lr rule, bad grids."""

from __future__ import annotations

from pathlib import Path

import pytest
from ladder_helpers import cli, ladder_dict, write_spec

from scalelab.errors import InputError
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.spec import spec_from_dict


def plan(**sections):
    return plan_ladder(spec_from_dict(ladder_dict(**sections)))


def with_grid(grid: dict, **sections) -> dict:
    raw = ladder_dict(**sections)
    raw["grid"] = grid
    return raw


def test_wsd_trunk_per_size_with_branches():
    p = plan()
    assert len(p.jobs) == 2 and len(p.points) == 4
    for j in p.jobs:
        trunk = [pt for pt in j.points if pt.run_id == j.run_id]
        branches = [pt for pt in j.points if pt.run_id != j.run_id]
        assert len(trunk) == 1 and len(branches) == 1
        assert branches[0].D < trunk[0].D
        assert branches[0].run_id == f"{j.run_id}-D{branches[0].D}"
        assert j.config["train"]["branch_tokens"] == [branches[0].D]
        # every point (branches too) takes at least min_steps steps; D is tokens/param as asked
        assert min(pt.steps for pt in j.points) >= 40
        assert abs(trunk[0].D / j.N - 12) / 12 < 0.05
        # batch is whole sequences
        assert j.batch_tokens % 16 == 0


def test_cosine_one_job_per_point_and_seeds():
    p = plan(train={"schedule": "cosine"}, grid={**ladder_dict()["grid"], "seeds": [0, 1]})
    assert len(p.jobs) == 8 and all(len(j.points) == 1 for j in p.jobs)
    assert len({j.run_id for j in p.jobs}) == 8


def test_batch_and_lr_rules_per_size():
    p = plan_ladder(
        spec_from_dict(
            with_grid(
                {"sizes": [2.5e4, 1e5, 4e5], "tokens_per_param": [5, 40]},
                model={"n_ctx": 32},
                hparams={"min_steps": 1000},
            )
        )
    )
    batches = [j.batch_tokens for j in p.jobs]
    lrs = [j.lr for j in p.jobs]
    assert batches == sorted(batches) and batches[0] < batches[-1]  # small models, small batches
    assert lrs == sorted(lrs, reverse=True)  # larger models, lower lr
    assert all(min(pt.steps for pt in j.points) >= 1000 for j in p.jobs)


def test_isoflop_brackets_optimum():
    p = plan_ladder(
        spec_from_dict(
            with_grid(
                {"isoflop": [3e12, 1e13], "isoflop_points": 3},
                model={"n_ctx": 32},
                train={"schedule": "cosine"},
                hparams={"min_steps": 100},
            )
        )
    )
    for c in (3e12, 1e13):
        pts = [pt for pt in p.points if abs(pt.C / c - 1) < 0.1]
        assert len(pts) == 3
        n_opt = (c / 120) ** 0.5
        assert min(pt.N for pt in pts) < n_opt < max(pt.N for pt in pts)


SHAPE = [{"n_layer": 1, "d_model": 16, "n_head": 2}]


@pytest.mark.parametrize(
    "grid, hparams, needle",
    [
        ({"shapes": SHAPE, "tokens": [1000], "tokens_per_param": [20]}, {}, "one kind of budget"),
        ({"shapes": SHAPE}, {}, "give token budgets"),
        ({"tokens": [1000]}, {}, "give model sizes"),
        ({"shapes": SHAPE, "tokens_per_param": [1]}, {"min_steps": 1000}, "cannot give"),
        ({"shapes": SHAPE * 2, "tokens_per_param": [10]}, {}, "same shape"),
        ({"sizes": [10], "tokens_per_param": [10]}, {}, "no shape within"),
        ({"shapes": SHAPE, "tokens_per_param": [10, 10]}, {}, "repeated"),
        ({"sizes": [2.5e4, 1e5], "isoflop": [1e12]}, {}, "at least 3"),
    ],
)
def test_impossible_grids(grid, hparams, needle):
    with pytest.raises(InputError) as exc:
        plan_ladder(spec_from_dict(with_grid(grid, hparams=hparams)))
    assert needle in str(exc.value)


def test_unknown_key_and_cli_exit_2(tmp_path):
    with pytest.raises(InputError, match="unknown key 'size'"):
        spec_from_dict(ladder_dict(grid={"size": [1]}))
    bad = write_spec(
        tmp_path / "bad.toml", ladder_dict(grid={"tokens": [100], "tokens_per_param": [2]})
    )
    r = cli("ladder", "run", str(bad), "--out", str(tmp_path / "lad"))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "one kind of budget" in lines[0]
    assert not (tmp_path / "lad").exists()


def test_dry_run_prints_plan_and_writes_nothing(tmp_path):
    spec = write_spec(tmp_path / "l.toml", ladder_dict())
    r = cli("ladder", "run", str(spec), "--dry-run", "--out", str(tmp_path / "lad"), "--json")
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    assert len(d["jobs"]) == 2 and d["estimated_s"] > 0 and d["compute"] > 0
    assert all({"N", "D", "C", "steps", "estimated_s"} <= set(j) for j in d["jobs"])
    # the estimates come from timed steps of each shape, not an assumed FLOPs/s
    assert d["flops_per_s_source"] == "timed" and set(d["tokens_per_s"]) == {
        j["run_id"] for j in d["jobs"]
    }
    assert all(v > 0 for v in d["tokens_per_s"].values())
    assert not (tmp_path / "lad").exists()


def test_estimate_uses_the_timed_rate_of_each_job(tmp_path):
    from scalelab.ladder.estimate import calibrate
    from scalelab.ladder.runner import load_plan

    plan = load_plan(write_spec(tmp_path / "l.toml", ladder_dict()), str(tmp_path / "lad"))
    assumed = [plan.estimate_s(j) for j in plan.jobs]
    calibrate(plan, steps=2, warmup=1)
    for j, before in zip(plan.jobs, assumed):
        tokens = j.compute / j.flops_per_token
        assert (
            plan.estimate_s(j) >= tokens / plan.tokens_per_s[j.run_id]
        )  # training plus evaluation
        assert plan.estimate_s(j) != before
    assert not (tmp_path / "lad").exists()


@pytest.mark.parametrize("name", ["ladder_tiny.toml", "ladder_shakespeare.toml"])
def test_example_specs_plan_cleanly(name, tmp_path):
    from scalelab.ladder.runner import load_plan

    plan = load_plan(Path(__file__).parents[1] / "examples" / name, str(tmp_path / "lad"))
    assert len(plan.jobs) >= 3 and not plan.warnings
    assert min(p.steps for p in plan.points) >= plan.spec.hparams.min_steps
