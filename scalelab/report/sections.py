"""The report's sections about the fit: the law, its figures, IsoFLOP profiles, the frontier and
the plan for the budget. Each function returns one :class:`~scalelab.report.page.Section`.

The sections that check the fit (backtest, catalog, checklist, sensitivity, notes, reproduce,
summary) are in :mod:`scalelab.report.checks`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from scalelab.errors import NumericalError, ScalelabError
from scalelab.laws import optimal
from scalelab.laws import published as pub
from scalelab.laws.conventions import Conventions
from scalelab.laws.isoflop import IsoFLOPResult, isoflop_profiles
from scalelab.laws.law import Law
from scalelab.report import figures as F
from scalelab.report.section import (
    Section,
    esc,
    figure_html,
    interval,
    num,
    table_html,
    unavailable,
)
from scalelab.runs.table import RunTable

PLAN_LAWS = ("chinchilla-2022", "besiroglu-2024", "kaplan-2020-nd")
"""Published laws the plan section sets beside the fit."""


def is_nd(law: Law) -> bool:
    return set(law.law_form.variables) == {"N", "D"}


def law_section(law: Law, budget: float) -> Section:
    """The fitted parameters and derived quantities with their intervals, and the fit's record."""
    rows = [[esc(k), num(v), interval(law.ci.get(k))] for k, v in law.params.items()]
    labels = {
        "a": "a (N_opt ∝ C^a)",
        "b": "b (D_opt ∝ C^b)",
        "N_opt": f"N_opt at C = {budget:.3g}",
        "D_opt": f"D_opt at C = {budget:.3g}",
        "tokens_per_param": f"tokens/parameter at C = {budget:.3g}",
        "loss_at_budget": f"loss at C = {budget:.3g}",
    }
    rows += [
        [esc(labels.get(k, k)), num(v), interval(law.ci.get(k))] for k, v in law.derived.items()
    ]
    s = law.starts or {}
    level = f"{law.level:.0%} interval" if law.ci else "interval (fit without bootstrap)"
    body = (
        f"<p class=formula>{esc(law.provenance.get('formula', law.form))}</p>"
        + table_html(["parameter", "estimate", level], rows, "num")
        + f"<p>Objective {num(law.objective, 6)} on {num(law.n_points)} points from "
        f"{num(law.n_runs)} runs; {num(s.get('converged_to_best'))} of {num(s.get('n'))} "
        "starts reached the best objective. "
        f"Conventions: {esc(law.conventions.get('params', '?'))} parameters, "
        f"{esc(law.conventions.get('flops', '?'))} FLOPs.</p>"
        + _schedule_aware(law)
        + "".join(f'<p class="warn">warning: {esc(w)}</p>' for w in law.warnings)
    )
    return Section("law", body)


def _schedule_aware(law: Law) -> str:
    """``fit --form auto`` on runs with schedules: which law won the held-out comparison, why."""
    record = (law.options.auto or {}).get("schedule_aware") if law.options else None
    if not record:
        return ""
    text = record.get("why") or record.get("skipped", "")
    return f"<p>Schedule-aware laws ({esc(record.get('fold', 'not compared'))}): {esc(text)}.</p>"


def figures_section(law: Law, table: RunTable) -> Section:
    """Loss against N, D and C with the law, residuals, and learning curves."""
    parts, figs = [], {}
    nd = is_nd(law)
    for var in ("N", "D", "C"):
        data = F.loss_data(law, table, var) if var in law.law_form.variables or nd else None
        if data is None:
            continue
        band = (", " + F.band_label(law) if F.band_kind(law) else "") + ")"
        fig = F.loss_figure(
            var, *data, title=f"loss against {F.LABELS[var]}\n({law.form} fit" + band
        )
        figs[f"loss_vs_{var}"] = fig
        parts.append(
            figure_html(
                fig,
                f"Observed losses and the fitted law against {var} (log-log)"
                + (f"; shaded: its {F.band_label(law)}." if F.band_kind(law) else "."),
                f"loss_vs_{var}",
            )
        )
    fig = F.residuals_figure(F.residual_data(law, table))
    figs["residuals"] = fig
    parts.append(
        figure_html(fig, "Residuals of the fit: log(observed/predicted) per point.", "residuals")
    )
    curves = F.learning_curve_data(law, table)
    if curves:
        xvar = "S" if "S" in law.law_form.variables else "D"
        fig = F.learning_curves_figure(curves, xlabel=F.LABELS[xvar])
        figs["learning_curves"] = fig
        parts.append(
            figure_html(
                fig,
                "Learning curves (solid) and the law's prediction at each evaluation (dashed).",
                "learning_curves",
            )
        )
    else:
        parts.append(
            "<h3>Learning curves</h3>"
            + unavailable("the run table has one evaluation per run (no learning curves)")
        )
    return Section("figures", "".join(parts), figures=figs)


def isoflop_analysis(
    table: RunTable, params: str, flops: str
) -> tuple[Optional[IsoFLOPResult], str]:
    """Approach 2 on the runs under the given conventions: (result, "ok") or (None, why not)."""
    try:
        result = isoflop_profiles(table, bootstrap=0, conventions=Conventions(params, flops))
        if not result.budgets:
            raise ScalelabError("no budget has a bracketed minimum")
    except ScalelabError as exc:
        return None, (
            "the runs do not form IsoFLOP profiles (several sizes at one shared budget): "
            + "; ".join(exc.problems)[:300]
        )
    return result, "ok"


