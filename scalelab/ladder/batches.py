"""Batch-size sweeps in a ladder: ``[grid] batch_tokens = [...]`` trains every size of the grid at
every batch size in the list, each run recording its whole learning curve, for the critical batch
size B_crit(L) (Kaplan et al. 2020 §5.1; ``scalelab bcrit``, :mod:`scalelab.laws.batch`)::

    [grid]
    sizes = [2e4, 5e4]
    tokens = [400000]               # one budget per size: each run is one learning curve
    batch_tokens = [256, 1024, 4096, 16384]

    [hparams]
    min_steps = 20                  # the largest batch takes the fewest steps
    lr_batch_scaling = "sqrt"       # none (default) | sqrt | linear

Each batch size is planned as the ladder with ``[hparams] batch_tokens`` set to it, and its run ids
end in ``-B<batch>`` (``N24.7k-s0-B4096``; WSD branches ``N24.7k-s0-B4096-D100000``). The peak
learning rate is the ladder's rule for the size (``lr_scale`` × DeepSeek's ``lr_rule``, or a fixed
``[hparams] lr``), multiplied under ``lr_batch_scaling`` by (B/B_rule)^p, B_rule the batch the
ladder's rule gives that size (:func:`scalelab.train.hparams.batch_rule`) and p = 0 (``none``),
1/2 (``sqrt``, the Adam rule of Malladi et al. 2022) or 1 (``linear``, Goyal et al. 2017).
"""

from __future__ import annotations

from scalelab.errors import InputError
from scalelab.ladder.configure import retarget
from scalelab.ladder.spec import ShapeSpec
from scalelab.train import hparams

LR_POWERS = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}
MIN_CURVE_POINTS = 10
"""Fewer evaluations per run than this give B_crit too coarse a learning curve: a warning."""


def plan_batches(spec, source: str, flops_per_s, plan_one, max_jobs: int):
    """The plan of ``spec`` (``plan_one(spec, source, flops_per_s)``), once per batch size of
    ``[grid] batch_tokens`` when it has one: jobs renamed ``<run id>-B<batch>``, lr scaled."""
    sizes = spec.grid.batch_tokens
    if spec.hparams.batch_rule == "bcrit":
        return plan_bcrit(spec, source, flops_per_s, plan_one)
    if not sizes:
        return plan_one(spec, source, flops_per_s)
    bad = [b for b in sizes if b % spec.model.n_ctx]
    if bad:
        raise InputError(
            f"{source}: [grid] batch_tokens: {bad[0]} is not a multiple of [model] n_ctx = "
            f"{spec.model.n_ctx}"
        )
    power = LR_POWERS[spec.hparams.lr_batch_scaling]
    plans, jobs = [], []
    for b in sizes:
        one = spec.model_copy(
            update={
                "grid": spec.grid.model_copy(update={"batch_tokens": []}),
                "hparams": spec.hparams.model_copy(update={"batch_tokens": b}),
            }
        )
        plan = plan_one(one, f"{source} [grid] batch_tokens = {b}", flops_per_s)
        for job in plan.jobs:
            lr = job.lr
            if power:
                ref = hparams.batch_rule(job.N, None, spec.model.n_ctx)
                lr = job.lr * (b / ref) ** power
            _rename(job, f"-B{b}", lr, source)
            jobs.append(job)
        plans.append(plan)
    if len(jobs) > max_jobs:
        raise InputError(
            f"{source}: [grid] batch_tokens: {len(jobs)} training jobs (batch sizes × sizes × "
            f"budgets × seeds), more than the {max_jobs} one ladder plans; split the grid"
        )
    first = plans[0]
    notes = [n for n in first.notes if not n.startswith("batch_tokens")]
    notes.append(
        f"batch sweep: every size at batch_tokens = {', '.join(map(str, sizes))} (run ids "
        f"-B<batch>); lr × (B/B_rule)^{power:g} ({spec.hparams.lr_batch_scaling})"
    )
    warnings = list(dict.fromkeys(w for p in plans for w in p.warnings))
    if spec.eval.points < MIN_CURVE_POINTS:
        warnings.append(
            f"batch sweep: [eval] points = {spec.eval.points} evaluations per run; B_crit reads "
            f"the steps to reach each loss off the curve: use {MIN_CURVE_POINTS} or more"
        )
    if len({p.D for j in jobs for p in j.points if p.N == jobs[0].N}) > len(sizes):
        warnings.append(
            "batch sweep: several budgets per size; scalelab bcrit groups runs by N, so give one "
            "budget per size (the cool-down branches end annealed, unlike the trunk's curve)"
        )
    return type(first)(
        spec=spec,
        data=first.data,
        jobs=jobs,
        notes=notes,
        warnings=warnings,
        flops_per_s=first.flops_per_s,
        flops_per_s_source=first.flops_per_s_source,
    )


def _rename(job, suffix: str, lr: float, source: str) -> None:
    """``job`` (its points and run config) as the sweep's: ``<id><suffix>``, peak lr ``lr``."""
    old = job.run_id
    job.run_config = retarget(job.run_config, run_id=old + suffix, source=source, lr=lr)
    for p in job.points:
        p.run_id = job.run_id + p.run_id[len(old) :]
        p.job = job.run_id


