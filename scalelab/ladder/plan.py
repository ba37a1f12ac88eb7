"""Planning a ladder: its spec becomes concrete jobs, each with the trainer's own run config.

:func:`plan_ladder` resolves the data, picks each size's shape, turns the grid's budgets into jobs
(WSD trunks with cool-down branches, or one job per point), applies the hyper-parameter rule, and
makes each job's :class:`~scalelab.train.config.RunConfig` with :mod:`scalelab.ladder.configure`:
the spec's base run config with the job's shape, budget, batch, learning rate and branches.

Every job is checked with the engine's planner (:func:`scalelab.train.loop.plan_run`): a bad grid
is an InputError (exit 2) before anything trains. ``[[variants]]``: :mod:`~scalelab.ladder.variants`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple, Optional

from scalelab.atomic import check_folder
from scalelab.errors import InputError
from scalelab.ladder.batches import plan_batches
from scalelab.ladder.configure import base_config, job_config
from scalelab.ladder.dataplan import data_plan as _data_plan
from scalelab.ladder.jobs import DEFAULT_FLOPS_PER_S, DataPlan, Job, LadderPlan, Point
from scalelab.ladder.spec import LadderSpec
from scalelab.ladder.variants import plan_variants
from scalelab.model.config import GPTConfig
from scalelab.model.counting import count_params, full_training_flops_per_token
from scalelab.model.shapes import shape_family, shape_for
from scalelab.train import hparams

MAX_SHAPE_SEARCHES = 32
"""Most sizes the shape rule is asked for in one plan (``[grid] sizes``, or isoflop budgets ×
isoflop_points): each search costs up to ~0.1 s, and a plan must take about a second at most."""
MAX_JOBS = 256
"""Most training jobs in one plan (a few ms each to plan and check): split a bigger grid."""
MAX_STEPS = 10**12  # the longest job planned, in steps (as scalelab.train.plan.MAX_STEPS)


def _fmt_n(n: float) -> str:
    """A short count for run ids: 24.7k, 1.9T, 2e15 (letters, digits and dots only)."""
    if n >= 1e15:
        return f"{n:.2g}".replace("e+", "e")
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suf}"
    return f"{n:.3g}"


# ------------------------------------------------------------------------------------------------
# planning
# ------------------------------------------------------------------------------------------------


def plan_ladder(
    spec: LadderSpec, source: str = "<ladder spec>", flops_per_s: float | None = None
) -> LadderPlan:
    """Every job of the ladder, with its shape, batch, lr, steps, points and run config;
    InputError if impossible. With ``[[variants]]``, every variant's grid, ids prefixed."""
    if not spec.variants:  # a batch sweep (scalelab.ladder.batches) or the grid alone
        return plan_batches(spec, source, flops_per_s, _plan_one, MAX_JOBS)
    return plan_variants(spec, source, flops_per_s, _plan_one, _data_plan, MAX_JOBS)


def _plan_one(
    spec: LadderSpec,
    source: str,
    flops_per_s: float | None,
    data: Optional[DataPlan] = None,
) -> LadderPlan:
    """The plan of one grid (no variants, no batch sweep), in named steps: the data, the shapes,
    each shape's budgets, the jobs, the engine's check of every job, then warnings and notes."""
    _check_work(spec, source)
    try:
        check_folder(spec.out_dir, "ladder folder")
    except InputError as exc:
        raise InputError([f"{source}: out_dir: {p}" for p in exc.problems]) from None
    data = data or _data_plan(spec, source)
    base = spec.model.gpt_config(vocab_size=data.vocab_size)  # no shape yet: the grid gives it
    warnings: list[str] = []
    shapes = _shapes(spec, source, base)
    budgets = _budgets(spec, source, base, shapes, warnings)
    jobs = _jobs(spec, source, budgets, base_config(spec, data))
    _check_jobs(spec, source, jobs)
    warnings += _warnings(spec, data, jobs)
    if flops_per_s:
        rate, src = flops_per_s, "measured"
    elif spec.flops_per_s:
        rate, src = spec.flops_per_s, "spec"
    else:
        rate, src = DEFAULT_FLOPS_PER_S, "assumed"
    return LadderPlan(
        spec=spec,
        data=data,
        jobs=jobs,
        notes=_notes(spec),
        warnings=warnings,
        flops_per_s=rate,
        flops_per_s_source=src,
    )


