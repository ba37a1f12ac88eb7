"""Legibility of every report figure, per report: the check of `scalelab.report.legibility` (loaded
from this checkout) on the figures of whatever `scalelab` is first on the path, so the same check
measures the code before and after a change:

    PYTHONPATH=. python benchmarks/legibility_bench.py              # this checkout
    git worktree add /tmp/old f395135
    PYTHONPATH=/tmp/old python benchmarks/legibility_bench.py       # the code before

Reports are built as tests/test_report_legibility.py builds them (one-start fit grid, 8 bootstrap
resamples, the demo's sensitivity on the one-start grid, SVG embedding skipped). Prints one
Markdown row per report: figures, problems, problems by kind, the figures with a problem.
"""

import collections
import importlib.util
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRID = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}
KINDS = (
    ("cut by", "clipped"),
    ("overlaps", "overlap"),
    ("nearly touch", "near"),
    ("another panel", "into panel"),
    ("far beyond", "y range"),
    ("outside", "outside"),
)


def _check():
    spec = importlib.util.spec_from_file_location(
        "legibility", REPO / "scalelab" / "report" / "legibility.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    from scalelab import examples
    from scalelab.report import figures as F
    from scalelab.report import html as H
    from scalelab.runs.table import read_table

    check = _check()
    F.data_uri = lambda fig, fmt="svg": "data:,"
    for name in ["demo", *examples.names()]:
        if name == "demo":
            table = read_table(REPO / "tests" / "data" / "demo_ladder_runs.csv")
        else:
            table = examples.load(name)
        if name == "porian2024":
            table = table.where(config="rw/tuned/short/const/standard/val")
        t0 = time.process_time()
        rep = H.build(
            table, bootstrap=8, grid=GRID, sensitivity=name == "demo", sensitivity_grid=GRID
        )
        kinds, figs = collections.Counter(), set()
        for key, fig in rep.figures.items():
            for problem in check.problems(fig, key):
                kinds[next((k for s, k in KINDS if s in problem), "other")] += 1
                figs.add(key)
        rep.close()
        print(
            f"| {name} | {len(rep.figures) if rep.figures else '?'} | {sum(kinds.values())} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            + f" | {', '.join(sorted(figs))} | {time.process_time() - t0:.1f} s CPU |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
