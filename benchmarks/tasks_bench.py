"""Downstream-task benchmark (not a test): `python benchmarks/tasks_bench.py`.

Sections (each a function; run all, or name them with ``--only``):

* ``eval``: task-evaluation throughput (examples/s) of a ~5M non-embedding-parameter GPT (6
  layers, d_model 256, context 256, bytes vocabulary; random weights: the cost does not depend on
  them) on the built-in cloze and multiple-choice tasks, on CPU with one thread and with torch's
  default thread count (and on CUDA when there is one);
* ``demo``: the demo ladder's extra time for task evaluation, from a finished demo folder
  (``--demo``, default ``out/demo``): the seconds its runs spent in the task callback
  (``runs/*/task_eval.json``), spread over its workers, as a share of the ladder's wall time;
* ``backtest``: the chain's backtest error on the demo ladder's task rows (from the finished demo
  folder ``--demo``): the largest size held out, both steps fitted on the rest, per task the error of
  step 1 alone (relative), step 2 alone and the chain (absolute accuracy), through the task's own
  loss and through the general held-out loss;
* ``predict``: the time of one whole-process ``scalelab tasks predict --task all --json`` (start-up,
  reading and validating the table, both steps' fits and the bootstrap) on a synthetic task table
  of runs x evaluation points x tasks rows (16 x 100 x 8 = 12,800 by default), with the process's
  CPU time; target: under 3 s per task on this machine.

Writes ``out/tasks_bench.json``. On a shared machine the figures are pessimistic: say so.
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.data.tasksets import builtin_corpus, make_task_set  # noqa: E402
from scalelab.data.tokenize import ByteTokenizer  # noqa: E402
from scalelab.model.config import GPTConfig  # noqa: E402
from scalelab.model.counting import count_params  # noqa: E402
from scalelab.model.gpt import GPT  # noqa: E402
from scalelab.tasks import synthetic  # noqa: E402
from scalelab.train.taskeval import encode_task, evaluate_tasks  # noqa: E402

# ------------------------------------------------------------------------------------------------
# eval: throughput of task evaluation


def eval_throughput(examples: int, repeats: int) -> dict:
    corpus = builtin_corpus()
    tok = ByteTokenizer()
    sets = {k: encode_task(make_task_set(corpus, k, examples, 0), tok) for k in ("cloze", "mc")}
    cfg = GPTConfig(vocab_size=256, n_ctx=256, n_layer=6, d_model=256, n_head=4)
    torch.manual_seed(0)
    out = {"model": cfg.to_dict(), "N": count_params(cfg).non_embedding, "runs": []}
    default_threads = torch.get_num_threads()
    settings = [("cpu", 1), ("cpu", default_threads)]
    if torch.cuda.is_available():
        settings.append(("cuda", default_threads))
    for device, threads in settings:
        torch.set_num_threads(threads)
        model = GPT(cfg).to(device).eval()
        for name, task in sets.items():
            with torch.inference_mode():  # warm-up
                model(torch.zeros((4, cfg.n_ctx), dtype=torch.long, device=device))
            times = []
            for _ in range(repeats):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                evaluate_tasks(model, [task])
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            best = min(times)
            row = {
                "device": device,
                "threads": threads,
                "task": name,
                "examples": task.n_examples,
                "requests": len(task.continuation),
                "seconds": best,
                "examples_per_s": task.n_examples / best,
            }
            out["runs"].append(row)
            print(
                f"eval {device:4s} threads={threads:<2d} {name:5s} {task.n_examples} examples "
                f"({row['requests']} requests): {best:.2f} s, {row['examples_per_s']:,.1f} "
                "examples/s"
            )
    torch.set_num_threads(default_threads)
    return out


# ------------------------------------------------------------------------------------------------
# demo: the demo ladder's extra time for task evaluation


def demo_extra_time(demo: Path) -> dict:
    summary_path = demo / "demo_summary.json"
    if not summary_path.is_file():
        print(f"demo: {summary_path} missing; run `scalelab demo -o {demo}` first")
        return {"missing": str(summary_path)}
    summary = json.loads(summary_path.read_text())
    per_run = {}
    for f in sorted(demo.glob("runs/*/task_eval.json")):
        info = json.loads(f.read_text())
        per_run[f.parent.name] = info["seconds"] + info.get("setup_seconds", 0.0)
    total = sum(per_run.values())
    workers = summary.get("task_eval", {}).get("workers", 1)
    wall = summary["train_wall_s"]
    share = total / workers / wall
    print(
        f"demo: ladder wall {wall:.0f} s with {workers} worker(s); task evaluation {total:.1f} s "
        f"of run time in {len(per_run)} runs = {total / workers:.1f} s of wall, "
        f"{100 * share:.1f}% of the ladder (the limit is 15%; without tasks the ladder would "
        f"take about {wall - total / workers:.0f} s: +{100 * total / workers / (wall - total / workers):.1f}%)"
    )
    return {
        "ladder_wall_s": wall,
        "workers": workers,
        "task_eval_s": total,
        "per_run_s": per_run,
        "share_of_ladder_wall": share,
        "extra_over_ladder_without_tasks": total / workers / (wall - total / workers),
    }


# ------------------------------------------------------------------------------------------------
# backtest: the chain's backtest error on the demo ladder


def demo_backtest(demo: Path) -> dict:
    from scalelab import tasks  # noqa: PLC0415
    from scalelab.runs.tasktable import read_tasks  # noqa: PLC0415

    path = demo / "runs.csv"
    if not path.is_file():
        print(f"backtest: {path} missing; run `scalelab demo -o {demo}` first")
        return {"missing": str(path)}
    table = read_tasks(path)
    out: dict = {"runs_table": str(path), "held_out": None, "through": {}}
    for through in ("task_loss", "loss"):
        start = time.process_time()
        results = tasks.backtest(table, "all", through=through)
        cpu = time.process_time() - start
        rows = []
        for r in results:
            out["held_out"] = r.held_out
            rows.append(
                {
                    "task": r.task,
                    "predictable": r.predictable,
                    "reason": r.reason,
                    "step1_rel_error": r.step1_rel_error,
                    "step2_error": r.step2_error,
                    "chain_error": r.chain_error,
                    "runs": len(r.runs),
                }
            )
            if r.predictable:
                print(
                    f"backtest through {through:9s} {r.task:6s} ({len(r.runs)} held-out runs, "
                    f"{r.held_out}): step 1 alone {r.step1_rel_error:.2%}, step 2 alone "
                    f"{r.step2_error:.3f}, chain {r.chain_error:.3f}"
                )
            else:
                print(f"backtest through {through:9s} {r.task:6s} not predictable: {r.reason}")
        out["through"][through] = {"tasks": rows, "cpu_seconds": round(cpu, 2)}
    return out


# ------------------------------------------------------------------------------------------------
# predict: the time of `scalelab tasks predict`


def bench_predict(
    runs: int = 16, points: int = 100, tasks: int = 8, bootstrap: int = 200, form: str = "auto"
) -> dict:
    """Seconds of one ``scalelab tasks predict`` process over a synthetic table (step 1's
    ``--form``: ``auto``, the default, or a named form)."""
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
            "--N", "1B", "--D", "20B", "--bootstrap", str(bootstrap), "--form", form, "--json",
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
        "form": form,
        "seconds": round(seconds, 2),
        "seconds_per_task": round(seconds / tasks, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_task": round(cpu / tasks, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "predicted": sum(r["accuracy"] is not None for r in results),
    }


SECTIONS = ("eval", "demo", "backtest", "predict")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        nargs="*",
        choices=SECTIONS,
        default=list(SECTIONS),
    )
    ap.add_argument("--examples", type=int, default=200, help="examples per task (eval)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--demo", default="out/demo", help="a finished demo folder (demo, backtest)")
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates (predict)")
    ap.add_argument("--form", default="auto", help="step 1's form (predict): auto or a named form")
    ap.add_argument("--out", default="out/tasks_bench.json")
    a = ap.parse_args()
    result = {
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if "eval" in a.only:
        result["eval"] = eval_throughput(a.examples, a.repeats)
    if "demo" in a.only:
        result["demo"] = demo_extra_time(Path(a.demo))
    if "backtest" in a.only:
        result["backtest"] = demo_backtest(Path(a.demo))
    if "predict" in a.only:
        result["predict"] = bench_predict(bootstrap=a.bootstrap, form=a.form)
        p = result["predict"]
        print(
            f"tasks predict: {p['rows']} rows, --form {p['form']}, bootstrap {p['bootstrap']}: "
            f"{p['seconds']:.2f} s "
            f"({p['seconds_per_task']:.2f} s per task), CPU {p['cpu_seconds']:.2f} s "
            f"({p['cpu_seconds_per_task']:.2f} s per task), load average {p['load_average']}"
        )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
