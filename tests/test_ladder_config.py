"""One run schema: a ladder spec embeds the run config, and each job's run config is the trainer's.

The recorded plans (tests/data/ladder_configs_before.json) come from the planner before the spec
embedded the run config; today's specs must plan the same jobs with the same run configs.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ladder_helpers import ladder_dict

from scalelab import ladder
from scalelab.errors import InputError
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.registry import Registry
from scalelab.ladder.spec import LadderSpec, load_spec, spec_from_dict
from scalelab.pipelines.demo_ladder import DEMO_SPEC
from scalelab.train.config import (
    CheckpointSection,
    EvalSection,
    ModelSection,
    RunConfig,
    TrainSection,
    config_from_dict,
)

pytest.importorskip("torch")

RECORDED = Path(__file__).parent / "data" / "ladder_configs_before.json"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _with_grid(grid: dict, **sections) -> dict:
    raw = ladder_dict(**sections)
    raw["grid"] = grid
    return raw


def _without_tasks(spec: dict) -> dict:
    """The demo spec as recorded: before it evaluated downstream tasks (``[eval] tasks``)."""
    spec["eval"] = {k: v for k, v in spec["eval"].items() if k not in ("tasks", "task_examples")}
    return spec


# today's spec of each recorded case (the same runs, in the new shape)
CASES = {
    "tiny_helper": lambda: ladder_dict(),
    "tiny_cosine_seeds": lambda: ladder_dict(
        train={"schedule": "cosine"}, grid={**ladder_dict()["grid"], "seeds": [0, 1]}
    ),
    "sizes_rule": lambda: _with_grid(
        {"sizes": [2.5e4, 1e5, 4e5], "tokens_per_param": [5, 40]},
        model={"n_ctx": 32},
        hparams={"min_steps": 1000},
    ),
    "isoflop": lambda: _with_grid(
        {"isoflop": [3e12, 1e13], "isoflop_points": 3},
        model={"n_ctx": 32},
        train={"schedule": "cosine"},
        hparams={"min_steps": 100},
    ),
    "demo": lambda: _without_tasks(copy.deepcopy(DEMO_SPEC)),
    "ladder_tiny.toml": lambda: EXAMPLES / "ladder_tiny.toml",
    "ladder_shakespeare.toml": lambda: EXAMPLES / "ladder_shakespeare.toml",
}


def _scrub(obj, out: str):
    if isinstance(obj, dict):
        return {k: _scrub(v, out) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v, out) for v in obj]
    return obj.replace(out, "<out>") if isinstance(obj, str) else obj


def _flat(d: dict, prefix: str = "") -> dict:
    """{"train.lr": ..., "data.eval.val": ...}: every field of a config dump, by its path."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_job_run_configs_equal_the_recorded_ones_field_by_field(case, tmp_path):
    recorded = json.loads(RECORDED.read_text())["cases"][case]
    spec = CASES[case]()
    sp = load_spec(spec) if isinstance(spec, Path) else spec_from_dict(spec)
    out = tmp_path / "lad"
    plan = plan_ladder(sp.model_copy(update={"out_dir": str(out)}))
    out_s = str(out.resolve())
    d = plan.to_dict()
    jobs = [{k: v for k, v in j.items() if k != "estimated_s"} for j in d["jobs"]]
    assert _scrub(jobs, out_s) == recorded["jobs"]  # run ids, shapes, batches, lrs, steps, points
    assert d["notes"] == recorded["notes"] and d["warnings"] == recorded["warnings"]
    assert sorted(j.run_id for j in plan.jobs) == sorted(recorded["configs"])
    for job in plan.jobs:
        assert isinstance(job.run_config, RunConfig)
        before = _flat(config_from_dict(recorded["configs"][job.run_id]).model_dump(mode="json"))
        now = _flat(_scrub(job.run_config.model_dump(mode="json"), out_s))
        assert now.keys() == before.keys()
        for key in before:
            assert now[key] == before[key], (
                f"{case} {job.run_id} {key}: {before[key]!r} -> {now[key]!r}"
            )


def test_moe_and_optimiser_settings_reach_every_job():
    raw = ladder_dict(
        model={"n_expert": 4, "top_k": 2, "moe_aux_weight": 0.02},
        train={"beta1": 0.8, "eps": 1e-6, "warmup_tokens": 512, "micro_batch": 1},
    )
    plan = plan_ladder(spec_from_dict(raw))
    dense = plan_ladder(spec_from_dict(ladder_dict()))
    assert len(plan.jobs) == len(dense.jobs) == 2
    for job, d in zip(plan.jobs, dense.jobs, strict=True):
        m, t = job.run_config.model, job.run_config.train
        assert (m.n_expert, m.top_k, m.moe_aux_weight) == (4, 2, 0.02)
        assert (t.beta1, t.eps, t.warmup_tokens, t.micro_batch) == (0.8, 1e-6, 512, 1)
        assert job.config["model"]["n_expert"] == 4 and job.config["train"]["beta1"] == 0.8
        assert job.N_total > d.N_total  # 4 experts hold more parameters than one MLP
        assert job.n_layer == d.n_layer and job.d_model == d.d_model


