"""The report's critical-batch-size section: B_crit(L) against the loss (Kaplan et al. 2020,
Fig. 10), shown when the run table holds a batch-size sweep (``[grid] batch_tokens``).

Points: B_crit = E_min/S_min at each target loss, one colour per model size, with bootstrap
intervals (hollow: left out of the power law, the sweep not bracketing B_crit there); line: the
fitted B_crit(L) = B*/L^(1/α_B) with its bootstrap band. :mod:`scalelab.laws.batch` computes it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from scalelab.errors import ScalelabError
from scalelab.laws.batch import MIN_BATCHES, critical_batch
from scalelab.report import axes as style
from scalelab.report import figures as F
from scalelab.report.section import Section, esc, figure_html, interval, num, table_html
from scalelab.runs.table import RunTable

BOOTSTRAP = 100
"""Bootstrap resamples of the report's B_crit fit."""


def has_batch_sweep(table: RunTable) -> bool:
    """Whether some model size of the table has learning curves at MIN_BATCHES batch sizes."""
    if not (table.has("step") and table.has("tokens_per_step")):
        return False
    data = table.data
    per_size = data.groupby("N")["tokens_per_step"].nunique()
    return bool((per_size >= MIN_BATCHES).any())


def bcrit_figure(result):
    """B_crit against the loss, log-log: points per (size, loss), the power law and its band."""
    fig, (ax,) = F._figure()
    sizes = sorted({lv["N"] for lv in result.levels})
    for i, n in enumerate(sizes):
        col = F.COLORS[i % len(F.COLORS)]
        for used in (True, False):
            lv = [v for v in result.levels if v["N"] == n and v["used"] == used]
            lv = [v for v in lv if np.isfinite(v["B_crit"]) and v["B_crit"] > 0]
            if not lv:
                continue
            x = np.array([v["loss"] for v in lv])
            y = np.array([v["B_crit"] for v in lv])
            ci = np.array([v["B_crit_ci"] for v in lv], dtype=float)
            err = np.abs(np.stack([y - ci[:, 0], ci[:, 1] - y])) if result.bootstrap else None
            ax.errorbar(
                x,
                y,
                yerr=None if err is None or not np.isfinite(err).all() else err,
                fmt="o",
                ms=5,
                color=col,
                mfc=col if used else "none",
                lw=1.0,
                label=f"N={n:.3g}" if used else f"N={n:.3g} (not bracketed)",
            )
    losses = np.array([v["loss"] for v in result.levels])
    grid = np.geomspace(losses.min() / 1.05, losses.max() * 1.05, 100)
    ax.plot(
        grid,
        result.predict(grid),
        "-",
        color="0.2",
        lw=1.4,
        label=f"B* / L^(1/{result.alpha_B:.3g}), B* = {result.B_star:.3g}",
    )
    lo, hi = result.band(grid)
    if np.isfinite(lo).all():
        ax.fill_between(
            grid, lo, hi, color="0.5", alpha=0.2, lw=0, label=f"{result.level:.0%} band"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    ax.set_xlabel(F.LOSS_LABEL)
    ax.set_ylabel("critical batch size B_crit (tokens)")
    ax.set_title("critical batch size against the loss (Kaplan et al. 2020, Fig. 10)")
    ax.legend(fontsize=7.5)
    return fig


def bcrit_section(table: RunTable, seed: int = 0) -> Optional[Section]:
    """The section, or None when the table has no batch sweep (the page leaves it out)."""
    if not has_batch_sweep(table):
        return None
    try:
        result = critical_batch(table, bootstrap=BOOTSTRAP, seed=seed)
    except ScalelabError as exc:
        return Section.unavailable("bcrit", "; ".join(exc.problems))
    figs = {"bcrit": bcrit_figure(result)}
    ci = result.ci
    parts = [
        f"<p class=formula>B_crit(L) = B*/L^(1/α_B): B* = {num(result.B_star)} tokens "
        f"{interval(ci['B_star'])}, α_B = {num(result.alpha_B)} {interval(ci['alpha_B'])} "
        f"({result.level:.0%}, {result.bootstrap} resamples of runs)</p>",
        "<p>At each target loss, the steps S and tokens E = B·S each batch size needs to first "
        "reach it give S_min and E_min from S = S_min + E_min/B, i.e. (S/S_min − 1)(E/E_min − 1) "
        "= 1 (Kaplan et al. 2020 §5.1, McCandlish et al. 2018); B_crit = E_min/S_min. Kaplan et "
        "al. find B* ≈ 2e8 tokens, α_B ≈ 0.21 on WebText2. The same numbers: <code>scalelab "
        "bcrit RUNS</code>; L(N, S_min): <code>scalelab fit RUNS --form kaplan-ns --bcrit "
        "FILE</code>.</p>",
        figure_html(
            figs["bcrit"],
            "B_crit at each target loss, one colour per model size (hollow: the batch sizes do "
            "not bracket B_crit, left out of the fit), and the fitted power law with its band.",
            "bcrit",
        ),
    ]
    rows = [
        [num(v["N"], 3), num(v["loss"], 4), str(len(v["batch"])), num(v["S_min"], 4)]
        + [num(v["E_min"], 4), num(v["B_crit"], 4), interval(v["B_crit_ci"])]
        + ["yes" if v["used"] else "no"]
        for v in result.levels
    ]
    head = ["N", "loss", "batches", "S_min", "E_min", "B_crit", "interval", "in fit"]
    parts.append(table_html(head, rows, "num"))
    parts += [f'<p class="warn">note: {esc(n)}</p>' for n in result.notes]
    return Section("bcrit", "".join(parts), figures=figs)
