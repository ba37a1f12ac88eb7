"""Training commands: train, bench."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.atomic import check_folder
from scalelab.cli.common import (
    Flag,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.usage import PlainUsage
from scalelab.errors import InputError, NumericalError, ScalelabError

MAX_NPROC = 1024


@app.command("train", cls=PlainUsage)
def train_cmd(
    config: str = typer.Argument(
        ..., metavar="CONFIG", help="run config (TOML), see examples/train_tiny.toml"
    ),
    resume: bool = Flag("--resume", help="continue the run from its last checkpoint"),
    out_dir: Optional[str] = typer.Option(
        None, "--out", metavar="DIR", help="output folder (default: out_dir in the config)"
    ),
    json_out: bool = Flag("--json", help="print the run summary as JSON"),
    quiet: bool = Flag("--quiet", "-q", help="no progress lines on stderr"),
    nproc: int = typer.Option(
        1,
        "--nproc",
        metavar="K",
        help="train on K processes, data-parallel (torchrun, DDP: gloo on "
        "CPU, nccl with one GPU each)",
    ),
) -> None:
    """Train one model (or resume it) and write its run-table rows, log, summary and checkpoint.

    Under torchrun (``torchrun --nproc_per_node K -m scalelab.cli train CONFIG``) every process runs
    this command; only rank 0 prints and writes.
    """
    import os

    from scalelab.train.callbacks import ConsoleProgress
    from scalelab.train.config import load_config
    from scalelab.train.loop import train

    if nproc < 1:
        raise InputError(f"--nproc: expected a number of processes >= 1, got {nproc}")
    if nproc > MAX_NPROC:
        raise InputError(f"--nproc: expected at most {MAX_NPROC} processes, got {nproc}")
    if out_dir is not None:
        try:
            check_folder(out_dir, "run folder")
        except InputError as exc:
            raise InputError([f"--out: {p}" for p in exc.problems]) from None
    lead = os.environ.get("RANK", "0") == "0"  # rank 0 of a torchrun, or a single process
    cfg = load_config(config)
    show = not (quiet or json_out or not lead)
    # a progress bar on a terminal, else "step i/n loss ... tok/s" lines about every 10 s
    console = ConsoleProgress(err) if show else None
    try:
        if nproc > 1:
            from scalelab.train.launch import launch

            say = console.emit if console else None  # the processes' lines, passed through
            summary = launch(cfg, nproc, resume=resume, out_dir=out_dir, source=config, log=say)
        else:
            callbacks = [console] if console else []
            summary = train(cfg, resume=resume, out_dir=out_dir, source=config, callbacks=callbacks)
    except ScalelabError as exc:
        if not lead:  # the same error on every rank: rank 0 reports it
            raise typer.Exit(exc.exit_code) from None
        raise
    finally:
        if console:
            console.close()  # the terminal back, if the run failed with the bar shown
    if not lead:
        raise typer.Exit(
            3
            if summary["status"] == "diverged"
            else 128 + int(summary["signal"] or 2)
            if summary["status"] == "interrupted"
            else 0
        )
    if json_out:
        emit_json(summary)
    else:
        losses = ", ".join(
            f"{k} {v:.4f}" for k, v in summary["final_loss"].items() if v is not None
        )
        out.print(
            f"{summary['run_id']}: {summary['status']} at step "
            f"{summary['step']}/{summary['total_steps']}, "
            f"N={summary['N']:,} D={summary['D']:,} C={summary['C']:.3g}; loss {losses or '-'}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if summary["status"] == "diverged":
        raise NumericalError(
            f"{summary['run_id']}: diverged at step {summary['step']} (records written with "
            "status 'diverged')"
        )
    if summary["status"] == "interrupted":
        err.print(
            f"interrupted at step {summary['step']}; checkpoint saved; continue with --resume",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(128 + int(summary["signal"] or 2))


@app.command("bench", cls=PlainUsage)
def bench_cmd(
    device: str = typer.Option("cpu", "--device", metavar="DEVICE", help="cpu or cuda"),
    sizes: str = typer.Option(
        "0.1M,1M,5M",
        "--sizes",
        metavar="N,...",
        help="non-embedding N of the models, comma-separated",
    ),
    steps: int = typer.Option(
        10, "--steps", min=1, max=10_000, help="timed training steps per model (after 2 untimed)"
    ),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="auto, bf16, fp16 or fp32 (MFU is against the peak of this precision)",
    ),
    batch_tokens: int = typer.Option(
        16384,
        "--batch-tokens",
        min=256,
        max=1 << 24,
        help="tokens per step (multiple of 256)",
    ),
    compile_model: bool = Flag("--compile", help="torch.compile the models"),
    json_out: bool = Flag("--json", help="print the results as JSON"),
) -> None:
    """Training throughput: tokens/s, achieved FLOP/s and MFU against the peak of the run's
    precision (CPU: measured before and after the models, best of several sizes, with its spread;
    CUDA: the datasheet's dense bf16 peak)."""
    from scalelab.errors import InputError
    from scalelab.train.bench import run_bench
    from scalelab.units import quantity

    if device not in ("cpu", "cuda"):
        raise InputError(f"--device: expected cpu or cuda, got {device!r}")
    if precision not in ("auto", "bf16", "fp16", "fp32"):
        raise InputError(f"--precision: expected auto, bf16, fp16 or fp32, got {precision!r}")
    if batch_tokens % 256:
        raise InputError(
            f"--batch-tokens: {batch_tokens} is not a multiple of the bench context (256)"
        )
    result = run_bench(
        device=device,
        sizes=[quantity(s, "--sizes") for s in sizes.split(",")],
        steps=steps,
        precision=precision,
        batch_tokens=batch_tokens,
        compile=compile_model,
    )
    if json_out:
        emit_json(result)
        return
    for line in bench_lines(result):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def bench_lines(result: dict) -> list[str]:
    """The text report of :func:`scalelab.train.bench.run_bench`'s result."""
    import os

    from scalelab.train.peak import Peak

    peak = Peak(**result["peak"])
    lines = [f"{result['device_name']}: peak {peak.describe()}"]
    if peak.flops_cpu_time:
        lines[0] += f"; by CPU time {peak.flops_cpu_time / 1e9:,.0f} GFLOP/s"
    notes = []
    for r in result["models"]:
        line = (
            f"N={r['N']:>10,} L={r['n_layer']} d={r['d_model']} {r['precision']}: "
            f"{r['tokens_per_s']:>9,.0f} tok/s  {r['flops_per_s'] / 1e9:8.1f} GFLOP/s  "
            f"MFU {r['mfu']:.1%} of {r['precision']} peak"
        )
        if r["mfu_note"]:
            line += " (!)"
            notes.append(f"N={r['N']:,}: MFU {r['mfu']:.1%} is {r['mfu_note']}")
        if r.get("mfu_cpu_time") is not None:
            line += f"; by CPU time {r['tokens_per_s_cpu_time']:,.0f} tok/s, MFU {r['mfu_cpu_time']:.1%}"
            if r["mfu_cpu_time_note"]:
                line += " (!)"
                notes.append(
                    f"N={r['N']:,}: by CPU time, MFU {r['mfu_cpu_time']:.1%} is {r['mfu_cpu_time_note']}"
                )
        lines.append(line)
    load = result.get("load_average")
    if load and result["device"] == "cpu" and load[0] > 1.5 * max(1, os.cpu_count() or 1):
        notes.append(
            f"load average {load[0]:.1f} on {os.cpu_count()} CPUs: other processes "
            "share the cores, so wall-clock rates are low; the CPU-time figures are the fairer ones"
        )
    return lines + [f"(!) {n}" if n.startswith("N=") else f"note: {n}" for n in notes]
