"""Ladder commands: scalelab ladder plan | run | status | export | sweep-lr."""

from __future__ import annotations

import math
from typing import Optional

import typer
from rich.table import Table

from scalelab.cli.common import (
    Flag,
    JsonOpt,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.usage import PlainGroup, PlainUsage
from scalelab.errors import InputError

MAX_WORKERS = 1024

ladder_app = typer.Typer(
    cls=PlainGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Ladders of training runs: plan a grid, run it (resumably), keep every result.",
)
app.add_typer(ladder_app, name="ladder")


def _number(value: Optional[float], option: str, what: str, zero: bool = False) -> None:
    """A numeric option must be finite and positive (``zero``: or 0); else one error line."""
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        expected = "finite and >= 0" if zero else "positive and finite"
        raise InputError(f"{option}: expected {what}, {expected}; got {value:g}")


FlopsOpt = typer.Option(
    None,
    "--flops-per-s",
    metavar="FLOPS",
    help="throughput for the estimates (full FLOPs/s; default: time a few steps)",
)
SpecArg = typer.Argument(
    ..., metavar="SPEC", help="ladder spec (TOML), see examples/ladder_tiny.toml"
)
LadderArg = typer.Argument(..., metavar="LADDER", help="ladder folder, its ladder.db, or the spec")
OutOpt = typer.Option(
    None, "--out", metavar="DIR", help="ladder folder (default: out_dir in the spec)"
)


def _ladder_plan_table(plan) -> None:
    t = Table(
        title=f"ladder {plan.spec.name}: {len(plan.jobs)} training job(s), "
        f"{len(plan.points)} (N, D) point(s)"
    )
    for col in (
        "run",
        "N",
        "shape L/d/h",
        "batch",
        "lr",
        "steps",
        "D (points)",
        "C = 6ND",
        "FLOPs",
        "est. time",
    ):
        t.add_column(col, justify="left" if col in ("run", "D (points)") else "right")
    for j in plan.jobs:
        pts = ", ".join(f"{p.D:.3g}" for p in j.points)
        t.add_row(
            j.run_id,
            f"{j.N:,}",
            f"{j.n_layer}/{j.d_model}/{j.n_head}",
            f"{j.batch_tokens:,}",
            f"{j.lr:.3g}",
            f"{j.steps:,}",
            pts,
            f"{j.C:.3g}",
            f"{j.compute:.3g}",
            _fmt_seconds(plan.estimate_s(j)),
        )
    _ladder_print_table(t)
    total = sum(plan.estimate_s(j) for j in plan.jobs)
    basis = (
        "from a few timed training steps of each shape on this machine"
        if plan.tokens_per_s
        else f"at {plan.flops_per_s / 1e9:.3g} GFLOP/s ({plan.flops_per_s_source})"
    )
    out.print(
        f"total: {plan.compute:.3g} training FLOPs (full count incl. attention and head), "
        "estimated "
        f"{_fmt_seconds(total)} {basis}",
        markup=False,
        highlight=False,
    )
    for n in plan.notes:
        out.print(f"note: {n}", markup=False, highlight=False)
    for w in plan.warnings:
        err.print(f"warning: {w}", markup=False, highlight=False)


def _ladder_print_table(t) -> None:
    """Tables are wide: when stdout is not a terminal, don't squeeze them into 80 columns."""
    if out.is_terminal:
        out.print(t)
        return
    old = out.width
    out.width = max(old, 160)
    try:
        out.print(t)
    finally:
        out.width = old


def _fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


@ladder_app.command("plan", cls=PlainUsage)
def ladder_plan(
    spec: str = SpecArg,
    out_dir: Optional[str] = OutOpt,
    flops_per_s: Optional[float] = FlopsOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Print the planned runs (N, D, C, steps, estimated time) without training; same as
    `run --dry-run`."""
    from scalelab.ladder import load_plan  # the ladder stack: loaded by a command, not --help

    _number(flops_per_s, "--flops-per-s", "a throughput in FLOPs/s")
    plan = _timed(load_plan(spec, out_dir, flops_per_s), flops_per_s)
    if json_out:
        emit_json(plan.to_dict())
    else:
        _ladder_plan_table(plan)


def _timed(plan, flops_per_s):
    """Time a few steps of each shape for the estimates, unless a throughput was given or
    measured."""
    from scalelab.ladder.estimate import calibrate

    if flops_per_s is None and plan.flops_per_s_source != "measured":
        with err.status("timing a few training steps of each shape for the estimates"):
            calibrate(plan)
    return plan


@ladder_app.command("run", cls=PlainUsage)
def ladder_run(
    spec: str = SpecArg,
    out_dir: Optional[str] = OutOpt,
    dry_run: bool = Flag("--dry-run", help="print the planned runs and estimates; train nothing"),
    executor: str = typer.Option(
        "sequential", "--executor", metavar="KIND", help="sequential, pool or ray"
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=MAX_WORKERS,
        metavar="K",
        help="parallel workers (pool/ray); K > 1 implies pool",
    ),
    address: Optional[str] = typer.Option(
        None, "--address", metavar="HOST:PORT", help="Ray cluster address (default: a local one)"
    ),
    cpus_per_run: float = typer.Option(
        1.0, "--cpus-per-run", metavar="CPUS", help="Ray: CPUs reserved per run"
    ),
    gpus_per_run: float = typer.Option(
        0.0, "--gpus-per-run", metavar="GPUS", help="Ray: GPUs reserved per run"
    ),
    retry_failed: bool = Flag("--retry-failed", help="put failed runs back in the queue first"),
    lease_s: float = typer.Option(
        120.0,
        "--lease",
        metavar="SECONDS",
        help="seconds without a heartbeat before a claim is dead",
    ),
    flops_per_s: Optional[float] = FlopsOpt,
    quiet: bool = Flag("--quiet", "-q", help="no progress display"),
    json_out: bool = JsonOpt,
) -> None:
    """Run the ladder's pending runs: skip finished ones, resume interrupted ones from their
    checkpoints."""
    from scalelab.ladder import check_executor, load_plan
    from scalelab.ladder import run as run_ladder
    from scalelab.ladder.status import LiveProgress

    check_executor(executor)
    _number(lease_s, "--lease", "a number of seconds")
    _number(cpus_per_run, "--cpus-per-run", "a number of CPUs")
    _number(gpus_per_run, "--gpus-per-run", "a number of GPUs", zero=True)
    _number(flops_per_s, "--flops-per-s", "a throughput in FLOPs/s")
    if dry_run:
        plan = _timed(load_plan(spec, out_dir, flops_per_s), flops_per_s)
        if json_out:
            emit_json(plan.to_dict())
        else:
            _ladder_plan_table(plan)
        return
    show = not quiet and not json_out and err.is_terminal
    result = run_ladder(
        spec,
        out_dir=out_dir,
        executor=executor,
        workers=workers,
        lease_s=lease_s,
        address=address,
        cpus_per_run=cpus_per_run,
        gpus_per_run=gpus_per_run,
        retry_failed=retry_failed,
        flops_per_s=flops_per_s,
        progress=(lambda path: LiveProgress(path, console=err)) if show else None,
        log=None if quiet or json_out else _say,
        warn=lambda w: _say(f"warning: {w}"),
    )
    if json_out:
        emit_json(result.to_dict())
    else:
        c = result.counts
        out.print(
            f"ladder {result.name}: {c['done']} done, {c['diverged']} diverged, "
            f"{c['failed']} failed, "
            f"{c['queued']} queued, {c['running']} running elsewhere; registry {result.registry}; "
            f"export with `scalelab ladder export {result.out_dir} -o runs.csv`",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if result.interrupted:
        err.print(f"interrupted: {result.interrupted}", markup=False, highlight=False)
        raise typer.Exit(130)


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False)


@ladder_app.command("status", cls=PlainUsage)
def ladder_status(
    ladder: str = LadderArg,
    json_out: bool = JsonOpt,
) -> None:
    """The table of runs and their states (safe while another process runs the ladder)."""
    from scalelab.ladder.registry import Registry
    from scalelab.ladder.status import ladder_state, status_rows

    with Registry.open(ladder) as reg:
        rows = status_rows(reg)
        st = ladder_state(reg)
    if json_out:
        emit_json(
            {
                "counts": st["counts"],
                "flops_done": st["flops_done"],
                "flops_total": st["flops_total"],
                "runs": rows,
            }
        )
        return
    t = Table(
        title=f"{st['finished']}/{st['jobs']} runs finished, "
        f"FLOPs {st['flops_done']:.3g}/{st['flops_total']:.3g}"
    )
    for col in ("run", "status", "N", "D", "step", "val loss", "tok/s", "wall", "tries", "worker"):
        t.add_column(col, justify="left" if col in ("run", "status", "worker") else "right")
    for r in rows:
        t.add_row(
            r["run_id"],
            r["status"],
            f"{r['N']:,}",
            f"{r['D']:.3g}",
            f"{r['step'] or 0}/{r['steps']}",
            f"{r['val_loss']:.4f}" if r["val_loss"] is not None else "-",
            f"{r['tokens_per_s']:,.0f}" if r["tokens_per_s"] else "-",
            _fmt_seconds(r["wall_s"]) if r["wall_s"] else "-",
            str(r["attempts"]),
            r["worker"] or "",
        )
    _ladder_print_table(t)
    for r in rows:
        if r["error"]:
            err.print(f"{r['run_id']}: {r['error']}", markup=False, highlight=False)


@ladder_app.command("export", cls=PlainUsage)
def ladder_export(
    ladder: str = LadderArg,
    output: str = typer.Option(
        ..., "-o", "--output", metavar="FILE", help="run table to write (.csv, .parquet, .jsonl)"
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Write the run table (every eval point of every finished run; diverged runs carry status
    'diverged')."""
    from scalelab.atomic import check_file
    from scalelab.ladder.registry import Registry

    check_file(output, "run table")
    with Registry.open(ladder) as reg:
        n = reg.export(output)
        diverged = reg.counts()["diverged"]
    if json_out:
        emit_json({"output": output, "rows": n, "diverged_runs": diverged})
        return
    out.print(f"wrote {n} rows to {output}", markup=False, highlight=False)
    if diverged:
        err.print(
            f"warning: {diverged} diverged run(s) included with status 'diverged'; "
            "`scalelab fit` leaves "
            "them out by default",
            markup=False,
            highlight=False,
        )


@ladder_app.command("sweep-lr", cls=PlainUsage)
def ladder_sweep_lr(
    spec: str = SpecArg,
    out_dir: Optional[str] = typer.Option(
        None, "--out", metavar="DIR", help="ladder folder (the sweep goes in its sweep-lr/)"
    ),
    sizes: int = typer.Option(
        2, "--sizes", min=1, max=32, metavar="K", help="how many of the smallest sizes to sweep"
    ),
    scales: str = typer.Option(
        "0.25,0.5,1,2,4",
        "--scales",
        metavar="X,...",
        help="multipliers of the rule's learning rate (positive; at most 32)",
    ),
    dry_run: bool = Flag("--dry-run", help="print the sweep's runs; train nothing"),
    quiet: bool = Flag("--quiet", "-q", help="no progress lines"),
    json_out: bool = JsonOpt,
) -> None:
    """Check the learning-rate rule: train the smallest sizes at several multipliers of its lr."""
    from scalelab.ladder import load_plan
    from scalelab.ladder import run as run_ladder
    from scalelab.ladder.registry import Registry
    from scalelab.ladder.sweep import sweep_plan, sweep_report

    try:
        mult = [float(x) for x in scales.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--scales: expected comma-separated numbers, got {scales!r}") from None
    if not 1 <= len(mult) <= 32:
        raise InputError(f"--scales: expected 1 to 32 multipliers, got {len(mult)}")
    for x in mult:
        _number(x, "--scales", "multipliers of the learning rate")
    splan = sweep_plan(load_plan(spec, out_dir), sizes, mult)
    if dry_run:
        splan = _timed(splan, None)
        if json_out:
            emit_json(splan.to_dict())
        else:
            _ladder_plan_table(splan)
        return
    result = run_ladder(splan, source=spec, log=None if quiet or json_out else _say)
    if result.interrupted:
        err.print(f"interrupted: {result.interrupted}", markup=False, highlight=False)
        raise typer.Exit(130)
    with Registry(result.registry) as reg:
        report = sweep_report(reg, splan)
    if json_out:
        emit_json(report)
        return
    t = Table(title=f"lr sweep: final {report['eval_set']} loss per multiplier of the rule")
    all_scales = sorted({r["scale"] for s in report["sizes"] for r in s["runs"]})
    t.add_column("N", justify="right")
    for sc in all_scales:
        t.add_column(f"×{sc:g}", justify="right")
    t.add_column("best", justify="right")
    for s in report["sizes"]:
        by = {r["scale"]: r for r in s["runs"]}
        cells = []
        for sc in all_scales:
            r = by.get(sc)
            loss = r["loss"] if r else None
            cells.append(
                "-" if loss is None else ("diverged" if not math.isfinite(loss) else f"{loss:.4f}")
            )
        best = (
            "-"
            if s["best_scale"] is None
            else f"×{s['best_scale']:g} (lr {s['best_lr']:.3g})"
            + (" at edge" if s["at_edge"] else "")
        )
        t.add_row(f"{s['N']:,}", *cells, best)
    _ladder_print_table(t)
    if report["suggested_lr_scale"] is not None:
        out.print(
            f"suggested [hparams] lr_scale ≈ {report['suggested_lr_scale']:.3g} "
            "(geometric mean of the best "
            "multipliers)",
            markup=False,
            highlight=False,
        )
    if any(s["at_edge"] for s in report["sizes"]):
        err.print(
            "warning: a best multiplier is at the edge of the sweep; widen --scales",
            markup=False,
            highlight=False,
        )
    if not report["complete"]:
        pending = [r["run_id"] for s in report["sizes"] for r in s["runs"] if r["loss"] is None]
        err.print(
            f"note: {len(pending)} sweep run(s) not finished (e.g. running in another process: "
            f"{pending[0]}); run the command again for the full table",
            markup=False,
            highlight=False,
        )
