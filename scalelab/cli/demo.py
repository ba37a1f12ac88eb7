"""scalelab demo: the embedded default."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import (
    Flag,
    JsonOpt,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.usage import PlainUsage


@app.command(cls=PlainUsage)
def demo(
    output: Optional[str] = typer.Option(
        None,
        "-o",
        "--output",
        metavar="DIR",
        help="folder for the demo's ladder, laws and report "
        "(default: out/demo; with --spec, the spec's out_dir)",
    ),
    spec: Optional[str] = typer.Option(
        None,
        "--spec",
        metavar="SPEC",
        help="another ladder spec instead of the embedded demo ladder",
    ),
    published: bool = Flag(
        "--published",
        help="instead, the fitting-only demo on the bundled "
        "published runs (a few seconds, no training)",
    ),
    bootstrap: int = option(
        "--bootstrap",
        "demo",
        min=0,
        max=10_000,
        metavar="B",
        help="run-level bootstrap refits of chinchilla (0 to 10000)",
    ),
    quiet: bool = Flag("--quiet", "-q", help="no progress display"),
    json_out: bool = JsonOpt,
) -> None:
    """The embedded default: train a ladder on the built-in corpus, fit, backtest, plan, write the
    report."""
    from scalelab.ladder import Interrupted  # the ladder stack: loaded by a demo, not --help
    from scalelab.ladder.status import LiveProgress

    # Lazy: the pipelines import the fitting and report stack (pandas, scipy), which every other
    # command would otherwise pay for at start-up (the CLI imports all its command modules).
    if published:
        from scalelab.pipelines.demo_published import run_demo

        run_demo(output or "out/demo-published", out)
        return
    from scalelab.pipelines.demo_ladder import DEMO_OUT, default_workers, run_ladder_demo

    show = not quiet and not json_out and err.is_terminal

    def say(message: str) -> None:
        if not (quiet or json_out):
            err.print(message, markup=False, highlight=False)

    def log(message: str) -> None:
        if not show:  # with live bars, per-step lines would only scroll past them
            say(message)

    bars = (lambda path: LiveProgress(path, console=err)) if show else None
    if not quiet and not json_out:
        what = (
            "the ladder of " + spec
            if spec
            else (
                "a ladder of 5 small GPTs × 3 token budgets on the built-in "
                "corpus (Shakespeare + World English Bible, Wikipedia held out)"
            )
        )
        took = "" if spec else "; about 5 minutes on 2 cores"
        say(
            f"scalelab demo: {what}, then fits, a backtest, the compute-optimal frontier and the "
            "report "
            f"({default_workers()} worker process(es){took})"
        )
    try:
        s = run_ladder_demo(
            spec,
            output or (DEMO_OUT if spec is None else None),
            log=log,
            bootstrap=bootstrap,
            progress=bars,
            quiet=quiet or json_out,
        )
    except Interrupted as exc:
        err.print(f"interrupted: {exc}", markup=False, highlight=False)
        raise typer.Exit(130) from None
    if json_out:
        emit_json(s)
        return
    if s.get("precision"):
        out.print(s["precision"]["line"], markup=False, highlight=False, soft_wrap=True)
    c = s["fits"].get("chinchilla", {})
    if "params" in c:
        ident = c["identifiable"]
        out.print(
            "chinchilla: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in c["params"].items())
            + (
                "; identifiable (no parameter on a bound, finite intervals)"
                if ident["no_parameter_on_bound"] and ident["finite_intervals"]
                else "; NOT identifiable"
            ),
            markup=False,
            highlight=False,
        )
        for f in c.get("frontier", []):
            if "N_opt" in f:
                out.print(
                    f"  C = {f['C']:.3g}: N_opt = {f['N_opt']:.3g}, D_opt = {f['D_opt']:.3g} "
                    f"({f['tokens_per_param']:.3g} tokens/param), loss {f['loss']:.3f}",
                    markup=False,
                    highlight=False,
                )
    elif "error" in c:
        err.print(f"chinchilla fit failed: {c['error']}", markup=False, highlight=False)
    bt = s["backtest"]
    if "max_abs_rel_error" in bt:
        out.print(
            f"backtest: N = {bt['held_out_N']:,} predicted from {len(bt['fit_on_sizes'])} "
            "smaller sizes, "
            f"max |error| {bt['max_abs_rel_error']:.2%} over {len(bt['points'])} point(s)",
            markup=False,
            highlight=False,
        )
    for v in s["trend_violations"]:
        err.print(f"warning: {v}", markup=False, highlight=False)
    out.print(
        f"{s['counts']['done']} runs, {s['rows']} rows, {s['wall_s']:.0f} s; summary in "
        f"{s['ladder']}/demo_summary.json",
        markup=False,
        highlight=False,
    )
    if s.get("report"):
        out.print(f"report: {s['report']}", markup=False, highlight=False)
