"""The report's comparison section: groups of runs (``recipe``, or ``scalelab report --by``)
compared through their laws with :func:`scalelab.compare.compare` (layer 3 below the report).

The section draws the groups' laws on one plot (each group's runs and its compute-optimal loss
L*(C), one colour per group), the effective-compute multiplier of each pair against compute with
its bootstrap band and the verdicts at the comparison's budgets, and, when the table has several
evaluation sets, each group's offsets between them (Kaplan's constant OOD offset). Grouped by
``shape`` (a shape family: several shapes at one N, or ``--by shape``), it shows the
shape-insensitivity analysis instead (:mod:`scalelab.compare.shape`): each shape's loss penalty
over the best shape at its N and D against the aspect ratio d_model/n_layer (Kaplan et al. 2020,
Fig. 5), the band the analysis counts as noise, and its verdict in words.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from scalelab.compare import compare
from scalelab.compare import multiplier as mult
from scalelab.compare import shape as shape_mod
from scalelab.errors import ScalelabError
from scalelab.laws import forms
from scalelab.laws.options import DEFAULT_FORM
from scalelab.report import axes as style
from scalelab.report import figures as F
from scalelab.report.section import Section, esc, figure_html, interval, num, table_html
from scalelab.runs.table import RunTable

COMPARE_BOOTSTRAP = 100
"""Most bootstrap resamples of the section's joint fits (a comparison refits every group)."""


def grouping(table: RunTable, by: Optional[str]) -> Optional[str]:
    """The column to compare by: ``by`` when given, else ``recipe`` when the table has two or more
    recipes, else ``shape`` for a shape family (:func:`shape_family`); None otherwise."""
    if by:
        return by
    if table.has("recipe") and table.data["recipe"].dropna().nunique() >= 2:
        return "recipe"
    if shape_family(table):
        return "shape"
    return None


def shape_family(table: RunTable) -> bool:
    """Whether the table has a ``shape`` column with two or more shapes at one N (within 10%, as
    the shape analysis puts rows in cells)."""
    if not (table.has("shape") and table.has("N")):
        return False
    d = table.data[["shape", "N"]].dropna()
    found = style.groups(d["N"].astype(float).to_numpy(), len(d), shape_mod.CELL_RTOL)
    if found is None:
        return False
    shapes = d["shape"].astype(str).to_numpy()
    return any(len(set(shapes[found[0] == k])) >= 2 for k in range(len(found[1])))


def analyse(table: RunTable, by: str, form: str, bootstrap: int, seed: int = 0):
    """(Comparison, offsets per group or {}, "ok"), or (None, None, why). The groups are fitted
    with ``form`` when it has a closed-form frontier (:func:`scalelab.laws.forms.with_frontier`:
    L*(C) is drawn for every bootstrap sample), else with the default form."""
    b = max(mult_min(), min(bootstrap or COMPARE_BOOTSTRAP, COMPARE_BOOTSTRAP))
    form = form if form in forms.with_frontier() else DEFAULT_FORM
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
                {pair.a: "A", pair.b: "B"}.get(b.winner, "≈"),
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


def shape_figure(data):
    """The loss penalty over the best shape (%) against aspect ratio d_model/n_layer (log x), one
    colour per N (line style per D when an N has several), over the band counted as noise; takes
    :func:`~scalelab.report.figure_data.shape_data`."""
    fig, (ax,) = F._figure()
    ax.axhspan(0.0, 100.0 * data["band"], color="0.55", alpha=0.2, lw=0, label=data["band_label"])
    ax.axhline(0.0, color="0.3", lw=0.8)
    seen: dict[int, int] = {}
    for line in data["lines"]:
        k = seen[line["group"]] = seen.get(line["group"], -1) + 1
        ax.plot(
            line["aspect"],
            100.0 * line["penalty"],
            color=F.COLORS[line["group"] % len(F.COLORS)],
            ls=("-", "--", ":", "-.")[k % 4],
            marker="o",
            ms=4.5,
            lw=1.6,
            label=line["label"],
        )
    aspects = np.concatenate([line["aspect"] for line in data["lines"]])
    ax.set_xscale("log")
    ax.set_xlim(aspects.min() / 1.4, aspects.max() * 1.4)
    style.log_axis(ax, "x")
    ax.set_xlabel("aspect ratio d_model / n_layer")
    ax.set_ylabel("loss increase over the best shape (%)")
    ax.set_title(f"loss across shapes at fixed N and D: {data['verdict']}")
    ax.legend(fontsize=7.5)
    return fig


def shape_verdict(shape) -> str:
    """The shape analysis' verdict in words."""
    spread = f"{shape.spread:.2%}"
    if shape.p_value is not None:
        test = f"F = {shape.F:.3g}, p = {shape.p_value:.3g} against seed noise"
    else:
        test = f"no seed replicates: judged against a {shape_mod.TOLERANCE:.0%} tolerance"
    if shape.verdict == shape_mod.NO_EFFECT:
        text = f"No shape effect: at fixed N and D the loss moves by at most {spread} ({test})."
    elif shape.verdict == shape_mod.EFFECT:
        text = f"Shape effect: shapes at fixed N and D differ by up to {spread}, beyond noise ({test})."
    else:
        text = (
            f"Not distinguishable from noise: shapes differ by up to {spread}, above the "
            f"{shape_mod.TOLERANCE:.0%} tolerance, but the seed noise is unknown ({test})."
        )
    pen = shape.penalty
    if pen:
        text += (
            f" Fitted aspect-ratio penalty {esc(pen['model'])}: {pen['at_4x']:.2%} at 4x away from "
            f"the best aspect ratio (aspect ratios {pen['aspect_range'][0]:.3g} to "
            f"{pen['aspect_range'][1]:.3g})."
        )
    return text


def shape_section(result) -> Section:
    """The shape-insensitivity analysis of a shape-grouped table: verdict, figure, cells."""
    shape, figs = result.shape, {}
    parts = [
        f"<p>{esc(shape_verdict(shape))} Kaplan et al. 2020 (Fig. 5): at fixed N the loss depends "
        "only weakly on the shape. The full analysis: <code>scalelab compare RUNS --by shape"
        "</code>.</p>"
    ]
    data = F.shape_data(shape)
    if data is None:
        parts.append("<p>No figure: the runs have no n_layer and d_model (aspect ratios).</p>")
    else:
        figs["comparison_shape"] = shape_figure(data)
        parts.append(
            figure_html(
                figs["comparison_shape"],
                "Each shape's loss above the best shape at its N and D, against the aspect ratio "
                f"d_model/n_layer; shaded: {data['band_label']}.",
                "comparison_shape",
            )
        )
    rows = [
        [num(c["N"], 3), num(c["D"], 3), esc(s), num(v["aspect"], 3), num(v["loss"], 4)]
        + [f"{v['excess']:.2%}", str(v["runs"])]
        for c in shape.cells
        for s, v in sorted(c["shapes"].items(), key=lambda sv: sv[1]["aspect"] or 0.0)
    ]
    parts.append(
        table_html(["N", "D", "shape", "d_model/n_layer", "loss", "penalty", "runs"], rows, "num")
    )
    parts += [f'<p class="warn">note: {esc(n)}</p>' for n in shape.notes + result.notes]
    return Section("comparison", "".join(parts), figures=figs)


def comparison_section(result, table: Optional[RunTable], offsets, why: str) -> Section:
    """The comparison of the table's groups, or why there is none."""
    if result is None:
        return Section.unavailable("comparison", why)
    if result.shape is not None:
        return shape_section(result)
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
