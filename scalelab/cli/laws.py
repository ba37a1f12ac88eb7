"""Fitting commands: fit, optimal, predict, isoflop, backtest, forms, published, examples."""

from __future__ import annotations

import json
from typing import Optional

import typer

from scalelab.cli.common import (
    ColumnOpt,
    ExampleOpt,
    JsonOpt,
    RunsArg,
    WhereOpt,
    _fmt,
    _given,
    _interval,
    _json_default,
    _load_runs,
    _num,
    _resolve_law,
    app,
    emit_json,
    err,
    out,
)
from scalelab.errors import InputError

BUDGET_HELP = "Budget C (FLOPs) for derived quantities [default: Chinchilla's, 5.76e23]."


@app.command()
def fit(
    runs: Optional[str] = RunsArg,
    form: str = typer.Option(
        "chinchilla",
        "--form",
        help="Functional form (see `scalelab forms`), or auto: "
        "choose by out-of-sample error with the largest size held out.",
    ),
    bootstrap: int = typer.Option(
        0, "--bootstrap", help="Run-level bootstrap resamples for intervals."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    loss: str = typer.Option(
        "huber", "--loss", help="Fitting loss on log residuals: huber or mse."
    ),
    delta: float = typer.Option(1e-3, "--delta", help="Huber delta."),
    params: str = typer.Option(
        "non-embedding", "--params", help="Parameter convention: non-embedding, total, active."
    ),
    flops: str = typer.Option("6ND", "--flops", help="FLOP convention: 6ND, 6ND+attention, table."),
    eval_set: Optional[str] = typer.Option(
        None, "--eval-set", help="Evaluation set to fit (default: val)."
    ),
    points: Optional[str] = typer.Option(
        None, "--points", help="final (each run's last point) or all."
    ),
    skip_first: float = typer.Option(
        0.0, "--skip-first", help="With --points all: drop each run's first fraction of tokens."
    ),
    tie: str = typer.Option(
        "irreducible", "--tie", help="--form auto, tied forms: irreducible (prefer E) or stack."
    ),
    budget: Optional[float] = typer.Option(None, "--budget", help=BUDGET_HELP, show_default=False),
    level: float = typer.Option(0.95, "--level", help="Confidence level of intervals."),
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
    from scalelab.report import checklist

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
        **_given(budget=budget),
    )
    with err.status(
        f"fitting {form} to {len(table)} rows"
        + (f", {bootstrap} bootstrap resamples" if bootstrap else "")
    ):
        if form == "auto":
            from scalelab.laws.select import fit_auto

            law = fit_auto(table, tie=tie, options=options)
        else:
            law = laws.fit(table, form, options=options)
    budget = law.options.budget
    items = checklist.build(law, table)
    if output:
        law.save(output)
    if checklist_out:
        from scalelab import atomic

        atomic.write_text(
            checklist_out, json.dumps(checklist.to_json(items), indent=2, default=str) + "\n"
        )
    summary = law.summary()
    summary["checklist"] = checklist.to_json(items)
    summary["optimal"] = {
        k: law.derived[k]
        for k in ("a", "b", "N_opt", "D_opt", "tokens_per_param")
        if k in law.derived
    } | ({"C": budget} if law.derived else {})
    if as_json:
        emit_json(summary)
    else:
        _print_law(law, budget)
        if law.options.auto:
            from scalelab.cli.compare import print_selection

            print_selection(law.options.auto)
        if output:
            out.print(f"law written to {output}")
    for note in law.data.get("notes", []):
        if note.startswith(
            "left out"
        ):  # e.g. diverged runs: the user must see what the fit did not use
            err.print(f"warning: {note}", markup=False, highlight=False)
    for warning in law.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


def _print_law(law, budget: float) -> None:
    from rich.table import Table

    t = Table(title=f"{law.form}: {law.provenance.get('formula', '')}", title_justify="left")
    t.add_column("parameter")
    t.add_column("estimate", justify="right")
    t.add_column(f"{law.level:.0%} interval" if law.ci else "", justify="right")
    for name, value in law.params.items():
        t.add_row(name, _fmt(value), _interval(law.ci.get(name)))
    for name, value in law.derived.items():
        label = (
            f"{name} @ C={budget:.3g}"
            if name in ("N_opt", "D_opt", "tokens_per_param", "loss_at_budget")
            else name
        )
        t.add_row(label, _fmt(value), _interval(law.ci.get(name)))
    out.print(t)
    if law.objective is not None:
        s = law.starts
        out.print(
            f"objective {law.objective:.6g} on {law.n_points} points from {law.n_runs} runs; "
            f"{s.get('converged_to_best')} of {s.get('n')} starts reached the best (rtol "
            f"{s.get('rtol')}); "
            f"conventions: {law.conventions.get('params')} N, {law.conventions.get('flops')}"
        )


@app.command()
def optimal(
    law: str = typer.Option(..., "--law", help="A law JSON file or a published law name."),
    flops: list[float] = typer.Option(..., "--flops", help="Budget C in FLOPs (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Compute-optimal N, D, tokens/parameter and loss for a budget."""
    fitted = _resolve_law(law)
    allocations = [fitted.optimal(c).to_dict() for c in flops]
    if as_json:
        emit_json(allocations[0] if len(allocations) == 1 else allocations)
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


@app.command()
def predict(
    law: str = typer.Option(..., "--law", help="A law JSON file or a published law name."),
    N: Optional[float] = typer.Option(None, "--N", help="Parameters."),
    D: Optional[float] = typer.Option(None, "--D", help="Training tokens."),
    C: Optional[float] = typer.Option(None, "--C", help="Training FLOPs."),
    S: Optional[float] = typer.Option(None, "--S", help="Optimiser steps."),
    as_json: bool = JsonOpt,
) -> None:
    """Predicted loss (nats/token), its prediction interval (a new run's loss) and the law's
    parameter (confidence) interval at a point."""
    fitted = _resolve_law(law)
    variables = {k: v for k, v in {"N": N, "D": D, "C": C, "S": S}.items() if v is not None}
    loss = float(fitted.predict(**variables))
    interval = ci = None
    if fitted.samples is not None and len(fitted.samples):
        ci = fitted.interval(kind="ci", **variables)
    if fitted.scatter or ci:
        interval = fitted.interval(**variables)
    result = {
        "law": law,
        "form": fitted.form,
        **variables,
        "loss": loss,
        "interval": interval,
        "interval_kind": "prediction" if interval else None,
        "ci": ci,
        "level": fitted.level if interval else None,
    }
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


@app.command()
def isoflop(
    runs: Optional[str] = RunsArg,
    approach: int = typer.Option(
        2, "--approach", help="1: minimum-loss envelope; 2: IsoFLOP parabolas."
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for intervals."),
    seed: int = typer.Option(0, "--seed"),
    rtol: float = typer.Option(
        1e-6, "--rtol", help="Rows whose C agree within this relative tolerance share a budget."
    ),
    params: str = typer.Option("non-embedding", "--params"),
    flops: str = typer.Option("6ND", "--flops"),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """IsoFLOP analysis (Chinchilla approaches 1 and 2): N_opt ~ C^a, D_opt ~ C^b."""
    from scalelab.laws import Conventions
    from scalelab.laws import isoflop as iso

    table = _load_runs(runs, example, column, where)
    conv = Conventions(params, flops)
    if approach == 2:
        result = iso.isoflop_profiles(
            table, rtol=rtol, bootstrap=bootstrap, seed=seed, conventions=conv
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
        if result.ci:
            out.print(
                f"a = {result.a:.3f} {_interval(result.ci['a'])}, b = {result.b:.3f} "
                f"{_interval(result.ci['b'])} "
                f"({result.level:.0%}, {bootstrap} bootstrap resamples)"
            )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


@app.command()
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


@app.command()
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


@app.command(name="examples")
def list_examples() -> None:
    """List the built-in example run tables (use with --example NAME)."""
    from scalelab import examples as ex

    for name in ex.names():
        e = ex.EXAMPLES[name]
        out.print(f"[bold]{name}[/bold]: {e.description} ({e.citation})", highlight=False)


@app.command()
def backtest(
    runs: Optional[str] = RunsArg,
    form: str = typer.Option(
        "chinchilla", "--form", help="Functional form to backtest (see `scalelab forms`)."
    ),
    split: str = typer.Option(
        "compute",
        "--split",
        help="compute: hold out runs above a compute threshold; size: leave one size out, largest "
        "first.",
    ),
    max_flops: Optional[str] = typer.Option(
        None, "--max-flops", help="Compute threshold: fit runs with C at most this."
    ),
    ratio: float = typer.Option(
        10.0, "--ratio", help="Without --max-flops: threshold = largest run's C / ratio."
    ),
    folds: int = typer.Option(3, "--folds", help="Sizes to hold out with --split size."),
    compare: bool = typer.Option(
        False, "--compare", help="Score every form over the selection's folds (fit --form auto)."
    ),
    points: Optional[str] = typer.Option(None, "--points", help="final or all."),
    skip_first: float = typer.Option(
        0.0, "--skip-first", help="With --points all: drop each run's first fraction of tokens."
    ),
    bootstrap: int = typer.Option(
        100, "--bootstrap", help="Bootstrap resamples for prediction intervals (0: none)."
    ),
    seed: int = typer.Option(0, "--seed"),
    level: float = typer.Option(0.95, "--level"),
    params: str = typer.Option("non-embedding", "--params"),
    flops: str = typer.Option("6ND", "--flops"),
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
    from scalelab.laws.backtest import backtest as run_backtest

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
        from scalelab.cli.compare import compare_forms

        return compare_forms(table, options, as_json, output)
    with err.status(f"backtesting {form} ({split} split)"):
        result = run_backtest(
            table,
            form,
            split=split,
            threshold=_num(max_flops, "--max-flops"),
            ratio=ratio,
            folds=folds,
            options=options,
        )
    d = result.to_dict()
    if output:
        atomic.write_text(output, json.dumps(d, indent=2, default=_json_default) + "\n")
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
    for fold in result.folds:
        for warning in fold.warnings:
            err.print(f"warning ({fold.held_out}): {warning}", markup=False, highlight=False)
