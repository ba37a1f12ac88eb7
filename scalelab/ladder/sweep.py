"""``scalelab ladder sweep-lr``: check the learning-rate rule on the smallest sizes of a ladder.

For the ``sizes`` smallest models of the plan, train one run per multiplier in ``scales`` of the
rule's peak learning rate, at the size's middle budget, with the ladder's schedule and no
branches. The runs form their own small ladder in ``<out_dir>/sweep-lr`` (same registry, same
resumability). The report gives the final held-out loss per (size, multiplier), the best multiplier
per size, and flags a best at the edge of the sweep (widen it). Set ``[hparams] lr_scale`` to the
suggested value if the rule is off.
"""

from __future__ import annotations

import math
from dataclasses import replace

from scalelab.errors import InputError
from scalelab.ladder.configure import retarget
from scalelab.ladder.jobs import Job, LadderPlan, Point

DEFAULT_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def sweep_plan(plan: LadderPlan, sizes: int = 2, scales=DEFAULT_SCALES) -> LadderPlan:
    """The sweep's own plan (jobs ``<size>-lr<scale>``) in ``<out_dir>/sweep-lr``."""
    if sizes < 1:
        raise InputError(f"--sizes: expected at least 1, got {sizes}")
    scales = sorted(set(float(s) for s in scales))
    if len(scales) < 2 or any(not (s > 0) or not math.isfinite(s) for s in scales):
        raise InputError("--scales: give at least two positive multipliers, e.g. 0.5,1,2")
    by_size: dict[int, Job] = {}
    for j in plan.jobs:
        if j.seed == plan.jobs[0].seed and (j.N not in by_size or j.D > by_size[j.N].D):
            by_size.setdefault(j.N, j)
    chosen = [by_size[n] for n in sorted(by_size)[:sizes]]
    jobs = []
    for base in chosen:
        pts = sorted(base.points, key=lambda p: p.D)
        mid = pts[len(pts) // 2]
        for s in scales:
            run_id = f"{base.run_id}-lr{s:g}"
            cfg = retarget(
                base.run_config, run_id=run_id, lr=base.lr * s, tokens=mid.D, branch_tokens=[]
            )
            point = Point(run_id, base.N, mid.D, 6.0 * base.N * mid.D, mid.steps, base.seed, run_id)
            jobs.append(
                replace(
                    base,
                    steps=mid.steps,
                    D=mid.D,
                    compute=mid.D * base.flops_per_token,
                    points=[point],
                    run_config=cfg,
                )
            )
    spec = plan.spec.model_copy(
        update={"out_dir": str(plan.out_dir / "sweep-lr"), "name": f"{plan.spec.name}-sweep-lr"}
    )
    return LadderPlan(
        spec=spec,
        data=plan.data,
        variant_data=plan.variant_data,  # [[variants]] data mixtures the swept runs may read
        jobs=jobs,
        notes=[
            f"lr multipliers {', '.join(f'{s:g}' for s in scales)} "
            f"of the rule on the {len(chosen)} smallest size(s)"
        ],
        warnings=[],
        flops_per_s=plan.flops_per_s,
        flops_per_s_source=plan.flops_per_s_source,
    )


def sweep_report(reg, plan: LadderPlan, eval_set: str = "val") -> dict:
    """Final held-out loss per (size, multiplier), best multiplier per size, a suggestion."""
    final: dict[str, tuple[int, float]] = {}
    for row in reg.eval_rows(("done", "diverged")):
        if row.get("eval_set") != eval_set:
            continue
        if row["run_id"] not in final or row["step"] > final[row["run_id"]][0]:
            final[row["run_id"]] = (
                row["step"],
                row["loss"] if row.get("status") == "done" else math.inf,
            )
    status = {r["run_id"]: r["status"] for r in reg.runs()}
    sizes: dict[int, list[dict]] = {}
    for j in plan.jobs:
        base_lr = j.lr / float(j.run_id.rsplit("-lr", 1)[1])
        loss = final.get(j.run_id, (0, None))[1]
        sizes.setdefault(j.N, []).append(
            {
                "run_id": j.run_id,
                "scale": j.lr / base_lr,
                "lr": j.lr,
                "loss": loss,
                "status": status.get(j.run_id),
            }
        )
    out = []
    bests = []
    for n, rows in sorted(sizes.items()):
        ok = [r for r in rows if r["loss"] is not None and math.isfinite(r["loss"])]
        best = min(ok, key=lambda r: r["loss"]) if ok else None
        scales = sorted(r["scale"] for r in rows)
        edge = best is not None and best["scale"] in (scales[0], scales[-1])
        if best is not None:
            bests.append(best["scale"])
        out.append(
            {
                "N": n,
                "runs": rows,
                "best_scale": best["scale"] if best else None,
                "best_lr": best["lr"] if best else None,
                "at_edge": edge,
            }
        )
    suggestion = math.exp(sum(math.log(b) for b in bests) / len(bests)) if bests else None
    return {
        "eval_set": eval_set,
        "sizes": out,
        "suggested_lr_scale": suggestion,
        "complete": all(r["loss"] is not None for s in out for r in s["runs"]),
    }
