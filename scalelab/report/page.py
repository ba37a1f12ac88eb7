"""The report's sections as one declared list, built in order by one loop, and the HTML page.

:data:`REPORT` declares every section once: its HTML id, title, when it applies (``None``:
always, its builder saying why when its inputs are missing) and its builder, a function of the
:class:`Context` returning a :class:`~scalelab.report.section.Section` (None: left out). Adding a
section is one entry here and its builder. :func:`assemble` builds them in this order (a section
marked ``last`` after the others, e.g. the summary, which reads their status) and :func:`page`
puts them on one self-contained HTML page (inline styles, figures as ``data:`` URIs, no script).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from scalelab.errors import ScalelabError
from scalelab.laws.law import Law
from scalelab.laws.options import FitOptions
from scalelab.report import bcrit as bcrit_report
from scalelab.report import checklist as checklist_mod
from scalelab.report import checks, comparison, downstream
from scalelab.report import sections as fit_sections
from scalelab.report import sensitivity as sens
from scalelab.report.curves import CURVE_BOOTSTRAP, curves_section
from scalelab.report.inputs import (
    auto_catalog,
    auto_schedule_backtest,
    backtest_rows,
    catalog_models,
)
from scalelab.report.options import ReportOptions
from scalelab.report.section import NOT_AVAILABLE, Section, esc, unavailable
from scalelab.runs.curves import has_curves
from scalelab.runs.table import RunTable

__all__ = ["NOT_AVAILABLE", "REPORT", "SECTIONS", "Context", "Section", "SectionSpec", "page"]

BACKTEST_BOOTSTRAP = 100
"""At most this many bootstrap resamples for the backtest's intervals (it refits per fold)."""


@dataclass
class Context:
    """What the section builders read (the runs, the law, the options) and what earlier sections
    leave for later ones (the IsoFLOP analysis, the sensitivity result, the checklist)."""

    table: RunTable
    law: Law
    options: ReportOptions
    budget: float
    params: str
    flops: str
    budget_origin: str = "asked"
    manifest: Optional[dict] = None
    backtest: Any = "auto"
    catalog: Any = "auto"
    ready_sensitivity: Optional[sens.SensitivityResult] = None
    command: str = ""
    say: Callable[[str], None] = lambda _msg: None
    warnings: list[str] = field(default_factory=list)  # the report's own (an extrapolation)
    iso: Any = None
    iso_why: str = ""
    sensitivity: Optional[sens.SensitivityResult] = None
    checklist: list = field(default_factory=list)
    built: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class SectionSpec:
    """One section of the report: its HTML id, title, when it applies (None: always) and its
    builder; ``last``: built after every other section (it reads their status)."""

    id: str
    title: str
    build: Callable[[Context], Optional[Section]]
    when: Optional[Callable[[Context], bool]] = None
    last: bool = False


# -- the builders ----------------------------------------------------------------------------------
def _summary(ctx: Context) -> Section:
    shown = [(spec.title, _status(ctx, spec.id)) for spec in REPORT if spec.when is None]
    return checks.summary_section(
        ctx.law, ctx.table, ctx.budget, ctx.sensitivity, shown, ctx.warnings, ctx.budget_origin
    )


def _status(ctx: Context, sid: str) -> str:
    return next((s.status for s in ctx.built if s.id == sid), "ok")


def _figures(ctx: Context) -> Section:
    ctx.say("drawing figures")
    return fit_sections.figures_section(ctx.law, ctx.table)


def _curves(ctx: Context) -> Optional[Section]:
    ctx.say("fitting the learning-curve law")
    return curves_section(ctx.table, bootstrap=min(ctx.options.fit.bootstrap, CURVE_BOOTSTRAP))


def _isoflop(ctx: Context) -> Section:
    ctx.iso, ctx.iso_why = fit_sections.isoflop_analysis(ctx.table, ctx.params, ctx.flops)
    return fit_sections.isoflop_section(ctx.iso, ctx.iso_why, ctx.table)


