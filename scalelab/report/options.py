"""A report's options: the fit, the sensitivity analysis, and where its inputs came from.

:class:`ReportOptions` is what ``scalelab report`` parses its flags into; the report shows the
command that reproduces it (:meth:`ReportOptions.command`) in its *Reproduce* section.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from scalelab.errors import ScalelabError
from scalelab.laws import forms
from scalelab.laws.conventions import Conventions
from scalelab.laws.guards import MAX_COMPUTE_RATIO
from scalelab.laws.options import DEFAULT_FORM, FitOptions
from scalelab.runs.table import RunTable

REPORT_BOOTSTRAP = 200
"""Bootstrap resamples of a report's fit unless told otherwise (intervals on every figure)."""


def _default_fit() -> FitOptions:
    return FitOptions(bootstrap=REPORT_BOOTSTRAP)


@dataclass(frozen=True)
class ReportOptions:
    """What a report does, and where its inputs came from.

    Attributes:
        form: the form to fit (``auto`` chooses one); ignored when a fitted law is given.
        fit: the fit's choices.
        budget: the budget C (FLOPs) of the plan, the derived quantities and the sensitivity
            analysis; None: :func:`default_budget`, the farthest the runs speak to (a budget
            set on ``fit`` is used when this is None).
        sensitivity: run the sensitivity analysis; fast: its refits start from each form's
            quick grid (:func:`scalelab.laws.forms.quick_grids`); sensitivity_grid: any other
            grid.
        by: the column whose groups the comparison section compares (default: ``recipe`` when
            the table has several recipes).
        runs, example, columns, where, law_file, manifest, output: the inputs as the user named
            them (a path, ``--example``, ``--column N=params``, ``--where k=v``, ``--law``,
            ``--manifest``, ``-o``), for the reproduce command.
    """

    form: str = DEFAULT_FORM
    fit: FitOptions = field(default_factory=_default_fit)
    budget: Optional[float] = None
    sensitivity: bool = True
    fast: bool = False
    sensitivity_grid: Optional[Mapping[str, Any]] = None
    runs: Optional[str] = None
    example: Optional[str] = None
    columns: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    law_file: Optional[str] = None
    manifest: Optional[str] = None
    output: str = "report.html"
    by: Optional[str] = None

    @classmethod
    def make(cls, options: Optional[ReportOptions] = None, **overrides) -> ReportOptions:
        """``options`` with fields replaced; names of :class:`FitOptions` fields change the fit
        (``budget=1e23``, ``bootstrap=0``); an unknown name is a TypeError."""
        options = options or cls()
        own = {f.name for f in dataclasses.fields(cls)}
        mine = {k: v for k, v in overrides.items() if k in own}
        fit = {k: v for k, v in overrides.items() if k not in own}
        if fit:
            mine["fit"] = FitOptions.make(mine.get("fit", options.fit), **fit)
        return dataclasses.replace(options, **mine) if mine else options

    @property
    def refit_grid(self) -> Optional[Mapping[str, Any]]:
        """The initialisation grid of the sensitivity refits (None: each form's full grid)."""
        if self.sensitivity_grid is not None:
            return self.sensitivity_grid
        return forms.quick_grids() if self.fast else None

    def command(self) -> str:
        """The ``scalelab report`` command line that makes this report again."""
        f, default = self.fit, FitOptions()
        words = ["scalelab", "report"]
        if self.runs is not None:
            words.append(shlex.quote(str(self.runs)))
        elif self.example is None:
            words.append("RUNS")
        given = [
            ("--example", self.example),
            ("-o", self.output),
            ("--form", self.form if not self.law_file else None),
            ("--law", self.law_file),
            (
                "--budget",
                self.budget if self.budget is not None else _unless(f.budget, default.budget),
            ),
            ("--bootstrap", _unless(f.bootstrap, REPORT_BOOTSTRAP)),
            ("--seed", f.seed or None),
            ("--loss", _unless(f.loss, default.loss)),
            ("--delta", _unless(f.delta, default.delta)),
            ("--params", _unless(f.params, default.params)),
            ("--flops", _unless(f.flops, default.flops)),
            ("--manifest", self.manifest),
            ("--by", self.by),
        ]
        given += [("--column", c) for c in self.columns] + [("--where", w) for w in self.where]
        words += [f"{flag} {shlex.quote(str(value))}" for flag, value in given if value is not None]
        if not self.sensitivity:
            words.append("--no-sensitivity")
        if self.fast:
            words.append("--fast")
        return " ".join(words)


def resolve_budget(options: ReportOptions, table: RunTable) -> tuple[float, str]:
    """The report's budget and where it came from: the one asked for (``options.budget``, or a
    budget set on its fit options), else :func:`default_budget` of the runs."""
    if options.budget is not None:
        return float(options.budget), "asked"
    if options.fit.budget != FitOptions().budget:
        return float(options.fit.budget), "asked"
    return default_budget(table, options.fit, options.form)


def default_budget(table: RunTable, fit: FitOptions, form: str) -> tuple[float, str]:
    """:data:`~scalelab.laws.guards.MAX_COMPUTE_RATIO` (100) times the largest training compute
    of the runs the law is fitted to (under the fit's conventions): the farthest a prediction goes
    without an extrapolation warning, so the plan's headline is one the runs can speak to. Falls
    back to Chinchilla's budget (5.76e23) when the runs' compute cannot be read."""
    try:
        points = fit.points or forms.get(form).points
    except (ScalelabError, KeyError, ValueError):
        points = "final"
    try:
        sel = table.select(eval_set=fit.eval_set, task=fit.task, points=points)
        C = np.asarray(Conventions(fit.params, fit.flops).variables(sel)["C"], float)
        largest = float(np.nanmax(C[np.isfinite(C) & (C > 0)]))
    except (ScalelabError, KeyError, ValueError):
        return float(fit.budget), "Chinchilla's budget (the runs' compute could not be read)"
    return MAX_COMPUTE_RATIO * largest, (
        f"{MAX_COMPUTE_RATIO:g}x the largest run's compute ({largest:.3g} FLOPs)"
    )


def _unless(value: Any, default: Any) -> Any:
    return None if value == default else value
