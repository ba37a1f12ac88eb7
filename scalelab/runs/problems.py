"""A table's problems, collected and reported: one group per column and kind of problem, one line
per bad cell (capped), and a short summary with a count of bad rows (what the CLI prints).

:mod:`scalelab.runs.validate` collects the groups; :func:`raise_problems` raises one
:class:`~scalelab.errors.InputError` for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError

MAX_PROBLEM_LINES = 20
MAX_SUMMARY_LINES = 6
SHOWN_ROWS = 5


@dataclass
class Group:
    """Rows of one column with one kind of problem."""

    label: str
    what: str  # "are not numbers", for the summary
    rows: list[int] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def group(label: str, what: str, rows: np.ndarray, detail) -> Group:
    """The rows of one problem, each with its ``detail(row)`` (the first few: the rest are counted)."""
    rows = [int(i) for i in rows]
    shown = rows[: MAX_PROBLEM_LINES + 1]
    return Group(label, what, rows, [detail(i) for i in shown])


def raise_problems(source: str, whole: list[str], groups: list[Group]) -> None:
    """Raise one InputError for the whole-column problems and every group with rows, if any."""
    groups = [g for g in groups if g.rows]
    if not whole and not groups:
        return
    problems = list(whole)
    summary = list(whole)
    for g in groups:
        problems += [
            f"{source}: row {i + 1}, column {g.label}: {d}"
            for i, d in zip(g.rows, g.details, strict=False)
        ]
        if len(g.rows) == 1:
            summary.append(f"{source}: row {g.rows[0] + 1}, column {g.label}: {g.details[0]}")
        else:
            shown = ", ".join(str(i + 1) for i in g.rows[:SHOWN_ROWS])
            summary.append(
                f"{source}: column {g.label}: {len(g.rows)} rows {g.what} (rows {shown}"
                + (", ..." if len(g.rows) > SHOWN_ROWS else "")
                + f"); row {g.rows[0] + 1}: {g.details[0]}"
            )
    total = len(problems) + sum(max(0, len(g.rows) - len(g.details)) for g in groups)
    capped = problems[:MAX_PROBLEM_LINES]
    if total > MAX_PROBLEM_LINES:
        capped.append(f"... and {total - MAX_PROBLEM_LINES} more problem(s)")
    raise InputError(capped, summary=cap(summary, MAX_SUMMARY_LINES))


def cap(problems: list[str], limit: int = MAX_PROBLEM_LINES) -> list[str]:
    """The first ``limit`` problems, and a line counting the rest."""
    if len(problems) <= limit:
        return problems
    return problems[:limit] + [f"... and {len(problems) - limit} more problem(s)"]
