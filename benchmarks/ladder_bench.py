"""Ladder benchmark (not a test): `python benchmarks/ladder_bench.py [--spec SPEC] [--plan-only]`.

Reports for a ladder (default: the embedded demo ladder,
``scalelab.pipelines.demo_ladder.DEMO_SPEC``):

* its FLOPs (full count) and, unless ``--plan-only``, its wall time;
* the cost saved by WSD branching: FLOPs of one trunk per size plus each branch's cool-down,
  against separate runs (cosine or otherwise) for the same (N, D) points — exact, from the plan;
* the share of wall time spent outside the training loop (process start, data preparation,
  registry, model set-up) and, inside it, in checkpoints (timed) and evaluations (estimated as
  forward passes: eval tokens × sets × evaluations at a third of the training rate). The target:
  registry, evaluation and checkpoint overhead under 10%.

Writes ``out/ladder_bench.json``. On a shared machine the figures are pessimistic: say so.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab import atomic  # noqa: E402
from scalelab.ladder import load_plan, spec_from_dict  # noqa: E402
from scalelab.ladder import run as run_ladder  # noqa: E402
from scalelab.ladder.registry import Registry  # noqa: E402
from scalelab.pipelines.demo_ladder import DEMO_SPEC  # noqa: E402


def _data_lines(message: str) -> None:
    if message.startswith("data:"):  # the data preparation, not every run's progress
        print(message)


def wsd_savings(plan) -> dict:
    trunk = sum(j.compute for j in plan.jobs)
    separate = sum(p.D * j.flops_per_token for j in plan.jobs for p in j.points)
    return {
        "flops_wsd_branches": trunk,
        "flops_separate_runs": separate,
        "saved_fraction": 1 - trunk / separate if separate else 0.0,
        "points": len(plan.points),
        "jobs": len(plan.jobs),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", help="ladder spec (default: the embedded demo ladder)")
    ap.add_argument("--ladder-out", default="out/ladder-bench", help="ladder folder")
    ap.add_argument("--out", default="out/ladder_bench.json")
    ap.add_argument(
        "--plan-only", action="store_true", help="FLOPs and WSD savings only; train nothing"
    )
    args = ap.parse_args(argv)

    spec = args.spec or spec_from_dict(DEMO_SPEC, "<embedded demo spec>")
    plan = load_plan(spec, args.ladder_out)
    result = {
        "ladder": plan.spec.name,
        "compute": plan.compute,
        "wsd": wsd_savings(plan),
        "machine_note": "shared 2-vCPU machine: timings are pessimistic",
    }
    if not args.plan_only:
        import scalelab.train.trainer as loop

        ckpt_s = [0.0]
        real_save = loop.save_checkpoint

        def timed_save(*a, **kw):
            t = time.perf_counter()
            try:
                return real_save(*a, **kw)
            finally:
                ckpt_s[0] += time.perf_counter() - t

        loop.save_checkpoint = timed_save
        t0 = time.perf_counter()
        done = run_ladder(plan, log=_data_lines)
        wall = time.perf_counter() - t0
        reg = Registry(done.registry)
        runs = reg.runs()
        loop_s = sum((r["summary"] or {}).get("wall_s") or 0 for r in runs)
        eval_s = 0.0
        for r in runs:
            s = r["summary"] or {}
            tps = s.get("tokens_per_s_this_session")
            if tps:
                n_evals = len(s.get("eval_steps", [])) + len(s.get("branches", []))
                sets = len(r["config"]["data"].get("eval") or {"val": 1, "ood": 1})
                eval_s += n_evals * sets * r["config"]["eval"]["tokens"] / (3 * tps)
        result.update(
            wall_s=wall,
            training_loop_s=loop_s,
            checkpoint_s=ckpt_s[0],
            eval_s_estimate=eval_s,
            outside_loop_fraction=1 - loop_s / wall if wall else None,
            overhead_fraction=(wall - loop_s + ckpt_s[0] + eval_s) / wall if wall else None,
            counts=reg.counts(),
        )
    atomic.write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
