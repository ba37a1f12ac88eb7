"""The ``scalelab`` command line: thin typer commands over the Python API.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.console import Console

from scalelab.errors import ScalelabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="scalelab: a scaling-law laboratory for language models.")
out = Console()
err = Console(stderr=True)


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (numbers as plain floats)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- training commands (issue 4) ---
@app.command("train")
def train_cmd(
    config: str = typer.Argument(..., help="run config (TOML), see examples/train_tiny.toml"),
    resume: bool = typer.Option(False, "--resume", help="continue the run from its last checkpoint"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="output folder (default: out_dir in the config)"),
    json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines on stderr"),
) -> None:
    """Train one model (or resume it) and write its run-table rows, log, summary and checkpoint."""
    from scalelab.errors import NumericalError
    from scalelab.train.config import load_config
    from scalelab.train.loop import train

    cfg = load_config(config)
    say = None if quiet or json_out else (lambda msg: err.print(msg, markup=False, highlight=False))
    summary = train(cfg, resume=resume, out_dir=out_dir, source=config, log=say)
    if json_out:
        emit_json(summary)
    else:
        losses = ", ".join(f"{k} {v:.4f}" for k, v in summary["final_loss"].items() if v is not None)
        out.print(f"{summary['run_id']}: {summary['status']} at step {summary['step']}/{summary['total_steps']}, "
                  f"N={summary['N']:,} D={summary['D']:,} C={summary['C']:.3g}; loss {losses or '-'}",
                  markup=False, highlight=False, soft_wrap=True)
    if summary["status"] == "diverged":
        raise NumericalError(f"{summary['run_id']}: diverged at step {summary['step']} (records written with "
                             "status 'diverged')")
    if summary["status"] == "interrupted":
        err.print(f"interrupted at step {summary['step']}; checkpoint saved; continue with --resume",
                  markup=False, highlight=False)
        raise typer.Exit(128 + int(summary["signal"] or 2))


@app.command("bench")
def bench_cmd(
    device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
    sizes: str = typer.Option("0.1M,1M,5M", "--sizes", help="non-embedding N of the models, comma-separated"),
    steps: int = typer.Option(10, "--steps", min=1, help="timed training steps per model (after 2 untimed)"),
    precision: str = typer.Option("auto", "--precision", help="auto, bf16 or fp32"),
    batch_tokens: int = typer.Option(16384, "--batch-tokens", min=256, help="tokens per step (multiple of 256)"),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the models"),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Training throughput: tokens/s, achieved FLOP/s and MFU against the device's peak."""
    from scalelab.train.bench import parse_size, run_bench

    from scalelab.errors import InputError

    if device not in ("cpu", "cuda"):
        raise InputError(f"--device: expected cpu or cuda, got {device!r}")
    if precision not in ("auto", "bf16", "fp32"):
        raise InputError(f"--precision: expected auto, bf16 or fp32, got {precision!r}")
    if batch_tokens % 256:
        raise InputError(f"--batch-tokens: {batch_tokens} is not a multiple of the bench context (256)")
    result = run_bench(device=device, sizes=[parse_size(s) for s in sizes.split(",")], steps=steps,
                       precision=precision, batch_tokens=batch_tokens, compile=compile_model)
    if json_out:
        emit_json(result)
        return
    out.print(f"{result['device_name']}: peak {result['peak_flops'] / 1e12:.3g} TFLOP/s ({result['peak_source']})",
              markup=False, highlight=False)
    for r in result["models"]:
        out.print(f"N={r['N']:>10,} L={r['n_layer']} d={r['d_model']} {r['precision']}: "
                  f"{r['tokens_per_s']:>9,.0f} tok/s  {r['flops_per_s'] / 1e9:8.1f} GFLOP/s  MFU {r['mfu']:.1%}",
                  markup=False, highlight=False)
# --- end training commands ---


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI and return its exit status (usable from tests and notebooks)."""
    try:
        app(args=argv, prog_name="scalelab", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except ScalelabError as exc:
        prefix = "error" if exc.exit_code == 2 else "failed"
        for line in exc.problems:
            err.print(f"{prefix}: {line}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
