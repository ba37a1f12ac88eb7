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
from pathlib import Path
from typing import Optional

from scalelab.atomic import check_folder
from scalelab.data import spec as dspec
from scalelab.data.loader import TokenData
from scalelab.data.tokenize import token_dtype
from scalelab.errors import InputError
from scalelab.ladder.batches import plan_batches
from scalelab.ladder.configure import base_config, job_config
from scalelab.ladder.jobs import DEFAULT_FLOPS_PER_S, DataPlan, Job, LadderPlan, Point
from scalelab.ladder.spec import LadderSpec
from scalelab.ladder.variants import plan_variants
from scalelab.model.counting import count_params, full_training_flops_per_token
from scalelab.model.shapes import shape_family, shape_for
from scalelab.train import hparams

MAX_SHAPE_SEARCHES = 32
"""Most sizes the shape rule is asked for in one plan (``[grid] sizes``, or isoflop budgets ×
isoflop_points): each search costs up to ~0.1 s, and a plan must take about a second at most."""
MAX_JOBS = 256
"""Most training jobs in one plan (a few ms each to plan and check): split a bigger grid."""
MAX_STEPS = 10**12  # the longest job planned, in steps (as scalelab.train.plan.MAX_STEPS)

# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def _data_plan(spec: LadderSpec, source: str) -> DataPlan:
    d = spec.data
    out = Path(spec.out_dir).expanduser().resolve()
    if d.preset == "markov":
        return DataPlan(
            train="synthetic",
            eval={},
            dtype="uint16",
            vocab_size=spec.model.vocab_size,
            synthetic_tokens=d.markov_tokens,
            train_tokens=d.markov_tokens,
        )
    if d.prepared is not None:
        folder = spec.resolve(d.prepared).resolve()
        if not (folder / "manifest.json").is_file():
            raise InputError(
                f"{source}: [data] prepared: {folder} is not a prepared data folder (no "
                "manifest.json); make one with `scalelab data prepare`"
            )
        td = TokenData.open(folder)
        roles = {s: v["role"] for s, v in td.manifest["splits"].items()}
        train_tokens = td.manifest["splits"]["train"]["tokens"]
        return _from_manifest(
            spec, source, folder, td.vocab_size, str(td.dtype), roles, train_tokens
        )
    # a data spec to prepare into <out>/data
    if d.spec is not None:
        ds = dspec.load_spec(spec.resolve(d.spec))
    elif d.preset == "builtin":
        ds = dspec.builtin_spec(vocab_size=d.vocab_size, tokenizer=d.tokenizer, max_docs=d.max_docs)
    else:
        ds = dspec.synthetic_spec(
            n_docs=d.synthetic_docs, vocab_size=d.vocab_size, tokenizer=d.tokenizer
        )
    if ds.tokenizer.kind == "file":
        raise InputError(
            f"{source}: [data] spec: tokenizer kind 'file' is not supported by the ladder yet; "
            "prepare the data first and give [data] prepared"
        )
    vocab = 256 if ds.tokenizer.kind == "bytes" else ds.tokenizer.vocab_size
    folder = out / "data"
    roles = {
        "train": "train",
        "validation": "heldout",
        "test": "heldout",
        **{s.name: "ood" for s in ds.sources if s.role == "eval"},
    }
    train_tokens = None
    if (folder / "manifest.json").is_file():
        try:
            train_tokens = TokenData.open(folder).manifest["splits"]["train"]["tokens"]
        except (InputError, KeyError, ValueError):
            train_tokens = None
    plan = _from_manifest(spec, source, folder, vocab, str(token_dtype(vocab)), roles, train_tokens)
    plan.prepare_dir = str(folder)
    plan.prepare_spec = ds.model_dump(mode="json")
    return plan