def _active_n(shape: GPTConfig) -> int:
    return count_params(shape).active_non_embedding


def _key(shape: GPTConfig) -> tuple:
    return (shape.n_layer, shape.d_model, shape.n_head, shape.ff)


def _shape_of(spec, source, base, n_target: float, where: str, problems: list[str]):
    """The shape rule's shape for a target N, or None (with a problem naming ``where``)."""
    try:
        return shape_for(n_target, base, aspect=spec.model.aspect)
    except ValueError as exc:  # the message names N
        problems.append(f"{source}: {where}: {exc}")
        return None


def _shapes(spec: LadderSpec, source: str, base: GPTConfig) -> list[GPTConfig]:
    """Step 1: the grid's shapes (``sizes`` by the shape rule, a shape family, explicit
    ``shapes``); InputError on an impossible or repeated one."""
    g, problems = spec.grid, []
    shapes = [
        s
        for s in (_shape_of(spec, source, base, n, "[grid] sizes", problems) for n in g.sizes)
        if s is not None
    ]
    family = g.shape_family
    for n_fixed in family.sizes if family else []:  # one shape per depth at each fixed N
        found = shape_family(n_fixed, family.n_layers, base)
        if len(found) < 2:
            problems.append(
                f"{source}: [grid.shape_family] N = {n_fixed:.4g}: {len(found)} of the depths "
                f"{family.n_layers} have a shape within 5% of N; a family needs 2"
            )
        shapes += found
    for sh in g.shapes:
        try:
            shapes.append(
                replace(
                    base,
                    n_layer=sh.n_layer,
                    d_model=sh.d_model,
                    n_head=sh.n_head,
                    d_ff=sh.d_ff,
                )
            )
        except (ValueError, TypeError) as exc:
            problems.append(f"{source}: [grid] shapes: {exc}")
    seen: dict[tuple, int] = {}
    for i, s in enumerate(shapes):
        if _key(s) in seen:
            problems.append(
                f"{source}: [grid] sizes {seen[_key(s)] + 1} and {i + 1} give the same shape "
                f"(n_layer={s.n_layer}, d_model={s.d_model}); drop one"
            )
        seen[_key(s)] = i
    if problems:
        raise InputError(problems)
    return shapes


