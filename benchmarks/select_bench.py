"""CPU time of ``fit(table, "auto")`` (form selection) per table (not a test):
`python benchmarks/select_bench.py [--only NAME ...] [--dump out.pkl] [--compare old.pkl]
[--profile NAME]`.

Tables: the bundled examples ``gadre2024`` and ``gadre2024-rw`` (final points), the OLMo rungs'
final points below the largest size (``/work/shared/data/olmo_ladder``, via curves_olmo's reader,
points="final", where present), and step 1 of ``tasks_bench.py --only predict`` (task0 of its
synthetic 16-run x 100-point table, every checkpoint, the coarse grids ``tasks predict`` uses).
``--dump`` pickles each table's selection record (``law.options.auto``), final parameters and
objective; ``--compare`` checks them against such a dump from another version of the code,
exactly (bit for bit), and prints the differences (relative) where there are any.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pickle
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scalelab import examples  # noqa: E402
from scalelab.laws import select  # noqa: E402


def _tasks_step1():
    from scalelab.runs.table import RunTable
    from scalelab.tasks import chain, synthetic
    from scalelab.tasks import data as taskdata

    sizes = [1e6 * 2 ** (i / 2) for i in range(8)]
    specs = {f"task{i}": {"chance": 0.25, "ceiling": 0.9, "k": 3.0 + i / 2, "L0": 2.4 + i / 20}
             for i in range(8)}  # fmt: skip
    frame = synthetic.chain_table(
        N=sizes, tokens_per_param=(15.0, 40.0), tasks=specs, points=100, seed=0
    )
    table = RunTable.from_frame(frame, "tasks_bench")
    pts = taskdata.task_points(table, "task0", "task_loss", None)
    return lambda: chain.fit_step1(pts, "auto", 0, 0, 0.9, "tasks_bench", None)


def _olmo():
    from curves_olmo import olmo_curves

    table = olmo_curves()
    d = table.data
    small = table.with_data(d[d["N"] < d["N"].max()])
    return lambda: select.fit(small, "auto", points="final")


def tables() -> dict:
    out = {
        name: (lambda t=examples.load(name): select.fit(t, "auto"))
        for name in ("gadre2024", "gadre2024-rw")
    }
    try:
        out["olmo_final"] = _olmo()
    except Exception as exc:  # noqa: BLE001 - the data folder is optional
        print(f"olmo_final: skipped ({exc})")
    out["tasks_step1"] = _tasks_step1()
    return out


def differences(old, new, path: str = "") -> list[tuple]:
    """Every leaf where ``new`` is not exactly ``old``: (path, old, new[, relative difference])."""
    if isinstance(old, dict):
        out = [(path, "keys", sorted(set(old) ^ set(new)))] if set(old) != set(new) else []
        return out + [
            d for k in old if k in new for d in differences(old[k], new[k], f"{path}/{k}")
        ]
    if isinstance(old, (list, tuple)):
        if len(old) != len(new):
            return [(path, f"{len(old)} items", f"{len(new)} items")]
        return [
            d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(old, float) and isinstance(new, float):
        if old == new or (math.isnan(old) and math.isnan(new)):
            return []
        return [(path, old, new, abs(new - old) / max(abs(old), 1e-300))]
    return [] if old == new else [(path, old, new)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dump", help="pickle {table: (auto record, params)} here")
    ap.add_argument("--profile", help="cProfile this table's fit instead")
    ap.add_argument("--compare", help="compare with this --dump of another version, exactly")
    ap.add_argument("--only", nargs="*", help="these tables")
    args = ap.parse_args()
    dumped = {}
    for name, run in tables().items():
        if args.only and name not in args.only:
            continue
        if args.profile:
            if name == args.profile:
                cProfile.runctx("run()", globals(), {"run": run}, "/tmp/select.prof")
                pstats.Stats("/tmp/select.prof").sort_stats("cumulative").print_stats(45)
            continue
        t0 = time.process_time()
        law = run()
        cpu = time.process_time() - t0
        auto = law.options.auto
        print(f"{name:14s} {cpu:6.2f} s CPU  chosen {auto['chosen']:18s} tied {auto['tied']}")
        dumped[name] = (auto, law.params, law.objective)
    if args.dump:
        with open(args.dump, "wb") as fh:
            pickle.dump(dumped, fh)
    if args.compare:
        with open(args.compare, "rb") as fh:
            old = pickle.load(fh)
        for name in dumped:
            if name not in old:
                continue
            diff = differences(old[name], dumped[name])
            print(f"{name:14s} " + ("identical" if not diff else f"{len(diff)} differences"))
            for d in diff[:10]:
                print("   ", *d)


if __name__ == "__main__":
    main()
