"""The ladder spec: a grid of training runs in one TOML file, validated (what it becomes, the plan's
types: :mod:`scalelab.ladder.jobs`).

A ladder spec *is* a run config (:mod:`scalelab.train.config`, the one run schema) plus what only
a ladder has. Its top-level ``device``, ``precision``, ``compile`` and ``threads`` and its
``[model]``, ``[train]``, ``[eval]`` and ``[checkpoint]`` tables are the run config's own settings
and sections, with the same keys and the same defaults, applied to every job (MoE
``n_expert``/``top_k``, ``beta1``, ``eps``, ``warmup_tokens``, ``micro_batch``, ... all reach the
runs). What the ladder sets per job is left out of them: the shape (``[model]`` n_layer, d_model,
n_head, d_ff, n_params) comes from ``[grid]``; the budget, batch, learning rate and branches
(``[train]`` tokens, tokens_per_param, batch_tokens, lr, branch_tokens, branch_tokens_per_param)
from ``[grid]`` and ``[hparams]``. ``[grid] batch_tokens = [...]`` sweeps the batch size at every
size (:mod:`scalelab.ladder.batches`, for the critical batch size). ``[eval]`` adds ``sets`` (the
held-out sets each run evaluates).

Ladder-only: ``name``, ``out_dir`` (the ladder's folder), ``nproc_per_run``, ``flops_per_s``;
``[data]`` (what to train on: a prepared folder, a data spec or a preset, resolved into token files
for every job); ``[grid]`` (sizes, budgets, seeds, WSD branches); ``[hparams]`` (the per-size batch
and learning-rate rule). :mod:`scalelab.ladder.plan` turns a spec into concrete jobs, each job's
:class:`~scalelab.train.config.RunConfig` made by a configurator from the spec's base run config.

Example (``examples/ladder_tiny.toml``)::

    name = "tiny"
    out_dir = "out/ladder-tiny"
    threads = 1                # a run config's top-level setting (also device, precision, compile)

    [data]
    preset = "markov"          # or prepared = "data/dir", spec = "data.toml", preset = "builtin"
    [model]                    # the run config's [model], less the shape
    n_ctx = 16
    [train]                    # the run config's [train], less budget, batch and lr
    schedule = "wsd"           # one trunk per (size, seed); shorter budgets are cool-down branches
    [eval]                     # the run config's [eval], plus sets
    points = 4
    [checkpoint]               # the run config's [checkpoint]
    every_steps = 50
    [grid]
    sizes = [2e4, 5e4]         # target non-embedding N (the shape rule picks the shape)
    tokens_per_param = [10, 40]
    seeds = [0]
    [hparams]
    min_steps = 50

**Jobs and points.** With ``[train] schedule = "wsd"`` and ``[grid] branches = true`` (the default)
every (shape, seed) trains *one* trunk run to its largest budget; each smaller budget is a cool-down
branch of it (Hägele et al. 2024), recorded as its own run ``<trunk>-D<tokens>``. Otherwise each
(N, D, seed) point is its own job.

**The hyper-parameter rule** (per size, the same for every budget of that size so branches share
their trunk). Batch size in tokens: the DeepSeek power law of N at 20 tokens/parameter
(:func:`scalelab.train.hparams.batch_rule`, ``∝ N^0.654``: small models, small batches, as Kaplan's
critical batch size says), capped so that the *smallest* budget of that size still takes at least
``hparams.min_steps`` optimiser steps (default 1000) and rounded down to whole ``n_ctx`` sequences.
If even one sequence per step cannot give ``min_steps`` steps, the grid is rejected. Peak learning
rate: ``lr_scale ×`` the DeepSeek rule at 20 tokens/parameter
(:func:`scalelab.train.hparams.lr_rule`, ``∝ N^-0.25``), or one fixed ``lr``; check it with
``scalelab ladder sweep-lr`` on the smallest sizes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator

from scalelab import tomlfile
from scalelab.data.spec import MAX_SYNTHETIC_DOCS
from scalelab.errors import InputError
from scalelab.ladder.jobs import (  # noqa: F401 - the plan's types, importable from here as before
    DEFAULT_FLOPS_PER_S,
    DataPlan,
    Job,
    LadderPlan,
    Point,
)
from scalelab.ladder.variants import Variant
from scalelab.ladder.variants import check as check_variants
from scalelab.schema import Schema, Seed, validate
from scalelab.train.config import (
    MAX_SYNTHETIC_TOKENS,
    CheckpointSection,
    EvalSection,
    ModelSection,
    RunSettings,
    TrainSection,
)

SHAPE_KEYS = ("n_layer", "d_model", "n_head", "d_ff", "n_params")
"""``[model]`` keys a ladder sets per job from its ``[grid]``."""

PER_JOB_TRAIN_KEYS = {
    "tokens": "[grid] tokens, tokens_per_param or isoflop",
    "tokens_per_param": "[grid] tokens, tokens_per_param or isoflop",
    "batch_tokens": "[hparams] batch_tokens (or leave it to the rule)",
    "lr": "[hparams] lr or lr_scale",
    "branch_tokens": "[grid] budgets with [grid] branches = true",
    "branch_tokens_per_param": "[grid] budgets with [grid] branches = true",
}
"""``[train]`` keys a ladder sets per job, and where a ladder spec sets them instead."""

MOVED_KEYS = {
    ("", "checkpoint_every"): "[checkpoint] every_steps",
    ("schedule", "kind"): "[train] schedule",
    ("schedule", "branches"): "[grid] branches",
    **{
        ("schedule", k): f"[train] {k}"
        for k in ("warmup_frac", "cooldown_frac", "cooldown_shape", "min_lr_ratio")
    },
    **{
        ("hparams", k): f"[train] {k}"
        for k in ("micro_batch", "weight_decay", "grad_clip", "beta2", "divergence_factor")
    },
}
"""Keys of the ladder spec before it embedded the run config, and where they live now."""


class ShapeSpec(Schema):
    n_layer: int = Field(ge=1)
    d_model: int = Field(ge=1)
    n_head: int = Field(ge=1)
    d_ff: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _heads(self):
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})"
            )
        return self


class LadderModel(ModelSection):
    """``[model]``: the run config's model section; the shape of each job comes from ``[grid]``.
    ``vocab_size`` defaults to the data's vocabulary (the run config's 256 for ``markov``);
    ``aspect`` is the shape rule's target d_model / n_layer for ``[grid] sizes``."""

    @model_validator(mode="after")
    def _shape(self):  # replaces the run config's check: no shape here, the grid gives it
        given = [k for k in SHAPE_KEYS if k in self.model_fields_set]
        if given:
            raise ValueError(
                f"{given[0]}: a ladder's shapes come from [grid] (sizes or shapes); leave it out"
            )
        return self


