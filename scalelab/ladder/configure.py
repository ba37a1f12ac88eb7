"""The configurator: each ladder job's run config, as the trainer's own config object.

OLMo-core style: functions that return a :class:`~scalelab.train.config.RunConfig` (no dict of
strings, no second schema).

* :func:`base_config`: what every job of a ladder shares, the spec's run settings and its
  ``[model]``, ``[train]``, ``[eval]``, ``[checkpoint]`` sections as the run config's own section
  objects, plus the planned data; no shape, budget, batch or learning rate yet;
* :func:`job_config`: a copy of the base (``model_copy(update=...)``) with one job's run id, seed,
  shape, tokens, batch, learning rate and branches, validated as the trainer validates a config;
* :func:`retarget`: a job's config as another run (the learning-rate sweep);
* :func:`same_config`: whether a job config the registry holds is the plan's.
"""

from __future__ import annotations

import json

from scalelab.errors import InputError
from scalelab.ladder.jobs import DataPlan
from scalelab.ladder.spec import LadderSpec
from scalelab.schema import validate
from scalelab.train.config import (
    CheckpointSection,
    DataSection,
    EvalSection,
    ModelSection,
    RunConfig,
    RunSettings,
    TrainSection,
    config_from_dict,
)


def data_section(data: DataPlan) -> DataSection:
    """The run config's ``[data]`` for a planned data source."""
    if data.train == "synthetic":
        return DataSection(train="synthetic", synthetic_tokens=data.synthetic_tokens)
    return DataSection(train=data.train, eval=dict(data.eval), dtype=data.dtype)


def base_config(spec: LadderSpec, data: DataPlan) -> RunConfig:
    """The run config every job of ``spec`` starts from (unvalidated: it has no shape yet)."""
    settings = {name: getattr(spec, name) for name in RunSettings.model_fields}
    model = ModelSection.model_construct(
        **{**spec.model.model_dump(), "vocab_size": data.vocab_size}
    )
    return RunConfig.model_construct(
        **settings,
        model=model,
        data=data_section(data),
        train=TrainSection.model_validate(spec.train.model_dump()),
        eval=EvalSection.model_validate(spec.eval.model_dump(exclude={"sets"})),
        checkpoint=CheckpointSection.model_validate(spec.checkpoint.model_dump()),
    )


def job_config(
    base: RunConfig,
    *,
    run_id: str,
    seed: int,
    shape,
    tokens: int,
    batch_tokens: int,
    lr: float,
    branch_tokens: list[int],
    source: str = "<ladder spec>",
) -> RunConfig:
    """One job's run config: ``base`` with the job's shape (a ``GPTConfig``), budget, batch, lr
    and WSD branches; validated as the trainer validates a config."""
    cfg = base.model_copy(
        update={
            "run_id": run_id,
            "seed": seed,
            "model": base.model.model_copy(
                update={
                    "n_layer": shape.n_layer,
                    "d_model": shape.d_model,
                    "n_head": shape.n_head,
                    "d_ff": shape.ff,
                }
            ),
            "train": base.train.model_copy(
                update={
                    "tokens": tokens,
                    "batch_tokens": batch_tokens,
                    "lr": lr,
                    "branch_tokens": list(branch_tokens),
                }
            ),
        }
    )
    return validate(RunConfig, cfg.model_dump(), f"{source} (run {run_id})")


def retarget(cfg: RunConfig, *, run_id: str, source: str = "<ladder spec>", **train) -> RunConfig:
    """``cfg`` as another run: a new run id and ``[train]`` updates (e.g. lr, tokens)."""
    new = cfg.model_copy(update={"run_id": run_id, "train": cfg.train.model_copy(update=train)})
    return validate(RunConfig, new.model_dump(), f"{source} (run {run_id})")


def same_config(stored: str, config: dict) -> bool:
    """Whether a stored job config (JSON) is ``config``, compared as validated run configs: a
    registry written when job configs left defaults out still matches the same runs."""
    old = json.loads(stored)
    if old == config:
        return True
    try:
        return config_from_dict(old).model_dump(mode="json") == config_from_dict(config).model_dump(
            mode="json"
        )
    except InputError:
        return False
