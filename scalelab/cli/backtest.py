"""``scalelab backtest``: fit on small runs, predict the held-out large ones, or (``--compare``)
score every form over the folds of form selection."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.atomic import check_file
from scalelab.cli.common import (
    ColumnOpt,
    ExampleOpt,
    Flag,
    JsonOpt,
    RunsArg,
    WhereOpt,
    _count,
    _interval,
    _load_runs,
    _real,
    app,
    emit_json,
    err,
    json_text,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.schedules import print_backtest
from scalelab.cli.selection import compare_forms
from scalelab.cli.usage import PlainUsage


@app.command(cls=PlainUsage)
def backtest(
    runs: Optional[str] = RunsArg,
    form: str = option(
        "--form", "backtest", help="Functional form to backtest (see `scalelab forms`)."
    ),
    split: str = typer.Option(
        "compute",
        "--split",
        help="compute: hold out runs above a compute threshold; size: leave one size out, largest "
        "first.",
    ),
    max_flops: Optional[str] = typer.Option(
        None,
        "--max-flops",
        metavar="FLOPS",
        help="Compute threshold: fit runs with C at most this (1e20, 3e21).",
    ),
    ratio: float = typer.Option(
        10.0, "--ratio", help="Without --max-flops: threshold = largest run's C / ratio."
    ),
    folds: int = typer.Option(3, "--folds", help="Sizes to hold out with --split size."),
    compare: bool = Flag(
        "--compare", help="Score every form over the selection's folds (fit --form auto)."
    ),
    points: Optional[str] = option("--points", "backtest", help="final or all."),
    skip_first: float = option(
        "--skip-first",
        "backtest",
        help="With --points all: drop each run's first fraction of tokens.",
    ),
    bootstrap: int = option(
        "--bootstrap", "backtest", help="Bootstrap resamples for prediction intervals (0: none)."
    ),
    seed: int = option("--seed", "backtest"),
    level: float = option("--level", "backtest"),
    params: str = option("--params", "backtest"),
    flops: str = option("--flops", "backtest"),
    output: Optional[str] = typer.Option(
        None, "-o", "--output", help="Write the backtest as JSON here."
    ),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit on small runs, predict the held-out large ones: relative error, interval coverage,
    compute ratio."""
    from scalelab import atomic
    from scalelab.laws import FitOptions
    from scalelab.laws.schedule_backtest import backtest as run_backtest

    threshold = _count(max_flops, "--max-flops (compute threshold)")
    _real(ratio, "--ratio", 1.0)
    level = _real(level, "--level", 0.0, 1.0)
    check_file(output, "backtest file")
    table = _load_runs(runs, example, column, where)
    options = FitOptions(
        bootstrap=bootstrap,
        seed=seed,
        level=level,
        params=params,
        flops=flops,
        points=points,
        skip_first=skip_first,
    )
    if compare:
        return compare_forms(table, options, as_json, output)
    with err.status(f"backtesting {form} ({split} split)"):
        result, scheduled = run_backtest(
            table,
            form,
            split=split,
            threshold=threshold,
            ratio=ratio,
            folds=folds,
            options=options,
        )
    d = result.to_dict()
    if scheduled is not None:  # a table with learning-rate schedules
        d["schedule_aware"] = scheduled
    if output:
        atomic.write_text(output, json_text(d))
    if as_json:
        emit_json(d)
    else:
        from rich.table import Table

        for fold in result.folds:
            t = Table(
                title=f"{form}: held out {fold.held_out}; fitted {fold.fit_runs} runs (C <= "
                f"{fold.max_fit_flops:.3g}), "
                f"in-sample mean |error| {fold.in_sample_mean_abs_rel_error:.2%}",
                title_justify="left",
            )
            for col in ("N", "D", "C/Cfit", "loss", "pred", "error", f"{level:.0%} interval", "in"):
                t.add_column(col, justify="right")
            for p in fold.predictions:
                t.add_row(
                    f"{p['N']:.3g}",
                    f"{p['D']:.3g}",
                    f"{p['compute_ratio']:.3g}",
                    f"{p['loss']:.4f}",
                    f"{p['predicted']:.4f}",
                    f"{p['rel_error']:+.2%}",
                    _interval(p.get("interval")),
                    {True: "yes", False: "NO"}.get(p.get("covered"), ""),
                )
            out.print(t)
        s = result.summary
        out.print(
            f"{s['n_predictions']} predictions: mean |error| {s['mean_abs_rel_error']:.2%}, max "
            f"{s['max_abs_rel_error']:.2%}, "
            f"bias {s['mean_rel_error']:+.2%}"
            + (
                f", coverage {s['coverage']:.0%} at {level:.0%}"
                if s.get("coverage") is not None
                else ""
            )
            + f"; up to {s['max_compute_ratio']:.3g}x the largest fitted compute",
            highlight=False,
        )
        print_backtest(scheduled)
    for fold in result.folds:
        for warning in fold.warnings:
            err.print(f"warning ({fold.held_out}): {warning}", markup=False, highlight=False)