class LadderTrain(TrainSection):
    """``[train]``: the run config's train section, less what the ladder sets per job."""

    @model_validator(mode="after")
    def _per_job(self):
        for key, where in PER_JOB_TRAIN_KEYS.items():
            if key in self.model_fields_set:
                raise ValueError(f"{key} is set per job by the ladder; use {where}")
        return self


class LadderEval(EvalSection):
    """``[eval]``: the run config's eval section, plus which held-out sets to evaluate."""

    sets: list[str] = Field(
        default_factory=list, description="eval sets; default: val and every OOD set"
    )


class ShapeFamilySpec(Schema):
    """``[grid.shape_family]``: at each fixed N, one shape per depth (the shape experiment)."""

    sizes: list[float] = Field(min_length=1, max_length=3, description="fixed non-embedding N")
    n_layers: list[int] = Field(
        default_factory=lambda: [2, 4, 6, 8, 12, 16], min_length=2, max_length=8
    )


class GridSpec(Schema):
    shape_family: Optional[ShapeFamilySpec] = None
    sizes: list[float] = Field(default_factory=list, description="target non-embedding N")
    shapes: list[ShapeSpec] = Field(default_factory=list)
    tokens: list[int] = Field(default_factory=list, description="token budgets D")
    tokens_per_param: list[float] = Field(default_factory=list, description="budgets D = r·N")
    isoflop: list[float] = Field(default_factory=list, description="compute budgets C = 6·N·D")
    isoflop_points: int = Field(
        5, ge=2, description="sizes per IsoFLOP budget (when no sizes are given)"
    )
    isoflop_spread: float = Field(4.0, gt=1, description="N within [N_opt/spread, N_opt·spread]")
    isoflop_tokens_per_param: float = Field(20.0, gt=0, description="the expected optimum D/N")
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    batch_tokens: list[int] = Field(
        default_factory=list, description="a batch sweep: every size at each batch (tokens)"
    )
    branches: bool = Field(
        True,
        description="[train] schedule = 'wsd': one trunk per size, cool-down branches for the "
        "smaller budgets",
    )

    @model_validator(mode="after")
    def _check(self):
        budgets = [n for n in ("tokens", "tokens_per_param", "isoflop") if getattr(self, n)]
        if not budgets:
            raise ValueError("give token budgets: tokens, tokens_per_param or isoflop")
        if len(budgets) > 1:
            raise ValueError(f"give one kind of budget, not {' and '.join(budgets)}")
        if not self.isoflop and not (self.sizes or self.shapes or self.shape_family):
            raise ValueError("give model sizes (sizes = [...] target N, or [[grid.shapes]])")
        for name in ("sizes", "tokens", "tokens_per_param", "isoflop"):
            values = getattr(self, name)
            if any(not (v > 0) or not math.isfinite(v) for v in values):
                raise ValueError(f"{name} must be positive and finite")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} has repeated values")
        if any(b < 1 for b in self.batch_tokens) or len(set(self.batch_tokens)) == 1:
            raise ValueError("batch_tokens: a sweep of 2 or more positive batch sizes (tokens)")
        if len(set(self.batch_tokens)) != len(self.batch_tokens):
            raise ValueError("batch_tokens has repeated values")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds has repeated values")
        return self


