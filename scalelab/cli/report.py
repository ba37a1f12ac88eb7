"""Report commands: report, sensitivity."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import (
    BudgetOpt,
    ColumnOpt,
    ExampleOpt,
    Flag,
    JsonOpt,
    WhereOpt,
    _conditions,
    _count,
    _given,
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
from scalelab.cli.usage import PlainUsage

BUDGET_HELP = (
    "Budget C (FLOPs) for the plan and sensitivity (default: 100x the runs' largest compute, "
    "the farthest they speak to)."
)


def _report_input(
    runs: Optional[str],
    example: Optional[str],
    column: Optional[list[str]],
    where: Optional[list[str]],
    manifest: Optional[str],
):
    """(table, manifest, description) from RUNS (a file or a ladder directory) or --example."""
    from pathlib import Path

    from scalelab.report import inputs

    found = None
    if runs is not None and example is None and Path(runs).is_dir():
        table, found, what = inputs.load_input(runs)
        table = table.filter(_conditions(where))
    else:
        table = _load_runs(runs, example, column, where)
        found = inputs.manifest_for(table)
        what = f"example {example}" if example else f"run table {runs}"
    if manifest:
        from scalelab.data.manifest import read_manifest

        found = read_manifest(manifest)
    return table, found, what


@app.command(cls=PlainUsage)
def report(
    runs: Optional[str] = typer.Argument(
        None,
        help="Run table (.csv, .parquet, .jsonl) or a ladder directory. Or use --example.",
        show_default=False,
        metavar="RUNS",
    ),
    output: str = typer.Option("report.html", "-o", "--output", help="The HTML file to write."),
    form: str = option("--form", "report", help="Functional form to fit (see `scalelab forms`)."),
    law: Optional[str] = typer.Option(
        None,
        "--law",
        metavar="LAW",
        help="Report this law (a JSON file from fit -o, or a published name) instead of fitting.",
    ),
    budget: Optional[str] = BudgetOpt(BUDGET_HELP),
    bootstrap: int = option(
        "--bootstrap", "report", help="Run-level bootstrap resamples for intervals."
    ),
    seed: int = option("--seed", "report"),
    loss: str = option("--loss", "report", help="Fitting loss: huber or mse."),
    delta: float = option("--delta", "report"),
    params: str = option("--params", "report"),
    flops: str = option("--flops", "report"),
    sensitivity_: bool = Flag(
        "--sensitivity/--no-sensitivity", default=True, help="Include the sensitivity analysis."
    ),
    fast: bool = Flag("--fast", help="Sensitivity refits from a reduced start grid (108 starts)."),
    manifest: Optional[str] = typer.Option(
        None, "--manifest", help="Data directory whose manifest.json feeds the checklist."
    ),
    by: Optional[str] = typer.Option(
        None,
        "--by",
        help="Compare the groups of this column in a comparison section "
        "[default: recipe, when the runs have several].",
        show_default=False,
    ),
    figures: Optional[str] = typer.Option(
        None, "--figures", help="Also write every figure as PNG and SVG here."
    ),
    checklist_out: Optional[str] = typer.Option(
        None, "--checklist", help="Also write the checklist as JSON here (and .md beside)."
    ),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One self-contained HTML report: laws, figures, plan, backtest, checklist, sensitivity."""
    from pathlib import Path

    from scalelab import atomic
    from scalelab.laws import FitOptions
    from scalelab.report import checklist as cl
    from scalelab.report import html as report_html

    asked, delta = _count(budget, "--budget"), _real(delta, "--delta")
    table, found, what = _report_input(runs, example, column, where, manifest)
    fitted = _resolve_law(law) if law else None
    options = report_html.ReportOptions(
        form=form,
        budget=asked,
        fit=FitOptions.make(
            bootstrap=bootstrap, seed=seed, loss=loss, delta=delta, params=params, flops=flops
        ),
        sensitivity=sensitivity_,
        fast=fast,
        runs=runs,
        example=example,
        columns=tuple(column or ()),
        where=tuple(where or ()),
        law_file=law,
        manifest=manifest,
        output=output,
        by=by,
    )
    with err.status("building the report") as status:
        rep = report_html.build(
            table, law=fitted, options=options, manifest=found, progress=lambda m: status.update(m)
        )
    try:
        rep.write(output, figures_dir=figures)
    finally:
        rep.close()
    if checklist_out:
        record = cl.to_json(rep.checklist)
        atomic.write_text(checklist_out, json_text(record))
        atomic.write_text(Path(checklist_out).with_suffix(".md"), cl.to_markdown(rep.checklist))
    if as_json:
        emit_json(
            {
                "output": output,
                "input": what,
                "sections": rep.sections,
                "figures": figures,
                "checklist": checklist_out,
                "law": rep.law.summary(),
            }
        )
    else:
        for key, state in rep.sections.items():
            if state != "ok":
                err.print(f"note: {key}: {state}", markup=False, highlight=False)
        err.file.flush()
        out.print(
            f"report written to {output} ({what}; {sum(v == 'ok' for v in rep.sections.values())} "
            "of "
            f"{len(rep.sections)} sections filled)",
            markup=False,
            highlight=False,
        )
    for warning in rep.law.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


