"""The ladder spec: a grid of training runs in one TOML file, validated, then planned into jobs.

A spec names model sizes (target non-embedding N, or explicit shapes), token budgets (absolute,
per parameter, or IsoFLOP compute budgets with N spread around the expected optimum), seeds, the
schedule, the data, the eval sets and the output folder. :func:`plan_ladder` turns it into
concrete jobs (one training run each, on ``nproc_per_run`` processes) before anything trains, so an impossible or
contradictory grid is an :class:`~scalelab.errors.InputError` (exit 2) and ``--dry-run`` can show
every run with its N, D, C, steps and estimated wall time.

Example (``examples/ladder_tiny.toml``)::

    name = "tiny"
    out_dir = "out/ladder-tiny"

    [data]
    preset = "markov"          # or prepared = "data/dir", or spec = "data.toml", or preset = "builtin"

    [model]
    n_ctx = 32

    [grid]
    sizes = [2e4, 5e4]         # target non-embedding N (the shape rule picks the shape)
    tokens_per_param = [10, 40]
    seeds = [0]

    [schedule]
    kind = "wsd"               # one trunk per (size, seed); shorter budgets are cool-down branches

**Jobs and points.** With ``schedule.kind = "wsd"`` and ``branches = true`` every (shape, seed)
trains *one* trunk run to its largest budget; each smaller budget is a cool-down branch of it
(Hägele et al. 2024), recorded as its own run ``<trunk>-D<tokens>``. Otherwise each (N, D, seed)
point is its own job.

**The hyper-parameter rule** (per size, the same for every budget of that size so branches share
their trunk). Batch size in tokens: the DeepSeek power law of N at 20 tokens/parameter
(:func:`scalelab.train.hparams.batch_rule`, ``∝ N^0.654``: small models, small batches, as Kaplan's
critical batch size says), capped so that the *smallest* budget of that size still takes at least
``hparams.min_steps`` optimiser steps (default 1000) and rounded down to whole ``n_ctx`` sequences.
If even one sequence per step cannot give ``min_steps`` steps, the grid is rejected. Peak learning
rate: ``lr_scale ×`` the DeepSeek rule at 20 tokens/parameter (:func:`scalelab.train.hparams.lr_rule`,
``∝ N^-0.25``), or one fixed ``lr``; check it with ``scalelab ladder sweep-lr`` on the smallest sizes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator

from scalelab import tomlfile
from scalelab.errors import InputError
from scalelab.schema import Schema, validate

DEFAULT_FLOPS_PER_S = 2.0e9
"""Assumed training throughput (full FLOPs per second) when the spec gives none: a 2-core CPU."""


class ShapeSpec(Schema):
    n_layer: int = Field(ge=1)
    d_model: int = Field(ge=1)
    n_head: int = Field(ge=1)
    d_ff: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _heads(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        return self


class ModelSpec(Schema):
    n_ctx: int = Field(64, ge=4)
    vocab_size: Optional[int] = Field(None, ge=2, description="default: the data's vocabulary (256 for markov)")
    mlp: Literal["gelu", "swiglu"] = "gelu"
    positions: Literal["learned", "rotary"] = "learned"
    tie_embeddings: bool = True
    aspect: float = Field(64.0, gt=0, description="target d_model / n_layer of the shape rule")


class GridSpec(Schema):
    sizes: list[float] = Field(default_factory=list, description="target non-embedding N")
    shapes: list[ShapeSpec] = Field(default_factory=list)
    tokens: list[int] = Field(default_factory=list, description="token budgets D")
    tokens_per_param: list[float] = Field(default_factory=list, description="budgets D = r·N")
    isoflop: list[float] = Field(default_factory=list, description="compute budgets C = 6·N·D")
    isoflop_points: int = Field(5, ge=2, description="sizes per IsoFLOP budget (when no sizes are given)")
    isoflop_spread: float = Field(4.0, gt=1, description="N within [N_opt/spread, N_opt·spread]")
    isoflop_tokens_per_param: float = Field(20.0, gt=0, description="the expected optimum D/N")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @model_validator(mode="after")
    def _check(self):
        budgets = [name for name in ("tokens", "tokens_per_param", "isoflop") if getattr(self, name)]
        if not budgets:
            raise ValueError("give token budgets: tokens, tokens_per_param or isoflop")
        if len(budgets) > 1:
            raise ValueError(f"give one kind of budget, not {' and '.join(budgets)}")
        if not self.isoflop and not (self.sizes or self.shapes):
            raise ValueError("give model sizes (sizes = [...] target N, or [[grid.shapes]])")
        for name in ("sizes", "tokens", "tokens_per_param", "isoflop"):
            values = getattr(self, name)
            if any(not (v > 0) or not math.isfinite(v) for v in values):
                raise ValueError(f"{name} must be positive and finite")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} has repeated values")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds has repeated values")
        return self


class ScheduleSpec(Schema):
    kind: Literal["wsd", "cosine", "constant"] = "wsd"
    branches: bool = Field(True, description="wsd: one trunk per size, cool-down branches for smaller budgets")
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    cooldown_frac: float = Field(0.2, gt=0, le=1)
    cooldown_shape: Literal["linear", "1-sqrt", "cosine"] = "1-sqrt"
    min_lr_ratio: float = Field(0.1, ge=0, le=1)


class HParamSpec(Schema):
    min_steps: int = Field(1000, ge=1, description="every run takes at least this many optimiser steps")
    batch_tokens: Optional[int] = Field(None, ge=1, description="one fixed batch for every size (else the rule)")
    max_batch_tokens: Optional[int] = Field(None, ge=1)
    lr: Optional[float] = Field(None, gt=0, description="one fixed peak lr for every size (else the rule)")
    lr_scale: float = Field(1.0, gt=0, description="multiplies the lr rule")
    micro_batch: Optional[int] = Field(None, ge=1)
    weight_decay: float = Field(0.1, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    beta2: float = Field(0.95, ge=0, lt=1)
    divergence_factor: float = Field(3.0, gt=1)


class EvalSpec(Schema):
    points: int = Field(8, ge=1, description="evaluations per run, log-spaced (the last step always)")
    tokens: int = Field(16384, ge=1, description="held-out tokens per eval set")
    batch: int = Field(16, ge=1)
    sets: list[str] = Field(default_factory=list, description="eval sets; default: val and every OOD set")


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
    vocab_size: int = Field(2048, ge=257, description="presets builtin/synthetic with the bpe tokenizer")
    max_docs: Optional[int] = Field(None, ge=1, description="preset builtin: first documents of each source")
    synthetic_docs: int = Field(2000, ge=1)
    markov_tokens: int = Field(1_000_000, ge=1000)

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("prepared", "spec", "preset") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of prepared, spec, preset" + (f" (got {', '.join(given)})" if given else ""))
        return self


class LadderSpec(Schema):
    name: str = Field("ladder", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    out_dir: str = Field("out/ladder", description="relative to the working directory")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    compile: bool = False
    threads: int = Field(1, ge=0, description="torch threads per run (0: torch's default); 1 is fastest for tiny "
                         "models on a shared CPU: N = 25k trained at 33k tok/s with 1 thread, 1k tok/s with 2, "
                         "on the loaded 2-vCPU machine")
    nproc_per_run: int = Field(1, ge=1, description="processes per run: above 1, each run is started through "
                               "torchrun, data-parallel (DDP: gloo on CPU, nccl with one GPU each)")
    flops_per_s: Optional[float] = Field(None, gt=0, description="training throughput for estimates (full FLOPs/s)")
    checkpoint_every: int = Field(200, ge=1, description="steps between checkpoints")
    data: DataRef
    model: ModelSpec = Field(default_factory=ModelSpec)
    grid: GridSpec
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    hparams: HParamSpec = Field(default_factory=HParamSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    base_dir: str = Field(".", exclude=True)

    @model_validator(mode="after")
    def _check(self):
        if self.schedule.kind != "wsd" and self.schedule.branches and "branches" in self.schedule.model_fields_set:
            raise ValueError("schedule.branches = true needs schedule.kind = 'wsd'")
        return self

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def spec_from_dict(raw: dict, source: str = "<ladder spec>", base_dir: str | Path = ".") -> LadderSpec:
    if "base_dir" in raw:
        raise InputError(f"{source}: unknown key 'base_dir' in the top level")
    return validate(LadderSpec, {**raw, "base_dir": str(base_dir)}, source)


def load_spec(path: str | Path) -> LadderSpec:
    """Read and validate a ladder spec (relative data paths resolve against its folder)."""
    path = Path(path)
    return spec_from_dict(tomlfile.read(path, "ladder spec"), str(path), path.resolve().parent)


# ------------------------------------------------------------------------------------------------
# planning
# ------------------------------------------------------------------------------------------------

@dataclass
class DataPlan:
    """Where the runs read their tokens: engine ``[data]`` fields, plus what to prepare first."""

    train: str                      # token file, or "synthetic"
    eval: dict[str, str]            # {eval set: token file}
    dtype: str
    vocab_size: int
    prepare_dir: Optional[str] = None   # a scalelab data folder to (re)build before training
    prepare_spec: Optional[dict] = None
    synthetic_tokens: int = 1_000_000
    train_tokens: Optional[int] = None  # unique training tokens, when known


@dataclass
class Point:
    run_id: str
    N: int
    D: int
    C: float
    steps: int
    seed: int
    job: str


@dataclass
class Job:
    run_id: str
    seed: int
    N: int                 # active non-embedding parameters
    N_total: int
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    batch_tokens: int
    lr: float
    steps: int
    D: int
    flops_per_token: float          # full training FLOPs per token (throughput convention)
    compute: float                  # full FLOPs this job spends (trunk + branch cool-downs)
    points: list[Point]
    config: dict                    # engine RunConfig fields (out_dir set at run time)

    @property
    def C(self) -> float:
        return 6.0 * self.N * self.D


@dataclass
class LadderPlan:
    spec: LadderSpec
    data: DataPlan
    jobs: list[Job]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flops_per_s: float = DEFAULT_FLOPS_PER_S
    flops_per_s_source: str = "assumed"
    tokens_per_s: dict[str, float] = field(default_factory=dict)  # per job, timed (ladder.estimate)

    @property
    def points(self) -> list[Point]:
        return [p for j in self.jobs for p in j.points]

    @property
    def compute(self) -> float:
        return sum(j.compute for j in self.jobs)

    def estimate_s(self, job: Job) -> float:
        """Estimated wall time: timed tokens/s of the job's shape if known, else FLOPs / flops_per_s."""
        tps = self.tokens_per_s.get(job.run_id)
        if not tps:
            return job.compute / self.flops_per_s
        trained = job.compute / job.flops_per_token          # trunk + cool-down tokens
        evals = (self.spec.eval.points + len(job.points) - 1) * self.spec.eval.tokens * max(1, len(self.data.eval))
        return (trained + evals / 3.0) / tps                 # a forward pass is about 1/3 of a training step

    @property
    def out_dir(self) -> Path:
        return Path(self.spec.out_dir).expanduser()

    def spec_hash(self) -> str:
        return hashlib.sha256(json.dumps([j.config for j in self.jobs], sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"name": self.spec.name, "out_dir": str(self.out_dir), "flops_per_s": self.flops_per_s,
                "flops_per_s_source": self.flops_per_s_source, "compute": self.compute,
                "estimated_s": sum(self.estimate_s(j) for j in self.jobs), "notes": self.notes,
                "tokens_per_s": dict(self.tokens_per_s),
                "warnings": self.warnings,
                "jobs": [{**{k: v for k, v in asdict(j).items() if k not in ("config", "points")},
                          "C": j.C, "estimated_s": self.estimate_s(j), "points": [asdict(p) for p in j.points]}
                         for j in self.jobs]}


def _data_plan(spec: LadderSpec, source: str) -> DataPlan:
    from scalelab.data.tokenize import token_dtype

    d = spec.data
    out = Path(spec.out_dir).expanduser().resolve()
    if d.preset == "markov":
        vocab = spec.model.vocab_size or 256
        return DataPlan(train="synthetic", eval={}, dtype="uint16", vocab_size=vocab,
                        synthetic_tokens=d.markov_tokens, train_tokens=d.markov_tokens)
    if d.prepared is not None:
        folder = spec.resolve(d.prepared).resolve()
        if not (folder / "manifest.json").is_file():
            raise InputError(f"{source}: [data] prepared: {folder} is not a prepared data folder (no manifest.json); "
                             "make one with `scalelab data prepare`")
        from scalelab.data.loader import TokenData

        td = TokenData.open(folder)
        return _from_manifest(spec, source, folder, td.vocab_size, str(td.dtype),
                              {s: v["role"] for s, v in td.manifest["splits"].items()},
                              td.manifest["splits"]["train"]["tokens"])
    # a data spec to prepare into <out>/data
    from scalelab.data import spec as dspec

    if d.spec is not None:
        path = spec.resolve(d.spec)
        ds = dspec.load_spec(path)
    elif d.preset == "builtin":
        ds = dspec.builtin_spec(vocab_size=d.vocab_size, tokenizer=d.tokenizer, max_docs=d.max_docs)
    else:
        ds = dspec.synthetic_spec(n_docs=d.synthetic_docs, vocab_size=d.vocab_size, tokenizer=d.tokenizer)
    if ds.tokenizer.kind == "file":
        raise InputError(f"{source}: [data] spec: tokenizer kind 'file' is not supported by the ladder yet; "
                         "prepare the data first and give [data] prepared")
    vocab = 256 if ds.tokenizer.kind == "bytes" else ds.tokenizer.vocab_size
    folder = out / "data"
    roles = {"train": "train", "validation": "heldout", "test": "heldout",
             **{s.name: "ood" for s in ds.sources if s.role == "eval"}}
    if (folder / "manifest.json").is_file():
        try:
            from scalelab.data.loader import TokenData

            td = TokenData.open(folder)
            train_tokens = td.manifest["splits"]["train"]["tokens"]
        except (InputError, KeyError, ValueError):
            train_tokens = None
    else:
        train_tokens = None
    plan = _from_manifest(spec, source, folder, vocab, str(token_dtype(vocab)), roles, train_tokens)
    plan.prepare_dir = str(folder)
    plan.prepare_spec = ds.model_dump(mode="json")
    return plan


def _from_manifest(spec: LadderSpec, source: str, folder: Path, vocab: int, dtype: str, roles: dict[str, str],
                   train_tokens: Optional[int]) -> DataPlan:
    if spec.model.vocab_size is not None and spec.model.vocab_size != vocab:
        raise InputError(f"{source}: [model] vocab_size = {spec.model.vocab_size} contradicts the data's vocabulary "
                         f"({vocab}); leave it out")
    available = {("val" if s == "validation" else s): s for s, role in roles.items() if role != "train"}
    wanted = spec.eval.sets or [n for n, s in available.items() if roles[s] in ("ood",) or n == "val"]
    missing = [w for w in wanted if w not in available]
    if missing:
        raise InputError(f"{source}: [eval] sets: no eval set {missing[0]!r} in the data "
                         f"(available: {', '.join(sorted(available))})")
    if not wanted:
        raise InputError(f"{source}: [eval] sets: the data has no held-out split")
    return DataPlan(train=str(folder / "train.bin"), eval={w: str(folder / f"{available[w]}.bin") for w in wanted},
                    dtype=dtype, vocab_size=vocab, train_tokens=train_tokens)


def _fmt_n(n: float) -> str:
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suf}"
    return f"{n:.3g}"