def _backtest(ctx: Context) -> Section:
    if isinstance(ctx.backtest, str) and ctx.backtest == "auto":
        ctx.say("backtest: predicting the largest runs from the smaller ones")
        boot = min(ctx.law.options.bootstrap if ctx.law.options else 0, BACKTEST_BOOTSTRAP)
        folds = FitOptions.make(ctx.options.fit, bootstrap=boot, params=ctx.params, flops=ctx.flops)
        rows, why, scheduled = auto_schedule_backtest(ctx.table, ctx.law.form, options=folds)
        return checks.backtest_section(rows, why, scheduled)
    elif ctx.backtest is None:
        rows, why = None, "not requested"
    else:
        rows, why = backtest_rows(ctx.backtest), "ok"
    return checks.backtest_section(rows, why)


def _downstream(ctx: Context) -> Section:
    ctx.say("downstream tasks: two-step fits, predictability, backtest")
    return downstream.downstream_section(ctx.table)


def _catalog(ctx: Context) -> Section:
    if isinstance(ctx.catalog, str) and ctx.catalog == "auto":
        models, why = auto_catalog()
    elif ctx.catalog is None:
        models, why = None, "not requested"
    else:
        models, why = catalog_models(ctx.catalog), "ok"
    return checks.catalog_section(ctx.law, models, why)


def _grouping(ctx: Context) -> Optional[str]:
    return comparison.grouping(ctx.table, ctx.options.by)


def _comparison(ctx: Context) -> Section:
    by, fit = _grouping(ctx), ctx.options.fit
    ctx.say(f"comparing the runs by {by}")
    result, offsets, why = comparison.analyse(
        ctx.table, by, ctx.options.form, fit.bootstrap, fit.seed
    )
    return comparison.comparison_section(result, ctx.table, offsets, why)


def _checklist(ctx: Context) -> Section:
    ctx.checklist = checklist_mod.build(ctx.law, ctx.table, ctx.manifest)
    return checks.checklist_section(ctx.checklist)


def _sensitivity(ctx: Context) -> Section:
    result, why = ctx.ready_sensitivity, "not requested"
    if result is None and ctx.options.sensitivity and fit_sections.is_nd(ctx.law):
        ctx.say("sensitivity analysis: refitting under alternative choices")
        result, why = _refit_sensitivity(ctx)
    elif result is None and ctx.options.sensitivity:
        why = f"form '{ctx.law.form}' is not a law in N and D"
    ctx.sensitivity = result
    return checks.sensitivity_section(result, why)


def _refit_sensitivity(ctx: Context):
    """The sensitivity analysis around the law's own choices: (result, "ok") or (None, why)."""
    opts = ctx.options
    fitted = ctx.law.options or opts.fit
    try:
        baseline = FitOptions(
            params=ctx.params,
            flops=ctx.flops,
            loss=fitted.loss,
            delta=fitted.delta or opts.fit.delta,
            budget=ctx.budget,
            grid=opts.refit_grid,
        )
        result = sens.analyse(
            ctx.table,
            ctx.law.form,
            options=baseline,
            progress=lambda n: ctx.say(f"sensitivity: {n}"),
        )
    except ScalelabError as exc:
        return None, "; ".join(exc.problems)
    return result, "ok"


