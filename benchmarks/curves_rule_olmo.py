"""``curves --predict`` at a larger size with only N and steps: the schedule it assumes from the
fitted runs' hyper-parameter rule against the largest fitted run's (the default before the rule),
on the OLMo ladder (Bhagia et al. 2024).

    python benchmarks/curves_rule_olmo.py [--fit-sizes 3] [--law annealing]

Fits the law to every checkpoint of the K smallest sizes and predicts the final loss of each
larger run from ``N=...,steps=...`` (its own length), the rest of its schedule assumed (a) from
the rule (:func:`scalelab.laws.curve_predict.rule_of`) and (b) from the largest fitted run's
schedule (peak lr, warm-up fraction); (c) is the run's true schedule, the law's own error.
"""

from __future__ import annotations

import argparse

import numpy as np
from curves_olmo import RUNGS, olmo_curves

from scalelab.laws.curve_predict import parse_schedule, rule_of
from scalelab.laws.curves import fit_curves
from scalelab.runs.curves import learning_curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rungs", nargs="?", default=RUNGS)
    ap.add_argument("--fit-sizes", type=int, default=3)
    ap.add_argument("--law", default="annealing")
    args = ap.parse_args()
    table = olmo_curves(args.rungs)
    d = table.data
    sizes = sorted(d["N"].unique())
    top = sizes[args.fit_sizes - 1]
    sub = table.with_data(d[d["N"] <= top])
    fitted_curves = learning_curves(sub)
    law = fit_curves(sub, args.law, curves=fitted_curves, bootstrap=0)
    rule = rule_of(sub, fitted_curves)
    print(f"{args.law} fitted on N <= {top:.3g} ({len(fitted_curves)} runs)")
    errors: dict[str, list[float]] = {"rule": [], "largest run": [], "true schedule": []}
    for c in learning_curves(table):
        if c.N <= top:
            continue
        spec = f"N={c.N:.0f},steps={c.final_step}"
        y = float(c.loss[-1])
        row = []
        for name, r in (("rule", rule), ("largest run", None)):
            N, sched, _ = parse_schedule(spec, fitted_curves, r)
            errors[name].append(law.final(N, sched)["loss"] / y - 1)
            row.append(f"{name} lr {sched.peak_lr:.3g} warm-up {sched.warmup_steps}")
        errors["true schedule"].append(law.final(c.N, c.schedule)["loss"] / y - 1)
        print(
            f"  {c.run_id}: true lr {c.schedule.peak_lr:.3g} warm-up {c.schedule.warmup_steps}; "
            + "; ".join(row)
        )
    for name, e in errors.items():
        a = np.abs(e)
        print(
            f"{name:14s} |err| mean {a.mean():.2%} max {a.max():.2%} ({', '.join(f'{x:+.2%}' for x in e)})"
        )


if __name__ == "__main__":
    main()
