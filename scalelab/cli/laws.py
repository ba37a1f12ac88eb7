"""Fitting commands: fit, optimal, predict, isoflop, backtest, forms, published, examples."""

from __future__ import annotations

import math
from typing import Optional

import typer

from scalelab.atomic import check_file
from scalelab.cli.common import (
    BudgetOpt,
    ColumnOpt,
    ExampleOpt,
    JsonOpt,
    LawOpt,
    RunsArg,
    WhereOpt,
    _conditions,
    _count,
    _fmt,
    _given,
    _interval,
    _load_runs,
    _real,
    _resolve_law,
    app,
    emit_json,
    err,
    json_text,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.schedules import print_comparison, print_prediction
from scalelab.cli.selection import print_selection
from scalelab.cli.usage import PlainUsage
from scalelab.errors import InputError, NumericalError

BUDGET_HELP = "Budget C (FLOPs) for derived quantities (default: Chinchilla's, 5.76e23)."


@app.command(cls=PlainUsage)
def fit(
    runs: Optional[str] = RunsArg,
    form: str = option(
        "--form",
        "fit",
        help="Functional form (see `scalelab forms`), or auto: "
        "choose by out-of-sample error over four held-out folds (largest size, two largest, "
        "runs above max C/10 and above max C/100).",
    ),
    bootstrap: int = option(
        "--bootstrap", "fit", help="Run-level bootstrap resamples for intervals."
    ),
    seed: int = option("--seed", "fit"),
    loss: str = option("--loss", "fit", help="Fitting loss on log residuals: huber or mse."),
    delta: float = option("--delta", "fit"),
    params: str = option("--params", "fit"),
    flops: str = option("--flops", "fit"),
    eval_set: Optional[str] = option(
        "--eval-set", "fit", help="Evaluation set to fit (default: val)."
    ),
    points: Optional[str] = option("--points", "fit", help="final (each run's last point) or all."),
    skip_first: float = option(
        "--skip-first", "fit", help="With --points all: drop each run's first fraction of tokens."
    ),
    bcrit: str = typer.Option(
        "kaplan-2020",
        "--bcrit",
        help="kaplan-ns: S_min = S/(1 + B_crit(L)/B) with B_crit from kaplan-2020 (published), "
        "B*,alpha_B, a `scalelab bcrit -o` file, or none (steps are S_min).",
    ),
    tie: str = option(
        "--tie", "fit", help="--form auto, tied forms: irreducible (prefer E) or stack."
    ),
    budget: Optional[str] = BudgetOpt(BUDGET_HELP),
    level: float = option("--level", "fit"),
    output: Optional[str] = typer.Option(
        None, "-o", "--output", help="Write the law as JSON here."
    ),
    checklist_out: Optional[str] = typer.Option(
        None,
        "--checklist",
        help="Write the fit's (Mis)Fitting checklist (Li et al. 2025) as JSON here.",
    ),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit a scaling law to a run table (Chinchilla approach 3 by default)."""
    from scalelab import laws
    from scalelab.laws.schedule_select import summarised
    from scalelab.report import checklist

    asked = _count(budget, "--budget")
    delta, level = _real(delta, "--delta"), _real(level, "--level", 0.0, 1.0)
    check_file(output, "law file")
    check_file(checklist_out, "checklist file")
    table = _load_runs(runs, example, column, where)
    options = laws.FitOptions.make(
        loss=loss,
        delta=delta,
        bootstrap=bootstrap,
        seed=seed,
        level=level,
        params=params,
        flops=flops,
        eval_set=eval_set,
        points=points,
        skip_first=skip_first,
        bcrit=bcrit,
        tie=tie,
        **_given(budget=asked),
    )
    with err.status(
        f"fitting {form} to {len(table)} rows"
        + (f", {bootstrap} bootstrap resamples" if bootstrap else "")
    ):
        law = laws.fit(table, form, options=options)  # form auto: the tie rule is in options
    budget = law.options.budget
    unavailable = law.not_computed()
    if asked is not None and unavailable:
        raise NumericalError(
            f"{law.form}: {', '.join(unavailable)} at --budget {budget:.3g}: "
            + next(iter(unavailable.values()))
        )
    items = checklist.build(law, table)
    if output:
        law.save(output)
    if checklist_out:
        from scalelab import atomic

        atomic.write_text(checklist_out, json_text(checklist.to_json(items)))
    summary = law.summary()
    if law.options is not None and law.options.auto and "schedule_aware" in law.options.auto:
        summary["options"]["auto"]["schedule_aware"] = summarised(
            law.options.auto["schedule_aware"]
        )
    summary["checklist"] = checklist.to_json(items)
    summary["optimal"] = {
        k: law.derived[k]
        for k in ("a", "b", "N_opt", "D_opt", "tokens_per_param")
        if k in law.derived
    } | ({"C": budget} if law.derived else {})
    if as_json:
        emit_json(summary, reasons={f"optimal.{k}": v for k, v in unavailable.items()})
    else:
        _print_law(law, budget)
        if law.options.auto:
            print_selection(law.options.auto)
            print_comparison(law.options.auto.get("schedule_aware"))
        if output:
            out.print(f"law written to {output}")
    for note in law.data.get("notes", []):
        if note.startswith(
            "left out"
        ):  # e.g. diverged runs: the user must see what the fit did not use
            err.print(f"warning: {note}", markup=False, highlight=False, soft_wrap=True)
    for warning in law.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


def _print_law(law, budget: float) -> None:
    from rich.table import Table

    t = Table(title=f"{law.form}: {law.provenance.get('formula', '')}", title_justify="left")
    t.add_column("parameter")
    t.add_column("estimate", justify="right")
    if law.ci:  # intervals come from the bootstrap: no column without one
        t.add_column(f"{law.level:.0%} interval", justify="right")

    def row(label: str, name: str, value) -> None:
        t.add_row(label, _fmt(value), *([_interval(law.ci.get(name))] if law.ci else []))

    for name, value in law.params.items():
        row(name, name, value)
    for name, value in law.derived.items():
        label = (
            f"{name} @ C={budget:.3g}"
            if name in ("N_opt", "D_opt", "tokens_per_param", "loss_at_budget")
            else name
        )
        row(label, name, value)
    out.print(t)
    if law.objective is not None:
        s = law.starts
        out.print(
            f"objective {law.objective:.6g} on {law.n_points} points from {law.n_runs} runs; "
            f"{s.get('converged_to_best')} of {s.get('n')} starts reached the best (rtol "
            f"{s.get('rtol')}); "
            f"conventions: {law.conventions.get('params')} N, {law.conventions.get('flops')}"
        )


@app.command(cls=PlainUsage)
def optimal(
    law: str = LawOpt,
    flops: list[str] = typer.Option(
        ..., "--flops", metavar="FLOPS", help="Budget C in FLOPs: 1e23, 576e21 (repeatable)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Compute-optimal N, D, tokens/parameter and loss for a budget."""
    from scalelab.laws import guards

    budgets = [_count(c, "--flops (budget C)") for c in flops]
    fitted = _resolve_law(law)
    allocations = [guards.with_allocation_warnings(fitted, fitted.optimal(c)) for c in budgets]
    if as_json:
        emit_json(allocations[0] if len(allocations) == 1 else allocations)
        _print_warnings(allocations)
        return
    from rich.table import Table

    t = Table(title=f"compute-optimal allocation under {law} (C = 6ND)", title_justify="left")
    for col in ("C (FLOPs)", "N_opt", "D_opt", "tokens/param", "loss"):
        t.add_column(col, justify="right")
    for a in allocations:
        ci = a["ci"]
        t.add_row(
            f"{a['C']:.3g}",
            f"{a['N_opt']:.4g} {_interval(ci.get('N_opt'))}",
            f"{a['D_opt']:.4g} {_interval(ci.get('D_opt'))}",
            f"{a['tokens_per_param']:.3g} {_interval(ci.get('tokens_per_param'))}",
            f"{a['loss']:.4g} {_interval(ci.get('loss'))}",
        )
    out.print(t)
    _print_warnings(allocations)


def _print_warnings(results: list[dict]) -> None:
    for w in dict.fromkeys(w for r in results for w in r.get("warnings", [])):
        err.print(f"warning: {w}", markup=False, highlight=False)


@app.command(cls=PlainUsage)
def predict(
    law: str = LawOpt,
    N: Optional[str] = typer.Option(None, "--N", metavar="COUNT", help="Parameters: 7e9, 7B."),
    D: Optional[str] = typer.Option(None, "--D", metavar="COUNT", help="Training tokens: 1.4T."),
    C: Optional[str] = typer.Option(None, "--C", metavar="FLOPS", help="Training FLOPs: 1e23."),
    S: Optional[str] = typer.Option(None, "--S", metavar="COUNT", help="Optimiser steps: 100k."),
    schedule: Optional[str] = typer.Option(
        None,
        "--schedule",
        metavar="SPEC",
        help="The target's learning-rate schedule, for a law whose fit --form auto chose the "
        "schedule-aware law: kind=cosine|wsd|constant, and optionally steps, lr (peak), warmup, "
        "min_lr_ratio, cooldown_frac, cooldown_shape (the rest from the fitted runs' own "
        "hyper-parameter rule at N and that length, said so). "
        "Without it: an annealed end, said so.",
    ),
    batch_tokens: Optional[str] = typer.Option(
        None,
        "--batch-tokens",
        metavar="COUNT",
        help="Tokens per step turning --D into steps for a target schedule (default: the fitted "
        "runs').",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Predicted loss (nats/token), its prediction interval (a new run's loss) and the law's
    parameter (confidence) interval at a point."""
    from scalelab.laws import guards, schedule_predict

    given = {"N": N, "D": D, "C": C, "S": S}
    variables = {k: _count(v, f"--{k}") for k, v in given.items() if v is not None}
    tokens = _count(batch_tokens, "--batch-tokens")
    fitted = _resolve_law(law)
    scheduled = schedule_predict.predict(fitted, variables, schedule, tokens)
    if scheduled is not None:  # the schedule-aware law won fit --form auto's comparison
        return print_prediction(law, scheduled, as_json)
    variables, notes = guards.resolve_variables(fitted, variables)
    notes += [n for n in [schedule_predict.annealed_note(fitted)] if n]
    loss = float(fitted.predict(**variables))
    interval = ci = None
    if fitted.samples is not None and len(fitted.samples):
        ci = fitted.interval(kind="ci", **variables)
    if fitted.scatter or ci:
        interval = fitted.interval(**variables)
    if not math.isfinite(loss):
        where = ", ".join(f"{k}={v:.4g}" for k, v in variables.items())
        raise NumericalError(
            f"{law}: the predicted loss at {where} is not a finite number (the law overflows there)"
        )
    result = {
        "law": law,
        "form": fitted.form,
        **variables,
        "loss": loss,
        "interval": interval,
        "interval_kind": "prediction" if interval else None,
        "ci": ci,
        "level": fitted.level if interval else None,
        "notes": notes,
        "warnings": guards.prediction_warnings(fitted, variables),
    }
    for note in notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if as_json:
        emit_json(result)
    else:
        where = ", ".join(f"{k}={v:.4g}" for k, v in variables.items())
        out.print(
            f"loss at {where}: {loss:.4f} nats/token"
            + (
                f"  {fitted.level:.0%} prediction interval {_interval(interval)}"
                + (f", parameter ci {_interval(ci)}" if ci else "")
                if interval
                else "  (no interval: law has no bootstrap samples)"
            )
        )
    _print_warnings([result])


@app.command(cls=PlainUsage)
def isoflop(
    runs: Optional[str] = RunsArg,
    approach: int = typer.Option(
        2, "--approach", help="1: minimum-loss envelope; 2: IsoFLOP parabolas."
    ),
    bootstrap: int = option("--bootstrap", "isoflop", help="Bootstrap resamples for intervals."),
    seed: int = option("--seed", "isoflop"),
    rtol: float = typer.Option(
        1e-6, "--rtol", help="Rows whose C agree within this relative tolerance share a budget."
    ),
    params: str = option("--params", "isoflop"),
    flops: str = option("--flops", "isoflop"),
    window: str = typer.Option(
        "parabola",
        "--window",
        help="Approach 2: where each optimum is found: parabola (centred on its vertex, up to a "
        "4% rise; parabola:rise=R or parabola:decades=H), akima (Porian et al. 2024) or all.",
    ),
    noise: Optional[float] = typer.Option(
        None,
        "--noise",
        help="Approach 2 bootstrap: sd of log loss (default: estimated from the window fits).",
    ),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """IsoFLOP analysis (Chinchilla approaches 1 and 2): N_opt ~ C^a, D_opt ~ C^b."""
    from scalelab.laws import Conventions
    from scalelab.laws import isoflop as iso

    _real(rtol, "--rtol", 0.0, 1.0)
    if bootstrap < 0:
        raise InputError(f"--bootstrap: expected 0 or more resamples, got {bootstrap}")
    table = _load_runs(runs, example, column, where)
    table = _one_configuration(table, example, where)
    conv = Conventions(params, flops)
    if approach == 2:
        result = iso.isoflop_profiles(
            table,
            rtol=rtol,
            bootstrap=bootstrap,
            seed=seed,
            conventions=conv,
            window=window,
            noise=noise,
        )
    elif approach == 1:
        result = iso.envelope(table, rtol=rtol, bootstrap=bootstrap, seed=seed, conventions=conv)
    else:
        raise InputError(f"--approach: expected 1 or 2, got {approach}")
    if as_json:
        emit_json(result.to_dict())
    else:
        from rich.table import Table

        t = Table(
            title=f"approach {approach}: N_opt = {result.k_N:.3g} C^{result.a:.3f}, D_opt = "
            f"{result.k_D:.3g} C^{result.b:.3f}",
            title_justify="left",
        )
        for col in ("C (FLOPs)", "N_opt", "D_opt", "loss", "points"):
            t.add_column(col, justify="right")
        for b in result.budgets:
            t.add_row(
                f"{b['C']:.3g}",
                f"{b['N_opt']:.4g}",
                f"{b['D_opt']:.4g}",
                f"{b['loss']:.4g}",
                str(b.get("n_points", 1)),
            )
        out.print(t)
        if result.window:
            out.print(f"window: {result.window['text']}", highlight=False)
        if result.ci:
            out.print(
                f"a = {result.a:.3f} {_interval(result.ci['a'])}, b = {result.b:.3f} "
                f"{_interval(result.ci['b'])} "
                f"({result.level:.0%}, {bootstrap} bootstrap resamples)"
            )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


@app.command(cls=PlainUsage)
def forms(as_json: bool = JsonOpt) -> None:
    """List the functional forms a fit can use."""
    from scalelab.laws import forms as registry

    described = [registry.get(n).describe() for n in registry.names()]
    if as_json:
        emit_json(described)
        return
    for d in described:
        out.print(
            f"[bold]{d['name']}[/bold]: {d['formula']}  ({', '.join(d['variables'])})",
            highlight=False,
        )


@app.command(cls=PlainUsage)
def published(as_json: bool = JsonOpt) -> None:
    """List the published laws usable as --law NAME, with their sources."""
    from scalelab.laws import published as pub

    laws_ = {n: pub.get(n) for n in pub.names()}
    if as_json:
        emit_json(
            {
                n: {
                    "form": l.form,
                    "params": l.params,
                    "provenance": l.provenance,
                    "conventions": l.conventions,
                }
                for n, l in laws_.items()
            }
        )
        return
    for n, l in laws_.items():
        out.print(
            f"[bold]{n}[/bold] ({l.form}): {l.provenance['citation']}, {l.provenance['source']}",
            highlight=False,
        )


def _one_configuration(table, example: Optional[str], where: Optional[list[str]]):
    """An example of several configurations (porian2024) with none picked: an IsoFLOP analysis of
    them mixed means nothing, so it takes the example's default one and says so."""
    from scalelab import examples as ex

    e = ex.EXAMPLES.get(example or "")
    picked = {c.column for c in _conditions(where) if c.op == "="}
    if e is None or e.choose is None or e.choose in picked:
        return table
    err.print(
        f"note: {example} holds {len(ex.choices(example))} configurations (column {e.choose}); "
        f"using {e.choose}={e.default}; pick another with --where {e.choose}=VALUE (listed by "
        "`scalelab examples`)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return table.where(**{e.choose: e.default})


@app.command(name="examples", cls=PlainUsage)
def list_examples() -> None:
    """List the built-in example run tables (use with --example NAME) and the configurations a
    table holds (use with --where COLUMN=VALUE)."""
    from scalelab import examples as ex

    for name in ex.names():
        e = ex.EXAMPLES[name]
        out.print(f"[bold]{name}[/bold]: {e.description} ({e.citation})", highlight=False)
        if e.choose:
            default = f" (isoflop's default: {e.default})" if e.default else ""
            out.print(f"  --where {e.choose}=VALUE, VALUE one of{default}:", highlight=False)
            for value in ex.choices(name):
                out.print(f"    {value}", highlight=False, markup=False)
