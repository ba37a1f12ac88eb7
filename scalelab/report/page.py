"""The report's page: its sections (each a typed :class:`Section`), HTML helpers, and the page.

A section is plain data: its id, title, HTML body, whether it is filled (``status``: ``"ok"`` or
``"not available: why"``) and the figures it draws. :func:`page` puts the sections in order on one
self-contained HTML page (inline styles, figures as ``data:`` URIs, no script to run).
"""

from __future__ import annotations

import html as _html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from scalelab.report import figures as F

SECTIONS = (
    ("summary", "Summary"),
    ("law", "Fitted law"),
    ("figures", "Fit figures"),
    ("isoflop", "IsoFLOP profiles"),
    ("frontier", "Compute-optimal frontier"),
    ("plan", "Plan for the budget"),
    ("backtest", "Backtest"),
    ("catalog", "Published models"),
    ("checklist", "Checklist"),
    ("sensitivity", "Sensitivity"),
    ("notes", "Notes and warnings"),
    ("reproduce", "Reproduce"),
)
"""The sections of a report, in page order: (HTML id, title)."""
OPTIONAL_SECTIONS = {
    "curves": ("figures", "Learning curves"),
    "comparison": ("catalog", "Comparison"),
    "bcrit": ("figures", "Critical batch size"),
    "downstream": ("backtest", "Downstream tasks"),
}
"""Sections shown only when built (id -> (the section it follows, title)): the learning curves,
for a table with each run's schedule; the comparison, for runs with a grouping column; the
critical batch size, for runs that sweep the batch size; the downstream tasks, for a run table
with task rows."""
TITLES = {**dict(SECTIONS), **{k: t for k, (_, t) in OPTIONAL_SECTIONS.items()}}
NOT_AVAILABLE = "not available"


@dataclass
class Section:
    """One section of the report.

    Attributes:
        id: its HTML id (one of :data:`SECTIONS`); title: its heading.
        body: the HTML inside the section.
        status: ``"ok"``, or ``"not available: why"`` when its inputs are missing.
        figures: name -> matplotlib Figure drawn for it (embedded in ``body``).
        notes: short remarks for the reader of the command's output.
    """

    id: str
    body: str
    status: str = "ok"
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    title: str = ""

    def __post_init__(self):
        self.title = self.title or TITLES.get(self.id, self.id)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def unavailable(cls, id: str, why: str, body: Optional[str] = None) -> Section:
        """A section that says why it is not available (``body`` replaces the plain notice)."""
        return cls(id, unavailable(why) if body is None else body, f"{NOT_AVAILABLE}: {why}")


# -- formatting ------------------------------------------------------------------------------------
def esc(x: Any) -> str:
    return _html.escape(str(x), quote=True)


def num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,}"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if not np.isfinite(v):
        return "—"
    return f"{v:.{digits}g}"


def interval(ci: Optional[Sequence[float]], digits: int = 4) -> str:
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]" if ci else ""


def table_html(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    cls: str = "",
    row_classes: Optional[Sequence[str]] = None,
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return (
        f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def figure_html(fig, caption: str, name: str) -> str:
    return (
        f'<figure id="fig-{esc(name)}"><img alt="{esc(caption)}" '
        f'src="{F.data_uri(fig, "svg")}"><figcaption>{esc(caption)}</figcaption></figure>'
    )


def unavailable(why: str) -> str:
    return f'<p class="na"><strong>{NOT_AVAILABLE}</strong>: {esc(why)}</p>'


# -- the page --------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:0;color:#1b1f24;background:#fafafa}
main{max-width:1120px;margin:0 auto;padding:1.2em 2em 4em;background:#fff}
h1{font-size:1.55em;margin:.4em 0}
h2{font-size:1.25em;border-bottom:2px solid #e3e6ea;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.02em;margin-top:1.3em}
nav{font-size:.9em;margin:.5em 0 1em;display:flex;flex-wrap:wrap;gap:.3em 1em}
nav a{color:#0b5cad;text-decoration:none;white-space:nowrap}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #d6dae0;padding:.28em .55em;vertical-align:top;text-align:left}
th{background:#f1f3f5}
table.num td{font-variant-numeric:tabular-nums}
figure{margin:1em 0;text-align:center}
figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
.na{background:#fff7e0;border-left:4px solid #e0a800;padding:.45em .8em}
.warn{color:#9a3412}
.unknown{color:#b91c1c;font-weight:600}
tr.st-assumed td{background:#fffbeb}
tr.st-unknown td{background:#fef2f2}
span.lo{color:#1d4ed8;font-weight:700}
span.hi{color:#b91c1c;font-weight:700}
.headline{font-size:1.05em;font-weight:600}
.formula{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.05em}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.8em}
"""


def page(title: str, sections: Sequence[Section]) -> str:
    """The HTML page: a heading, a navigation bar and the sections in :data:`SECTIONS` order."""
    by_id = {s.id: s for s in sections}
    order = []
    for k, t in SECTIONS:
        order.append((k, t))
        order += [
            (o, ot) for o, (after, ot) in OPTIONAL_SECTIONS.items() if after == k and o in by_id
        ]
    nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in order)
    parts = [
        f'<section id="{k}"><h2>{esc(t)}</h2>'
        f"{by_id[k].body if k in by_id else unavailable('not built')}</section>"
        for k, t in order
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f'<link rel="icon" href="data:,"><style>{CSS}</style></head><body><main>'
        f"<h1>{esc(title)}</h1><nav>{nav}</nav>{''.join(parts)}"
        "<footer><p><small>Written by scalelab; self-contained: opens without a network."
        "</small></p></footer></main></body></html>\n"
    )
