"""The ladder demo pipeline: train a ladder, then fit, backtest and plan from its own runs.

``run_ladder_demo(spec, out)``: run the ladder (:func:`scalelab.ladder.run`; resumable: a second
call reuses finished runs), export the run table, then :func:`analyse` it:

1. fit ``chinchilla`` (with a run-level bootstrap) and Kaplan's ``kaplan-nd`` to the final points,
   and Kaplan's one-variable laws: L(N) (``power:N``) on each size's largest budget and L(D)
   (``power:D``) along the largest size;
2. check identifiability: no parameter on a bound, finite bootstrap intervals;
3. backtest: refit ``chinchilla`` without the largest size and predict that size's points
   (relative error per point; the largest is the figure of merit, to be at most 3%);
4. check the trends the laws assume: held-out loss falls with N at each budget and with D at each
   size;
5. the compute-optimal frontier (N_opt, D_opt, tokens/parameter, loss) at a few budgets.

Every run is also evaluated on the built-in cloze and multiple-choice tasks (100 examples each,
``[eval] tasks``): task rows in the run table, their cost in the summary's ``task_eval``.

The summary (``demo_summary.json``), the laws (JSON) and the HTML report go to ``<out>``.

``DEMO_SPEC`` is what ``scalelab demo`` (``make demo``) trains: 5 byte-level sizes (N = 25k-394k
non-embedding parameters, 2 layers, 32-wide heads) × 3 budgets (1M, 2M, 4M tokens: 2.5 to 160
tokens/parameter, one WSD trunk per size with cool-down branches) on the built-in corpus, batch
and learning rate from the DeepSeek rules (batch capped for >= 1000 steps per run). Why these
choices (measured on the 2-core machine; README "The demo ladder"):

* context 16 bytes: with 64 the loss kept falling log-linearly in N over this range and the fit put
  E on its bound (0); a short context raises the floor within reach of these sizes, so E, alpha and
  beta are identified (E = 1.57 nats/byte);
* 32-wide heads at every width: narrower heads (d = 16, 24) fall off the trend;
* precision by measurement (:func:`demo_precision`, printed): a few steps of the largest shape in
  fp32 and bf16, once per output folder; fp32 unless bf16 is >10% faster. fp32 won on both hosts
  measured: 1.4-2.2x faster than bf16 autocast without AMX, 1.3-2.4x with AMX (these models are
  too small for the bf16 matmul units to pay for the casts);
* two single-thread worker processes, largest run first: two 1-thread processes each run at the
  speed of one alone, 1.2-1.4x one 2-thread process (``benchmarks/workers_bench.py``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import numpy as np

from scalelab import atomic, laws
from scalelab.data.manifest import read_manifest
from scalelab.errors import InputError, ScalelabError
from scalelab.ladder import Interrupted, load_plan, spec_from_dict
from scalelab.ladder import run as run_ladder
from scalelab.report import html as report_html
from scalelab.runs.table import read_table

DEMO_SPEC = {
    "name": "demo",
    "out_dir": "out/demo",
    "threads": 1,
    "precision": "fp32",
    "data": {"preset": "builtin", "tokenizer": "bytes"},
    "model": {"n_ctx": 16},
    "train": {"schedule": "wsd", "warmup_frac": 0.05, "cooldown_frac": 0.2},
    "eval": {
        "points": 6,
        "tokens": 65536,
        "batch": 256,
        "sets": ["val", "wiki"],
        "tasks": ["cloze", "mc"],
        "task_examples": 100,
    },
    "checkpoint": {"every_steps": 1000},
    "grid": {
        "shapes": [
            {"n_layer": 2, "d_model": 32, "n_head": 1},
            {"n_layer": 2, "d_model": 48, "n_head": 1},
            {"n_layer": 2, "d_model": 64, "n_head": 2},
            {"n_layer": 2, "d_model": 96, "n_head": 3},
            {"n_layer": 2, "d_model": 128, "n_head": 4},
        ],
        "tokens": [1_000_000, 2_000_000, 4_000_000],
        "branches": True,
    },
    "hparams": {"min_steps": 1000},
}

DEMO_OUT = "out/demo"
REPORT_BUDGET_FACTOR = 100.0
"""The report plans a budget this many times the largest run's compute (an extrapolation)."""


