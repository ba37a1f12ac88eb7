"""One self-contained HTML report of a scaling-law study.

:func:`build` fits (or takes) a law, computes each section (:mod:`scalelab.report.sections`,
:mod:`scalelab.report.checks`: one function per section, each returning a typed
:class:`~scalelab.report.page.Section`), and returns a :class:`Report`; :meth:`Report.write` writes
one HTML file atomically. Figures are embedded as ``data:`` URIs (SVG), styles are inline, there
is no script to run and no network access is needed to open the file.

The sections (their ids, titles, when each applies and its builder) are declared once, in page
order, in :data:`scalelab.report.page.REPORT`. A section whose inputs are missing (no IsoFLOP
profiles in the runs, a law not in N and D) says so and why.

    >>> from scalelab.report import html
    >>> report = html.build("runs.csv", budget=1e23)          # doctest: +SKIP
    >>> report.write("report.html", figures_dir="figures")    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from scalelab import atomic
from scalelab.laws import guards
from scalelab.laws.law import Law
from scalelab.laws.options import FitOptions
from scalelab.laws.select import fit
from scalelab.report import figures as F
from scalelab.report import sensitivity as sens
from scalelab.report.inputs import (
    auto_backtest,
    auto_catalog,
    backtest_rows,
    catalog_models,
    load_input,
    manifest_for,
)
from scalelab.report.options import ReportOptions, resolve_budget
from scalelab.report.page import (
    BACKTEST_BOOTSTRAP,
    NOT_AVAILABLE,
    REPORT,
    SECTIONS,
    Context,
    Section,
    assemble,
    page,
)
from scalelab.runs.table import Runs, as_table

__all__ = [
    "BACKTEST_BOOTSTRAP",
    "NOT_AVAILABLE",
    "REPORT",
    "Report",
    "ReportOptions",
    "SECTIONS",
    "Section",
    "auto_backtest",
    "auto_catalog",
    "backtest_rows",
    "build",
    "catalog_models",
    "load_input",
    "manifest_for",
]


@dataclass
class Report:
    """A built report: the HTML, what each section holds, and the objects behind it."""

    html: str
    sections: dict[str, str]  # id -> "ok" or "not available: why"
    law: Any = None
    checklist: list = field(default_factory=list)
    sensitivity: Any = None
    figures: dict = field(default_factory=dict)  # name -> matplotlib Figure (closed after writing)
    parts: list[Section] = field(default_factory=list)
    options: Optional[ReportOptions] = None
    budget: Optional[float] = None

    def write(self, path, figures_dir=None) -> Path:
        """Write the HTML atomically (and each figure as PNG and SVG under ``figures_dir``)."""
        path = Path(path)
        if figures_dir is not None:
            for name, fig in self.figures.items():
                F.save(fig, Path(figures_dir) / name)
        atomic.write_text(path, self.html)
        return path

    def close(self) -> None:
        for fig in self.figures.values():
            F.close(fig)
        self.figures.clear()


def build(
    runs: Runs,
    *,
    law: Optional[Law] = None,
    options: Optional[ReportOptions] = None,
    manifest: Optional[dict] = None,
    sensitivity: Any = None,
    backtest: Any = "auto",
    catalog: Any = "auto",
    title: Optional[str] = None,
    command: Optional[str] = None,
    progress: Optional[Callable[[str], None]] = None,
    **overrides,
) -> Report:
    """Build the report of ``runs``: every section of :data:`~scalelab.report.page.REPORT` that
    applies, in order.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        law: an already fitted law to report instead of fitting one.
        options: a :class:`ReportOptions` (the form, the budget, the fit's :class:`FitOptions`,
            the sensitivity analysis, where the inputs came from). Keyword arguments of their
            field names replace fields: ``form``, ``budget`` (default: 100x the runs' largest
            compute, :func:`~scalelab.report.options.default_budget`), ``fast``,
            ``sensitivity_grid`` (the sensitivity refits' grid), and the fit's ``bootstrap``
            (default 200), ``seed``, ``params``, ``flops``, ``loss``, ``delta``, ``grid``.
        manifest: a data manifest for the checklist (data set, size, dedup, tokenizer).
        sensitivity: None (as ``options.sensitivity``), True or False (run
            :func:`scalelab.report.sensitivity.analyse` or not), or a ready
            :class:`~scalelab.report.sensitivity.SensitivityResult`.
        backtest: ``"auto"`` (:func:`scalelab.laws.backtest.backtest`, with the report's fit
            options), None, or plain data (see :func:`~scalelab.report.inputs.backtest_rows`).
        catalog: ``"auto"``, None, or models ``[{name, N, D}]``.
        command: the command shown under Reproduce (default :meth:`ReportOptions.command`).
        progress: called with a short message before each slow step.
    """
    ready = sensitivity if isinstance(sensitivity, sens.SensitivityResult) else None
    if isinstance(sensitivity, bool):
        overrides["sensitivity"] = sensitivity
    opts = ReportOptions.make(options, **overrides)
    say = progress or (lambda _msg: None)
    table = as_table(runs)
    budget, origin = resolve_budget(opts, table)
    if law is not None and origin != "asked" and law.options is not None:
        # a given law's derived quantities are at its own budget: report that one
        budget, origin = float(law.options.budget), "the given law's own budget"
    fopts = FitOptions.make(opts.fit, budget=budget)
    if law is None:
        say(
            f"fitting {opts.form}"
            + (f" with {fopts.bootstrap} bootstrap resamples" if fopts.bootstrap else "")
        )
        law = fit(table, opts.form, options=fopts)
    ctx = Context(
        table=table,
        law=law,
        options=dataclasses.replace(opts, fit=fopts),
        budget=budget,
        params=law.conventions.get("params", fopts.params),  # the law's, for a given law
        flops=law.conventions.get("flops", fopts.flops),
        manifest=manifest,
        backtest=backtest,
        catalog=catalog,
        ready_sensitivity=ready,
        command=command or opts.command(),
        say=say,
        warnings=budget_warnings(law, budget),
        budget_origin=origin,
    )
    parts = assemble(ctx)
    title = title or f"scalelab report: {law.form} on {table.source}"
    return Report(
        html=page(title, parts),
        sections={s.id: s.status for s in parts},
        law=law,
        checklist=ctx.checklist,
        sensitivity=ctx.sensitivity,
        figures={name: fig for s in parts for name, fig in s.figures.items()},
        parts=parts,
        options=opts,
        budget=budget,
    )


def budget_warnings(law: Law, budget: float) -> list[str]:
    """The report's own warning about its budget: one far beyond the runs
    (:func:`scalelab.laws.guards.extrapolation_warnings`), which the summary headlines before
    the numbers at that budget."""
    said = guards.extrapolation_warnings(law, C=budget, what="the plan")
    return [w for w in said if w.startswith("the plan")]
