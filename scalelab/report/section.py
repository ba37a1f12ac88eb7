"""A report section as plain data (:class:`Section`) and the HTML helpers its builders use.

A section is its id, title, HTML body, whether it is filled (``status``: ``"ok"`` or
``"not available: why"``) and the figures it draws. Which sections a report has, in which order,
and the page they make are declared in :mod:`scalelab.report.page`.
"""

from __future__ import annotations

import html as _html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from scalelab.report import figures as F

NOT_AVAILABLE = "not available"


@dataclass
class Section:
    """One section of the report.

    Attributes:
        id: its HTML id; title: its heading (the page's declared title when empty).
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