def _final_points(table, eval_set: str):
    sel = table.select(eval_set=eval_set, points="final")
    d = sel.data
    return (
        sel,
        d["N"].to_numpy(float),
        d["D"].to_numpy(float),
        d["loss"].to_numpy(float),
        d["run_id"].to_numpy(),
    )


def _trend_violations(N, D, L) -> list[str]:
    out = []
    for label, key, other in (("N", N, D), ("D", D, N)):
        for o in np.unique(other):
            m = other == o
            if m.sum() < 2:
                continue
            order = np.argsort(key[m])
            losses = L[m][order]
            for i in range(1, len(losses)):
                if losses[i] >= losses[i - 1]:
                    fixed = "D" if label == "N" else "N"
                    out.append(
                        f"at {fixed} = {o:.4g}: loss does not fall with {label} "
                        f"({key[m][order][i - 1]:.4g} → {key[m][order][i]:.4g}: "
                        f"{losses[i - 1]:.4f} → {losses[i]:.4f})"
                    )
    return out


def _identifiable(law) -> dict:
    on_bound = [w for w in law.warnings if "bound" in w]
    finite = (
        all(all(math.isfinite(x) for x in v) for k, v in law.ci.items() if k in law.params)
        if law.ci
        else None
    )
    return {
        "no_parameter_on_bound": not on_bound,
        "finite_intervals": finite,
        "warnings": list(law.warnings),
    }


def analyse(
    runs_path: str | Path,
    out: str | Path,
    *,
    eval_set: str = "val",
    bootstrap: int = 200,
    budgets=(1e13, 1e15, 1e17, 1e19),
    log: Callable[[str], None] = lambda m: None,
) -> dict:
    """Fits, identifiability, backtest of the largest size, trends and frontier; writes the
    summary."""
    out = Path(out)
    table = read_table(runs_path)
    sel, N, D, L, ids = _final_points(table, eval_set)
    summary: dict = {
        "runs_table": str(runs_path),
        "eval_set": eval_set,
        "points": int(len(L)),
        "sizes": sorted(set(map(int, N))),
        "selection_notes": list(sel.notes),
    }
    summary["trend_violations"] = _trend_violations(N, D, L)
    for note in sel.notes:
        if note.startswith("left out"):
            log(f"warning: {note} (kept out of the fits)")

    fits = {}
    for form, boot in (("chinchilla", bootstrap), ("kaplan-nd", 0)):
        try:
            law = laws.fit(table, form, eval_set=eval_set, bootstrap=boot, seed=0)
        except ScalelabError as exc:
            fits[form] = {"error": "; ".join(exc.problems)}
            continue
        law.save(out / f"{form}.json")
        fits[form] = {
            "params": law.params,
            "objective": law.objective,
            "ci": law.ci,
            "identifiable": _identifiable(law),
        }
        if form == "chinchilla":
            fits[form]["frontier"] = []
            for c in budgets:
                try:
                    fits[form]["frontier"].append(law.optimal(c).to_dict())
                except ScalelabError as exc:
                    fits[form]["frontier"].append({"C": c, "error": "; ".join(exc.problems)})
        log(f"{form}: " + ", ".join(f"{k} = {v:.4g}" for k, v in law.params.items()))
    # Kaplan's one-variable laws: L(N) on each size's largest budget, L(D) along the largest size
    trunk = np.array([d == D[N == n].max() for n, d in zip(N, D, strict=True)])
    for name, form, keep in (("kaplan-n", "power:N", trunk), ("kaplan-d", "power:D", N == N.max())):
        try:
            sub = table.with_data(
                table.data[table.data["run_id"].isin(set(ids[keep]))], f"{name} points"
            )
            law = laws.fit(sub, form, eval_set=eval_set)
        except ScalelabError as exc:
            fits[name] = {"error": "; ".join(exc.problems)}
            continue
        law.save(out / f"{name}.json")
        fits[name] = {
            "form": form,
            "params": law.params,
            "objective": law.objective,
            "points": int(keep.sum()),
        }
        log(f"{name} ({form}): " + ", ".join(f"{k} = {v:.4g}" for k, v in law.params.items()))
    summary["fits"] = fits

    # backtest: the largest size predicted from the others
    n_max = N.max()
    train_ids = set(ids[N < n_max])
    held = N == n_max
    bt: dict = {"held_out_N": int(n_max), "fit_on_sizes": sorted(set(map(int, N[N < n_max])))}
    try:
        sub = table.with_data(
            table.data[table.data["run_id"].isin(train_ids)], "backtest: smaller sizes only"
        )
        law = laws.fit(sub, "chinchilla", eval_set=eval_set)
        pred = law.predict(N=N[held], D=D[held])
        rel = (pred - L[held]) / L[held]
        bt.update(
            points=[
                {
                    "run_id": str(r),
                    "N": int(n),
                    "D": int(d),
                    "loss": float(l),
                    "predicted": float(p),
                    "rel_error": float(e),
                }
                for r, n, d, l, p, e in zip(
                    ids[held], N[held], D[held], L[held], pred, rel, strict=True
                )
            ],
            max_abs_rel_error=float(np.max(np.abs(rel))),
            warnings=list(law.warnings),
        )
        log(f"backtest of N = {int(n_max):,}: max |error| {bt['max_abs_rel_error']:.2%}")
    except ScalelabError as exc:
        bt["error"] = "; ".join(exc.problems)
    summary["backtest"] = bt
    atomic.write_text(
        out / "demo_summary.json", json.dumps(summary, indent=2, default=float) + "\n"
    )
    return summary


