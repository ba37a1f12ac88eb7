"""The report's downstream section, shown when the run table has task rows: per task, accuracy
against compute with the fitted two-step chain and its bootstrap band, and step 2's link with the
points it was fitted to; the tasks ranked by predictability; the backtest of the chain (step 1
alone, step 2 alone, the chain) with the largest size held out. Built on :mod:`scalelab.tasks`.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from scalelab.errors import ScalelabError
from scalelab.report import axes as style
from scalelab.report import figures as F
from scalelab.report import legibility
from scalelab.report.section import Section, esc, figure_html, num, table_html
from scalelab.runs.table import RunTable
from scalelab.tasks import data as taskdata
from scalelab.tasks.predict import Chain, fit_chain, variables_at
from scalelab.tasks.rank import predictability

MAX_TASKS = 8
"""Tasks drawn (the first by predictability rank); the tables list every task."""
BOOTSTRAP = 100
EXTRAPOLATE = 10.0
"""The chain is drawn up to this multiple of the largest run's compute."""


def has_tasks(table: RunTable) -> bool:
    return table.has("task") and table.data["task"].notna().any()


def downstream_section(
    table: RunTable,
    through: Optional[str] = None,
    link: str = "sigmoid",
    form: str = "chinchilla",
    bootstrap: int = BOOTSTRAP,
) -> Section:
    """The downstream section (see the module doc); a task that cannot be fitted says why.
    ``through`` defaults to ``task_loss`` where the table has task losses, else ``loss``."""
    if through is None:
        has_task_loss = table.has("task_loss") and table.data["task_loss"].notna().any()
        through = "task_loss" if has_task_loss else "loss"
    try:
        ranked = predictability(table, "all", through=through, link=link, form=form)
    except ScalelabError as exc:
        return Section.unavailable("downstream", "; ".join(exc.problems))
    parts = [
        f"<p>Two-step prediction through <code>{esc(through)}</code>: step 1 a "
        f"<code>{esc(form)}</code> law of each run's final {esc(through)}, step 2 a "
        f"<code>{esc(link)}</code> link from it to accuracy fitted on every evaluation point "
        "(see docs/tasks.md).</p>",
        "<h3>Predictability</h3>",
        table_html(
            [
                "rank",
                "task",
                "signal above chance",
                "noise",
                "step 1 |rel. error|",
                "step 2 |error|",
                "chain |error|",
                "note",
            ],
            [
                [
                    num(r.rank),
                    esc(r.task),
                    num(r.signal, 3),
                    num(r.noise, 3),
                    _pct(r.step1_rel_error),
                    num(r.step2_error, 3),
                    num(r.chain_error, 3),
                    esc(r.reason or ""),
                ]
                for r in ranked
            ],
            "num",
        ),  # fmt: skip
        "<p>Signal: the best run's accuracy above chance over its last "
        f"{taskdata.LAST_POINTS} evaluations; noise: the standard deviation of accuracy over "
        "those evaluations (pooled over runs). The backtest holds out the largest size: step 1 "
        "alone is the relative error of the predicted intermediate, step 2 alone the link fed "
        "the true intermediate, the chain both; errors of the two steps can cancel.</p>",
    ]
    figs: dict[str, Any] = {}
    for r in [r for r in ranked if r.predictable][:MAX_TASKS]:
        try:
            pts = taskdata.task_points(table, r.task, through)
            chance = taskdata.chance_of(pts, r.task, table.source)
            chain = fit_chain(pts, chance, link=link, form=form, bootstrap=bootstrap)
        except ScalelabError as exc:
            parts.append(f'<p class="warn">{esc(r.task)}: {esc("; ".join(exc.problems))}</p>')
            continue
        fig = chain_figure(chain, r.task, through)
        name = f"downstream_{_slug(r.task)}"
        figs[name] = fig
        parts.append(
            figure_html(
                fig,
                f"{r.task}: accuracy against compute with the two-step chain and its "
                f"bootstrap band (left); step 2, accuracy against {through} (right).",
                name,
            )
        )
    return Section("downstream", "".join(parts), figures=figs)


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.2%}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def chain_band(chain: Chain, C: np.ndarray, level: float = 0.9):
    """Accuracy along compute (N and D at the runs' median tokens per parameter): the chain's
    prediction and its bootstrap band (lo, hi), or None for the band without samples."""
    final = taskdata.finals(chain.points)
    ratio = float(np.median(final["D"] / final["N"]))
    N = np.sqrt(C / (6.0 * ratio))
    D = ratio * N
    centre = chain.link.predict(chain.intermediate(N, D))
    law, link = chain.law, chain.link
    if law.samples is None or link.samples is None or not len(law.samples):
        return centre, None
    m = min(len(law.samples), len(link.samples))
    at = variables_at(law, N, D)
    with np.errstate(over="ignore", invalid="ignore"):
        xs = [np.asarray(law.law_form.predict(s, **at), float) for s in law.samples[:m]]
        acc = np.array([link.predict(x, link.samples[i : i + 1])[0] for i, x in enumerate(xs)])
    tail = 100 * (1 - level) / 2
    return centre, (np.nanpercentile(acc, tail, axis=0), np.nanpercentile(acc, 100 - tail, axis=0))


def chain_figure(chain: Chain, task: str, through: str):
    """Two panels: accuracy against C (final points, chain, band); step 2 (points, link)."""
    fig, (left, right) = F._figure(ncols=2, width=9.6, height=3.8)
    pts = chain.points
    final = taskdata.finals(pts)
    C = np.geomspace(float(final["C"].min()), float(final["C"].max()) * EXTRAPOLATE, 60)
    centre, band = chain_band(chain, C)
    left.scatter(final["C"], final["accuracy"], s=22, color=F.COLORS[0], label="runs (final)")
    left.plot(C, centre, color=F.COLORS[1], lw=1.5, label="two-step chain")
    if band is not None:
        left.fill_between(C, band[0], band[1], color=F.COLORS[1], alpha=0.2, label="90% band")
    legibility.content(left.axhline(chain.chance, color="0.5", ls=":", lw=1, label="chance"))
    left.set_xscale("log")
    left.set_xlabel("training compute C (FLOPs)")
    left.set_ylabel("accuracy")
    left.set_title(f"{task}: accuracy against compute")
    left.legend(fontsize=7)
    style.log_axis(left, "x")  # compact labels (1e12), like every other log axis of the report
    x = pts["x"].to_numpy(float)
    right.scatter(x, pts["accuracy"], s=6, alpha=0.4, color=F.COLORS[0], label="every evaluation")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 100)
    right.plot(grid, chain.link.predict(grid), color=F.COLORS[1], lw=1.5, label=chain.link.link)
    legibility.content(right.axhline(chain.chance, color="0.5", ls=":", lw=1))
    right.set_xlabel(through)
    right.set_ylabel("accuracy")
    right.set_title(f"{task}: step 2")
    right.legend(fontsize=7)
    return fig
