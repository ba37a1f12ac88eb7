"""Time ``scalelab <group> --help`` as a whole process: the median wall and CPU (user + sys) time
of ``--runs`` runs per group, and whether pandas or numpy was imported on the way.

    python benchmarks/help_time.py [--runs 5] [--root TREE] [GROUP ...]

``--root`` runs another checkout's package (``git archive <commit> scalelab | tar -x -C TREE``)
for a before/after comparison on the same machine. docs/benchmarks.md "The code base" records it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

GROUPS = ("tasks", "curves", "report", "compare", "bcrit", "fit", "data", "plan")
_HEAVY = "import sys; " + (
    "import scalelab.cli as c; code = c.main(sys.argv[1:]); "
    "print(int('pandas' in sys.modules), int('numpy' in sys.modules), file=sys.stderr)"
)


def _once(root: Path, group: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "scalelab.cli", group, "--help"],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _heavy(root: Path, group: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _HEAVY, group, "--help"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    pandas, numpy = done.stderr.split()[-2:]
    return ", ".join(m for m, flag in (("pandas", pandas), ("numpy", numpy)) if flag == "1") or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", default=list(GROUPS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    root = Path(args.root).resolve()
    print(f"{root}: median of {args.runs} runs of `python -m scalelab.cli GROUP --help`")
    print(f"{'group':<10}{'wall s':>8}{'cpu s':>8}  loads")
    for group in args.groups:
        times = [_once(root, group) for _ in range(args.runs)]
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        print(f"{group:<10}{wall:>8.2f}{cpu:>8.2f}  {_heavy(root, group)}")


if __name__ == "__main__":
    main()