class HParamSpec(Schema):
    """The per-size rule for what varies with N: batch size and peak learning rate."""

    min_steps: int = Field(
        1000, ge=1, description="every run takes at least this many optimiser steps"
    )
    batch_tokens: Optional[int] = Field(
        None, ge=1, description="one fixed batch for every size (else the rule)"
    )
    max_batch_tokens: Optional[int] = Field(None, ge=1)
    lr: Optional[float] = Field(
        None, gt=0, description="one fixed peak lr for every size (else the rule)"
    )
    lr_scale: float = Field(1.0, gt=0, description="multiplies the lr rule")
    lr_batch_scaling: Literal["none", "sqrt", "linear"] = Field(
        "none", description="[grid] batch_tokens: lr × (B/B_rule)^(0, 1/2, 1)"
    )
    batch_rule: Literal["deepseek", "bcrit"] = Field(
        "deepseek", description="bcrit: batch = bcrit_fraction × B_crit(expected loss)"
    )
    bcrit: str = Field("kaplan-2020", description="B_crit: kaplan-2020, 'B*,alpha_B' or a fit")
    bcrit_law: Optional[str] = Field(None, description="law file or name: each rung's loss")
    bcrit_fraction: float = Field(1.0, gt=0, description="batch = this × B_crit")


class DataRef(Schema):
    """Exactly one of: ``prepared`` (a folder made by ``scalelab data prepare``), ``spec`` (a
    ``scalelab data`` spec file, prepared into ``<out_dir>/data`` and reused while unchanged), or
    ``preset``: ``builtin`` (Shakespeare + Bible, Wikipedia as the OOD set), ``synthetic`` (the
    synthetic document language, seconds to prepare) or ``markov`` (the engine's in-memory Markov
    token source; no preparation, for tests)."""

    prepared: Optional[str] = None
    spec: Optional[str] = None
    preset: Optional[Literal["builtin", "synthetic", "markov"]] = None
    tokenizer: Literal["bpe", "bytes"] = "bpe"
    vocab_size: int = Field(
        2048, ge=257, le=1 << 20, description="presets builtin/synthetic with the bpe tokenizer"
    )
    max_docs: Optional[int] = Field(
        None, ge=1, description="preset builtin: first documents of each source"
    )
    synthetic_docs: int = Field(2000, ge=1, le=MAX_SYNTHETIC_DOCS)
    markov_tokens: int = Field(1_000_000, ge=1000, le=MAX_SYNTHETIC_TOKENS)

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("prepared", "spec", "preset") if getattr(self, k) is not None]
        if len(given) != 1:
            got = f" (got {', '.join(given)})" if given else ""
            raise ValueError("give exactly one of prepared, spec, preset" + got)
        return self


