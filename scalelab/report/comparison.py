"""The report's comparison section: groups of runs (``recipe``, or ``scalelab report --by``)
compared through their laws with :func:`scalelab.compare.compare` (layer 3 below the report).

The section draws the groups' laws on one plot (each group's runs and its compute-optimal loss
L*(C), one colour per group), the effective-compute multiplier of each pair against compute with
its bootstrap band and the verdicts at the comparison's budgets, and, when the table has several
evaluation sets, each group's offsets between them (Kaplan's constant OOD offset).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from scalelab.compare import compare
from scalelab.compare import multiplier as mult
from scalelab.errors import ScalelabError
from scalelab.report import figures as F
from scalelab.report.page import Section, esc, figure_html, interval, num, table_html
from scalelab.runs.table import RunTable

COMPARE_BOOTSTRAP = 100
"""Most bootstrap resamples of the section's joint fits (a comparison refits every group)."""
FORMS = ("chinchilla", "chinchilla-tied")


def grouping(table: RunTable, by: Optional[str]) -> Optional[str]:
    """The column to compare by: ``by`` when given, else ``recipe`` when the table has two or more
    recipes; None otherwise."""
    if by:
        return by
    if table.has("recipe") and table.data["recipe"].dropna().nunique() >= 2:
        return "recipe"
    return None


def analyse(table: RunTable, by: str, form: str, bootstrap: int, seed: int = 0):
    """(Comparison, offsets per group or {}, "ok"), or (None, None, why)."""
    b = max(mult_min(), min(bootstrap or COMPARE_BOOTSTRAP, COMPARE_BOOTSTRAP))
    form = form if form in FORMS else "chinchilla"
    try:
        result = compare(table, by, form=form, bootstrap=b, seed=seed, tests=False)
    except ScalelabError as exc:
        return None, None, "; ".join(exc.problems)
    offsets: dict[str, Any] = {}
    if by != "eval_set" and table.has("eval_set") and table.data["eval_set"].nunique() >= 2:
        for g in result.groups:
            rows = table.with_data(table.data[table.data[by].astype(str) == g])
            try:
                off = compare(rows, "eval_set", form=form, bootstrap=b, seed=seed, tests=False)
            except ScalelabError as exc:
                offsets[g] = "; ".join(exc.problems)
                continue
            offsets[g] = off.offsets
    return result, offsets, "ok"


def mult_min() -> int:
    from scalelab.compare.api import MIN_BOOTSTRAP  # noqa: PLC0415

    return MIN_BOOTSTRAP


def _points(table: RunTable, by: str, groups: list[str], eval_set: Optional[str]) -> dict:
    """Each group's final points (C, loss) on one evaluation set."""
    d = table.data
    if "eval_set" in d and by != "eval_set":
        sets = list(d["eval_set"].dropna().unique())
        chosen = eval_set or ("val" if "val" in sets else (sets[0] if sets else None))
        d = d[d["eval_set"] == chosen] if chosen is not None else d
    if "step" in d and "run_id" in d:
        keys = ["run_id"] + (["eval_set"] if "eval_set" in d else [])
        d = d.loc[d.groupby(keys)["step"].idxmax()]
    out = {}
    for g in groups:
        rows = d[d[by].astype(str) == g]
        C = (
            rows["C"].astype(float)
            if "C" in rows
            else 6.0 * rows["N"].astype(float) * rows["D"].astype(float)
        )
        out[g] = (np.asarray(C, dtype=float), np.asarray(rows["loss"], dtype=float))
    return out