def test_a_ladder_spec_has_the_run_configs_defaults():
    sp = spec_from_dict(
        {"data": {"preset": "markov"}, "grid": {"shapes": [], "sizes": [1e4], "tokens": [10**6]}}
    )
    run = RunConfig()
    for name in ("device", "precision", "compile", "threads"):
        assert getattr(sp, name) == getattr(run, name)
    assert sp.train.model_dump() == TrainSection().model_dump()
    assert sp.eval.model_dump(exclude={"sets"}) == EvalSection().model_dump()
    assert sp.checkpoint.model_dump() == CheckpointSection().model_dump()
    assert sp.model.model_dump() == ModelSection.model_construct().model_dump()
    assert isinstance(sp, LadderSpec) and not sp.eval.sets


@pytest.mark.parametrize(
    "raw, needle",
    [
        (ladder_dict(schedule={"kind": "cosine"}), "[schedule] kind: moved to [train] schedule"),
        (
            {**ladder_dict(), "checkpoint_every": 5},
            "checkpoint_every: moved to [checkpoint] every_steps",
        ),
        (ladder_dict(hparams={"beta2": 0.9}), "[hparams] beta2: moved to [train] beta2"),
        (ladder_dict(model={"n_layer": 2}), "[model]: n_layer: a ladder's shapes come from [grid]"),
        (
            ladder_dict(train={"lr": 1e-3}),
            "[train]: lr is set per job by the ladder; use [hparams] lr",
        ),
        (
            ladder_dict(
                train={"schedule": "cosine"}, grid={**ladder_dict()["grid"], "branches": True}
            ),
            "[grid] branches = true needs [train] schedule = 'wsd'",
        ),
        (ladder_dict(train={"beta": 0.9}), "unknown key 'beta' in [train]"),
    ],
)
def test_bad_specs_name_the_file_section_and_key(raw, needle):
    with pytest.raises(InputError) as exc:
        spec_from_dict(raw, "l.toml")
    lines = exc.value.problems
    assert len(lines) == 1 and lines[0].startswith("l.toml: ") and needle in lines[0], lines


def test_registry_of_older_job_configs_still_matches(tmp_path):
    """A ladder folder written when job configs left defaults out accepts the same runs."""
    recorded = json.loads(RECORDED.read_text())["cases"]["tiny_helper"]["configs"]
    plan = plan_ladder(spec_from_dict(ladder_dict()))
    with Registry(tmp_path / "ladder.db", create=True) as reg:
        reg.sync_plan(plan)
        for run_id, cfg in recorded.items():
            reg.conn.execute("UPDATE runs SET config=? WHERE run_id=?", (json.dumps(cfg), run_id))
        assert reg.sync_plan(plan) == {"added": 0, "existing": 2}
        changed = plan_ladder(spec_from_dict(ladder_dict(train={"schedule": "wsd", "beta1": 0.8})))
        with pytest.raises(InputError, match="different config"):
            reg.sync_plan(changed)


def test_run_api_trains_and_exports(tmp_path):
    spec = spec_from_dict(ladder_dict())
    lines: list[str] = []
    result = ladder.run(
        spec, out_dir=tmp_path / "lad", log=lines.append, export=tmp_path / "runs.csv"
    )
    assert result.counts["done"] == 2 and result.interrupted is None
    assert result.registry == tmp_path / "lad" / "ladder.db" and result.out_dir == tmp_path / "lad"
    assert result.rows and (tmp_path / "runs.csv").is_file()
    d = result.to_dict()
    assert {"registry", "counts", "flops_done", "flops_total", "interrupted"} <= set(d)
    assert d["flops_done"] == pytest.approx(d["flops_total"])
    assert any(line.startswith("ladder t: ") for line in lines)
    again = ladder.run(spec, out_dir=tmp_path / "lad")  # nothing left to do
    assert again.counts == result.counts and again.runs_table is None


def test_a_ladder_spec_loads_without_torch():
    code = (
        "import sys; from scalelab.ladder import load_spec; "
        f"load_spec({str(EXAMPLES / 'ladder_tiny.toml')!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