def _budgets(
    spec: LadderSpec, source: str, base: GPTConfig, shapes: list, warnings: list[str]
) -> dict[tuple, tuple[GPTConfig, set[int]]]:
    """Step 2: each shape's token budgets D, {shape key: (shape, budgets)}: the grid's tokens or
    tokens per parameter, or each IsoFLOP budget's sizes around its expected optimum."""
    g, problems = spec.grid, []
    wanted: dict[tuple, tuple[GPTConfig, set[int]]] = {}

    def add(s, d: float):
        if not d < MAX_STEPS * 2**40:  # no batch is larger; also catches an overflow to inf
            n = _active_n(s)
            problems.append(
                f"{source}: [grid]: run N{_fmt_n(n)} (N = {n:,}): D = {d:.4g} tokens is more "
                f"than {MAX_STEPS:.0e} steps at any batch; a run of more than {MAX_STEPS:.0e} "
                "steps is refused"
            )
            return
        wanted[_key(s)] = (s, wanted.get(_key(s), (s, set()))[1] | {int(round(d))})

    for c in sorted(g.isoflop):
        n_opt = math.sqrt(c / (6.0 * g.isoflop_tokens_per_param))
        lo, hi = n_opt / g.isoflop_spread, n_opt * g.isoflop_spread
        if shapes:
            chosen = [s for s in shapes if lo <= _active_n(s) <= hi]
            if len(chosen) < 3:
                problems.append(
                    f"{source}: [grid] isoflop C = {c:.3g}: only {len(chosen)} of the sizes "
                    f"lie within [{lo:.3g}, {hi:.3g}] around the expected optimum "
                    f"N = {n_opt:.3g}; an IsoFLOP profile needs at least 3 (add sizes or "
                    "widen isoflop_spread)"
                )
                continue
        else:
            k = g.isoflop_points
            targets = (lo * (hi / lo) ** (i / (k - 1)) for i in range(k))
            where = f"[grid] isoflop C = {c:.3g}"
            found = (_shape_of(spec, source, base, n, where, problems) for n in targets)
            chosen = [s for s in found if s is not None]
        n_vals = [_active_n(s) for s in chosen]
        if n_vals and not (min(n_vals) < n_opt < max(n_vals)):
            warnings.append(
                f"isoflop C = {c:.3g}: the sizes do not bracket the expected optimum "
                f"N = {n_opt:.3g}"
            )
        for s in chosen:
            add(s, c / (6.0 * _active_n(s)))
    for s in shapes if not g.isoflop else []:
        for d in g.tokens or [r * _active_n(s) for r in g.tokens_per_param]:
            add(s, d)
    if problems:
        raise InputError(problems)
    return wanted


def _jobs(spec: LadderSpec, source: str, wanted: dict, base_cfg) -> list[Job]:
    """Step 3: the jobs, one per (shape, seed) with WSD branches, else one per (shape, D, seed),
    smallest N first, each with its batch and lr by ``[hparams]`` and its run config."""
    g, h, problems = spec.grid, spec.hparams, []
    branching = spec.train.schedule == "wsd" and g.branches
    n_jobs = len(g.seeds) * sum(1 if branching else len(b) for _, b in wanted.values())
    if n_jobs > MAX_JOBS:
        raise InputError(
            f"{source}: [grid]: {n_jobs} training jobs (sizes × budgets × seeds), more than the "
            f"{MAX_JOBS} one ladder plans; split the grid into several ladders"
        )
    jobs: list[Job] = []
    for s, d_wanted in sorted(wanted.values(), key=lambda sb: _active_n(sb[0])):
        n = _active_n(s)
        budgets = sorted(d_wanted)
        batch = _batch(spec, source, n, budgets[0], problems)
        if batch is None:
            continue
        same_n = sum(_active_n(other) == n for other, _ in wanted.values())
        rung = _Rung(
            shape=s,
            n=n,
            tag=f"N{_fmt_n(n)}"
            if same_n == 1 and not g.shape_family
            else f"N{_fmt_n(n)}-L{s.n_layer}",
            batch=batch,
            lr=h.lr if h.lr is not None else h.lr_scale * hparams.lr_rule(n),
        )
        for seed in g.seeds:
            for group in [budgets] if branching else [[d] for d in budgets]:
                job = _job(spec, source, base_cfg, rung, seed, group, branching, problems)
                if job is not None:
                    jobs.append(job)
    if problems:
        raise InputError(problems)
    ids = [p.run_id for j in jobs for p in j.points]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(
            f"{source}: the grid has repeated runs ({', '.join(dup[:3])}); remove repeated sizes "
            "or budgets"
        )
    return jobs


class _Rung(NamedTuple):
    """One size of the grid: its shape, active N, run-id tag, batch (tokens) and peak lr."""

    shape: GPTConfig
    n: int
    tag: str
    batch: int
    lr: float


