"""Workers and precision for tiny ladder runs (not a test): `python benchmarks/workers_bench.py`.

Why `scalelab demo` trains with two single-thread worker processes in fp32. For the smallest,
a middle and the largest shape of the demo ladder (its real batch, micro-batch and optimiser, on
random tokens, timed through :func:`scalelab.ladder.estimate._time_steps`) it prints tokens/s of:

* one process, 1 thread, fp32 (the demo's setting for each worker);
* one process, 1 thread, bf16 autocast (where the CPU supports it);
* one process, 2 threads, fp32;
* two processes at once, 1 thread each, fp32: each one's rate and their sum.

Writes ``out/workers_bench.json``. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab import atomic  # noqa: E402
from scalelab.ladder.plan import plan_ladder  # noqa: E402
from scalelab.ladder.spec import spec_from_dict  # noqa: E402
from scalelab.pipelines.demo_ladder import DEMO_SPEC  # noqa: E402


def _rate(config: dict, threads: int, precision: str, steps: int, barrier=None) -> float:
    import torch

    from scalelab.ladder.estimate import _time_steps
    from scalelab.train.config import config_from_dict

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    cfg = config_from_dict(
        {**config, "threads": threads, "precision": precision, "out_dir": "unused"}, "bench"
    )
    if barrier is not None:
        barrier.wait()
    return _time_steps(cfg, steps, warmup=5)


def _in_process(args) -> float:
    return _rate(*args)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="timed optimiser steps per measurement")
    ap.add_argument("--out", default="out/workers_bench.json")
    args = ap.parse_args(argv)

    from scalelab.train.plan import bf16_supported

    plan = plan_ladder(spec_from_dict(DEMO_SPEC, "demo"), "demo")
    jobs = [plan.jobs[0], plan.jobs[len(plan.jobs) // 2], plan.jobs[-1]]
    ctx = mp.get_context("spawn")
    results = []
    for job in jobs:
        steps = max(30, args.steps * plan.jobs[0].N // job.N)
        row = {"run_id": job.run_id, "N": job.N, "batch_tokens": job.batch_tokens, "steps": steps}
        with ctx.Pool(1) as pool:  # each single-process figure in a fresh process, like a worker
            row["1 process, 1 thread, fp32"] = pool.apply(_rate, (job.config, 1, "fp32", steps))
        if bf16_supported("cpu"):
            with ctx.Pool(1) as pool:
                row["1 process, 1 thread, bf16"] = pool.apply(_rate, (job.config, 1, "bf16", steps))
        with ctx.Pool(1) as pool:
            row["1 process, 2 threads, fp32"] = pool.apply(_rate, (job.config, 2, "fp32", steps))
        with ctx.Manager() as manager, ctx.Pool(2) as pool:
            barrier = manager.Barrier(2)
            pair = pool.map(_in_process, [(job.config, 1, "fp32", steps, barrier)] * 2)
        row["2 processes, 1 thread each, fp32"] = pair
        row["2 processes, sum"] = sum(pair)
        results.append(row)
        print(
            f"{job.run_id:>10}: "
            + ", ".join(
                f"{k} {v:,.0f}"
                if isinstance(v, float)
                else f"{k} {' + '.join(f'{x:,.0f}' for x in v)}"
                for k, v in row.items()
                if k not in ("run_id", "N", "batch_tokens", "steps")
            )
            + " tokens/s",
            flush=True,
        )
    atomic.write_text(
        args.out, json.dumps({"unit": "tokens/s", "results": results}, indent=2) + "\n"
    )
    return {"results": results}


if __name__ == "__main__":
    main()