@app.command(cls=PlainUsage)
def sensitivity(
    runs: Optional[str] = typer.Argument(
        None,
        help="Run table (.csv, .parquet, .jsonl) or a ladder directory. Or use --example.",
        show_default=False,
        metavar="RUNS",
    ),
    form: str = option(
        "--form", "sensitivity", help="Baseline functional form (a law in N and D)."
    ),
    budget: Optional[str] = BudgetOpt(
        "Budget C (FLOPs) at which tokens/parameter is compared (default: as report's, 100x "
        "the runs' largest compute)."
    ),
    loss: str = option("--loss", "sensitivity", help="Baseline fitting loss: huber or mse."),
    delta: float = option("--delta", "sensitivity", help="Baseline Huber delta (positive)."),
    params: str = option(
        "--params",
        "sensitivity",
        help="Baseline parameter convention: non-embedding, total or active.",
    ),
    flops: str = option(
        "--flops", "sensitivity", help="Baseline FLOP convention: 6ND, 6ND+attention, table."
    ),
    fast: bool = Flag("--fast", help="Refit from a reduced start grid (108 starts)."),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Refit under alternative choices (form, loss, init, range, conventions); show how the
    answer moves."""
    from scalelab.laws import FitOptions
    from scalelab.report import sensitivity as sens

    asked, delta = _count(budget, "--budget"), _real(delta, "--delta")
    table, _, _ = _report_input(runs, example, column, where, None)
    options = FitOptions.make(
        params=params,
        flops=flops,
        loss=loss,
        delta=delta,
        grid=sens.FAST_GRID if fast else None,
        **_given(budget=asked),
    )
    with err.status("refitting") as status:
        result = sens.analyse(
            table,
            form,
            options=options,
            progress=lambda n: status.update(f"refitting: {n}"),
            budget_from_runs=asked is None,
        )
    if as_json:
        emit_json(result.to_dict())
        return
    from rich import box
    from rich.table import Table

    t = Table(
        title=f"sensitivity of {form} on {table.source}; tokens/param and N_opt at C = "
        f"{result.budget:.3g} "
        + ("" if result.budget_origin == "asked" else f"({result.budget_origin}) ")
        + "(red: highest, blue: lowest in each column)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    cols = ("alpha", "beta", "a", "b", "N_opt", "tokens_per_param")
    t.add_column("variant (by kind of choice)", overflow="fold", min_width=22)
    for c in cols:
        t.add_column({"tokens_per_param": "tok/param"}.get(c, c), justify="right")
    spread = result.spread
    skipped = []
    group = None
    for r in result.rows:
        if r["group"] != group and group is not None:
            t.add_section()
        group = r["group"]
        label = r["name"]
        if r["status"] != "ok":
            skipped.append(f"{label}: {r['status']}: {r.get('reason') or ''}")
            t.add_row(f"[dim]{label}[/dim]", *(["[dim]n/a[/dim]"] * len(cols)))
            continue
        cells = []
        for c in cols:
            value = r.get(c)
            text = "-" if value is None else f"{value:.3g}"
            s = spread.get(c, {})
            if value is not None and r["name"] == s.get("max_variant"):
                text = f"[bold red]{text}[/bold red]"
            elif value is not None and r["name"] == s.get("min_variant"):
                text = f"[bold blue]{text}[/bold blue]"
            cells.append(text)
        t.add_row(label, *cells)
        if r.get("note"):
            skipped.append(f"{label}: {r['note']}")
    out.print(t)
    for line in skipped:
        out.print(f"  [dim]{line}[/dim]", highlight=False)
    out.print("[bold]spread[/bold]: " + sens.headline(result), highlight=False)
    by_group = spread.get("tokens_per_param_by_group", {})
    if by_group:
        out.print(
            "tokens/param by kind of choice (max/min with the baseline): "
            + ", ".join(
                f"{g} {v['ratio']:.2g}x"
                for g, v in sorted(by_group.items(), key=lambda kv: -kv[1]["ratio"])
            ),
            highlight=False,
        )
