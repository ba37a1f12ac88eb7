"""Downstream-task benchmark.

    .venv/bin/python benchmarks/tasks_bench.py [--runs 16] [--points 100] [--tasks 8]
                                               [--bootstrap 200] [--json]

``bench_predict``: the time of one whole-process ``scalelab tasks predict --task all --json``
(start-up, reading and validating the table, both steps' fits and the bootstrap) on a synthetic
task table of runs x evaluation points x tasks rows (16 x 100 x 8 = 12,800 by default), and the
same per task, with the process's CPU time (the wall time on a shared machine depends on its
load, which is printed too). Target: under 3 s per task on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.tasks import synthetic  # noqa: E402


def bench_predict(runs: int = 16, points: int = 100, tasks: int = 8, bootstrap: int = 200) -> dict:
    """Seconds of one ``scalelab tasks predict`` process over a synthetic table."""
    sizes = [1e6 * 2 ** (i / 2) for i in range(runs // 2)]
    specs = {
        f"task{i}": {"chance": 0.25, "ceiling": 0.9, "k": 3.0 + i / 2, "L0": 2.4 + i / 20}
        for i in range(tasks)
    }
    frame = synthetic.chain_table(
        N=sizes, tokens_per_param=(15.0, 40.0), tasks=specs, points=points, seed=0
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.csv"
        frame.to_csv(path, index=False)
        command = [
            sys.executable, "-m", "scalelab.cli", "tasks", "predict", str(path), "--task", "all",
            "--N", "1B", "--D", "20B", "--bootstrap", str(bootstrap), "--json",
        ]  # fmt: skip
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"scalelab tasks predict failed:\n{done.stderr[-2000:]}")
    results = json.loads(done.stdout)
    return {
        "rows": len(frame),
        "runs": runs,
        "points": points,
        "tasks": tasks,
        "bootstrap": bootstrap,
        "seconds": round(seconds, 2),
        "seconds_per_task": round(seconds / tasks, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_task": round(cpu / tasks, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "predicted": sum(r["accuracy"] is not None for r in results),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = {"predict": bench_predict(args.runs, args.points, args.tasks, args.bootstrap)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        p = result["predict"]
        print(
            f"tasks predict: {p['rows']} rows ({p['runs']} runs x {p['points']} points x "
            f"{p['tasks']} tasks), bootstrap {p['bootstrap']}: {p['seconds']:.2f} s whole process, "
            f"{p['seconds_per_task']:.2f} s per task; CPU {p['cpu_seconds']:.2f} s, "
            f"{p['cpu_seconds_per_task']:.2f} s per task ({p['predicted']} predicted, load "
            f"average {p['load_average']}); target < 3 s per task"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
