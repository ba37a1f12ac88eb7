"""Cheaper ladders from learning curves: backtest error of the largest size and FLOPs spent.

    python benchmarks/curves_bench.py RUNS.csv --dense DENSE.csv [--cosine COSINE.csv]

RUNS.csv is a demo-sized ladder's run table (``scalelab demo`` writes one: ``out/demo/runs.csv``):
WSD trunks with cool-down branches, the demo's 6 evaluations per trunk. DENSE.csv: the same sizes,
budget, batch, lr rule and WSD schedule trained as one run per size with dense evaluations
(``[eval] points = 24``; examples/ladder_curves.toml), ALL sizes, the largest included. COSINE.csv
(optional): the same with a cosine schedule. Every variant is backtested like the demo: fitted
without the largest size, it predicts that size's annealed losses -- its full run's final loss
(the trunk, 4032 steps) and the demo's two cool-down branches (1008 and 2016 steps: other
lengths). The annealing law's lambda is chosen blind (``decay="auto"``: profile likelihood on the
fitted runs only, :mod:`scalelab.laws.curve_decay`); the multi-power law has no lambda.

  (i)   WSD trunks + cool-down branches, Chinchilla fitted on the annealed final points;
  (ii)  the same runs, a curve law on every point after the warm-up cut;
  (iii) one WSD run per size, no branches, the demo's 6 evaluations, a curve law;
  (iv)  one WSD run per size, dense evaluations (DENSE.csv), a curve law;
  (v)   one cosine run per size, dense (COSINE.csv): its own largest run held out.

FLOPs: training 6·N·D of every trunk plus each branch's own cool-down steps, and evaluation
2·N·(eval tokens) per evaluation row of the fitted set (``--eval-tokens``; ``--eval-sets`` counts
sets evaluated besides it). Then the fit time of the laws on a whole ladder's curves with a
100-resample bootstrap. A table written before the schedule columns existed (no ``total_steps``)
gets them from the demo's schedule settings.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scalelab import laws
from scalelab.errors import ScalelabError
from scalelab.laws.curves import fit_curves
from scalelab.runs.curves import learning_curves
from scalelab.runs.schedules import Schedule
from scalelab.runs.table import RunTable, read_table


def with_schedule_columns(table: RunTable, warmup_frac: float, cooldown_frac: float) -> RunTable:
    """Add the schedule columns of an older WSD ladder table (trunks and cool-down branches)."""
    data = table.data.copy()
    trunk_of = data["branch_of"].fillna(data["run_id"]) if "branch_of" in data else data["run_id"]
    trunk_total = data.groupby(trunk_of)["step"].transform("max")
    warm = np.minimum(np.round(warmup_frac * trunk_total), trunk_total - 1)
    own_total = data.groupby("run_id")["step"].transform("max")
    data["total_steps"] = own_total.astype(int)
    data["warmup_steps"] = warm.astype(int)
    data["cooldown_frac"] = cooldown_frac
    data["min_lr_ratio"] = 0.1
    data["cooldown_shape"] = "1-sqrt"
    return table.with_data(data, "schedule columns from the demo's settings")


def val_only(table: RunTable) -> RunTable:
    if "total_steps" not in table.data:
        table = with_schedule_columns(table, 0.05, 0.2)
    return table.with_data(table.data[table.data["eval_set"].astype(str) == "val"])


def subset(table: RunTable, keep) -> RunTable:
    return table.with_data(table.data[keep(table.data)])


def thin(table: RunTable, k: int) -> RunTable:
    """Every k-th evaluation of each run, counted back from its last (kept): what a ladder with
    k times fewer evaluation points records (evaluations do not change training)."""
    d = table.data.sort_values("step")
    back = d.groupby("run_id").cumcount(ascending=False)
    return table.with_data(d[back % k == 0])


def flops(table: RunTable, eval_tokens: float, eval_sets: int) -> tuple[float, float]:
    """(training, evaluation) FLOPs of every run in ``table``."""
    train = evals = 0.0
    for c in learning_curves(table):
        tokens = c.tokens_per_step or 1.0
        if c.branch_of is None:
            train += 6 * c.N * c.final_step * tokens
        else:
            s = c.schedule or Schedule("wsd", 1.0, c.final_step)
            train += 6 * c.N * s.cooldown_steps * tokens
        evals += 2 * c.N * eval_tokens * len(c.steps) * eval_sets
    return train, evals


def fit(table: RunTable, law: str, bootstrap: int = 0):
    if law == "chinchilla":
        return laws.fit(table, "chinchilla", eval_set="val")
    return fit_curves(table, law, eval_set="val", bootstrap=bootstrap, decay="auto")


def predict_final(law, curve) -> float:
    if hasattr(law, "law"):  # a learning-curve law
        return float(law.predict(curve.N, curve.lr, [curve.final_step])[0])
    D = curve.final_step * (curve.tokens_per_step or 1.0)
    return float(law.predict(N=np.array([curve.N]), D=np.array([D]))[0])


def describe(law) -> str:
    if not hasattr(law, "law"):
        return "chinchilla"
    if law.law == "annealing":
        prof = law.data.get("decay_profile", {})
        ident = "" if prof.get("identified") else ", not identified"
        return f"annealing, lambda {law.decay:g} (interval {prof.get('interval')}{ident})"
    return law.law


def row(key, what, fitted_table, law_name, targets, cost, curve=None):
    """Fit, predict the targets' final losses (and, with ``curve``, the held-out curve)."""
    t0 = time.perf_counter()
    try:
        law = fit(fitted_table, law_name)
    except ScalelabError as exc:
        print(f"({key:4s}) {what:44s} {sum(cost):10.3e} {'failed':>9s}  {exc}")
        return None
    secs = time.perf_counter() - t0
    errs = {c.run_id: predict_final(law, c) / c.loss[-1] - 1 for c in targets}
    worst = max(abs(e) for e in errs.values())
    trunk = abs(errs[targets[0].run_id])
    extra = ""
    if curve is not None and hasattr(law, "law"):
        keep = curve.steps >= 0.1 * curve.final_step
        pred = law.predict(curve.N, curve.lr, curve.steps[keep])
        extra = f"  curve {np.max(np.abs(pred / curve.loss[keep] - 1)):.2%}"
    print(f"({key:4s}) {what:44s} {sum(cost):10.3e} {trunk:9.2%} {worst:9.2%} {secs:6.1f}{extra}")
    print(f"       {describe(law)}: " + ", ".join(f"{r} {e:+.2%}" for r, e in errs.items()))
    return law


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs")
    ap.add_argument("--dense", help="one WSD run per size, dense evaluations, all sizes")
    ap.add_argument("--cosine", help="one cosine run per size, dense evaluations, all sizes")
    ap.add_argument("--eval-tokens", type=float, default=65536, help="tokens per evaluation")
    ap.add_argument("--eval-sets", type=int, default=1, help="evaluation sets per point")
    ap.add_argument(
        "--thin",
        type=int,
        nargs="+",
        default=[1, 2, 3],
        help="also fit every k-th evaluation of the dense runs (fewer evaluations, fewer FLOPs)",
    )
    ap.add_argument("--no-bootstrap-timing", action="store_true")
    args = ap.parse_args()
    ev = (args.eval_tokens, args.eval_sets)
    demo = val_only(read_table(args.runs))
    d = demo.data
    n_max = d["N"].max()
    is_branch = d["branch_of"].notna() if "branch_of" in d else np.zeros(len(d), bool)
    trunks = set(d.loc[~is_branch, "run_id"])
    held = sorted(
        (c for c in learning_curves(demo) if c.N == n_max), key=lambda c: -c.final_step
    )  # the trunk first, then its branches
    small = subset(demo, lambda x: x["N"] < n_max)
    print(f"held out: N = {n_max:,.0f}: " + ", ".join(f"{c.run_id}" for c in held))
    print(
        f"{'variant':51s} {'FLOPs':>10s} {'err full':>9s} {'max err':>9s} {'fit s':>6s}"
        "   (FLOPs: the whole ladder, training + evaluation)"
    )
    cost_i = flops(demo, *ev)
    for law in ("chinchilla", "annealing", "multipower"):
        key = "i" if law == "chinchilla" else f"ii{law[0]}"
        row(key, f"trunks + branches, {law}", small, law, held, cost_i)
    one = subset(demo, lambda x: x["run_id"].isin(trunks))
    cost_iii = flops(one, *ev)
    for law in ("annealing", "multipower"):
        one_small = subset(one, lambda x: x["N"] < n_max)
        row(f"iii{law[0]}", f"one run per size, 6 evals, {law}", one_small, law, held, cost_iii)
    print(
        f"       training {cost_i[0]:.3e} + evaluation {cost_i[1]:.3e} (i, ii); "
        f"{cost_iii[0]:.3e} + {cost_iii[1]:.3e} (iii)"
    )
    for key, path, kind in (("iv", args.dense, "WSD"), ("v", args.cosine, "cosine")):
        if not path:
            continue
        full = val_only(read_table(path))
        for k in args.thin:
            dense = thin(full, k)
            cost = flops(dense, *ev)
            top = dense.data["N"].max()
            own = [c for c in learning_curves(full) if c.N == top]  # the whole held-out curve
            mine = [c for c in learning_curves(dense) if c.N == top]
            targets = held if key == "iv" else own  # (v): its own largest run
            dense_small = subset(dense, lambda x, top=top: x["N"] < top)
            n_eval = len(mine[0].steps)
            for law in ("annealing", "multipower"):
                what = f"one {kind} run per size, {n_eval} evals, {law}"
                row(f"{key}{law[0]}", what, dense_small, law, targets, cost, curve=own[0])
            print(f"       training {cost[0]:.3e} + evaluation {cost[1]:.3e}")
    if args.no_bootstrap_timing:
        return
    whole = val_only(read_table(args.dense)) if args.dense else demo
    for law in ("annealing", "multipower"):
        t0 = time.perf_counter()
        fitted = fit(whole, law, bootstrap=100)
        print(
            f"{law} on a whole ladder's curves ({fitted.n_points} points, {fitted.n_runs} runs, "
            f"lambda {'auto' if law == 'annealing' else '-'}, 100 bootstrap refits): "
            f"{time.perf_counter() - t0:.1f} s"
        )


if __name__ == "__main__":
    main()
