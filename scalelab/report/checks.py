"""The report's sections that check and document the fit: backtest, published models, checklist,
sensitivity, notes, reproduce and the summary. Each function returns one
:class:`~scalelab.report.section.Section`.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from collections.abc import Sequence
from typing import Optional

import numpy as np

from scalelab.errors import NumericalError
from scalelab.laws.law import Law
from scalelab.report import checklist as checklist_mod
from scalelab.report import figures as F
from scalelab.report import sensitivity as sens
from scalelab.report.section import Section, esc, figure_html, interval, num, table_html
from scalelab.report.sections import frontier_line, is_nd
from scalelab.runs.table import RunTable

VERSIONED = ("scipy", "pandas", "matplotlib")
"""Libraries whose versions the reproduce section records (beside Python and NumPy)."""


def backtest_section(
    rows: Optional[list[dict]], why: str, scheduled: Optional[dict] = None
) -> Section:
    """Held-out runs: predicted against actual loss, with intervals and compute ratios; on runs
    with schedules, one line on the schedule-aware law (``scheduled``,
    :mod:`scalelab.laws.schedule_backtest`)."""
    if not rows:
        return Section.unavailable("backtest", why)
    fig = F.backtest_figure(
        [r["predicted"] for r in rows],
        [r["actual"] for r in rows],
        None if any(r["lo"] is None for r in rows) else [r["lo"] for r in rows],
        None if any(r["hi"] is None for r in rows) else [r["hi"] for r in rows],
        [r["label"] for r in rows],
    )
    err = np.array([r["rel_error"] for r in rows])
    inside = [r["inside"] for r in rows if r["inside"] is not None]
    ratios = [r["compute_ratio"] for r in rows if r["compute_ratio"]]
    summary = (
        f"<p>{len(rows)} held-out run(s): mean |relative error| {np.mean(np.abs(err)):.2%}, "
        f"largest {np.max(np.abs(err)):.2%}"
        + (f"; truth inside the interval for {sum(inside)} of {len(inside)}" if inside else "")
        + (f"; up to {max(ratios):.3g}x the compute of the largest fitted run" if ratios else "")
        + ".</p>"
    )
    table = table_html(
        [
            "run",
            "predicted",
            "interval",
            "actual",
            "relative error",
            "inside interval",
            "compute ratio",
        ],
        [
            [
                esc(r["label"]),
                num(r["predicted"]),
                interval([r["lo"], r["hi"]]) if r["lo"] is not None else "",
                num(r["actual"]),
                f"{r['rel_error']:+.2%}",
                "—" if r["inside"] is None else ("yes" if r["inside"] else "no"),
                num(r["compute_ratio"], 3),
            ]
            for r in rows
        ],
        "num",
    )
    body = (
        summary
        + _scheduled(scheduled)
        + figure_html(fig, "Held-out runs: predicted against actual loss" + _bars(rows), "backtest")
        + table
    )
    return Section("backtest", body, figures={"backtest": fig})


def _scheduled(record: Optional[dict]) -> str:
    if not record:
        return ""
    if "skipped" in record:
        return f"<p>Schedule-aware law: not compared ({esc(record['skipped'])}).</p>"
    return (
        f"<p>Schedule-aware law ({esc(record['law'])} on every checkpoint of the fitting runs, "
        f"each held-out run under its own schedule): {esc(record['why'])}; its "
        f"{record['level']:.0%} band held {record['coverage']:.0%} of them.</p>"
    )


def _bars(rows: list[dict]) -> str:
    """The end of the backtest caption: what its error bars are, when the rows say."""
    kinds = {r.get("interval_kind") for r in rows if r["lo"] is not None}
    if len(kinds) != 1 or None in kinds:
        return "."
    return f"; bars: {kinds.pop()}."


def catalog_section(law: Law, models: Optional[list[dict]], why: str) -> Section:
    """Published models' tokens per parameter beside this fit's compute-optimal ratio."""
    if not models or not is_nd(law):
        return Section.unavailable(
            "catalog", why if not models else f"form '{law.form}' has no compute-optimal frontier"
        )
    flops = [6 * m["N"] * m["D"] for m in models]
    Cg = np.geomspace(min(flops) / 3, max(flops) * 3, 60)
    fig = F.catalog_figure(models, frontier_line(law, Cg))
    rows = []
    for m in models:
        cells = [esc(m["name"]), num(m["N"], 3), num(m["D"], 3), num(m["D"] / m["N"], 3)]
        try:
            a = law.optimal(6 * m["N"] * m["D"])
        except NumericalError:  # no interior optimum at that budget: say so, keep the row
            rows.append(cells + ["none", esc("no interior optimum under this fit")])
            continue
        ratio = (m["D"] / m["N"]) / a.tokens_per_param
        verdict = f"over-trained {ratio:.2g}x" if ratio > 1 else f"under-trained {1 / ratio:.2g}x"
        rows.append(cells + [num(a.tokens_per_param, 3), esc(verdict)])
    body = figure_html(
        fig,
        "Published models: tokens per parameter against compute, beside this "
        "fit's compute-optimal ratio.",
        "catalog",
    ) + table_html(
        ["model", "N", "D", "tokens/param", "compute-optimal tokens/param", "verdict"], rows, "num"
    )
    return Section("catalog", body, figures={"catalog": fig})


def checklist_section(items: list[dict]) -> Section:
    """The (Mis)Fitting checklist as a table, as Markdown, and as embedded JSON."""
    record = checklist_mod.to_json(items)
    c = record["counts"]
    unknown = f'<span class="unknown">{checklist_mod.UNKNOWN}</span>'
    body = (
        "<p>The items Li, Kudugunta and Zettlemoyer 2025 ask every scaling-law study to state, "
        "filled from the fit's options, the run table's columns and the data manifest. "
        f"{c['known']} known, {c['assumed']} assumed from a stated convention, "
        f"<strong>{c['unknown']} unknown</strong> (not recorded, so not claimed).</p>"
        + table_html(
            ["group", "item", "value", "status", "source"],
            [
                [
                    esc(i["group"]),
                    esc(i["label"]),
                    unknown if i["status"] == "unknown" else esc(i["value"]),
                    esc(i["status"]),
                    esc(i["source"]),
                ]
                for i in items
            ],
            "checklist",
            [f"st-{i['status']}" for i in items],
        )
        + "<details><summary>Markdown</summary><pre>"
        + esc(checklist_mod.to_markdown(items))
        + "</pre></details>"
        + '<script type="application/json" id="checklist-json">'
        + json.dumps(record, default=str).replace("</", "<\\/")
        + "</script>"
    )
    return Section("checklist", body)


def sensitivity_section(result: Optional[sens.SensitivityResult], why: str) -> Section:
    if result is None:
        return Section.unavailable("sensitivity", why)
    fig = F.sensitivity_figure(result.rows, result.budget)
    body = sensitivity_html(result) + figure_html(
        fig, "Tokens per parameter at the budget under each alternative choice.", "sensitivity"
    )
    return Section("sensitivity", body, figures={"sensitivity": fig})


def sensitivity_html(result: sens.SensitivityResult) -> str:
    """The sensitivity table with the extremes of each column highlighted, and the spread."""
    cols = ("alpha", "beta", "E", "a", "b", "N_opt", "tokens_per_param")
    ext = {
        m: (result.spread[m]["min_variant"], result.spread[m]["max_variant"])
        for m in cols
        if m in result.spread
    }
    rows = []
    for r in result.rows:
        cells = [esc(r["group"]), esc(r["name"])]
        for m in cols:
            cls = ""
            if m in ext and r["status"] == "ok" and r["name"] in ext[m]:
                cls = ' class="lo"' if r["name"] == ext[m][0] else ' class="hi"'
            cells.append(f"<span{cls}>{num(r.get(m), 3)}</span>")
        status = (
            r["status"]
            if r["status"] != "ok"
            else "ok" + (f" ({r['note']})" if r.get("note") else "")
        )
        cells.append(esc(status if r["status"] == "ok" else f"{status}: {r.get('reason') or ''}"))
        rows.append(cells)
    spread_rows = [
        [
            esc(m),
            num(s["min"], 3),
            esc(s["min_variant"]),
            num(s["max"], 3),
            esc(s["max_variant"]),
            num(s.get("ratio"), 3) + "x" if s.get("ratio") else "—",
        ]
        for m, s in result.spread.items()
        if m in cols
    ]
    group_rows = [
        [esc(g), num(s["min"], 3), num(s["max"], 3), num(s["ratio"], 3) + "x"]
        for g, s in result.spread.get("tokens_per_param_by_group", {}).items()
    ]
    return (
        f'<p class="headline">{esc(sens.headline(result))}.</p>'
        "<p>Each row refits the same runs with one choice changed, everything else at the "
        'baseline. <span class="lo">blue</span>: the lowest value in its column; '
        '<span class="hi">red</span>: the highest.</p>'
        + table_html(
            [
                "choice",
                "variant",
                "α",
                "β",
                "E",
                "a",
                "b",
                f"N_opt @ {result.budget:.3g}",
                f"tokens/param @ {result.budget:.3g}",
                "status",
            ],
            rows,
            "num sens",
        )
        + "<h3>Spread</h3>"
        + table_html(
            ["quantity", "min", "variant", "max", "variant", "max/min"], spread_rows, "num"
        )
        + (
            "<h3>Tokens/parameter by kind of choice (with the baseline)</h3>"
            + table_html(["choice", "min", "max", "max/min"], group_rows, "num")
            if group_rows
            else ""
        )
    )


def notes_section(law: Law, table: RunTable, warnings: Sequence[str] = ()) -> Section:
    """The report's own warnings (an extrapolated budget), the fit's, and the notes made reading
    the runs."""
    notes = list(table.notes) + [n for n in law.data.get("notes", []) if n not in table.notes]
    said = list(warnings) + [w for w in law.warnings if w not in warnings]
    warnings = (
        "<ul>" + "".join(f"<li>{esc(w)}</li>" for w in said) + "</ul>"
        if said
        else "<p>Neither the fit nor the report raised a warning.</p>"
    )
    read = (
        "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes else "<p>None.</p>"
    )
    return Section(
        "notes", "<h3>Warnings</h3>" + warnings + "<h3>Notes made reading the runs</h3>" + read
    )


def reproduce_section(law: Law, command: str) -> Section:
    """The command, the code and library versions, and the fit's options."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in VERSIONED:
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    opts = {k: v for k, v in law.options_record().items() if k != "grid"}
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"<p>Command:</p><pre>{esc(command)}</pre>"
        f"<p>Code: {esc(checklist_mod.code_version())}; "
        + ", ".join(f"{esc(k)} {esc(v)}" for k, v in versions.items())
        + f"; generated {esc(when)}.</p>"
        "<details><summary>Fit options</summary>"
        f"<pre>{esc(json.dumps(opts, indent=1, default=str))}</pre></details>"
    )
    return Section("reproduce", body)


