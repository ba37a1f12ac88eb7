"""``scalelab tasks``: downstream-task scaling. ``predict`` a task's accuracy at a target size
through two fitted steps, ``backtest`` the chain on held-out large runs, ``rank`` the tasks by how
predictable they are."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli import tasks_eval
from scalelab.cli.common import (
    JsonOpt,
    _count,
    _interval,
    _real,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.tasks_read import RunsArg, TaskReading, print_warnings, reads_tasks
from scalelab.cli.usage import PlainGroup, PlainUsage
from scalelab.errors import InputError

tasks_app = typer.Typer(
    cls=PlainGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Downstream tasks: build and evaluate task sets; predict accuracy in two steps, backtest, rank.",
)
app.add_typer(tasks_app, name="tasks")

tasks_eval.register(tasks_app)  # `scalelab tasks make` and `scalelab tasks eval`

TaskOpt = typer.Option(
    ["all"], "--task", metavar="TASK", help="A task to predict (repeatable), or all."
)
FORM_HELP = "Step 1's law form: auto (as `fit --form auto`) or see `scalelab forms`."
AverageOpt = typer.Option(
    None, "--average", metavar="T1,T2,..", help="Also predict the mean accuracy of these tasks."
)


def _checked(level: float, bootstrap: int) -> float:
    """``--level`` in (0, 1) and ``--bootstrap`` >= 0 (one error line each)."""
    level = _real(level, "--level", 0.0, 1.0)
    if bootstrap < 0:
        raise InputError(f"--bootstrap: expected 0 or more resamples, got {bootstrap}")
    return level


def _emit(results) -> None:
    """One JSON object for one task, a list for several."""
    dicts = [r.to_dict() for r in results]
    emit_json(dicts[0] if len(dicts) == 1 else dicts)


def _average(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if len(names) < 2:
        raise InputError(f"--average: expected at least two tasks T1,T2, got {text!r}")
    return names


@tasks_app.command("predict", cls=PlainUsage)
@reads_tasks
def predict_cmd(
    runs: str = RunsArg,
    task: list[str] = TaskOpt,
    n: str = typer.Option(..., "--N", metavar="N", help="Target parameters (7B, 1.3e9)."),
    d: str = typer.Option(..., "--D", metavar="D", help="Target tokens (2T, 1.4e12)."),
    through: str = option("--through", "tasks predict"),
    link: str = option("--link", "tasks predict"),
    form: str = option("--form", "tasks predict", help=FORM_HELP),
    average: Optional[str] = AverageOpt,
    bucket: Optional[list[str]] = typer.Option(
        None, "--bucket", help="Also predict this difficulty bucket (repeatable)."
    ),
    bootstrap: int = option(
        "--bootstrap", "tasks predict", help="Resamples of runs for intervals."
    ),
    smooth: int = option("--smooth", "tasks predict"),
    skip: float = option("--skip", "tasks predict"),
    step1_points: str = option("--step1-points", "tasks predict"),
    seed: int = option("--seed", "tasks predict"),
    level: float = option("--level", "tasks predict"),
    as_json: bool = JsonOpt,
    reading: TaskReading = None,
) -> None:
    """Predict each task's accuracy at (N, D): step 1 a law for the intermediate loss, step 2 a
    link from that loss to accuracy, with intervals through both."""
    from scalelab.tasks import predict

    N, D = _count(n, "--N"), _count(d, "--D")
    level = _checked(level, bootstrap)
    table = reading.read(runs, task, through)
    with err.status("fitting two steps"):
        results = predict(
            table,
            task,
            N=N,
            D=D,
            through=through,
            link=link,
            form=form,
            average=_average(average),
            bucket=bucket,
            bootstrap=bootstrap,
            seed=seed,
            level=level,
            smooth=smooth,
            skip=skip,
            step1_points=step1_points,
        )
    if as_json:
        _emit(results)
        return
    from rich.table import Table

    t = Table(title=f"accuracy at N={N:.3g}, D={D:.3g} (through {through}, {link})")
    for col in ("task", "accuracy", f"{level:.0%} interval", through, "single-step", "form / link"):
        t.add_column(col)
    for r in results:
        name = r.task + (f" [{r.bucket}]" if r.bucket else "")
        if not r.predictable:
            t.add_row(name, "-", "", "", "", f"not predictable: {r.reason}")
            continue
        x = r.intermediate
        t.add_row(
            name,
            f"{r.accuracy:.3f}",
            _interval(r.interval),
            f"{x['value']:.4g} {_interval(x['interval'])}",
            f"{r.single_step['accuracy']:.3f}" if r.single_step else "",
            f"{r.step1.get('form', '')} / {r.step2.get('link', '')}",
        )
    out.print(t)
    print_warnings(results)


@tasks_app.command("backtest", cls=PlainUsage)
@reads_tasks
def backtest_cmd(
    runs: str = RunsArg,
    task: list[str] = TaskOpt,
    split: str = typer.Option(
        "size", "--split", help="size: hold out the largest N; compute: runs above a threshold."
    ),
    max_flops: Optional[str] = typer.Option(
        None, "--max-flops", metavar="FLOPS", help="With --split compute: fit runs with C <= this."
    ),
    max_n: Optional[str] = typer.Option(
        None, "--max-N", metavar="N", help="With --split size: fit runs with N <= this."
    ),
    ratio: float = typer.Option(
        10.0, "--ratio", help="Without --max-flops: threshold = largest run's C / ratio."
    ),
    through: str = option("--through", "tasks backtest"),
    link: str = option("--link", "tasks backtest"),
    form: str = option("--form", "tasks backtest", help=FORM_HELP),
    average: Optional[str] = AverageOpt,
    bootstrap: int = option(
        "--bootstrap",
        "tasks backtest",
        help="Resamples of both steps' parameters in the intervals.",
    ),
    smooth: int = option("--smooth", "tasks backtest"),
    skip: float = option("--skip", "tasks backtest"),
    step1_points: str = option("--step1-points", "tasks backtest"),
    seed: int = option("--seed", "tasks backtest"),
    level: float = option("--level", "tasks backtest"),
    as_json: bool = JsonOpt,
    reading: TaskReading = None,
) -> None:
    """Fit both steps on the small runs and score, per task, the error of step 1 alone, of step 2
    alone (fed the true intermediate) and of the chain on the held-out runs."""
    from scalelab.tasks import backtest

    threshold = _count(max_flops, "--max-flops")
    if max_n is not None:
        if split != "size" or threshold is not None:
            raise InputError("--max-N: only with --split size, and not with --max-flops")
        threshold = _count(max_n, "--max-N")
    _real(ratio, "--ratio", 1.0)
    level = _checked(level, bootstrap)
    table = reading.read(runs, task, through)
    with err.status("backtesting two steps"):
        results = backtest(
            table,
            task,
            through=through,
            link=link,
            form=form,
            split=split,
            threshold=threshold,
            ratio=ratio,
            average=_average(average),
            bootstrap=bootstrap,
            level=level,
            seed=seed,
            smooth=smooth,
            skip=skip,
            step1_points=step1_points,
        )
    if as_json:
        _emit(results)
        return
    from rich.table import Table

    t = Table(title=f"backtest: held out {results[0].held_out}" if results else "backtest")
    cols = ("task", "step 1 |rel. error|", "step 2 |error|", "chain |error|", "coverage", "width")
    cols += ("form / link",)
    for col in cols:
        t.add_column(col)
    for r in results:
        if not r.predictable:
            t.add_row(r.task, "-", "-", "-", "-", "-", f"not predictable: {r.reason}")
            continue
        t.add_row(
            r.task,
            f"{r.step1_rel_error:.2%}",
            f"{r.step2_error:.3f}",
            f"{r.chain_error:.3f}",
            f"{r.coverage:.0%} at {level:.0%}" if r.coverage is not None else "-",
            f"{r.width:.3f}" if r.width is not None else "-",
            f"{r.form} / {r.link}",
        )
    out.print(t)
    print_warnings(results)


@tasks_app.command("rank", cls=PlainUsage)
@reads_tasks
def rank_cmd(
    runs: str = RunsArg,
    task: list[str] = TaskOpt,
    through: str = option("--through", "tasks rank"),
    link: str = option("--link", "tasks rank"),
    form: str = option("--form", "tasks rank", help=FORM_HELP),
    as_json: bool = JsonOpt,
    reading: TaskReading = None,
) -> None:
    """Rank tasks by predictability: accuracy noise at the end of runs, signal above chance,
    backtest error of the chain (largest size held out)."""
    from scalelab.tasks import predictability

    table = reading.read(runs, task, through)
    with err.status("ranking tasks"):
        rows = predictability(table, task, through=through, link=link, form=form)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    from rich.table import Table

    t = Table(title="tasks by predictability")
    for col in ("rank", "task", "signal", "noise", "chain |error|", "note"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r.rank),
            r.task,
            f"{r.signal:+.3f}",
            f"{r.noise:.3f}" if r.noise is not None else "-",
            f"{r.chain_error:.3f}" if r.chain_error is not None else "-",
            r.reason or "",
        )
    out.print(t)
    print_warnings(rows)