def isoflop_points(result: Optional[IsoFLOPResult]) -> Optional[dict]:
    """The IsoFLOP minima as a frontier overlay, or None."""
    if result is None:
        return None
    return {
        "C": [b["C"] for b in result.budgets],
        "N_opt": [b["N_opt"] for b in result.budgets],
        "D_opt": [b["D_opt"] for b in result.budgets],
        "label": "IsoFLOP minima (approach 2)",
    }


def isoflop_section(result: Optional[IsoFLOPResult], why: str, table: RunTable) -> Section:
    if result is None:
        return Section.unavailable("isoflop", why)
    fig = F.isoflop_figure(F.isoflop_data(result, table))
    body = (
        figure_html(
            fig,
            "IsoFLOP profiles: loss against N at each budget, the parabola in log N over the "
            "window that located each minimum, fitted minimum.",
            "isoflop",
        )
        + f"<p>Approach 2: N_opt ∝ C^{result.a:.3f}, D_opt ∝ C^{result.b:.3f} over "
        f"{len(result.budgets)} budgets; window: {esc(result.window.get('text', 'n/a'))}.</p>"
        + "".join(f'<p class="warn">{esc(w)}</p>' for w in result.warnings[:8])
    )
    return Section("isoflop", body, figures={"isoflop": fig})


def not_nd_reason(law: Law) -> str:
    return f"form '{law.form}' is not a law in N and D; no compute-optimal allocation"


def frontier_section(
    law: Law, table: RunTable, budget: float, iso: Optional[IsoFLOPResult]
) -> Section:
    """N_opt and D_opt against C: the fit's frontier, or the IsoFLOP power laws' for a law that
    is not in N and D; published laws beside it."""
    points = isoflop_points(iso)
    if is_nd(law):
        v = F.fit_variables(law, table)[1]
        Cg = np.geomspace(min(v["C"].min(), budget) / 3, max(v["C"].max(), budget) * 3, 60)
        try:
            fig = F.frontier_figure(Cg, F.frontier_data(law, Cg), points)
        except ScalelabError as exc:
            return Section.unavailable("frontier", "; ".join(exc.problems))
        return Section(
            "frontier",
            figure_html(
                fig,
                "Compute-optimal N and D against C: this fit (band: bootstrap) beside published "
                "laws (dashed; note their parameter conventions).",
                "frontier",
            ),
            figures={"frontier": fig},
        )
    why = not_nd_reason(law)
    if iso is None:
        return Section.unavailable("frontier", why)
    Cg = np.geomspace(min(points["C"] + [budget]) / 3, max(points["C"] + [budget]) * 3, 60)
    Nf, Df = iso.predict(Cg)
    lines = [{"label": "IsoFLOP power laws (approach 2)", "N_opt": Nf, "D_opt": Df}]
    fig = F.frontier_figure(Cg, lines + F.published_lines(Cg), points)
    body = figure_html(
        fig,
        "Compute-optimal N and D against C from the IsoFLOP minima, beside "
        "published laws (dashed).",
        "frontier",
    ) + unavailable(why + " from the fitted law")
    return Section("frontier", body, figures={"frontier": fig})


def plan_section(law: Law, budget: float) -> Section:
    """The compute-optimal allocation at the budget, beside published laws'."""
    if not is_nd(law):
        return Section.unavailable("plan", not_nd_reason(law))
    try:
        a = law.optimal(budget)
    except NumericalError as exc:
        return Section.unavailable("plan", "; ".join(exc.problems))
    rows = [
        [
            "this fit",
            num(a.N_opt, 4) + " " + interval(a.ci.get("N_opt"), 3),
            num(a.D_opt, 4) + " " + interval(a.ci.get("D_opt"), 3),
            num(a.tokens_per_param, 3) + " " + interval(a.ci.get("tokens_per_param"), 3),
            num(a.loss, 4) + " " + interval(a.ci.get("loss"), 4),
            esc(f"{law.conventions.get('params', '?')} N; the runs' loss"),
        ]
    ]
    for name in PLAN_LAWS:
        ref = pub.get(name)
        try:
            r = ref.optimal(budget)
        except ScalelabError:
            continue
        conv = ref.conventions
        rows.append(
            [
                esc(name),
                num(r.N_opt, 4),
                num(r.D_opt, 4),
                num(r.tokens_per_param, 3),
                num(r.loss, 4),
                esc(f"{conv.get('params', '?')} N; {conv.get('loss', '?')}"),
            ]
        )
    lvl = f" ({a.level:.0%} intervals)" if a.level else " (no intervals: fit without bootstrap)"
    body = (
        f"<p>Compute-optimal allocation for C = {budget:.3g} FLOPs under C = 6ND{esc(lvl)}. "
        "Published laws keep their own conventions (which parameters, which data and loss): "
        "compare ratios, not losses.</p>"
        + table_html(
            ["law", "N_opt", "D_opt", "tokens/param", "loss (nats/token)", "conventions"],
            rows,
            "num",
        )
    )
    return Section("plan", body)


def frontier_line(law: Law, C: np.ndarray) -> dict:
    """The fit's compute-optimal tokens/parameter along budgets C (for the catalog figure)."""
    Nf, Df = optimal.allocate(law.law_form, law.theta, C)
    return {"C": C, "tokens_per_param": Df / Nf, "label": "compute-optimal under this fit"}
