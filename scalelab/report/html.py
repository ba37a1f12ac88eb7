"""One self-contained HTML report of a scaling-law study.

:func:`build` fits (or takes) a law, computes each section (:mod:`scalelab.report.sections`,
:mod:`scalelab.report.checks`: one function per section, each returning a typed
:class:`~scalelab.report.page.Section`), and returns a :class:`Report`; :meth:`Report.write` writes
one HTML file atomically. Figures are embedded as ``data:`` URIs (SVG), styles are inline, there
is no script to run and no network access is needed to open the file.

Sections (their HTML ids): ``summary``, ``law``, ``figures``, ``isoflop``, ``frontier``, ``plan``,
``backtest``, ``catalog``, ``checklist``, ``sensitivity``, ``notes``, ``reproduce``; ``comparison``
for runs with a grouping column and ``downstream`` for a run table with task rows. A section whose
inputs are missing (no IsoFLOP profiles in the runs, a law not in N and D) says so and why.

    >>> from scalelab.report import html
    >>> report = html.build("runs.csv", budget=1e23)          # doctest: +SKIP
    >>> report.write("report.html", figures_dir="figures")    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from scalelab import atomic
from scalelab.errors import ScalelabError
from scalelab.laws.law import Law
from scalelab.laws.options import FitOptions
from scalelab.laws.select import fit
from scalelab.report import bcrit as bcrit_report
from scalelab.report import checklist as checklist_mod
from scalelab.report import checks, comparison, downstream
from scalelab.report import figures as F
from scalelab.report import sections as fit_sections
from scalelab.report import sensitivity as sens
from scalelab.report.curves import CURVE_BOOTSTRAP, curves_section
from scalelab.report.inputs import (
    auto_backtest,
    auto_catalog,
    backtest_rows,
    catalog_models,
    load_input,
    manifest_for,
)
from scalelab.report.options import ReportOptions
from scalelab.report.page import NOT_AVAILABLE, SECTIONS, Section, page
from scalelab.runs.curves import has_curves
from scalelab.runs.table import Runs, RunTable, as_table

__all__ = [
    "NOT_AVAILABLE",
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

BACKTEST_BOOTSTRAP = 100
"""At most this many bootstrap resamples for the backtest's intervals (it refits per fold)."""


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
    """Build the report of ``runs``.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        law: an already fitted law to report instead of fitting one.
        options: a :class:`ReportOptions` (the form, the fit's :class:`FitOptions`, the
            sensitivity analysis, where the inputs came from). Keyword arguments of their field
            names replace fields: ``form``, ``fast``, ``sensitivity_grid`` (the sensitivity
            refits' grid), and the fit's ``budget``, ``bootstrap`` (default 200), ``seed``,
            ``params``, ``flops``, ``loss``, ``delta``, ``grid``.
        manifest: a data manifest for the checklist (data set, size, dedup, tokenizer).
        sensitivity: None (as ``options.sensitivity``), True or False (run
            :func:`scalelab.report.sensitivity.analyse` or not), or a ready
            :class:`~scalelab.report.sensitivity.SensitivityResult`.
        backtest: ``"auto"`` (:func:`scalelab.laws.backtest.backtest`), None, or plain data (see
            :func:`~scalelab.report.inputs.backtest_rows`).
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
    fopts = opts.fit
    if law is None:
        say(
            f"fitting {opts.form}"
            + (f" with {fopts.bootstrap} bootstrap resamples" if fopts.bootstrap else "")
        )
        law = fit(table, opts.form, options=fopts)
    budget = fopts.budget
    params = law.conventions.get("params", fopts.params)  # the law's, for a given law
    flops = law.conventions.get("flops", fopts.flops)

    parts = [fit_sections.law_section(law, budget)]
    say("drawing figures")
    parts.append(fit_sections.figures_section(law, table))
    if has_curves(table):
        say("fitting the learning-curve law")
        section = curves_section(table, bootstrap=min(fopts.bootstrap, CURVE_BOOTSTRAP))
        if section is not None:
            parts.append(section)
    batch_sweep = bcrit_report.bcrit_section(table, fopts.seed)  # None: no batch sweep
    parts += [batch_sweep] if batch_sweep is not None else []
    iso, why = fit_sections.isoflop_analysis(table, params, flops)
    parts.append(fit_sections.isoflop_section(iso, why, table))
    parts.append(fit_sections.frontier_section(law, table, budget, iso))
    parts.append(fit_sections.plan_section(law, budget))

    if isinstance(backtest, str) and backtest == "auto":
        say("backtest: predicting the largest runs from the smaller ones")
        boot = min(law.options.bootstrap if law.options else 0, BACKTEST_BOOTSTRAP)
        rows, why = auto_backtest(table, law.form, bootstrap=boot, params=params, flops=flops)
    else:
        rows, why = (None, "not requested") if backtest is None else (backtest_rows(backtest), "ok")
    parts.append(checks.backtest_section(rows, why))
    if downstream.has_tasks(table):
        say("downstream tasks: two-step fits, predictability, backtest")
        parts.append(downstream.downstream_section(table))
    if isinstance(catalog, str) and catalog == "auto":
        models, why = auto_catalog()
    else:
        models, why = (
            (None, "not requested") if catalog is None else (catalog_models(catalog), "ok")
        )
    parts.append(checks.catalog_section(law, models, why))
    by = comparison.grouping(table, opts.by)  # no grouping column: no comparison section
    if by is not None:
        say(f"comparing the runs by {by}")
        result, offsets, why = comparison.analyse(table, by, opts.form, fopts.bootstrap, fopts.seed)
        parts.append(comparison.comparison_section(result, table, offsets, why))

    items = checklist_mod.build(law, table, manifest)
    parts.append(checks.checklist_section(items))
    result, why = ready, "not requested"
    if ready is None and opts.sensitivity and fit_sections.is_nd(law):
        say("sensitivity analysis: refitting under alternative choices")
        result, why = _sensitivity(table, law, opts, params, flops, say)
    elif ready is None and opts.sensitivity:
        why = f"form '{law.form}' is not a law in N and D"
    parts.append(checks.sensitivity_section(result, why))

    parts.append(checks.notes_section(law, table))
    parts.append(checks.reproduce_section(law, command or opts.command()))
    parts.insert(0, checks.summary_section(law, table, budget, result, parts))

    title = title or f"scalelab report: {law.form} on {table.source}"
    figures = {name: fig for s in parts for name, fig in s.figures.items()}
    return Report(
        html=page(title, parts),
        sections={s.id: s.status for s in parts},
        law=law,
        checklist=items,
        sensitivity=result,
        figures=figures,
        parts=parts,
        options=opts,
    )


def _sensitivity(
    table: RunTable,
    law: Law,
    opts: ReportOptions,
    params: str,
    flops: str,
    say: Callable[[str], None],
):
    """The sensitivity analysis around the law's own choices: (result, "ok") or (None, why)."""
    fitted = law.options or opts.fit
    try:
        baseline = FitOptions(
            params=params,
            flops=flops,
            loss=fitted.loss,
            delta=fitted.delta or opts.fit.delta,
            budget=opts.fit.budget,
            grid=opts.refit_grid,
        )
        result = sens.analyse(
            table, law.form, options=baseline, progress=lambda n: say(f"sensitivity: {n}")
        )
    except ScalelabError as exc:
        return None, "; ".join(exc.problems)
    return result, "ok"
