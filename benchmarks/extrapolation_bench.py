"""Extrapolation you can trust: held-out error, interval coverage and width, per data set and form.

For each public data set in ../shared/data (see each README) -- a synthetic ladder from a known
law with seed noise, and the demo ladder's run table (``--demo-runs``) -- every form (and
``auto``, the automatic choice made afresh on each fold's fitting runs) is backtested over the
selection's folds (:data:`scalelab.laws.select.FOLDS`: the largest size held out, the two largest,
the runs above max C / 10 and / 100). Per row: mean and max |relative error| of the held-out
predictions, coverage of the nominal 95% prediction interval and its mean relative width
(hi / lo - 1), for final-point fits and, where the table has intermediate checkpoints, all-point
fits (``--skip-first``); and the wall time.

Usage: python benchmarks/extrapolation_bench.py [--data DIR] [--datasets a,b] [--forms a,b]
[--all-forms a,b] [--demo-runs runs.csv] [--bootstrap 0] [--skip-first 0.1] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab import examples
from scalelab.errors import InputError, NumericalError
from scalelab.laws import published, synthetic
from scalelab.laws.options import FitOptions
from scalelab.laws.select import FOLDS, _fold_name, backtest
from scalelab.runs import RunTable
from scalelab.runs.table import read_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FORMS = ("chinchilla", "chinchilla-tied", "kaplan-nd", "power-offset:C", "auto")


def gadre(data: Path) -> RunTable:
    return examples.load("gadre2024")


def chinchilla_epoch(data: Path) -> RunTable:
    frame = pd.read_csv(data / "chinchilla_epoch" / "svg_extracted_data.csv")
    frame = frame[frame["loss"] < np.sort(frame["loss"])[-5]]  # as tests/test_real_data.py
    return RunTable.from_frame(
        frame, "chinchilla_epoch", columns={"N": "Model Size", "C": "Training FLOP"}
    )


def misfitting(data: Path) -> RunTable:
    """Every checkpoint of the best-learning-rate run per (model, planned length)."""
    f = pd.read_csv(data / "misfitting" / "scaling_results.csv", low_memory=False)
    f = f[f["portion_steps_elapsed"] <= 1.0 + 1e-9].copy()
    f["run_id"] = (
        (f["model"] + "/lr" + f["peak_lr"].astype(str) + "/T" + f["total_steps"].astype(str))
        + "/"
        + f["sweep"].astype(str)
    )
    final = f.loc[f.groupby("run_id")["D"].idxmax()]
    best = final.loc[final.groupby(["model", "total_steps"])["loss"].idxmin(), "run_id"]
    f = f[f["run_id"].isin(set(best))].drop_duplicates(["run_id", "D"], keep="last")
    frame = pd.DataFrame(
        {
            "run_id": f["run_id"],
            "N": f["N_no_emb"].astype(float),
            "D": f["D"].astype(float),
            "loss": f["loss"].astype(float),
        }
    )
    return RunTable.from_frame(frame, "misfitting")


def porian(data: Path) -> RunTable:
    table = examples.load("porian2024")
    return table.with_data(table.data[table.data["experiment"] == "Cosine decay"], "Cosine decay")


def synthetic_ladder(data: Path) -> RunTable:
    """35 runs (7 sizes x 5 token counts) from Chinchilla's law with 1% seed noise."""
    truth = published.get("chinchilla-2022")
    return synthetic.simulate(
        truth, N=np.geomspace(2e7, 1.5e9, 7), D=np.geomspace(4e8, 1e11, 5), noise=0.01, seed=3
    )


PATHS = {"demo": Path("/tmp/extrap-demo/runs.csv")}  # --demo-runs


def demo_ladder(data: Path) -> RunTable:
    """The demo ladder's run table (``scalelab demo``'s runs.csv; --demo-runs), its ``val``
    evaluations: 5 sizes x 3 token counts (branches of each size's run), every checkpoint."""
    table = read_table(PATHS["demo"])
    return table.with_data(table.data[table.data["eval_set"] == "val"], "demo ladder, val")


DATASETS = {
    "gadre2024": gadre,
    "chinchilla_epoch": chinchilla_epoch,
    "misfitting": misfitting,
    "porian2024": porian,
    "synthetic": synthetic_ladder,
    "demo": demo_ladder,
}


def has_checkpoints(table: RunTable) -> bool:
    return table.data.groupby("run_id").size().max() > 1


def bench_one(table, form, points, skip_first, bootstrap):
    opts = FitOptions(
        points=points, skip_first=skip_first if points == "all" else 0.0, bootstrap=bootstrap
    )
    preds, failed = [], []
    t0 = time.perf_counter()
    for split, kwargs in FOLDS:
        try:
            bt = backtest(table, form, split=split, options=opts, **kwargs)
        except (InputError, NumericalError) as exc:
            failed.append(f"{_fold_name(split, kwargs)}: {exc.problems[0]}")
            continue
        preds += [p for f in bt.folds for p in f.predictions]
    seconds = time.perf_counter() - t0
    if not preds:
        return {"failed": failed, "seconds": seconds}
    err = np.abs([p["rel_error"] for p in preds])
    cov = [p["covered"] for p in preds if "covered" in p]
    width = [p["interval"][1] / p["interval"][0] - 1 for p in preds if "interval" in p]
    return {
        "n": int(err.size),
        "mean_abs_err": float(err.mean()),
        "max_abs_err": float(err.max()),
        "coverage": float(np.mean(cov)) if cov else None,
        "mean_width": float(np.mean(width)) if width else None,
        "seconds": seconds,
        "failed": failed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument(
        "--all-forms",
        default="chinchilla,chinchilla-tied",
        help="forms of the all-point fits (each fits ~10x the rows: slower)",
    )
    ap.add_argument(
        "--demo-runs", default=str(PATHS["demo"]), help="the demo ladder's runs.csv (scalelab demo)"
    )
    ap.add_argument("--bootstrap", type=int, default=0)
    ap.add_argument("--skip-first", type=float, default=0.1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    PATHS["demo"] = Path(args.demo_runs)
    rows = []
    for name in args.datasets.split(","):
        try:
            table = DATASETS[name](Path(args.data))
        except FileNotFoundError:
            print(f"# {name}: data not found, skipped", flush=True)
            continue
        modes = ["final", "all"] if has_checkpoints(table) else ["final"]
        for points in modes:
            chosen = args.forms if points == "final" else args.all_forms
            for form in filter(None, chosen.split(",")):
                r = bench_one(table, form, points, args.skip_first, args.bootstrap)
                r |= {"dataset": name, "points": points, "form": form}
                rows.append(r)
                if args.json:
                    continue
                if "n" not in r:
                    print(f"| {name} | {points} | {form} | failed: {r['failed']} |", flush=True)
                    continue
                print(
                    f"| {name} | {points} | {form} | {r['n']} | {r['mean_abs_err']:.2%} | "
                    f"{r['max_abs_err']:.2%} | {r['coverage']:.0%} | {r['mean_width']:.2%} | "
                    f"{r['seconds']:.1f} |",
                    flush=True,
                )
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        cov = [(r["coverage"], r["n"]) for r in rows if r.get("coverage") is not None]
        total = sum(c * n for c, n in cov) / max(sum(n for _, n in cov), 1)
        print(f"# pooled coverage over all rows: {total:.1%}")


if __name__ == "__main__":
    main()