def _job(spec, source, base_cfg, rung: _Rung, seed, group, branching, problems) -> Optional[Job]:
    """One job: the trunk to the group's largest budget, a cool-down branch to each smaller one,
    and its run config; None (with a problem) if impossible."""
    s, n, tag, batch = rung.shape, rung.n, rung.tag, rung.batch
    fpt = full_training_flops_per_token(s)
    d_main = group[-1]
    steps = max(1, round(d_main / batch))
    if steps > MAX_STEPS:
        problems.append(
            f"{source}: run {tag}-s{seed}: D = {d_main:.4g} tokens is {steps:.3g} "
            f"steps of {batch} tokens; a run of more than {MAX_STEPS:.0e} steps is refused"
        )
        return None
    run_id = f"{tag}-s{seed}" if branching else f"{tag}-D{_fmt_n(steps * batch)}-s{seed}"
    points, compute = [], steps * batch * fpt
    for d in group[:-1]:
        b_steps = max(1, round(d / batch))
        if b_steps >= steps:
            problems.append(
                f"{source}: N = {n}: budgets {d:,} and {d_main:,} round to the same "
                f"{steps} steps of {batch} tokens; drop one"
            )
            continue
        cool = max(1, min(b_steps, round(spec.train.cooldown_frac * b_steps)))
        compute += cool * batch * fpt
        d_b = b_steps * batch
        points.append(Point(f"{run_id}-D{d_b}", n, d_b, 6.0 * n * d_b, b_steps, seed, run_id))
    points.append(Point(run_id, n, steps * batch, 6.0 * n * steps * batch, steps, seed, run_id))
    run_config = job_config(
        base_cfg,
        run_id=run_id,
        seed=seed,
        shape=s,
        tokens=steps * batch,
        batch_tokens=batch,
        lr=rung.lr,
        branch_tokens=[max(1, round(d / batch)) * batch for d in group[:-1]],
        source=source,
    )
    return Job(
        N=n,
        N_total=count_params(s).total,
        steps=steps,
        D=steps * batch,
        flops_per_token=fpt,
        compute=compute,
        points=points,
        run_config=run_config,
        shape=f"L{s.n_layer}-d{s.d_model}" if spec.grid.shape_family else None,
    )


def _check_jobs(spec: LadderSpec, source: str, jobs: list[Job]) -> None:
    """Step 4: every job checked by the engine's own planner (warmup vs cool-down, micro-batch,
    the data-parallel split)."""
    # Lazy: the engine's run planner and its data-parallel check import torch; a spec loads,
    # validates and counts parameters without it.
    from scalelab.train.distributed import check_split  # noqa: PLC0415
    from scalelab.train.loop import plan_run  # noqa: PLC0415

    for j in jobs:
        run_plan = plan_run(j.run_config, source=f"{source} (run {j.run_id})")
        where = f"{source} (run {j.run_id}, nproc_per_run = {spec.nproc_per_run})"
        try:
            check_split(run_plan, spec.nproc_per_run, where)
        except InputError as exc:  # a ladder's batch is [hparams]'s, its micro-batch [train]'s
            lines = [
                p.replace("[train] batch_tokens", "[hparams] batch_tokens") for p in exc.problems
            ]
            raise InputError(lines) from None


def _warnings(spec: LadderSpec, data: DataPlan, jobs: list[Job]) -> list[str]:
    """Step 5: what the plan should warn of: repeated data, budgets that miss ~20 tokens per
    parameter, runs shorter than min_steps."""
    h, warnings = spec.hparams, []
    if data.train_tokens:
        top = max(j.D for j in jobs)
        if top > data.train_tokens:
            warnings.append(
                f"the largest run trains on {top:,} tokens, {top / data.train_tokens:.1f} epochs "
                f"of the {data.train_tokens:,} unique training tokens (repeated data)"
            )
    tpp = [p.D / p.N for j in jobs for p in j.points]
    if tpp and not spec.grid.isoflop and (min(tpp) > 20 or max(tpp) < 20):
        warnings.append(
            f"budgets span {min(tpp):.3g}-{max(tpp):.3g} tokens/parameter: they do not straddle "
            "the compute-optimal ~20 (Chinchilla); fits of the D exponent will be weak"
        )
    small = [j.run_id for j in jobs if min(p.steps for p in j.points) < h.min_steps]
    if small:
        warnings.append(
            f"{len(small)} run(s) take fewer than {h.min_steps} steps (e.g. {small[0]})"
        )
    return warnings


