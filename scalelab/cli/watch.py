"""Watching a run against its law: scalelab watch (a run folder, train log or run table; --follow)."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import (
    Flag,
    JsonOpt,
    _interval,
    _num,
    _pairs,
    _resolve_law,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.usage import PlainUsage
from scalelab.errors import InputError
from scalelab.plan.watch_options import (
    DEFAULT_IDLE,
    DEFAULT_PATIENCE,
    DEFAULT_SKIP,
    DEFAULT_SPIKE,
    DEFAULT_TOLERANCE,
    EXIT_DEPARTURE,
)

WATCH_HELP = f"""Compare a run's learning curve with its law's prediction and flag departures
(divergence, spikes, drift).

RUN is a run folder (what `scalelab train` writes: runs.csv, train_log.csv, summary.json), a
train_log.csv, or a run table. With --follow, the run's records are read again every --interval
seconds until its summary.json says it finished (or --timeout), and each new point is printed.

Exit status: 0 when the run follows its law, {EXIT_DEPARTURE} when it departs from it or diverges
(with --follow: as soon as that is confirmed), 2 on bad input."""


@app.command(help=WATCH_HELP, cls=PlainUsage)
def watch(
    run: str = typer.Argument(
        ...,
        metavar="RUN",
        help="A run folder (runs.csv / train_log.csv / summary.json), a train_log.csv, or a run "
        "table with the run's learning curve (one row per evaluation).",
        show_default=False,
    ),
    law: str = typer.Option(
        ..., "--law", metavar="LAW", help="A law JSON file or a published law name."
    ),
    run_id: Optional[str] = typer.Option(
        None, "--run", metavar="ID", help="Which run, when the table has several."
    ),
    eval_set: Optional[str] = option(
        "--eval-set", "watch", metavar="NAME", help="Evaluation set to judge (default: val)."
    ),
    tolerance: float = typer.Option(
        DEFAULT_TOLERANCE,
        "--tolerance",
        metavar="FRACTION",
        help="Relative slack around the law's interval.",
    ),
    spike: float = typer.Option(
        DEFAULT_SPIKE,
        "--spike",
        metavar="FRACTION",
        help="Relative rise between evaluations flagged as a spike.",
    ),
    skip: float = typer.Option(
        DEFAULT_SKIP,
        "--skip",
        metavar="FRACTION",
        help="Fraction of the run's tokens not judged (warm-up).",
    ),
    patience: int = typer.Option(
        DEFAULT_PATIENCE,
        "--patience",
        metavar="POINTS",
        help="Consecutive points outside the band that make a departure.",
    ),
    params: str = option(
        "--params",
        "watch",
        metavar="CONVENTION",
        help="Parameter convention of the law: non-embedding, total, active.",
    ),
    flops: str = option(
        "--flops", "watch", metavar="CONVENTION", help="FLOP convention: 6ND, 6ND+attention, table."
    ),
    n_params: Optional[str] = typer.Option(
        None,
        "--N",
        metavar="PARAMS",
        help="Non-embedding parameters of a run read from a bare train_log.csv (otherwise read "
        "from the summary.json or config.json beside it).",
    ),
    follow: bool = Flag(
        "--follow",
        help="Follow a live run: read its records every --interval seconds until it finishes.",
    ),
    interval: float = typer.Option(
        10.0, "--interval", metavar="SECONDS", help="With --follow: seconds between reads."
    ),
    timeout: Optional[float] = typer.Option(
        None,
        "--timeout",
        metavar="SECONDS",
        help="With --follow: stop after this many seconds (default: when the run finishes).",
    ),
    idle: float = typer.Option(
        DEFAULT_IDLE,
        "--idle",
        metavar="SECONDS",
        help="With --follow on a plain run table or a bare train log (nothing there says when "
        "the run finished): stop once it has not changed for this many seconds.",
    ),
    column: Optional[list[str]] = typer.Option(
        None,
        "--column",
        metavar="NAME=COLUMN",
        help="Map a schema column to a column of the file: N=params (repeatable).",
    ),
    forecast: Optional[str] = typer.Option(
        None,
        "--forecast",
        metavar="LAW",
        help="A learning-curve law (scalelab curves -o LAW.json): forecast the run's final loss.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    from scalelab.plan import watch_source as ws  # pandas: loaded by a watch, not by --help

    fitted = _resolve_law(law)
    curve_law = None
    if forecast:
        from scalelab.plan.watch_forecast import load_curve_law

        curve_law = load_curve_law(forecast)
    columns, N = _pairs(column, "--column"), _num(n_params, "--N")
    options = dict(
        run_id=run_id,
        tolerance=tolerance,
        spike=spike,
        skip=skip,
        patience=patience,
        params=params,
        flops=flops,
        eval_set=eval_set,
        law_name=law,
    )
    judge = ws.judge_with(fitted, forecast=curve_law, **options)
    if follow:
        _follow(run, judge, lambda: ws.read_run(run, columns, N), as_json, interval, timeout, idle)
        return
    records = ws.read_run(run, columns, N)
    if records.table is None:
        raise InputError(f"{run}: the run has no evaluation yet (use --follow to wait for one)")
    result = judge(records)
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_watch(result, law)
    _departure(result)


def _follow(run: str, judge, read, as_json: bool, interval, timeout, idle) -> None:
    """``watch --follow``: print each new point (and each new forecast) until the run stops."""
    shown: list[dict] = []

    def on_point(p: dict) -> None:
        shown.append(p)
        if not as_json:
            out.print(_point_line(p), highlight=False, markup=False)

    last: list = [None]

    def judge_live(records):  # shows the forecast each time it changes, while the run trains
        result = judge(records)
        if not as_json and result.forecast is not None and result.forecast != last[0]:
            last[0] = result.forecast
            _print_forecast(result.forecast)
        return result

    from scalelab.plan import watch_source as ws

    result, why = ws.follow(
        run,
        judge_live,
        on_point,
        read=read,
        interval=interval,
        timeout=timeout,
        idle=idle,
    )
    if as_json:
        emit_json({"stopped": why, **(result.to_dict() if result else {"points": []})})
    if why == "timeout":
        err.print(
            f"note: stopped after {timeout:g} s; the run has not finished",
            markup=False,
            highlight=False,
        )
    if why == "idle":
        err.print(
            f"note: stopped: {run} has not changed for {idle:g} s and nothing in it says when the "
            "run finishes (watch the run folder, or give --idle/--timeout)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if result is None:
        err.print("note: the run logged no evaluation", markup=False, highlight=False)
        return
    _departure(result)


def _point_line(p: dict) -> str:
    error = "" if p["rel_error"] is None else f" ({p['rel_error']:+.2%})"
    return (
        f"D={p['D']:.4g} loss {p['loss']:.4f} law {p['predicted']:.4f} band "
        f"{_interval(p['band'])}{error}: {p['status']}"
    )


def _print_watch(result, law: str) -> None:
    from rich.table import Table

    t = Table(title=f"run {result.run_id} against {law}: {result.verdict}", title_justify="left")
    for col in ("D", "loss", "predicted", "band", "error", "status"):
        t.add_column(col, justify="right")
    for p in result.points:
        t.add_row(
            f"{p['D']:.4g}",
            f"{p['loss']:.4f}",
            f"{p['predicted']:.4f}",
            _interval(p["band"]),
            "" if p["rel_error"] is None else f"{p['rel_error']:+.2%}",
            p["status"],
        )
    out.print(t)
    _print_forecast(result.forecast)


def _print_forecast(fc) -> None:
    if fc is None:
        return
    if fc.get("loss") is None:
        out.print(f"forecast: none ({fc.get('reason')})", markup=False, highlight=False)
        return
    out.print(
        f"forecast: final loss {fc['loss']:.4f} {_interval([fc['lo'], fc['hi']])} at step "
        f"{fc['total_steps']} (from {fc['points_used']} evaluations up to step {fc['step']})",
        markup=False,
        highlight=False,
    )


def _departure(result) -> None:
    """Warn and exit with status 4 when the run left its law."""
    if result.verdict == "ok":
        return
    f = result.first_departure
    err.print(
        f"warning: run {result.run_id} {result.verdict} at D={f['D']:.4g} (loss {f['loss']:.4g}, "
        f"law {f['predicted']:.4g})",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(EXIT_DEPARTURE)
