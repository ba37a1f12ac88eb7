"""Wall-time estimates for a planned ladder, from a few timed training steps of each shape.

One FLOPs/s figure for every size is a poor estimate on small models: a 25k-parameter model runs
at a few GFLOP/s on a CPU where a 1M-parameter one runs at tens (per-step overheads dominate the
tiny ones). :func:`calibrate` therefore times ``steps`` optimiser steps (after ``warmup`` untimed
ones) of every distinct (shape, batch) of the plan, exactly as the engine will run it (device,
precision, threads, micro-batch and gradient accumulation), on random tokens, and records
tokens/s per job; :meth:`LadderPlan.estimate_s` then uses them. It costs a few seconds on the
demo ladder and trains nothing that is kept.
"""

from __future__ import annotations

import contextlib
import time

from scalelab.ladder.jobs import LadderPlan

MAX_TIMED_FLOPS = 2e12
"""A shape whose timed steps would cost more FLOPs than this (minutes on a CPU), or whose model
has more than MAX_TIMED_PARAMS parameters, is not timed: its estimate uses the FLOPs/s figure."""
MAX_TIMED_PARAMS = 10**9


def _time_steps(cfg, steps: int, warmup: int) -> float:
    """Tokens per second of ``steps`` optimiser steps of the run ``cfg`` describes."""
    # torch and the training layer are heavy: imported only when a ladder is timed
    import torch  # noqa: PLC0415

    from scalelab.model.gpt import GPT  # noqa: PLC0415
    from scalelab.train.plan import plan_run  # noqa: PLC0415
    from scalelab.train.trainer import make_optimizer  # noqa: PLC0415

    p = plan_run(cfg)
    device = torch.device(p.device)
    model = GPT(p.gpt).to(device)
    opt = make_optimizer(model, cfg, p.schedule.peak_lr, p.device)
    autocast = (
        (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16))
        if p.precision == "bf16"
        else contextlib.nullcontext
    )
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(0, p.gpt.vocab_size, (p.micro_batch, p.gpt.n_ctx + 1), generator=gen).to(
        device
    )

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        for _ in range(p.accum):
            with autocast():
                _, loss = model(batch[:, :-1], batch[:, 1:])
            (loss / p.accum).backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * p.batch_tokens / (time.perf_counter() - t0)


def calibrate(plan: LadderPlan, steps: int = 8, warmup: int = 2) -> LadderPlan:
    """Time every distinct shape of ``plan`` and set its per-job tokens/s (returns ``plan``)."""
    import torch  # noqa: PLC0415 - heavy, as above

    from scalelab.train.config import config_from_dict  # noqa: PLC0415

    before = torch.get_num_threads()
    cache: dict[str, float] = {}
    untimed = []
    torch.set_flush_denormal(True)  # as the engine does on CPU (denormals make fp32 4-5x slower)
    try:
        for job in plan.jobs:
            c = job.config
            key = repr(
                (
                    c["model"],
                    c["train"]["batch_tokens"],
                    c.get("threads"),
                    c.get("precision"),
                    c.get("device"),
                    c["train"].get("micro_batch"),
                )
            )
            if (steps + warmup) * job.batch_tokens * job.flops_per_token > MAX_TIMED_FLOPS or (
                job.N_total > MAX_TIMED_PARAMS
            ):
                untimed.append(job.run_id)  # too costly to time here: FLOPs / flops_per_s
                continue
            if key not in cache:
                if c.get("threads"):
                    torch.set_num_threads(c["threads"])
                cfg = config_from_dict({**c, "out_dir": "unused"}, source=f"run {job.run_id}")
                cache[key] = _time_steps(cfg, steps, warmup)
                torch.set_num_threads(before)
            plan.tokens_per_s[job.run_id] = cache[key]
    finally:
        torch.set_num_threads(before)
    if plan.tokens_per_s:
        plan.flops_per_s_source = "timed"
    if untimed:
        plan.notes.append(
            f"{len(untimed)} run(s) too large to time here (e.g. {untimed[0]}): their estimates "
            f"assume {plan.flops_per_s / 1e9:.3g} GFLOP/s"
        )
    return plan
