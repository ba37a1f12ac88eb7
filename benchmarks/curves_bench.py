"""Cheaper ladders from learning curves: backtest error of the largest size and FLOPs spent.

    python benchmarks/curves_bench.py RUNS.csv [--warmup-frac 0.05 --cooldown-frac 0.2]

RUNS.csv is a demo-sized ladder's run table (``scalelab demo`` writes one: ``out/demo/runs.csv``).
Three ways to spend the ladder, each backtested like the demo (fit without the largest size,
predict that size's final annealed losses: the trunk's and its branches'):

(i)   today's: WSD trunks + cool-down branches, Chinchilla fitted on the annealed final points;
(ii)  the same runs, the annealing law (Tissue et al. 2024) fitted on every point;
(iii) one WSD run per size, no branches, the annealing law on every point;
(iv)  with ``--dense RUNS2.csv``: (iii) trained with dense evaluations (e.g. 24 per run).

FLOPs: 6·N·D of every trunk, plus each branch's own cool-down steps. Then the fit time of the
law on the whole ladder's curves (with a 100-resample bootstrap). A table written before the
schedule columns existed (no ``total_steps``) gets them from the demo's schedule settings.
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


def flops(table: RunTable, runs: set[str]) -> float:
    """6·N·D of each trunk, plus each branch's cool-down steps."""
    total = 0.0
    for c in learning_curves(table.with_data(table.data[table.data["run_id"].isin(runs)])):
        tokens = c.tokens_per_step or 1.0
        N = c.N
        if c.branch_of is None:
            total += 6 * N * c.final_step * tokens
        else:
            s = c.schedule or Schedule("wsd", 1.0, c.final_step)
            total += 6 * N * s.cooldown_steps * tokens
    return total


def backtest(table, variant, train_ids, held, final, skip_first=0.1, decay=0.999):
    sub = table.with_data(table.data[table.data["run_id"].isin(train_ids)])
    t0 = time.perf_counter()
    if variant == "i":
        law = laws.fit(sub, "chinchilla", eval_set="val")
        pred = law.predict(N=final["N"].to_numpy(), D=final["D"].to_numpy())
    else:
        law = fit_curves(
            sub, "annealing", eval_set="val", bootstrap=0, skip_first=skip_first, decay=decay
        )
        pred = np.array([law.predict(c.N, c.lr, [c.final_step])[0] for c in held])
        print(
            f"      {law.law} ({law.n_points} points): "
            + ", ".join(f"{k} = {v:.4g}" for k, v in law.params.items())
        )
    rel = pred / final["loss"].to_numpy() - 1
    return rel, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs")
    ap.add_argument("--warmup-frac", type=float, default=0.05)
    ap.add_argument("--cooldown-frac", type=float, default=0.2)
    ap.add_argument("--skip-first", type=float, default=0.1, help="warm-up cut of the curve fits")
    ap.add_argument(
        "--dense",
        help="variant (iv): a run table of the same ladder trained as one run per size with "
        "dense evaluations (its sizes below the largest), backtested on RUNS' largest size",
    )
    ap.add_argument("--decay", type=float, default=0.999, help="lambda of the annealing area S2")
    args = ap.parse_args()
    table = read_table(args.runs)
    if "total_steps" not in table.data:
        table = with_schedule_columns(table, args.warmup_frac, args.cooldown_frac)
    table = table.with_data(table.data[table.data["eval_set"].astype(str) == "val"])
    data = table.data
    is_branch = data["branch_of"].notna() if "branch_of" in data else np.zeros(len(data), bool)
    n_max = data["N"].max()
    ids_all = set(data["run_id"])
    trunks = set(data.loc[~is_branch, "run_id"])
    small = set(data.loc[data["N"] < n_max, "run_id"])
    held_ids = set(data.loc[data["N"] == n_max, "run_id"])
    held = [c for c in learning_curves(table) if c.run_id in held_ids]
    final = (
        (data[data["run_id"].isin(held_ids)].sort_values("step").groupby("run_id").tail(1))
        .set_index("run_id")
        .loc[[c.run_id for c in held]]
    )
    print(f"ladder: {len(ids_all)} runs ({len(trunks)} trunks), held-out N = {n_max:,.0f}")
    print(f"{'variant':58s} {'ladder FLOPs':>13s} {'max |err|':>10s} {'fit s':>7s}")
    variants = (
        ("i", "trunks + branches, Chinchilla on final points", ids_all),
        ("ii", "trunks + branches, annealing law on every point", ids_all),
        ("iii", "one run per size, annealing law on every point", trunks),
    )
    for key, what, runs in variants:
        try:
            rel, secs = backtest(table, key, runs & small, held, final, args.skip_first, args.decay)
        except ScalelabError as exc:
            print(f"({key:3s}) {what:52s} {flops(table, runs):13.3e}  failed: {exc}")
            continue
        cost = flops(table, runs)
        print(f"({key:3s}) {what:52s} {cost:13.3e} {np.max(np.abs(rel)):10.2%} {secs:7.1f}")
        print("      errors: " + ", ".join(f"{r}: {e:+.2%}" for r, e in zip(final.index, rel)))
    if args.dense:
        dense = read_table(args.dense)
        dense = dense.with_data(dense.data[dense.data["N"] < n_max])
        t0 = time.perf_counter()
        law = fit_curves(dense, "annealing", eval_set="val", bootstrap=0, decay=args.decay)
        secs = time.perf_counter() - t0
        pred = np.array([law.predict(c.N, c.lr, [c.final_step])[0] for c in held])
        rel = pred / final["loss"].to_numpy() - 1
        what = f"one run per size, {law.n_points} dense points, annealing law"
        print(
            f"(iv ) {what:52s} {flops(table, trunks):13.3e} {np.max(np.abs(rel)):10.2%} {secs:7.1f}"
        )
        print("      errors: " + ", ".join(f"{r}: {e:+.2%}" for r, e in zip(final.index, rel)))
        print("      " + ", ".join(f"{k} = {v:.4g}" for k, v in law.params.items()))
    t0 = time.perf_counter()
    law = fit_curves(table, "annealing", eval_set="val", bootstrap=100)
    print(
        f"annealing law on the whole ladder's curves ({law.n_points} points, {law.n_runs} runs, "
        f"100 bootstrap refits): {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
