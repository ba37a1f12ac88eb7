"""The report's learning-curve section: every run's curve with the schedule-aware law's fit and
its band, and final-loss forecasts (what ``scalelab watch --forecast`` would have said half-way
through each run, against the loss the run ended at).

Built when the run table carries learning curves (a step column and each run's schedule, see
:mod:`scalelab.runs.curves`); otherwise the section is left out.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from scalelab.errors import ScalelabError
from scalelab.laws.curves import CurveLaw, fit_curves
from scalelab.report import axes as style
from scalelab.report import figures as F
from scalelab.report.section import Section, esc, figure_html, interval, num, table_html
from scalelab.runs.curves import Curve, has_curves, learning_curves
from scalelab.runs.table import RunTable

CURVE_BOOTSTRAP = 50
HALF = 0.5
"""The forecasts use each run's evaluations up to this fraction of its steps."""


def curves_section(table: RunTable, bootstrap: int = CURVE_BOOTSTRAP) -> Optional[Section]:
    """The section, or None when the table has no learning curves."""
    if not has_curves(table):
        return None
    try:
        curves = learning_curves(table)
        law = fit_curves(table, "annealing", curves=curves, bootstrap=bootstrap)
    except ScalelabError as exc:
        return Section.unavailable("curves", "; ".join(exc.problems))
    fig = curves_figure(law, curves)
    rows = []
    for c in curves:
        fc = _half_way(law, c)
        pred = float(law.predict(c.N, c.lr, [c.final_step])[0])
        rows.append(
            [
                esc(c.run_id),
                num(c.N),
                esc(c.describe()),
                num(float(c.loss[-1])),
                num(pred),
                num(fc.get("loss")) if fc else "—",
                interval([fc["lo"], fc["hi"]]) if fc and fc.get("loss") else "",
            ]
        )
    params = ", ".join(
        f"{esc(k)} = {num(v)} {interval(law.ci.get(k))}" for k, v in law.params.items()
    )
    body = (
        f"<p class=formula>{esc(law.form.formula)}</p>"
        f"<p>Tissue et al. 2024's annealing law fitted on {num(law.n_points)} evaluations of "
        f"{num(law.n_runs)} runs (each run's first {law.skip_first:.0%} of steps left out; "
        f"{law.level:.0%} bootstrap intervals over runs): {params}. Residual scatter "
        f"{num(law.sigma)} (log).</p>"
        + figure_html(
            fig,
            "Learning curves (points; faint: before the warm-up cut, not fitted) and the "
            f"schedule-aware law along each run's own learning rates (lines, {law.level:.0%} band).",
            "curves",
        )
        + "<p>Final loss: observed, the law's, and the forecast from each run's evaluations "
        f"up to {HALF:.0%} of its steps (the law re-levelled to those points, as "
        "<code>scalelab watch --forecast</code> does).</p>"
        + table_html(
            ["run", "N", "schedule", "final loss", "law", "forecast at half-way", "interval"],
            rows,
            "num",
        )
        + "".join(f'<p class="warn">warning: {esc(w)}</p>' for w in law.warnings)
    )
    return Section("curves", body, figures={"curves": fig})


def _half_way(law: CurveLaw, c: Curve) -> Optional[dict]:
    total = c.schedule.total_steps if c.schedule is not None else c.final_step
    seen = c.steps <= HALF * total
    if c.schedule is None or not seen.any():
        return None
    part = Curve(c.run_id, c.N, c.steps[seen], c.loss[seen], c.lr, c.schedule)
    try:
        return law.forecast(part)
    except ScalelabError:
        return None


def curves_figure(law: CurveLaw, curves: list[Curve]):
    """Observed points and the law's curve (with band) for each run against its step."""
    fig, (ax,) = F._figure()
    cmap = F._plt().get_cmap("viridis")
    sizes = sorted({c.N for c in curves})
    for c in curves:
        col = cmap(0.9 * sizes.index(c.N) / max(1, len(sizes) - 1))
        start = max(1, int(law.skip_first * c.final_step))
        used = c.steps >= start  # points before the warm-up cut are drawn faint: not fitted
        ax.plot(c.steps[used], c.loss[used], "o", ms=3, color=col)
        ax.plot(c.steps[~used], c.loss[~used], "o", ms=3, color=col, alpha=0.25)
        # the law only where it was fitted: from the first fitted evaluation, past the warm-up
        # (before it the law's annealing term diverges and would set the axis to ~5,000 nats)
        first = c.steps[used].min() if used.any() else start
        warm = c.schedule.warmup_steps if c.schedule is not None else 0
        begin = max(start, int(first), int(warm) + 1)
        if begin >= c.final_step:
            continue
        steps = np.unique(np.geomspace(begin, c.final_step, 60).astype(int))
        centre, lo, hi = law.predict(c.N, c.lr, steps, band=True)
        ax.plot(steps, centre, "-", color=col, lw=1.0, label=f"N = {c.N:.3g}")
        ax.fill_between(steps, lo, hi, color=col, alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(F.LOSS_LABEL)
    ax.set_title("learning curves and the annealing law")
    # y from the observed losses (faint ones too); the law's lines are clipped to them
    style.data_ylim(ax, np.concatenate([np.asarray(c.loss, float) for c in curves]))
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    return fig
