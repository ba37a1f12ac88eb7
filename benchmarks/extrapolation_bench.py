"""Extrapolation you can trust: held-out error, interval coverage and width, per data set and form.

For each public data set in ../shared/data (see each README) -- a synthetic ladder from a known
law with seed noise, and the demo ladder's run table (``--demo-runs``) -- every form (and
``auto``, the automatic choice made afresh on each fold's fitting runs) is backtested over the
selection's folds (:data:`scalelab.laws.select.FOLDS`: the largest size held out, the two largest,
the runs above max C / 10 and / 100). Per row: mean and max |relative error| of the held-out
predictions, coverage of the nominal 95% prediction interval and its mean relative width
(hi / lo - 1), for final-point fits and, where the table has intermediate checkpoints, all-point
fits (``--skip-first``); and the wall time.

The OLMo rungs (``olmo``: 190M-760M -> the four 1B runs, C4 loss, final points) are backtested on
that one fold; ``--olmo-points 0.1,0.3`` adds Chinchilla on final points vs every checkpoint after
those warm-up cuts, from all rungs and from the 1-5xC rungs (44% of their compute). ``--level``
sets the nominal level (the coverage/width frontier), ``--calibration`` prints which quantile of
how many held-out errors each full fit's interval is calibrated on.

Usage: python benchmarks/extrapolation_bench.py [--data DIR] [--datasets a,b] [--forms a,b]
[--all-forms a,b] [--demo-runs runs.csv] [--bootstrap 0] [--skip-first 0.1] [--level 0.95]
[--olmo-points 0.1,0.3] [--calibration] [--json]
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


def gadre_rpj(data: Path) -> RunTable:
    """The same ladder trained on RedPajama (column ``dataset`` = rpj; C4 validation loss)."""
    return examples.load("gadre2024-rpj")


def gadre_rw(data: Path) -> RunTable:
    """The same ladder trained on RefinedWeb (column ``dataset`` = rw_original)."""
    return examples.load("gadre2024-rw")


OLMO_SIZES = ("190M", "370M", "760M", "1B")


def olmo_rungs(data: Path, points: str = "final", xcs=(1.0, 2.0, 5.0, 10.0)) -> RunTable:
    """The OLMo ladder's 16 paper rungs (``in_paper_fit``), C4 loss (``loss_c4``), the paper's N
    and OLMo's C; the fitting sizes (190M-760M) restricted to the token multiples ``xcs``, the 1B
    runs at all four; final points only unless ``points="all"``."""
    f = pd.read_csv(data / "olmo_ladder" / "rungs.csv")
    f = f[(f["in_paper_fit"] == 1) & ((f["size"] == "1B") | f["xC"].isin(xcs))]
    if points == "final":
        f = f[f["is_final"] == 1]
    frame = pd.DataFrame(
        {
            "run_id": f["run_id"],
            "N": f["N"].astype(float),
            "D": f["D"].astype(float),
            "C": f["C"].astype(float),
            "loss": f["loss_c4"].astype(float),
        }
    )
    return RunTable.from_frame(frame, "olmo_ladder rungs (C4)")


def olmo(data: Path) -> RunTable:
    return olmo_rungs(data)


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
    "gadre2024-rpj": gadre_rpj,
    "gadre2024-rw": gadre_rw,
    "olmo": olmo,
    "chinchilla_epoch": chinchilla_epoch,
    "misfitting": misfitting,
    "porian2024": porian,
    "synthetic": synthetic_ladder,
    "demo": demo_ladder,
}


def has_checkpoints(table: RunTable) -> bool:
    return table.data.groupby("run_id").size().max() > 1


OLMO_SCHEME = (("size", {"folds": 1}),)  # 190M-760M -> the 1B runs


def bench_one(table, form, points, skip_first, bootstrap, level=0.95, scheme=FOLDS):
    opts = FitOptions(
        points=points,
        skip_first=skip_first if points == "all" else 0.0,
        bootstrap=bootstrap,
        level=level,
    )
    preds, failed = [], []
    t0 = time.perf_counter()
    for split, kwargs in scheme:
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


def calibration(table, form: str, level: float) -> str:
    """What the law fitted to the whole table calibrates its interval on: which quantile of how
    many held-out errors (laws.misspec)."""
    from scalelab import laws
    from scalelab.laws import misspec

    try:
        law = laws.fit(table, form, level=level)
    except (InputError, NumericalError) as exc:
        return f"fit failed: {exc.problems[0]}"
    mis = law.scatter.get("misspecification") or {}
    if not mis.get("scores"):
        return f"not calibrated ({mis.get('method', 'no folds')}, tau {mis.get('tau', 0):.4f})"
    q = misspec.quantile(mis["scores"], level)
    return f"q = {q['q']:.4f}: rank {q['rank']} of {q['n']} held-out scores" + (
        "" if q["enough"] else f" (the largest: covers >= {q['guaranteed']:.0%})"
    )


def olmo_item6(data: Path, skip_firsts, level: float) -> list[dict]:
    """Chinchilla on final points vs every checkpoint, 190M-760M rungs -> the 1B runs, from all
    rungs and from half their compute (the 1, 2, 5xC rungs: 44% of the rungs' compute)."""
    rows = []
    for what, xcs in (("all rungs", (1.0, 2.0, 5.0, 10.0)), ("1-5xC (44% of C)", (1.0, 2.0, 5.0))):
        modes = [("final", 0.0)] + [("all", sf) for sf in skip_firsts]
        for points, sf in modes:
            table = olmo_rungs(data, points, xcs)
            for form in ("chinchilla", "chinchilla-tied"):
                r = bench_one(table, form, points, sf, 0, level, OLMO_SCHEME)
                r |= {"dataset": f"olmo {what}", "points": points, "skip_first": sf, "form": form}
                rows.append(r)
    return rows


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
    ap.add_argument("--level", type=float, default=0.95, help="nominal level of the intervals")
    ap.add_argument(
        "--olmo-points",
        default="",
        help="skip-first fractions for the OLMo finals-vs-checkpoints rows, e.g. 0.1,0.3",
    )
    ap.add_argument("--calibration", action="store_true", help="print each full fit's quantile")
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
        scheme = OLMO_SCHEME if name == "olmo" else FOLDS
        for points in modes:
            chosen = args.forms if points == "final" else args.all_forms
            for form in filter(None, chosen.split(",")):
                r = bench_one(
                    table, form, points, args.skip_first, args.bootstrap, args.level, scheme
                )
                r |= {"dataset": name, "points": points, "form": form}
                if args.calibration and form != "auto" and points == "final":
                    r["calibration"] = calibration(table, form, args.level)
                rows.append(r)
                if args.json:
                    continue
                if r.get("calibration"):
                    print(f"# {name} {form}: {r['calibration']}", flush=True)
                if "n" not in r:
                    print(f"| {name} | {points} | {form} | failed: {r['failed']} |", flush=True)
                    continue
                print(
                    f"| {name} | {points} | {form} | {r['n']} | {r['mean_abs_err']:.2%} | "
                    f"{r['max_abs_err']:.2%} | {r['coverage']:.0%} | {r['mean_width']:.2%} | "
                    f"{r['seconds']:.1f} |",
                    flush=True,
                )
    if args.olmo_points:
        skips = [float(x) for x in args.olmo_points.split(",")]
        for r in olmo_item6(Path(args.data), skips, args.level):
            rows.append(r)
            if not args.json and "n" in r:
                print(
                    f"| {r['dataset']} | {r['points']} {r['skip_first']:g} | {r['form']} | "
                    f"{r['n']} | {r['mean_abs_err']:.2%} | {r['max_abs_err']:.2%} | "
                    f"{r['coverage']:.0%} | {r['mean_width']:.2%} | {r['seconds']:.1f} |",
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
