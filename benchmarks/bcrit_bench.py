"""Critical batch size: fit time and recovery on synthetic batch sweeps (scalelab.laws.batch).

    python benchmarks/bcrit_bench.py [--sizes 3] [--batches 5] [--points 40] [--bootstrap 200]
                                     [--noise 0.01] [--json]

Draws sweeps obeying (S/S_min − 1)(E/E_min − 1) = 1 with Kaplan's B* = 2e8, α_B = 0.21 and
L(N, S_min) (``simulate_sweep``), then prints:
  1. ``critical_batch``: wall time (with the bootstrap), B*, α_B and their intervals against the
     truth;
  2. ``kaplan-ns`` through S_min (``bcrit`` = the fitted B_crit): wall time and N_c, S_c, α_N, α_S.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.laws import fit  # noqa: E402
from scalelab.laws.batch import critical_batch, simulate_sweep  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, default=3)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    table = simulate_sweep(
        sizes=tuple(np.geomspace(1e5, 1e7, a.sizes)),
        batches=tuple(np.geomspace(3e3, 3e5, a.batches)),
        n_points=a.points,
        noise=a.noise,
        seed=1,
    )
    t0 = time.perf_counter()
    r = critical_batch(table, bootstrap=a.bootstrap, seed=1)
    t_bcrit = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = r.save(Path(tmp) / "bcrit.json")
        t0 = time.perf_counter()
        law = fit(table, "kaplan-ns", bcrit=str(path))
        t_ns = time.perf_counter() - t0
    out = {
        "runs": r.n_runs,
        "rows": len(table),
        "bcrit_s": t_bcrit,
        "bootstrap": a.bootstrap,
        "B_star": r.B_star,
        "B_star_ci": r.ci["B_star"],
        "alpha_B": r.alpha_B,
        "alpha_B_ci": r.ci["alpha_B"],
        "levels_used": sum(lv["used"] for lv in r.levels),
        "levels": len(r.levels),
        "kaplan_ns_s": t_ns,
        "kaplan_ns": law.params,
    }
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['runs']} runs, {out['rows']} rows ({a.sizes} sizes x {a.batches} batch sizes)")
    print(
        f"critical_batch ({a.bootstrap} resamples): {t_bcrit:.2f} s; B* = {r.B_star:.3g} "
        f"[{r.ci['B_star'][0]:.3g}, {r.ci['B_star'][1]:.3g}] (truth 2e8), alpha_B = "
        f"{r.alpha_B:.3f} [{r.ci['alpha_B'][0]:.3f}, {r.ci['alpha_B'][1]:.3f}] (truth 0.21); "
        f"{out['levels_used']} of {out['levels']} (size, loss) levels in the power law"
    )
    p = law.params
    print(
        f"kaplan-ns through S_min: {t_ns:.2f} s; N_c = {p['N_c']:.3g} (truth 8.8e13), S_c = "
        f"{p['S_c']:.3g} (2.1e3), alpha_N = {p['alpha_N']:.3f} (0.076), alpha_S = "
        f"{p['alpha_S']:.3f} (0.76)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