def default_workers() -> int:
    """Parallel single-thread workers for the demo: 2 where there are 2 cores or more, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def run_ladder_demo(
    spec=None,
    out: Optional[str | Path] = None,
    *,
    log: Callable[[str], None] = lambda m: None,
    bootstrap: int = 200,
    report: bool = True,
    progress=None,
    workers: Optional[int] = None,
    quiet: bool = False,
) -> dict:
    """Run ``spec`` (a path, a LadderSpec, or None for :data:`DEMO_SPEC`), export and analyse it.

    ``progress``, if given, is called with the registry path and returns a context manager that
    shows progress while the ladder trains (the CLI passes rich progress bars). With ``report``
    the self-contained HTML report of the ladder's runs goes to ``<out>/report.html``. ``workers``
    (default :func:`default_workers`) > 1 trains that many runs at once in single-thread processes,
    largest first; their progress lines go to stderr unless ``quiet``.
    """
    t0 = time.perf_counter()
    choice = None
    if spec is None:
        spec = spec_from_dict(DEMO_SPEC, "<embedded demo spec>")
        plan = load_plan(spec, str(out) if out is not None else None)
        choice = demo_precision(plan)
        log(choice["line"])
        if choice["precision"] != spec.precision:
            spec = spec.model_copy(update={"precision": choice["precision"]})
    plan = load_plan(spec, str(out) if out is not None else None)
    workers = default_workers() if workers is None else workers
    runs_csv = plan.out_dir / "runs.csv"
    result = run_ladder(
        plan,
        executor="pool" if workers > 1 else "sequential",
        workers=workers,
        progress=progress,
        log=None if quiet else log,
        export=runs_csv,
    )
    if result.interrupted:
        raise Interrupted(result.interrupted)
    counts = result.counts
    if (
        counts["queued"] or counts["running"]
    ):  # runs left to another process, or stopped on a signal
        raise Interrupted(
            f"{counts['queued'] + counts['running']} run(s) of {plan.out_dir} not finished; "
            "run the same command again to resume them"
        )
    train_s = time.perf_counter() - t0
    if counts["done"] == 0:
        raise InputError(f"{plan.out_dir}: no run finished")
    summary = analyse(runs_csv, plan.out_dir, bootstrap=bootstrap, log=log)
    summary.update(
        ladder=str(plan.out_dir),
        counts=counts,
        rows=result.rows,
        train_wall_s=train_s,
        compute=plan.compute,
        task_eval=task_eval_seconds(plan.out_dir, train_s, workers),
        precision=choice,
    )
    if report:
        command = (
            "scalelab demo"
            + (f" --spec {spec}" if isinstance(spec, (str, Path)) else "")
            + (f" -o {out}" if out is not None else "")
        )
        summary["report"] = write_report(
            runs_csv,
            plan.out_dir / "report.html",
            plan,
            bootstrap=bootstrap,
            log=log,
            command=command,
        )
    summary["wall_s"] = time.perf_counter() - t0
    atomic.write_text(
        plan.out_dir / "demo_summary.json", json.dumps(summary, indent=2, default=float) + "\n"
    )
    return summary


PRECISION_FILE = "precision.json"


def demo_precision(plan) -> dict:
    """The demo's precision, measured (:func:`scalelab.train.bench.fastest_precision` on the
    plan's largest run, with its threads) and kept in ``<out>/precision.json``, so a rerun or a
    resume trains with the same one and does not measure again."""
    path = Path(plan.out_dir) / PRECISION_FILE
    if path.is_file():
        try:
            kept = json.loads(path.read_text())
            if kept.get("precision") in ("fp32", "bf16"):
                kept["line"] = f"{kept['line']} [kept from {path}]"
                return kept
        except (OSError, ValueError, AttributeError):
            pass  # unreadable: measure again
    from scalelab.train.bench import fastest_precision  # torch: only when the demo trains

    largest = max(plan.jobs, key=lambda j: j.N)
    choice = fastest_precision(largest.run_config)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(choice, indent=2) + "\n")
    return choice


def task_eval_seconds(out_dir: Path, train_s: float, workers: int) -> dict:
    """Seconds the runs spent on task evaluation (their ``task_eval.json``: scoring and building
    the task sets), summed, and that sum spread over the workers as a share of the ladder's wall
    time."""
    total = 0.0
    for f in sorted(Path(out_dir).glob("runs/*/task_eval.json")):
        info = json.loads(f.read_text(encoding="utf-8"))
        total += float(info.get("seconds", 0.0)) + float(info.get("setup_seconds", 0.0))
    share = total / max(1, workers) / train_s if train_s > 0 else None
    return {"seconds": total, "workers": workers, "share_of_ladder_wall": share}


def write_report(
    runs_path: str | Path,
    path: Path,
    plan,
    *,
    bootstrap: int,
    log: Callable[[str], None],
    command: str = "scalelab demo",
) -> str:
    """The HTML report of the ladder's runs (fit, figures, plan, backtest, checklist, fast
    sensitivity)."""
    table = read_table(runs_path)
    manifest = None
    if (
        plan.data.prepare_dir is not None
        and (Path(plan.data.prepare_dir) / "manifest.json").is_file()
    ):
        manifest = read_manifest(plan.data.prepare_dir)
    budget = REPORT_BUDGET_FACTOR * max(p.C for p in plan.points)
    rep = report_html.build(
        table,
        form="chinchilla",
        budget=budget,
        bootstrap=bootstrap,
        manifest=manifest,
        sensitivity=True,
        sensitivity_grid=laws.forms.quick_grids(),
        command=command,
        title=f"scalelab demo: the training ladder '{plan.spec.name}'",
        progress=log,
    )
    try:
        rep.write(path)
    finally:
        rep.close()
    log(f"report: {path}")
    return str(path)
