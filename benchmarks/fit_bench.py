"""Fitting speed and quality on the Chinchilla data set (Epoch AI's reconstruction, ../shared/data).

Prints, for the full published initialisation grid (4,500 starts) of Chinchilla's approach 3:
  1. scalelab's batched L-BFGS fit: wall time, best objective, starts that reached it;
  2. 1,000 run-level bootstrap refits: wall time;
  3. scipy's L-BFGS-B run start by start on the same objective with an analytic gradient;
  4. the `chinchilla` PyPI package (if installed: `make bench` puts it in .venv-bench only) on the
     same data, grid and objective (Huber, delta 1e-3, on log residuals).

Usage: python benchmarks/fit_bench.py [--data PATH] [--repeats 3] [--skip-scipy] [--skip-package]
[--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab.laws import fit, forms
from scalelab.laws.objective import Objective
from scalelab.runs import RunTable

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "chinchilla_epoch"
    / "svg_extracted_data.csv"
)
DELTA = 1e-3


def load(path: Path) -> RunTable:
    frame = pd.read_csv(path)
    frame = frame[
        frame["loss"] < np.sort(frame["loss"])[-5]
    ]  # Epoch's preprocessing: drop 5 highest
    return RunTable.from_frame(frame, str(path), columns={"N": "Model Size", "C": "Training FLOP"})


def our_objective(table: RunTable, theta: np.ndarray) -> float:
    form = forms.get("chinchilla")
    obj = Objective(
        form,
        {"N": np.log(table["N"]), "D": np.log(table["D"])},
        np.log(table["loss"]),
        None,
        "huber",
        DELTA,
    )
    return float(obj.value_grad(np.atleast_2d(theta), np.array([0]))[0][0])


def bench_scalelab(table: RunTable, repeats: int) -> dict:
    times, law = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        law = fit(table, "chinchilla")
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    booted = fit(table, "chinchilla", bootstrap=1000, seed=0)
    boot_total = time.perf_counter() - t
    return {
        "fit_seconds": min(times),
        "fit_seconds_all": times,
        "objective": law.objective,
        "starts": law.starts["n"],
        "converged_to_best": law.starts["converged_to_best"],
        "status": law.starts["status"],
        "params": law.params,
        "bootstrap_1000_seconds": boot_total - min(times),
        "fit_plus_bootstrap_seconds": boot_total,
        "bootstrap_failed": booted.starts["bootstrap"]["failed"],
        "tokens_per_param_at_5.76e23": booted.derived["tokens_per_param"],
        "tokens_per_param_ci": booted.ci["tokens_per_param"],
    }


def bench_scipy(table: RunTable) -> dict:
    from scipy.optimize import minimize

    form = forms.get("chinchilla")
    obj = Objective(
        form,
        {"N": np.log(table["N"]), "D": np.log(table["D"])},
        np.log(table["loss"]),
        None,
        "huber",
        DELTA,
    )
    row = np.array([0])

    def f(theta):
        value, grad = obj.value_grad(theta[None, :], row)
        return float(value[0]), grad[0]

    grid = form.grid()
    t = time.perf_counter()
    results = [
        minimize(
            f,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(form.lower, form.upper, strict=False)),
        )
        for x0 in grid
    ]
    seconds = time.perf_counter() - t
    fun = np.array([r.fun for r in results])
    best = float(np.nanmin(fun))
    return {
        "seconds": seconds,
        "objective": best,
        "converged_to_best": int(np.sum(fun - best <= 1e-6 * abs(best))),
        "starts": len(grid),
    }


def log_huber(y_true, y_pred):
    """Huber (delta 1e-3) of log residuals, in whatever float type the package uses (it may be
    float128)."""
    r = np.log(y_pred) - np.log(y_true)
    a = np.abs(r)
    return np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA))


def bench_package(table: RunTable) -> dict | None:
    try:
        from chinchilla import Chinchilla
    except ImportError:
        return None
    grid = forms.get("chinchilla").grid()
    param_grid = {
        "e": sorted(set(grid[:, 0])),
        "a": sorted(set(grid[:, 1])),
        "b": sorted(set(grid[:, 2])),
        "alpha": sorted(set(grid[:, 3])),
        "beta": sorted(set(grid[:, 4])),
    }
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame(
            {"C": table["C"], "N": table["N"], "D": table["D"], "loss": table["loss"]}
        ).to_csv(Path(tmp) / "df.csv", index=False)
        cc = Chinchilla(
            tmp, param_grid=param_grid, loss_fn=log_huber, model_search_config=None, log_level=40
        )
        t = time.perf_counter()
        cc.fit(parallel=True)
        seconds = time.perf_counter() - t
    theta = forms.get("chinchilla").internal(
        {"E": cc.E, "A": cc.A, "B": cc.B, "alpha": cc.alpha, "beta": cc.beta}
    )
    return {
        "seconds": seconds,
        "objective_under_ours": our_objective(table, theta),
        "starts": len(grid),
        "params": {
            "E": float(cc.E),
            "A": float(cc.A),
            "B": float(cc.B),
            "alpha": float(cc.alpha),
            "beta": float(cc.beta),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-scipy", action="store_true")
    parser.add_argument("--skip-package", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(
            f"error: {args.data}: not found (the Chinchilla data set sits in ../shared/data)"
        )
    table = load(args.data)
    report = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"{platform.python_version()}",
        "data": f"{args.data.name}: {len(table)} runs",
        "scalelab": bench_scalelab(table, args.repeats),
    }
    if not args.skip_scipy:
        report["scipy_lbfgsb_per_start"] = bench_scipy(table)
    if not args.skip_package:
        report["chinchilla_package"] = bench_package(table)
    if args.json:
        print(json.dumps(report, indent=2, default=float))
        return
    s = report["scalelab"]
    print(f"machine: {report['machine']}; data: {report['data']}")
    print(
        f"scalelab full grid ({s['starts']} starts): {s['fit_seconds']:.2f} s (best of "
        f"{args.repeats}), "
        f"objective {s['objective']:.10g}, {s['converged_to_best']} starts at the best (rtol 1e-6)"
    )
    print(
        f"scalelab 1,000 run-level bootstraps: {s['bootstrap_1000_seconds']:.2f} s "
        f"({s['bootstrap_failed']} failed); tokens/param at 5.76e23: "
        f"{s['tokens_per_param_at_5.76e23']:.1f} "
        f"[{s['tokens_per_param_ci'][0]:.1f}, {s['tokens_per_param_ci'][1]:.1f}]"
    )
    if "scipy_lbfgsb_per_start" in report:
        r = report["scipy_lbfgsb_per_start"]
        print(
            f"scipy L-BFGS-B start by start: {r['seconds']:.2f} s, objective "
            f"{r['objective']:.10g}, "
            f"{r['converged_to_best']} at its best; scalelab is "
            f"{r['seconds'] / s['fit_seconds']:.1f}x faster, "
            f"objective {'no worse' if s['objective'] <= r['objective'] * (1 + 1e-9) else 'WORSE'}"
        )
    package = report.get("chinchilla_package")
    if package:
        print(
            f"chinchilla package (BFGS per start, {package['starts']} starts): "
            f"{package['seconds']:.2f} s, "
            f"objective {package['objective_under_ours']:.10g}; scalelab is "
            f"{package['seconds'] / s['fit_seconds']:.1f}x faster"
        )
    elif not args.skip_package:
        print(
            "chinchilla package: not installed here (run `make bench`, which installs it into "
            ".venv-bench only)"
        )


if __name__ == "__main__":
    main()
