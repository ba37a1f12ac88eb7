"""Form selection in the CLI: the table behind ``fit --form auto`` and ``backtest --compare``."""

from __future__ import annotations

from scalelab.cli.common import emit_json, json_text, out


def print_selection(auto: dict) -> None:
    """The per-form, per-fold error table of a selection, and its decision."""
    from rich.table import Table

    scheme = auto.get("scheme") or []
    t = Table(
        title="out-of-sample mean |error| per fold (weighted score last)", title_justify="left"
    )
    for col in ["form", *scheme, "score"]:
        t.add_column(col, justify="right")
    for name, row in auto.get("table", {}).items():
        mark = " *" if name == auto["chosen"] else (" =" if name in auto.get("tied", []) else "")
        t.add_row(name + mark, *(f"{row[f]:.2%}" for f in scheme), f"{auto['scores'][name]:.2%}")
    for name, v in auto.get("errors", {}).items():
        if "error" in v:
            t.add_row(name, *("n/a" for _ in scheme), "n/a")
    out.print(t)
    out.print(
        f"form chosen: {auto['chosen']} (* chosen, = tied). {auto['decision']}", highlight=False
    )


def compare_forms(table, options, as_json: bool, output=None) -> None:
    from scalelab import atomic
    from scalelab.cli.schedules import print_comparison
    from scalelab.laws.schedule_backtest import select

    choice = select(table, options)
    if output:
        atomic.write_text(output, json_text(choice))
    if as_json:
        emit_json(choice)
    else:
        print_selection(choice)
        print_comparison(choice.get("schedule_aware"))  # a table with schedules only