def summary_section(
    law: Law,
    table: RunTable,
    budget: float,
    result: Optional[sens.SensitivityResult],
    sections: Sequence[tuple[str, str]],
    warnings: Sequence[str] = (),
    budget_origin: str = "asked",
) -> Section:
    """What the report found, in a few lines, and which sections are not available.

    ``sections``: (title, status) of the sections every report has, in page order; ``warnings``:
    the report's own (an extrapolated budget), headlined before the numbers they qualify."""
    items = [f'<li class="warn"><strong>Warning: {esc(w)}.</strong></li>' for w in warnings]
    items += [
        f"<li>{num(law.n_runs)} runs ({num(law.n_points)} points) from "
        f"<code>{esc(table.source)}</code>, form <code>{esc(law.form)}</code>: "
        f"{esc(law.provenance.get('formula', ''))}</li>"
    ]
    d = law.derived
    if "tokens_per_param" in d:
        ci = law.ci.get("tokens_per_param")
        items.append(
            f"<li>At C = {budget:.3g} FLOPs"
            + ("" if budget_origin == "asked" else f" (the default budget: {esc(budget_origin)})")
            + f": N_opt = {num(d['N_opt'], 3)}, "
            f"D_opt = {num(d['D_opt'], 3)}, "
            f"<strong>{num(d['tokens_per_param'], 3)} tokens/parameter</strong>"
            + (f" {interval(ci, 3)}" if ci else "")
            + f"; exponents a = {num(d['a'], 3)}, b = {num(d['b'], 3)}.</li>"
        )
    if result is not None:
        items.append(f"<li>Sensitivity: {esc(sens.headline(result))}.</li>")
    missing = [title.lower() for title, status in sections if status != "ok"]
    if missing:
        items.append(
            "<li>Not available here: " + esc(", ".join(missing)) + " (each section says why).</li>"
        )
    if law.warnings:
        items.append(f'<li class="warn">{len(law.warnings)} warning(s) on the fit; see Notes.</li>')
    return Section("summary", "<ul>" + "".join(items) + "</ul>")