def _notes(spec: LadderSpec) -> list[str]:
    """The batch and learning-rate rule, in words."""
    h = spec.hparams
    return [
        "batch_tokens: DeepSeek rule of N (hparams.batch_rule at 20 tokens/param), capped so the "
        f"smallest budget of each size takes >= {h.min_steps} steps"
        if h.batch_tokens is None
        else f"batch_tokens = {h.batch_tokens} for every size",
        f"lr: {h.lr} for every size"
        if h.lr is not None
        else f"lr: {h.lr_scale:g} × DeepSeek rule of N (hparams.lr_rule at 20 tokens/param)",
    ]


def _check_work(spec: LadderSpec, source: str) -> None:
    """Refuse, before any search, a grid whose plan would take more than about a second."""
    g = spec.grid
    searches = len(g.sizes) + (0 if (g.sizes or g.shapes) else len(g.isoflop) * g.isoflop_points)
    if searches > MAX_SHAPE_SEARCHES:
        what = "[grid] sizes" if g.sizes else "[grid] isoflop × isoflop_points"
        raise InputError(
            f"{source}: {what}: {searches} model sizes to shape, more than the "
            f"{MAX_SHAPE_SEARCHES} one ladder plans; split the grid into several ladders"
        )
    budgets = max(1, len(g.tokens) + len(g.tokens_per_param) + len(g.isoflop))
    sizes = len(g.sizes) + len(g.shapes) + (0 if (g.sizes or g.shapes) else g.isoflop_points)
    if sizes * budgets * len(g.seeds) > 64 * MAX_JOBS:  # far beyond the job limit: stop here
        raise InputError(
            f"{source}: [grid]: {sizes} sizes × {budgets} budgets × {len(g.seeds)} seeds is far "
            f"more than the {MAX_JOBS} training jobs one ladder plans; split the grid"
        )


def _batch(spec: LadderSpec, source: str, n: int, d_min: int, problems: list[str]) -> Optional[int]:
    """The size's batch in tokens by ``[hparams]``, or None (with a problem) if impossible."""
    h, n_ctx = spec.hparams, spec.model.n_ctx
    if h.batch_tokens is not None:
        if h.batch_tokens % n_ctx:
            raise InputError(
                f"{source}: [hparams] batch_tokens = {h.batch_tokens} is not a multiple of "
                f"[model] n_ctx = {n_ctx}"
            )
        batch = h.batch_tokens
        if d_min // batch < h.min_steps:
            problems.append(
                f"{source}: N = {n}: the smallest budget D = {d_min:,} gives {d_min // batch} "
                f"steps of batch_tokens = {batch}, fewer than [hparams] min_steps = {h.min_steps}"
            )
            return None
        return batch
    cap = (d_min // h.min_steps) // n_ctx * n_ctx
    if cap < n_ctx:
        problems.append(
            f"{source}: N = {n}: the smallest budget D = {d_min:,} tokens cannot give "
            f"[hparams] min_steps = {h.min_steps} steps even with one {n_ctx}-token sequence "
            f"per step (needs D >= {h.min_steps * n_ctx:,}); raise the budget or lower "
            "min_steps or n_ctx"
        )
        return None
    batch = hparams.batch_rule(n, None, n_ctx)
    if h.max_batch_tokens:
        batch = min(batch, max(n_ctx, h.max_batch_tokens // n_ctx * n_ctx))
    return min(batch, cap)