class LadderSpec(RunSettings):
    """A ladder: the run config's top-level settings (inherited) and sections, the data, the grid
    and the hyper-parameter rule."""

    name: str = Field("ladder", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    out_dir: str = Field("out/ladder", description="relative to the working directory")
    nproc_per_run: int = Field(
        1,
        ge=1,
        le=1024,
        description="processes per run: above 1, each run is started through torchrun, "
        "data-parallel (DDP: gloo on CPU, nccl with one GPU each)",
    )
    flops_per_s: Optional[float] = Field(
        None, gt=0, description="training throughput for estimates (full FLOPs/s)"
    )
    data: DataRef
    model: LadderModel = Field(default_factory=LadderModel)
    train: LadderTrain = Field(default_factory=LadderTrain)
    eval: LadderEval = Field(default_factory=LadderEval)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    grid: GridSpec
    hparams: HParamSpec = Field(default_factory=HParamSpec)
    variants: list[Variant] = Field(
        default_factory=list, description="recipes: each trains the grid with its overrides"
    )
    base_dir: str = Field(".", exclude=True)

    @model_validator(mode="after")
    def _check(self):
        if (
            self.train.schedule != "wsd"
            and self.grid.branches
            and ("branches" in self.grid.model_fields_set)
        ):
            raise ValueError("[grid] branches = true needs [train] schedule = 'wsd'")
        if self.grid.batch_tokens and self.hparams.batch_tokens is not None:
            raise ValueError(
                "give [grid] batch_tokens (a sweep) or [hparams] batch_tokens, not both"
            )
        h = self.hparams
        if h.batch_rule == "bcrit" and (
            h.bcrit_law is None or h.batch_tokens or self.grid.batch_tokens or self.grid.isoflop
        ):
            raise ValueError(
                "[hparams] batch_rule = 'bcrit' needs bcrit_law (each rung's expected loss) and "
                "no fixed or swept batch_tokens nor isoflop budgets"
            )
        if self.grid.batch_tokens and self.variants:
            raise ValueError("[grid] batch_tokens with [[variants]] is not supported: sweep apart")
        return self

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def _moved(raw: dict, source: str) -> list[str]:
    """One line per key of the old ladder spec shape, naming where it lives now."""
    lines = []
    for (section, key), new in MOVED_KEYS.items():
        table = raw.get(section) if section else raw
        if isinstance(table, dict) and key in table:
            where = f"[{section}] {key}" if section else key
            lines.append(f"{source}: {where}: moved to {new} (the run config's own section)")
    return lines


def spec_from_dict(
    raw: dict, source: str = "<ladder spec>", base_dir: str | Path = "."
) -> LadderSpec:
    """Validate a ladder spec dict (as read from TOML); every problem is one InputError line."""
    if isinstance(raw, dict):
        if "base_dir" in raw:
            raise InputError(f"{source}: unknown key 'base_dir' in the top level")
        moved = _moved(raw, source)
        if moved:
            raise InputError(moved)
        raw = {**raw, "base_dir": str(base_dir)}
    spec = validate(LadderSpec, raw, source)
    check_variants(spec, source, {"model": SHAPE_KEYS, "train": PER_JOB_TRAIN_KEYS})
    return spec


def load_spec(path: str | Path) -> LadderSpec:
    """Read and validate a ladder spec (relative data paths resolve against its folder)."""
    path = Path(path)
    return spec_from_dict(tomlfile.read(path, "ladder spec"), str(path), path.resolve().parent)