def _from_manifest(
    spec: LadderSpec,
    source: str,
    folder: Path,
    vocab: int,
    dtype: str,
    roles: dict[str, str],
    train_tokens: Optional[int],
) -> DataPlan:
    if "vocab_size" in spec.model.model_fields_set and spec.model.vocab_size != vocab:
        raise InputError(
            f"{source}: [model] vocab_size = {spec.model.vocab_size} contradicts the data's "
            f"vocabulary ({vocab}); leave it out"
        )
    available = {
        ("val" if s == "validation" else s): s for s, role in roles.items() if role != "train"
    }
    wanted = spec.eval.sets or [n for n, s in available.items() if roles[s] == "ood" or n == "val"]
    missing = [w for w in wanted if w not in available]
    if missing:
        raise InputError(
            f"{source}: [eval] sets: no eval set {missing[0]!r} in the data "
            f"(available: {', '.join(sorted(available))})"
        )
    if not wanted:
        raise InputError(f"{source}: [eval] sets: the data has no held-out split")
    return DataPlan(
        train=str(folder / "train.bin"),
        eval={w: str(folder / f"{available[w]}.bin") for w in wanted},
        dtype=dtype,
        vocab_size=vocab,
        train_tokens=train_tokens,
    )


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
    spec: LadderSpec, source: str, flops_per_s: float | None, data: Optional[DataPlan] = None
) -> LadderPlan:
    # Lazy: the engine's run planner and its data-parallel check import torch; a spec loads,
    # validates and counts parameters without it.
    from scalelab.train.distributed import check_split  # noqa: PLC0415
    from scalelab.train.loop import plan_run  # noqa: PLC0415

    _check_work(spec, source)
    try:
        check_folder(spec.out_dir, "ladder folder")
    except InputError as exc:
        raise InputError([f"{source}: out_dir: {p}" for p in exc.problems]) from None
    data = data or _data_plan(spec, source)
    m, g, h, t = spec.model, spec.grid, spec.hparams, spec.train
    base = m.gpt_config(vocab_size=data.vocab_size)  # no shape yet: the grid gives it
    base_cfg = base_config(spec, data)
    problems: list[str] = []
    notes: list[str] = []
    warnings: list[str] = []

    def active_n(s) -> int:
        return count_params(s).active_non_embedding

    def shape_of(n_target: float, where: str = "[grid] sizes"):
        try:
            return shape_for(n_target, base, aspect=m.aspect)
        except ValueError as exc:  # the message names N
            problems.append(f"{source}: {where}: {exc}")
            return None

    # 1. (shape, D) points
    shapes = [s for s in (shape_of(n) for n in g.sizes) if s is not None]
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
                    base, n_layer=sh.n_layer, d_model=sh.d_model, n_head=sh.n_head, d_ff=sh.d_ff
                )
            )
        except (ValueError, TypeError) as exc:
            problems.append(f"{source}: [grid] shapes: {exc}")
    seen: dict[tuple, int] = {}
    for i, s in enumerate(shapes):
        key = (s.n_layer, s.d_model, s.n_head, s.ff)
        if key in seen:
            problems.append(
                f"{source}: [grid] sizes {seen[key] + 1} and {i + 1} give the same shape "
                f"(n_layer={s.n_layer}, d_model={s.d_model}); drop one"
            )
        seen[key] = i
    if problems:
        raise InputError(problems)

    wanted: dict[tuple, set[int]] = {}  # shape key -> budgets D (target tokens)
    shape_by_key: dict[tuple, object] = {}

    def add(s, d: float):
        key = (s.n_layer, s.d_model, s.n_head, s.ff)
        if not d < MAX_STEPS * 2**40:  # no batch is larger; also catches an overflow to inf
            n = active_n(s)
            problems.append(
                f"{source}: [grid]: run N{_fmt_n(n)} (N = {n:,}): D = {d:.4g} tokens is more "
                f"than {MAX_STEPS:.0e} steps at any batch; a run of more than {MAX_STEPS:.0e} "
                "steps is refused"
            )
            return
        shape_by_key[key] = s
        wanted.setdefault(key, set()).add(int(round(d)))

    if g.isoflop:
        for c in sorted(g.isoflop):
            n_opt = math.sqrt(c / (6.0 * g.isoflop_tokens_per_param))
            lo, hi = n_opt / g.isoflop_spread, n_opt * g.isoflop_spread
            if shapes:
                chosen = [s for s in shapes if lo <= active_n(s) <= hi]
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
                chosen = [s for s in (shape_of(n, where) for n in targets) if s is not None]
            n_vals = [active_n(s) for s in chosen]
            if n_vals and not (min(n_vals) < n_opt < max(n_vals)):
                warnings.append(
                    f"isoflop C = {c:.3g}: the sizes do not bracket the expected optimum "
                    f"N = {n_opt:.3g}"
                )
            for s in chosen:
                add(s, c / (6.0 * active_n(s)))
    else:
        for s in shapes:
            n = active_n(s)
            for d in g.tokens or [r * n for r in g.tokens_per_param]:
                add(s, d)
    if problems:
        raise InputError(problems)

    # 2. jobs: one per (shape, seed) with WSD branches, else one per (shape, D, seed)
    branching = t.schedule == "wsd" and g.branches
    n_jobs = len(g.seeds) * sum(1 if branching else len(b) for b in wanted.values())
    if n_jobs > MAX_JOBS:
        raise InputError(
            f"{source}: [grid]: {n_jobs} training jobs (sizes × budgets × seeds), more than the "
            f"{MAX_JOBS} one ladder plans; split the grid into several ladders"
        )
    jobs: list[Job] = []
    for key in sorted(wanted, key=lambda k: active_n(shape_by_key[k])):
        s = shape_by_key[key]
        counts = count_params(s)
        n = counts.active_non_embedding
        budgets = sorted(wanted[key])
        d_min = budgets[0]
        batch = _batch(spec, source, n, d_min, problems)
        if batch is None:
            continue
        lr = h.lr if h.lr is not None else h.lr_scale * hparams.lr_rule(n)
        fpt = full_training_flops_per_token(s)
        groups = [budgets] if branching else [[d] for d in budgets]
        same_n = sum(active_n(shape_by_key[k]) == n for k in wanted)
        tag = f"N{_fmt_n(n)}" if same_n == 1 and not family else f"N{_fmt_n(n)}-L{s.n_layer}"
        for seed in g.seeds:
            for group in groups:
                d_main = group[-1]
                steps = max(1, round(d_main / batch))
                if steps > MAX_STEPS:
                    problems.append(
                        f"{source}: run {tag}-s{seed}: D = {d_main:.4g} tokens is {steps:.3g} "
                        f"steps of {batch} tokens; a run of more than {MAX_STEPS:.0e} steps is "
                        "refused"
                    )
                    continue
                run_id = (
                    f"{tag}-s{seed}" if branching else f"{tag}-D{_fmt_n(steps * batch)}-s{seed}"
                )
                branch_tokens = list(group[:-1])
                points = []
                compute = steps * batch * fpt
                for d in branch_tokens:
                    b_steps = max(1, round(d / batch))
                    if b_steps >= steps:
                        problems.append(
                            f"{source}: N = {n}: budgets {d:,} and {d_main:,} round to the same "
                            f"{steps} steps of {batch} tokens; drop one"
                        )
                        continue
                    cool = max(1, min(b_steps, round(t.cooldown_frac * b_steps)))
                    compute += cool * batch * fpt
                    d_b = b_steps * batch
                    points.append(
                        Point(f"{run_id}-D{d_b}", n, d_b, 6.0 * n * d_b, b_steps, seed, run_id)
                    )
                points.append(
                    Point(run_id, n, steps * batch, 6.0 * n * steps * batch, steps, seed, run_id)
                )
                run_config = job_config(
                    base_cfg,
                    run_id=run_id,
                    seed=seed,
                    shape=s,
                    tokens=steps * batch,
                    batch_tokens=batch,
                    lr=lr,
                    branch_tokens=[max(1, round(d / batch)) * batch for d in branch_tokens],
                    source=source,
                )
                jobs.append(
                    Job(
                        N=n,
                        N_total=counts.total,
                        steps=steps,
                        D=steps * batch,
                        flops_per_token=fpt,
                        compute=compute,
                        points=points,
                        run_config=run_config,
                        shape=f"L{s.n_layer}-d{s.d_model}" if family else None,
                    )
                )
    if problems:
        raise InputError(problems)
    ids = [p.run_id for j in jobs for p in j.points]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(
            f"{source}: the grid has repeated runs ({', '.join(dup[:3])}); remove repeated sizes "
            "or budgets"
        )

    # 3. check every job with the engine's own planner (warmup vs cool-down, micro-batch, ...)
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

    if data.train_tokens:
        top = max(j.D for j in jobs)
        if top > data.train_tokens:
            warnings.append(
                f"the largest run trains on {top:,} tokens, {top / data.train_tokens:.1f} epochs "
                f"of the {data.train_tokens:,} unique training tokens (repeated data)"
            )
    tpp = [p.D / p.N for j in jobs for p in j.points]
    if tpp and not g.isoflop and (min(tpp) > 20 or max(tpp) < 20):
        warnings.append(
            f"budgets span {min(tpp):.3g}-{max(tpp):.3g} tokens/parameter: they do not straddle "
            "the compute-optimal ~20 (Chinchilla); fits of the D exponent will be weak"
        )
    small = [j.run_id for j in jobs if min(p.steps for p in j.points) < h.min_steps]
    if small:
        warnings.append(
            f"{len(small)} run(s) take fewer than {h.min_steps} steps (e.g. {small[0]})"
        )
    notes.append(
        "batch_tokens: DeepSeek rule of N (hparams.batch_rule at 20 tokens/param), capped so the "
        f"smallest budget of each size takes >= {h.min_steps} steps"
        if h.batch_tokens is None
        else f"batch_tokens = {h.batch_tokens} for every size"
    )
    notes.append(
        f"lr: {h.lr} for every size"
        if h.lr is not None
        else f"lr: {h.lr_scale:g} × DeepSeek rule of N (hparams.lr_rule at 20 tokens/param)"
    )
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
        notes=notes,
        warnings=warnings,
        flops_per_s=rate,
        flops_per_s_source=src,
    )


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