def plan_ladder(spec: LadderSpec, source: str = "<ladder spec>", flops_per_s: float | None = None) -> LadderPlan:
    """Every job of the ladder, with its shape, batch, lr, steps and points; InputError if impossible."""
    from scalelab.model.counting import count_params, full_training_flops_per_token
    from scalelab.model.gpt import GPTConfig
    from scalelab.model.shapes import shape_for
    from scalelab.train import hparams

    data = _data_plan(spec, source)
    m, g, h, sch = spec.model, spec.grid, spec.hparams, spec.schedule
    base = GPTConfig(vocab_size=data.vocab_size, n_ctx=m.n_ctx, mlp=m.mlp, positions=m.positions,
                     tie_embeddings=m.tie_embeddings)
    problems: list[str] = []
    notes: list[str] = []
    warnings: list[str] = []

    def shape_of(n_target: float):
        try:
            return shape_for(n_target, base, aspect=m.aspect)
        except ValueError as exc:
            problems.append(f"{source}: [grid] sizes: N = {n_target:.4g}: {exc}")
            return None

    # 1. (shape, D) points
    shapes: list[GPTConfig] = []
    for n_target in g.sizes:
        s = shape_of(n_target)
        if s is not None:
            shapes.append(s)
    for sh in g.shapes:
        try:
            shapes.append(replace(base, n_layer=sh.n_layer, d_model=sh.d_model, n_head=sh.n_head, d_ff=sh.d_ff))
        except (ValueError, TypeError) as exc:
            problems.append(f"{source}: [grid] shapes: {exc}")
    seen: dict[tuple, int] = {}
    for i, s in enumerate(shapes):
        key = (s.n_layer, s.d_model, s.n_head, s.ff)
        if key in seen:
            problems.append(f"{source}: [grid] sizes {seen[key] + 1} and {i + 1} give the same shape "
                            f"(n_layer={s.n_layer}, d_model={s.d_model}); drop one")
        seen[key] = i
    if problems:
        raise InputError(problems)

    wanted: dict[tuple, set[int]] = {}   # shape key -> budgets D (target tokens)
    shape_by_key: dict[tuple, GPTConfig] = {}

    def add(s: GPTConfig, d: float):
        key = (s.n_layer, s.d_model, s.n_head, s.ff)
        shape_by_key[key] = s
        wanted.setdefault(key, set()).add(int(round(d)))

    if g.isoflop:
        for c in sorted(g.isoflop):
            n_opt = math.sqrt(c / (6.0 * g.isoflop_tokens_per_param))
            lo, hi = n_opt / g.isoflop_spread, n_opt * g.isoflop_spread
            if shapes:
                chosen = [s for s in shapes if lo <= count_params(s).active_non_embedding <= hi]
                if len(chosen) < 3:
                    problems.append(f"{source}: [grid] isoflop C = {c:.3g}: only {len(chosen)} of the sizes lie within "
                                    f"[{lo:.3g}, {hi:.3g}] around the expected optimum N = {n_opt:.3g}; an IsoFLOP "
                                    "profile needs at least 3 (add sizes or widen isoflop_spread)")
                    continue
            else:
                k = g.isoflop_points
                chosen = []
                for i in range(k):
                    s = shape_of(lo * (hi / lo) ** (i / (k - 1)))
                    if s is not None:
                        chosen.append(s)
            n_vals = [count_params(s).active_non_embedding for s in chosen]
            if n_vals and not (min(n_vals) < n_opt < max(n_vals)):
                warnings.append(f"isoflop C = {c:.3g}: the sizes do not bracket the expected optimum N = {n_opt:.3g}")
            for s in chosen:
                add(s, c / (6.0 * count_params(s).active_non_embedding))
    else:
        for s in shapes:
            n = count_params(s).active_non_embedding
            for d in (g.tokens or [r * n for r in g.tokens_per_param]):
                add(s, d)
    if problems:
        raise InputError(problems)

    # 2. jobs: one per (shape, seed) with WSD branches, else one per (shape, D, seed)
    branching = sch.kind == "wsd" and sch.branches
    jobs: list[Job] = []
    for key in sorted(wanted, key=lambda k: count_params(shape_by_key[k]).active_non_embedding):
        s = shape_by_key[key]
        counts = count_params(s)
        n = counts.active_non_embedding
        budgets = sorted(wanted[key])
        d_min = budgets[0]
        cap = (d_min // h.min_steps) // m.n_ctx * m.n_ctx
        if h.batch_tokens is not None:
            if h.batch_tokens % m.n_ctx:
                raise InputError(f"{source}: [hparams] batch_tokens = {h.batch_tokens} is not a multiple of "
                                 f"[model] n_ctx = {m.n_ctx}")
            batch = h.batch_tokens
            if d_min // batch < h.min_steps:
                problems.append(f"{source}: N = {n}: the smallest budget D = {d_min:,} gives {d_min // batch} steps of "
                                f"batch_tokens = {batch}, fewer than [hparams] min_steps = {h.min_steps}")
                continue
        else:
            if cap < m.n_ctx:
                problems.append(f"{source}: N = {n}: the smallest budget D = {d_min:,} tokens cannot give "
                                f"[hparams] min_steps = {h.min_steps} steps even with one {m.n_ctx}-token sequence "
                                f"per step (needs D >= {h.min_steps * m.n_ctx:,}); raise the budget or lower "
                                "min_steps or n_ctx")
                continue
            batch = hparams.batch_rule(n, None, m.n_ctx)
            if h.max_batch_tokens:
                batch = min(batch, max(m.n_ctx, h.max_batch_tokens // m.n_ctx * m.n_ctx))
            if batch > cap:
                batch = cap
        lr = h.lr if h.lr is not None else h.lr_scale * hparams.lr_rule(n)
        fpt = full_training_flops_per_token(s)
        groups = [budgets] if branching else [[d] for d in budgets]
        for seed in g.seeds:
            for group in groups:
                d_main = group[-1]
                steps = max(1, round(d_main / batch))
                tag = f"N{_fmt_n(n)}" if len({k for k in wanted if count_params(shape_by_key[k]).active_non_embedding == n}) == 1 \
                    else f"N{_fmt_n(n)}-L{s.n_layer}"
                run_id = f"{tag}-s{seed}" if branching else f"{tag}-D{_fmt_n(steps * batch)}-s{seed}"
                branch_tokens = [d for d in group[:-1]]
                points = []
                compute = steps * batch * fpt
                for d in branch_tokens:
                    b_steps = max(1, round(d / batch))
                    if b_steps >= steps:
                        problems.append(f"{source}: N = {n}: budgets {d:,} and {d_main:,} round to the same "
                                        f"{steps} steps of {batch} tokens; drop one")
                        continue
                    cool = max(1, min(b_steps, round(sch.cooldown_frac * b_steps)))
                    compute += cool * batch * fpt
                    points.append(Point(f"{run_id}-D{b_steps * batch}", n, b_steps * batch,
                                        6.0 * n * b_steps * batch, b_steps, seed, run_id))
                points.append(Point(run_id, n, steps * batch, 6.0 * n * steps * batch, steps, seed, run_id))
                config = _run_config(spec, data, s, run_id, seed, batch, lr, steps, branch_tokens)
                jobs.append(Job(run_id=run_id, seed=seed, N=n, N_total=counts.total, n_layer=s.n_layer,
                                d_model=s.d_model, n_head=s.n_head, d_ff=s.ff, batch_tokens=batch, lr=lr, steps=steps,
                                D=steps * batch, flops_per_token=fpt, compute=compute, points=points, config=config))
    if problems:
        raise InputError(problems)
    ids = [p.run_id for j in jobs for p in j.points]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"{source}: the grid has repeated runs ({', '.join(dup[:3])}); remove repeated sizes or budgets")

    # 3. check every job with the engine's own planner (warmup vs cool-down, micro-batch, ...)
    from scalelab.train.config import config_from_dict
    from scalelab.train.distributed import check_split
    from scalelab.train.loop import plan_run

    for j in jobs:
        cfg = config_from_dict(j.config, source=f"{source} (run {j.run_id})")
        run_plan = plan_run(cfg, source=f"{source} (run {j.run_id})")
        check_split(run_plan, spec.nproc_per_run, f"{source} (run {j.run_id}, nproc_per_run = {spec.nproc_per_run})",
                    section="[hparams]")

    if data.train_tokens:
        top = max(j.D for j in jobs)
        if top > data.train_tokens:
            warnings.append(f"the largest run trains on {top:,} tokens, {top / data.train_tokens:.1f} epochs of the "
                            f"{data.train_tokens:,} unique training tokens (repeated data)")
    tpp = [p.D / p.N for p in (pt for j in jobs for pt in j.points)]
    if tpp and not g.isoflop and (min(tpp) > 20 or max(tpp) < 20):
        warnings.append(f"budgets span {min(tpp):.3g}-{max(tpp):.3g} tokens/parameter: they do not straddle the "
                        "compute-optimal ~20 (Chinchilla); fits of the D exponent will be weak")
    small = [j.run_id for j in jobs if min(p.steps for p in j.points) < h.min_steps]
    if small:
        warnings.append(f"{len(small)} run(s) take fewer than {h.min_steps} steps (e.g. {small[0]})")
    notes.append("batch_tokens: DeepSeek rule of N (hparams.batch_rule at 20 tokens/param), capped so the smallest "
                 f"budget of each size takes >= {h.min_steps} steps" if h.batch_tokens is None
                 else f"batch_tokens = {h.batch_tokens} for every size")
    notes.append(f"lr: {h.lr} for every size" if h.lr is not None
                 else f"lr: {h.lr_scale:g} × DeepSeek rule of N (hparams.lr_rule at 20 tokens/param)")
    rate, src = (flops_per_s, "measured") if flops_per_s else \
        ((spec.flops_per_s, "spec") if spec.flops_per_s else (DEFAULT_FLOPS_PER_S, "assumed"))
    return LadderPlan(spec=spec, data=data, jobs=jobs, notes=notes, warnings=warnings, flops_per_s=rate,
                      flops_per_s_source=src)


def _run_config(spec: LadderSpec, data: DataPlan, s, run_id: str, seed: int, batch: int, lr: float, steps: int,
                branch_tokens: list[int]) -> dict:
    m, h, sch = spec.model, spec.hparams, spec.schedule
    d = {"train": data.train, "eval": dict(data.eval), "dtype": data.dtype}
    if data.train == "synthetic":
        d = {"train": "synthetic", "synthetic_tokens": data.synthetic_tokens}
    train = {"tokens": steps * batch, "batch_tokens": batch, "lr": lr, "schedule": sch.kind,
             "warmup_frac": sch.warmup_frac, "cooldown_frac": sch.cooldown_frac, "cooldown_shape": sch.cooldown_shape,
             "min_lr_ratio": sch.min_lr_ratio, "weight_decay": h.weight_decay, "grad_clip": h.grad_clip,
             "beta2": h.beta2, "divergence_factor": h.divergence_factor,
             "branch_tokens": [max(1, round(t / batch)) * batch for t in branch_tokens]}
    if h.micro_batch is not None:
        train["micro_batch"] = h.micro_batch
    return {"run_id": run_id, "seed": seed, "device": spec.device, "precision": spec.precision,
            "compile": spec.compile, "threads": spec.threads,
            "model": {"vocab_size": data.vocab_size, "n_ctx": m.n_ctx, "n_layer": s.n_layer, "d_model": s.d_model,
                      "n_head": s.n_head, "d_ff": s.ff, "mlp": m.mlp, "positions": m.positions,
                      "tie_embeddings": m.tie_embeddings},
            "data": d, "train": train,
            "eval": {"points": spec.eval.points, "tokens": spec.eval.tokens, "batch": spec.eval.batch},
            "checkpoint": {"every_steps": spec.checkpoint_every}}