def laws_figure(result, table: RunTable):
    """Every group's runs (loss against C) and its compute-optimal law L*(C), one colour each."""
    fig, (ax,) = F._figure()
    pts = _points(table, result.by, result.groups, None)
    allc = np.concatenate([c for c, _ in pts.values() if len(c)] or [np.array([1.0])])
    grid = np.geomspace(allc.min() / 3, allc.max() * 30, 80)
    form = result.fit.pmap.form
    for i, g in enumerate(result.groups):
        colour = f"C{i % 10}"
        c, loss = pts[g]
        ax.scatter(c, loss, s=14, color=colour, alpha=0.7, label=f"{g} runs")
        curve = mult.frontier_loss(form, result.fit.group_theta(g), grid)[0]
        ok = np.isfinite(curve)
        ax.plot(grid[ok], curve[ok], color=colour, lw=1.6, label=f"{g}: L*(C)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("loss")
    ax.set_title(f"{result.form} per {result.by}: runs and compute-optimal loss")
    ax.legend(fontsize=7.5)
    return fig


def multiplier_figure(result):
    """k(C) of each pair against compute, its bootstrap band, and the verdicts at the budgets."""
    fig, (ax,) = F._figure()
    form, fit = result.fit.pmap.form, result.fit
    lo_c, hi_c = min(result.budgets), max(result.budgets)
    grid = np.geomspace(lo_c, hi_c, 40)
    tail = 50.0 * (1.0 - result.level)
    for i, pair in enumerate(result.pairs):
        colour = f"C{i % 10}"
        k = mult.multiplier_samples(form, fit.group_theta(pair.a), fit.group_theta(pair.b), grid)
        ok = np.isfinite(k[0]) & (k[0] > 0)
        ax.plot(grid[ok], k[0][ok], color=colour, lw=1.6, label=f"{pair.b} over {pair.a}")
        sa, sb = fit.group_samples(pair.a), fit.group_samples(pair.b)
        if sa is not None:
            ks = mult.multiplier_samples(form, sa, sb, grid)
            ks = np.where(np.isnan(ks), np.nan, np.clip(ks, 1e-8, 1e8))
            with np.errstate(all="ignore"):
                lo, hi = np.nanpercentile(ks, [tail, 100 - tail], axis=0)
            good = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(grid[good], lo[good], hi[good], color=colour, alpha=0.15)
        for b in pair.budgets:
            if b.multiplier is None:
                continue
            ax.scatter([b.C], [b.multiplier], color=colour, s=18, zorder=3)
            ax.annotate(
                {"A better": "A", "B better": "B"}.get(b.verdict, "≈"),
                (b.C, b.multiplier),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize=8,
            )
    ax.axhline(1.0, color="0.3", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("effective-compute multiplier k (>1: B better)")
    ax.set_title(f"multiplier with its {result.level:.0%} bootstrap band")
    ax.legend(fontsize=7.5)
    return fig


def comparison_section(result, table: Optional[RunTable], offsets, why: str) -> Section:
    """The comparison of the table's groups, or why there is none."""
    if result is None:
        return Section.unavailable("comparison", why)
    figs, parts = {}, []
    rows = [
        [esc(g), *(num(law.params.get(p)) for p in law.params), str(result.fit.n_runs.get(g))]
        for g, law in result.fit.laws.items()
    ]
    names = list(next(iter(result.fit.laws.values())).params)
    parts.append(
        f"<p>One {esc(result.form)} law per {esc(result.by)} "
        f"({esc(', '.join(result.groups))}); shared: {esc(', '.join(result.shared) or 'none')}. "
        "The full analysis: <code>scalelab compare RUNS --by "
        f"{esc(result.by)}</code>.</p>" + table_html([result.by, *names, "runs"], rows, "num")
    )
    if table is not None:
        figs["comparison_laws"] = laws_figure(result, table)
        parts.append(
            figure_html(
                figs["comparison_laws"],
                "Each group's runs and its law's loss at the compute-optimal allocation.",
                "comparison_laws",
            )
        )
    if result.pairs:
        figs["comparison_multiplier"] = multiplier_figure(result)
        parts.append(
            figure_html(
                figs["comparison_multiplier"],
                "k(C) = C_A(L_B*(C)) / C: the compute A needs to match B's loss, per unit of "
                "B's compute (A: A better, B: B better, ≈: not distinguishable).",
                "comparison_multiplier",
            )
        )
        brow = [
            [
                esc(f"{p.b} over {p.a}"),
                num(b.C, 3),
                num(b.multiplier, 3),
                interval(b.interval, 3),
                esc(b.verdict) + (f" ({esc(b.reason)})" if b.reason else ""),
            ]
            for p in result.pairs
            for b in p.budgets
        ]
        parts.append(
            table_html(["pair", "C", "multiplier", f"{result.level:.0%} interval", "verdict"], brow)
        )
    if offsets:
        orow = []
        for g, off in offsets.items():
            if isinstance(off, str) or off is None:
                orow.append([esc(g), "", "", esc(off or "no offsets")])
                continue
            for s, o in off.offsets.items():
                orow.append(
                    [esc(g), esc(f"{s} − {off.reference}"), num(o.get("offset"), 3)]
                    + [interval(o.get("interval"), 3) + " " + esc(off.verdict)]
                )
        parts.append(
            "<p>Offsets between evaluation sets (E of each set minus the reference's, nats), "
            "each group fitted with all parameters but E shared across its sets:</p>"
            + table_html([result.by, "offset", "nats", "interval, verdict"], orow)
        )
    notes = list(result.fit.warnings) + list(result.notes)
    parts += [f'<p class="warn">warning: {esc(w)}</p>' for w in notes]
    return Section("comparison", "".join(parts), figures=figs)
