"""``fit --form auto`` on the OLMo rungs with their schedules, and ``predict`` for the 1B runs
(issue 22, item 5).

    python benchmarks/schedule_olmo.py [--bootstrap 100]

The 190M-760M rungs (every checkpoint, all five lengths, reruns left out; the schedule rebuilt
as in ``curves_olmo.py``) are fitted with ``laws.fit(table, "auto")``: the final-point form is
chosen, then compared with the annealing law on held-out runs (3 sizes: the runs above the largest
compute / 10). Then the five 1B runs' final C4 losses are predicted (a) by the law ``fit``
returned, as ``predict`` does, and (b) by the annealing law fitted to every checkpoint of the
rungs, carried as ``fit`` carries it when it wins, with each 1B run's real schedule (its peak lr,
warm-up, cosine to 0.1x peak over its steps) and with the annealed-end assumption (the
fitted runs' own rule at the 1B run's size and length: peak lr and warm-up from their trends in
N, :mod:`scalelab.laws.schedule_rule`; with the 1B run's tokens per step, and with those assumed
too).
"""

from __future__ import annotations

import argparse
import copy
import time

from curves_olmo import olmo_curves

from scalelab.laws import fit as fit_law
from scalelab.laws import schedule_predict
from scalelab.laws.curves import fit_curves
from scalelab.laws.schedule_select import reference
from scalelab.runs.curves import learning_curves


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args()
    table = olmo_curves()
    d = table.data
    top = d["N"].max()
    small = table.with_data(d[d["N"] < top])
    t0 = time.process_time()
    law = fit_law(small, "auto", bootstrap=args.bootstrap)
    print(f"fit --form auto: {law.form} ({time.process_time() - t0:.1f} s CPU)")
    record = law.options.auto["schedule_aware"]
    print(f"  {record.get('fold')}: {record.get('why') or record.get('skipped')}")
    carried = law
    if "law" not in record:  # what predict says had the annealing law won
        curves = learning_curves(small)
        t0 = time.process_time()
        curve = fit_curves(small, "annealing", curves=curves, bootstrap=args.bootstrap)
        print(f"annealing law on every checkpoint: {time.process_time() - t0:.1f} s CPU")
        carried = copy.deepcopy(law)
        auto = dict(
            law.options.auto,
            schedule_aware={**record, "winner": "annealing", "law": curve.to_dict()},
        )
        carried.options = law.options.replace(auto=auto)
        carried.options.auto["schedule_aware"]["reference"] = reference(small, curves)
    rows = {"final-point": [], "real schedule": [], "annealed end": [], "annealed end, tps": []}
    for c in learning_curves(table):
        if c.N != top:
            continue
        s = c.schedule
        real = (
            f"kind={s.kind},steps={s.total_steps},lr={s.peak_lr},warmup={s.warmup_steps},"
            f"min_lr_ratio={s.min_lr_ratio}"
        )
        D = c.final_step * c.tokens_per_step
        truth = float(c.loss[-1])
        lo, hi = law.interval(N=c.N, D=D)
        rows["final-point"].append((c.run_id, float(law.predict(N=c.N, D=D)), lo, hi, truth))
        for name, spec, tps in (
            ("real schedule", real, c.tokens_per_step),
            ("annealed end", None, c.tokens_per_step),
            ("annealed end, tps", None, None),  # the tokens per step assumed too
        ):
            r = schedule_predict.predict(carried, {"N": c.N, "D": D}, spec, tps)
            rows[name].append((c.run_id, r["loss"], *r["interval"], truth))
            if name.startswith("annealed end") and c.run_id.endswith("-1xC"):
                print(f"  {name} for 1B-1xC:", r["schedule"]["text"])
                print("   ", r["notes"][0])
        if c.run_id.endswith("-1xC"):
            print("  its real schedule:", s, f"{c.tokens_per_step:,.0f} tokens per step")
    print("| predict | 1B runs: error (0.5, 1, 2, 5, 10xC) | mean / max abs | covered |")
    print("|---|---|---|---|")
    for name, rs in rows.items():
        errs = [p / t - 1 for _, p, _, _, t in rs]
        cov = sum(lo <= t <= hi for _, _, lo, hi, t in rs)
        each = ", ".join(f"{e:+.2%}" for e in errs)
        mean = sum(abs(e) for e in errs) / len(errs)
        print(f"| {name} | {each} | {mean:.2%} / {max(map(abs, errs)):.2%} | {cov}/{len(rs)} |")


if __name__ == "__main__":
    main()