REPORT: tuple[SectionSpec, ...] = (
    SectionSpec("summary", "Summary", _summary, last=True),
    SectionSpec("law", "Fitted law", lambda c: fit_sections.law_section(c.law, c.budget)),
    SectionSpec("figures", "Fit figures", _figures),
    SectionSpec("curves", "Learning curves", _curves, when=lambda c: has_curves(c.table)),
    SectionSpec(
        "bcrit",
        "Critical batch size",
        lambda c: bcrit_report.bcrit_section(c.table, c.options.fit.seed),
        when=lambda c: bcrit_report.has_batch_sweep(c.table),
    ),
    SectionSpec("isoflop", "IsoFLOP profiles", _isoflop),
    SectionSpec(
        "frontier",
        "Compute-optimal frontier",
        lambda c: fit_sections.frontier_section(c.law, c.table, c.budget, c.iso),
    ),
    SectionSpec(
        "plan", "Plan for the budget", lambda c: fit_sections.plan_section(c.law, c.budget)
    ),
    SectionSpec("backtest", "Backtest", _backtest),
    SectionSpec(
        "downstream", "Downstream tasks", _downstream, when=lambda c: downstream.has_tasks(c.table)
    ),
    SectionSpec("catalog", "Published models", _catalog),
    SectionSpec("comparison", "Comparison", _comparison, when=lambda c: _grouping(c) is not None),
    SectionSpec("checklist", "Checklist", _checklist),
    SectionSpec("sensitivity", "Sensitivity", _sensitivity),
    SectionSpec(
        "notes", "Notes and warnings", lambda c: checks.notes_section(c.law, c.table, c.warnings)
    ),
    SectionSpec("reproduce", "Reproduce", lambda c: checks.reproduce_section(c.law, c.command)),
)
"""Every section of a report, in page order."""
SECTIONS = tuple((s.id, s.title) for s in REPORT if s.when is None)
"""The sections every report has, in page order: (HTML id, title)."""
TITLES = {s.id: s.title for s in REPORT}


def assemble(ctx: Context, specs: Sequence[SectionSpec] = REPORT) -> list[Section]:
    """Build the sections that apply, in order (``last`` ones after the rest); each gets its
    declared title."""
    built: dict[str, Section] = {}
    for spec in sorted(specs, key=lambda s: s.last):  # stable: declared order otherwise
        if spec.when is not None and not spec.when(ctx):
            continue
        section = spec.build(ctx)
        if section is None:
            continue
        section.title = section.title or spec.title
        built[spec.id] = section
        ctx.built.append(section)
    return [built[s.id] for s in specs if s.id in built]


# -- the page --------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:0;color:#1b1f24;background:#fafafa}
main{max-width:1120px;margin:0 auto;padding:1.2em 2em 4em;background:#fff}
h1{font-size:1.55em;margin:.4em 0}
h2{font-size:1.25em;border-bottom:2px solid #e3e6ea;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.02em;margin-top:1.3em}
nav{font-size:.9em;margin:.5em 0 1em;display:flex;flex-wrap:wrap;gap:.3em 1em}
nav a{color:#0b5cad;text-decoration:none;white-space:nowrap}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #d6dae0;padding:.28em .55em;vertical-align:top;text-align:left}
th{background:#f1f3f5}
table.num td{font-variant-numeric:tabular-nums}
figure{margin:1em 0;text-align:center}
figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
.na{background:#fff7e0;border-left:4px solid #e0a800;padding:.45em .8em}
.warn{color:#9a3412}
.unknown{color:#b91c1c;font-weight:600}
tr.st-assumed td{background:#fffbeb}
tr.st-unknown td{background:#fef2f2}
span.lo{color:#1d4ed8;font-weight:700}
span.hi{color:#b91c1c;font-weight:700}
.headline{font-size:1.05em;font-weight:600}
.formula{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.05em}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.8em}
"""


def page(title: str, sections: Sequence[Section]) -> str:
    """The HTML page: a heading, a navigation bar and the sections, in :data:`REPORT` order (a
    section every report has but not given says "not built")."""
    by_id = {s.id: s for s in sections}
    order = [
        (spec.id, by_id[spec.id].title if spec.id in by_id else spec.title)
        for spec in REPORT
        if spec.id in by_id or spec.when is None
    ]
    order = [(k, t or TITLES[k]) for k, t in order]
    nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in order)
    parts = [
        f'<section id="{k}"><h2>{esc(t)}</h2>'
        f"{by_id[k].body if k in by_id else unavailable('not built')}</section>"
        for k, t in order
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f'<link rel="icon" href="data:,"><style>{CSS}</style></head><body><main>'
        f"<h1>{esc(title)}</h1><nav>{nav}</nav>{''.join(parts)}"
        "<footer><p><small>Written by scalelab; self-contained: opens without a network."
        "</small></p></footer></main></body></html>\n"
    )
