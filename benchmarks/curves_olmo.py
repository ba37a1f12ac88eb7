"""The OLMo ladder's rungs (Bhagia et al. 2024) as learning curves: every checkpoint of every run.

    python benchmarks/curves_olmo.py [../shared/data/olmo_ladder/rungs.csv] [--bootstrap 100]

``olmo_curves(path)`` turns ``rungs.csv`` into a run table the learning-curve laws read: loss =
``loss_c4``, the schedule as the data's README reconstructs it (cosine from ``lr_peak`` to
0.1·peak at the run's last checkpoint, linear warm-up of round(N / batch_tokens) steps; the
rebuilt lr equals the file's ``lr`` column, checked on load). The reruns are dropped unless asked.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from scalelab.runs.schedules import Schedule
from scalelab.runs.table import RunTable

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "olmo_ladder")
RUNGS = os.path.join(DEFAULT, "rungs.csv")


def olmo_curves(path: str = RUNGS, reruns: bool = False, loss: str = "loss_c4") -> RunTable:
    raw = pd.read_csv(path)
    if not reruns:
        raw = raw[raw["variant"] == "main"]
    total = raw.groupby("run_id")["step"].transform("max").astype(int)
    warm = np.round(raw["N"] / raw["batch_tokens"]).astype(int)
    data = pd.DataFrame(
        {
            "run_id": raw["run_id"],
            "N": raw["N"].astype(float),
            "D": raw["D"].astype(float),
            "C": raw["C"].astype(float),
            "step": raw["step"].astype(int),
            "loss": raw[loss].astype(float),
            "schedule": "cosine",
            "lr": raw["lr_peak"].astype(float),
            "total_steps": total,
            "warmup_steps": warm,
            "min_lr_ratio": 0.1,
            "tokens_per_step": raw["batch_tokens"].astype(float),
            "xC": raw["xC"].astype(float),
            "in_paper_fit": raw["in_paper_fit"].astype(int),
        }
    )
    rebuilt = [
        Schedule("cosine", p, t, w, 0.1) for p, t, w in zip(data["lr"], total, warm, strict=True)
    ]
    # the file's cosine reaches 0.1·peak 10 steps before the last checkpoint (then constant);
    # ours ends at the last checkpoint: the lr differs by at most 1.3% (0.5xC runs, near the
    # end), the areas S1 and S2 by far less
    err = [
        min(abs(sc.lr(s - 1) / lr - 1), abs(sc.lr(s) / lr - 1))
        for sc, s, lr in zip(rebuilt, data["step"], raw["lr"], strict=True)
    ]
    worst = float(np.max(err))
    if worst > 0.02:
        raise SystemExit(f"{path}: rebuilt lr differs from the file's by {worst:.2%}")
    return RunTable.from_frame(data.reset_index(drop=True), source=path)


def backtest(table: RunTable, law: str, bootstrap: int, decay=0.999) -> None:
    """Fit the 190M-760M rungs (all lengths, or without the 10xC runs: 46% of their compute),
    predict the 1B runs' final losses with the band at the law's level."""
    from scalelab.laws.curves import fit_curves  # noqa: PLC0415
    from scalelab.runs.curves import learning_curves  # noqa: PLC0415

    d = table.data
    top = d["N"].max()
    held = [c for c in learning_curves(table) if c.N == top]
    for name, keep in (
        ("all rungs", d["N"] < top),
        ("half compute (no 10xC)", (d["N"] < top) & (d["xC"] < 10)),
    ):
        sub = table.with_data(d[keep])
        share = (sub.data.groupby("run_id")["C"].max().sum()) / d[d["N"] < top].groupby("run_id")[
            "C"
        ].max().sum()
        c0, t0 = time.process_time(), time.perf_counter()
        fitted = fit_curves(sub, law, bootstrap=bootstrap, decay=decay)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        rows = []
        for c in held:
            centre, lo, hi = fitted.predict(c.N, c.lr, [c.final_step], band=True)
            y = c.loss[-1]
            rows.append(
                (c.run_id, centre[0] / y - 1, (hi[0] - lo[0]) / centre[0], lo[0] <= y <= hi[0])
            )
        err = np.array([abs(r[1]) for r in rows])
        width = np.array([r[2] for r in rows])
        cover = np.mean([r[3] for r in rows])
        m = fitted.misspec
        print(
            f"{law:10s} {name:24s} {share:5.0%} of compute, {fitted.n_points} points: "
            f"|err| mean {err.mean():.2%} max {err.max():.2%}, band width mean {width.mean():.2%} "
            f"max {width.max():.2%}, covered {cover:.0%}; tau {m.get('tau', 0):.4f} "
            f"({m.get('n', 0)} held-out finals), fit {cpu:.1f} s CPU / {wall:.1f} s wall"
        )
        print("    " + ", ".join(f"{r[0]} {r[1]:+.2%}{'' if r[3] else ' (outside)'}" for r in rows))
        dd = fitted.data
        print(
            f"    objective {dd['objective']:.8g} (grid's best start {dd['grid_objective']:.8g}), "
            f"converged {dd['converged']}"
        )
        if fitted.warnings:
            print("    warnings: " + "; ".join(fitted.warnings))


def backtest_sizes(table: RunTable, law: str, bootstrap: int, k: int, decay=0.999) -> None:
    """Fit every checkpoint of the ``k`` smallest sizes, predict the final loss of every run of
    each larger size with the band: how the band holds as the extrapolation in N grows."""
    from scalelab.laws.curves import fit_curves  # noqa: PLC0415
    from scalelab.runs.curves import learning_curves  # noqa: PLC0415

    d = table.data
    sizes = sorted(d["N"].unique())
    top = sizes[k - 1]
    sub = table.with_data(d[d["N"] <= top])
    c0 = time.process_time()
    fitted = fit_curves(sub, law, bootstrap=bootstrap, decay=decay)
    cpu = time.process_time() - c0
    print(
        f"{law}: fitted on the {k} smallest sizes (N <= {top:.3g}), {fitted.n_points} points, "
        f"{cpu:.1f} s CPU; tau {fitted.misspec.get('tau', 0):.4f}"
    )
    for n in sizes[k:]:
        rows = []
        for c in learning_curves(table):
            if c.N != n:
                continue
            centre, lo, hi = fitted.predict(c.N, c.lr, [c.final_step], band=True)
            y = c.loss[-1]
            rows.append((centre[0] / y - 1, (hi[0] - lo[0]) / centre[0], lo[0] <= y <= hi[0]))
        err = np.abs([r[0] for r in rows])
        print(
            f"    N = {n:.3g} ({n / top:.2f}x the largest fitted): |err| mean {err.mean():.2%} "
            f"max {err.max():.2%}, band width mean {np.mean([r[1] for r in rows]):.2%}, "
            f"covered {sum(r[2] for r in rows)} of {len(rows)}; "
            + ", ".join(f"{r[0]:+.2%}" for r in rows)
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rungs", nargs="?", default=RUNGS)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--law", nargs="+", default=["annealing", "multipower"])
    ap.add_argument(
        "--fit-sizes",
        type=int,
        default=0,
        help="fit the K smallest sizes and predict every larger one (default: 190M-760M -> 1B)",
    )
    args = ap.parse_args()
    table = olmo_curves(args.rungs)
    for law in args.law:
        if args.fit_sizes:
            backtest_sizes(table, law, args.bootstrap, args.fit_sizes)
        else:
            backtest(table, law, args.bootstrap)


if __name__ == "__main__":
    main()
