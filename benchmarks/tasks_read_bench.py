"""Reading real task data as task tables (not a test): `python benchmarks/tasks_read_bench.py`.

* ``pythia``: the Pythia suite's lm-evaluation-harness result files (``../shared/data/pythia_evals``,
  216 files, 8 sizes x 27 checkpoints) with the bundled mapping (``--lm-eval-map pythia``): files,
  rows, tasks, the notes (files skipped), LAMBADA's final points, and the reader's CPU time;
* ``olmo``: the OLMo ladder's wide ``rungs.csv`` (``--wide``, ``acc_<task>``/``bpb_<task>``,
  ``--column loss=loss_c4``): rows, tasks, units, chance, and the CPU time.

Each figure is the best of ``--repeats`` reads (CPU time of this process: on a shared machine the
wall time is the load's, not the reader's).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scalelab.runs.tasktable import read_tasks  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PYTHIA_MAP = ROOT / "scalelab" / "examples" / "pythia_lm_eval.toml"


def timed(read, repeats: int):
    best_cpu, best_wall, table = float("inf"), float("inf"), None
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        table = read()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return table, best_cpu, best_wall


def pythia(repeats: int) -> None:
    folder = DATA / "pythia_evals"
    if not folder.is_dir():
        print(f"pythia: SKIPPED, {folder} absent")
        return
    table, cpu, wall = timed(lambda: read_tasks(folder, lm_eval_map=PYTHIA_MAP), repeats)
    data = table.data
    n_files = len(list(folder.rglob("*.json")))
    print(
        f"pythia: {n_files} files -> {len(data):,} rows, {data['task'].nunique()} tasks, "
        f"{data['run_id'].nunique()} runs; read in {cpu:.2f} s CPU ({wall:.2f} s wall)"
    )
    for note in table.notes:
        print(f"  note: {note}")
    lamb = data[(data.task == "lambada_openai") & (data.step == data.step.max())]
    for _, r in lamb.sort_values("N").iterrows():
        print(
            f"  {r.run_id:12s} N={r.N:.3g} D={r.D:.3g} lambada acc {r.accuracy:.4f}, "
            f"task loss {r.task_loss:.4f} {r.task_loss_unit} (ppl {2.718281828**r.task_loss:.2f})"
        )


def olmo(repeats: int) -> None:
    path = DATA / "olmo_ladder" / "rungs.csv"
    if not path.is_file():
        print(f"olmo: SKIPPED, {path} absent")
        return
    read = lambda: read_tasks(path, wide=True, columns={"loss": "loss_c4"})  # noqa: E731
    table, cpu, wall = timed(read, repeats)
    data = table.data
    units = sorted(data["task_loss_unit"].dropna().unique())
    print(
        f"olmo: {len(data):,} rows, {data['task'].nunique()} tasks, {data['run_id'].nunique()} "
        f"runs, task loss in {units}; read in {cpu:.2f} s CPU ({wall:.2f} s wall)"
    )
    chance = data.groupby("task")["chance"].first()
    print("  chance: " + ", ".join(f"{t} {c:.3g}" for t, c in chance.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=["pythia", "olmo"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name in args.only:
        {"pythia": pythia, "olmo": olmo}[name](args.repeats)


if __name__ == "__main__":
    main()