# ------------------------------------------------------------------------------------------------
# a batch rule from the critical batch size: [hparams] batch_rule = "bcrit"
# ------------------------------------------------------------------------------------------------


def _bcrit_inputs(spec, source: str):
    """(B*, α_B, where from) and the law of each rung's expected loss, from ``[hparams]``."""
    from scalelab.laws import batch as lb  # noqa: PLC0415 - only a bcrit rule needs them
    from scalelab.laws import published  # noqa: PLC0415

    h = spec.hparams
    try:
        got = lb.resolve_bcrit(str(spec.resolve(h.bcrit)) if h.bcrit.endswith(".json") else h.bcrit)
        path = spec.resolve(h.bcrit_law)
        law = published.resolve(path if path.exists() else h.bcrit_law)
    except InputError as exc:
        raise InputError([f"{source}: [hparams] {p}" for p in exc.problems]) from None
    if got is None:
        raise InputError(f"{source}: [hparams] bcrit = 'none' gives no B_crit for batch_rule")
    if not set(law.law_form.variables) <= {"N", "D"}:
        raise InputError(
            f"{source}: [hparams] bcrit_law: a law of N and D is needed (got {law.form})"
        )
    return got, law


def bcrit_batch(n: float, d: float, law, b_star: float, alpha_b: float) -> tuple[float, float]:
    """(expected loss, B_crit in tokens) of a rung of N parameters trained on D tokens."""
    from scalelab.laws.batch import bcrit_of  # noqa: PLC0415

    args = {"N": n, "D": d}
    loss = float(law.predict(**{v: args[v] for v in law.law_form.variables}))
    return loss, float(bcrit_of(loss, b_star, alpha_b))


def plan_bcrit(spec, source: str, flops_per_s, plan_one):
    """The plan with each size's batch B = bcrit_fraction × B_crit(L), L the expected loss (by
    ``bcrit_law``) at the size's smallest budget: no budget of the size trains above B_crit."""
    h, n_ctx = spec.hparams, spec.model.n_ctx
    (b_star, alpha_b, where), law = _bcrit_inputs(spec, source)
    rule = spec.model_copy(update={"hparams": h.model_copy(update={"batch_rule": "deepseek"})})
    first = plan_one(rule, source, flops_per_s)
    plans, seen = [], set()
    for job in first.jobs:
        key = (job.n_layer, job.d_model, job.n_head, job.d_ff)
        if key in seen:
            continue
        seen.add(key)
        d_min = min(p.D for j in first.jobs for p in j.points if j.N == job.N)
        _, bc = bcrit_batch(job.N, d_min, law, b_star, alpha_b)
        cap = max(n_ctx, (d_min // h.min_steps) // n_ctx * n_ctx)
        if h.max_batch_tokens:
            cap = min(cap, max(n_ctx, h.max_batch_tokens // n_ctx * n_ctx))
        b = int(min(cap, max(n_ctx, round(h.bcrit_fraction * bc / n_ctx) * n_ctx)))
        shape = ShapeSpec(n_layer=key[0], d_model=key[1], n_head=key[2], d_ff=key[3])
        grid = spec.grid.model_copy(update={"sizes": [], "shapes": [shape], "shape_family": None})
        one = rule.model_copy(
            update={"grid": grid, "hparams": rule.hparams.model_copy(update={"batch_tokens": b})}
        )
        plans.append(plan_one(one, source, flops_per_s))
    jobs = [j for p in plans for j in p.jobs]
    ids = [p.run_id for j in jobs for p in j.points]
    if len(set(ids)) != len(ids):
        raise InputError(f"{source}: [hparams] batch_rule = 'bcrit': two sizes share a run id")
    notes = [n for n in first.notes if not n.startswith("batch_tokens")]
    notes.append(
        f"batch_tokens: {h.bcrit_fraction:g} × B_crit(L) = {b_star:.3g}/L^(1/{alpha_b:.3g}) "
        f"({where}) at each size's expected loss ({law.form} law) at its smallest budget, "
        f"capped so that budget takes >= {h.min_steps} steps"
    )
    return type(first)(
        spec=spec,
        data=first.data,
        jobs=jobs,
        notes=notes,
        warnings=list(dict.fromkeys(w for p in plans for w in p.warnings)),
        flops_per_s=first.flops_per_s,
        flops_per_s_source=first.flops_per_s_source,
    )


def compare_rule(plan, law, b_star: float, alpha_b: float) -> list[dict]:
    """What B_crit says of a plan's batches: per job, the expected loss (``law``) at its largest
    budget, B_crit there, batch/B_crit, and the steps and tokens it spends over the fewest that
    reach that loss (S/S_min = 1 + B_crit/B, E/E_min = 1 + B/B_crit; Kaplan et al. Eq. 5.4)."""
    rows = []
    for j in plan.jobs:
        loss, bc = bcrit_batch(j.N, j.D, law, b_star, alpha_b)
        rows.append(
            {
                "run_id": j.run_id,
                "N": j.N,
                "D": j.D,
                "batch_tokens": j.batch_tokens,
                "expected_loss": loss,
                "B_crit": bc,
                "batch_over_bcrit": j.batch_tokens / bc,
                "steps_over_min": 1.0 + bc / j.batch_tokens,
                "tokens_over_min": 1.0 + j.batch_tokens / bc,
            }
        )
    return rows
