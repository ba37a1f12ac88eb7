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
from scalelab.train import hparams

LR_POWERS = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}
MIN_CURVE_POINTS = 10
"""Fewer evaluations per run than this give B_crit too coarse a learning curve: a warning."""


def plan_batches(spec, source: str, flops_per_s, plan_one, max_jobs: int):
    """The plan of ``spec`` (``plan_one(spec, source, flops_per_s)``), once per batch size of
    ``[grid] batch_tokens`` when it has one: jobs renamed ``<run id>-B<batch>``, lr scaled."""
    sizes = spec.grid.batch_tokens
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
    job.run_id = old + suffix
    for p in job.points:
        p.run_id = job.run_id + p.run_id[len(old) :]
        p.job = job.run_id
    job.lr = lr
    job.run_config = retarget(job.run_config, run_id=job.run_id, source=source, lr=lr)
