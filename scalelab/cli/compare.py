"""``scalelab compare``: recipes (or evaluation sets, data, shapes) compared through their laws."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import (
    ColumnOpt,
    ExampleOpt,
    Flag,
    JsonOpt,
    RunsArg,
    WhereOpt,
    _conditions,
    _load_runs,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.usage import PlainUsage


@app.command("compare", cls=PlainUsage)
def compare_cmd(
    runs: Optional[str] = RunsArg,
    by: str = typer.Option(
        "recipe", "--by", help="Grouping column: recipe, eval_set, dataset, shape, or any column."
    ),
    shared: Optional[str] = typer.Option(
        None, "--shared", help="Parameters common to all groups: alpha,beta (default: none)."
    ),
    budget: Optional[list[str]] = typer.Option(
        None,
        "--budget",
        help="Budget C in FLOPs for the multiplier: 1e23, 5e21 (repeatable) "
        "[default: spanning the data and beyond].",
        show_default=False,
    ),
    reference: Optional[str] = typer.Option(
        None, "--reference", help="Group A of every pair (default: every pair of groups)."
    ),
    group: Optional[list[str]] = typer.Option(
        None, "--group", help="Compare only these groups (repeatable)."
    ),
    form: str = option("--form", "compare", help="Functional form of each group's law."),
    bootstrap: int = option("--bootstrap", "compare", help="Run-level resamples per group."),
    seed: int = option("--seed", "compare", help="Seed of the bootstrap."),
    level: float = option("--level", "compare", help="Confidence level of intervals."),
    loss: str = option("--loss", "compare", help="Fitting loss on log residuals."),
    params: str = option("--params", "compare", help="Parameter convention."),
    flops: str = option("--flops", "compare", help="FLOP convention."),
    eval_set: Optional[str] = option("--eval-set", "compare", help="Evaluation set to fit."),
    no_tests: bool = Flag("--no-tests", help="Skip the tests of sharing (shared vs free)."),
    no_decision: bool = Flag("--no-decision", help="Skip decision accuracy across scales."),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Compare groups of runs: effective-compute multiplier, offsets, decision accuracy, shapes."""
    from scalelab import compare

    table = _runs(runs, example, column, where)
    with err.status(f"comparing by {by}: joint fits and {bootstrap} bootstrap resamples"):
        result = compare.compare(
            table,
            by,
            form=form,
            shared=shared,
            budgets=budget or None,
            reference=reference,
            groups=group or None,
            tests=not no_tests,
            decision=False if no_decision else None,
            bootstrap=bootstrap,
            seed=seed,
            level=level,
            loss=loss,
            params=params,
            flops=flops,
            eval_set=eval_set,
        )
    if as_json:
        emit_json(result.to_dict())
    else:
        _print(result)
    for w in (result.fit.warnings if result.fit else []) + result.notes:
        err.print(f"warning: {w}", markup=False, highlight=False)


def _runs(runs, example, column, where):
    """The run table: a file or ``--example`` as every command reads them, or a ladder directory
    (its registry, or a runs table exported into it) as ``scalelab report`` reads one."""
    from pathlib import Path

    from scalelab.errors import InputError

    if runs is None or example is not None or not Path(runs).is_dir():
        return _load_runs(runs, example, column, where)
    from scalelab.report.inputs import load_input

    if column:
        raise InputError("--column maps the columns of a table file, not of a ladder directory")
    table = load_input(runs)[0]
    return table.filter(_conditions(where))


def _g(x) -> str:
    return "null" if x is None else f"{x:.3g}"


def _print(r) -> None:
    p = lambda s="": out.print(s, markup=False, highlight=False)  # noqa: E731
    if r.shape is not None:
        s = r.shape
        p(f"shape: {s.verdict}; largest spread across shapes at fixed N and D {s.spread:.2%}")
        p(
            "noise (seed sd of log L): "
            + (_g(s.noise_sd) if s.noise_sd is not None else f"unknown ({s.noise_reason})")
            + ("" if s.p_value is None else f"; F = {s.F:.3g}, p = {s.p_value:.3g}")
        )
        for c in s.cells:
            p(
                f"  N={c['N']:.3g} D={c['D']:.3g}: best {c['best']}, spread {c['spread']:.2%} "
                + ", ".join(f"{k} +{v['excess']:.2%}" for k, v in c["shapes"].items())
            )
        if s.penalty:
            p(f"aspect-ratio penalty 4x from the best aspect: {s.penalty['at_4x']:.2%}")
        for n in s.notes:
            p(f"note: {n}")
        return
    p(f"{r.form} fitted per {r.by}: {', '.join(r.groups)}; shared: {', '.join(r.shared) or 'none'}")
    for t in r.sharing:
        p(f"  {t.verdict}")
    if r.offsets is not None:
        p(f"offsets: {r.offsets.verdict}")
    for pair in r.pairs:
        p(f"{pair.b} over {pair.a} (k > 1: {pair.b} better):")
        for b in pair.budgets:
            lo, hi = b.interval
            p(
                f"  C={b.C:.3g}: multiplier {_g(b.multiplier)} [{_g(lo)}, {_g(hi)}] "
                f"-> {b.verdict}" + (f" ({b.reason})" if b.reason else "")
            )
        p(
            f"  crossover: {_g(pair.crossover)}"
            + (
                f" [{_g(pair.crossover_interval[0])}, {_g(pair.crossover_interval[1])}]"
                if pair.crossover_interval
                else ""
            )
            + (f" ({pair.crossover_reason})" if pair.crossover_reason else "")
        )
    d = r.decision
    if d is not None:
        if d.target is None:
            p(f"decision accuracy: not computed ({d.reason})")
        else:
            p(
                f"decision accuracy vs the ranking at N={d.target.N:.3g} "
                f"({' < '.join(d.target.ranking)}), {d.pairs} pair(s):"
            )
            for rung in d.single_scale:
                p(f"  single scale N={rung.N:.3g}: {_g(rung.accuracy)}")
            for e in d.extrapolated:
                p(
                    f"  law from {e.rungs} rungs (N <= {e.max_N:.3g}): {_g(e.accuracy)}"
                    + (f" ({e.reason})" if e.reason else "")
                )
