"""A job holds its run config only: shape, batch and lr are read from it, and the planner's output
(every plan's ``to_dict()`` and every job's run config, the lr sweep's too) is what it was before
(tests/data/ladder_plans_recorded.json, recorded by tests/ladder_plan_cases.py)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from ladder_helpers import ladder_dict
from ladder_plan_cases import CASES, RECORDED, plan_case

from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.spec import Job, spec_from_dict

pytest.importorskip("torch")  # the planner checks every job with the engine's run planner


@pytest.mark.parametrize("case", sorted(CASES))
def test_plans_and_job_configs_equal_the_recorded_ones(case, tmp_path):
    recorded = json.loads(RECORDED.read_text())["cases"][case]
    now = plan_case(case, tmp_path)
    assert sorted(now["configs"]) == sorted(recorded["configs"])
    for run_id, cfg in recorded["configs"].items():
        assert now["configs"][run_id] == cfg, run_id
    assert now == recorded  # to_dict: ids, shapes, batches, lrs, steps, points, estimates, notes


def test_a_job_repeats_nothing_of_its_run_config():
    names = {f.name for f in fields(Job)}
    assert not names & {"run_id", "seed", "n_layer", "d_model", "n_head", "d_ff", "batch_tokens"}
    assert "lr" not in names and "run_config" in names
    job = plan_ladder(spec_from_dict(ladder_dict())).jobs[0]
    cfg = job.run_config
    assert (job.run_id, job.seed) == (cfg.run_id, cfg.seed)
    assert (job.n_layer, job.d_model, job.n_head, job.d_ff) == (
        cfg.model.n_layer,
        cfg.model.d_model,
        cfg.model.n_head,
        cfg.model.d_ff,
    )
    assert (job.batch_tokens, job.lr) == (cfg.train.batch_tokens, cfg.train.lr)
    assert job.D == job.steps * job.batch_tokens and job.C == 6.0 * job.N * job.D


def test_gpt_config_is_the_model_section_as_the_models_own_config():
    from scalelab.model.config import GPTConfig
    from scalelab.train.config import ModelSection

    m = ModelSection(
        vocab_size=100, n_ctx=24, n_layer=3, d_model=48, n_head=4, d_ff=96, mlp="swiglu"
    )
    assert m.gpt_config() == GPTConfig(
        vocab_size=100, n_ctx=24, n_layer=3, d_model=48, n_head=4, d_ff=96, mlp="swiglu"
    )
    target = ModelSection(n_params=2e4, positions="rotary", n_expert=4, top_k=1)
    base = target.gpt_config(vocab_size=64)  # no shape: GPTConfig's default, for the shape rule
    assert (base.vocab_size, base.positions, base.n_expert, base.top_k) == (64, "rotary", 4, 1)
    assert (base.n_layer, base.d_model, base.n_head) == (2, 64, 4)
    with pytest.raises(ValueError, match="divisible"):
        ModelSection.model_construct(n_layer=1, d_model=30, n_head=4).gpt_config()


def test_request_stop_checkpoints_and_stops_a_running_loop(tmp_path):
    """The trainer's public stop API (the ladder's worker calls it when its claim is lost)."""
    from train_helpers import TINY

    from scalelab.train.config import config_from_dict
    from scalelab.train.loop import train
    from scalelab.train.trainer import request_stop, stop_flag_installed

    assert not stop_flag_installed() and request_stop() is False  # no loop: nothing happens
    seen: list[bool] = []

    def on_step(step, total, loss, tps):
        seen.append(stop_flag_installed())
        if step == 3:
            assert request_stop() is True

    summary = train(config_from_dict(TINY), out_dir=tmp_path / "run", on_step=on_step)
    assert summary["status"] == "interrupted" and summary["step"] == 3
    assert all(seen) and len(seen) == 3 and not stop_flag_installed()
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
