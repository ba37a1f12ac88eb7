"""What every command shares: the typer app, the consoles, JSON output, run-table and law inputs.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Optional

import typer
from rich.console import Console

from scalelab.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="scalelab: a scaling-law laboratory for language models.",
)
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout: numbers as plain floats, a number that could not be
    computed (NaN, infinite) as ``null`` -- never the non-standard ``NaN``/``Infinity``."""
    text = json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False)
    sys.stdout.write(text + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy scalars and arrays
        return _finite(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


RunsArg = typer.Argument(
    None, help="Run table (.csv, .parquet, .jsonl). Or use --example.", show_default=False
)
ExampleOpt = typer.Option(
    None, "--example", help="A built-in example table instead of RUNS (see `scalelab examples`)."
)
ColumnOpt = typer.Option(
    None, "--column", help="Map a schema column to a column of the file: N=params (repeatable)."
)
WhereOpt = typer.Option(
    None, "--where", help="Keep rows whose column equals a value: dataset=c4 (repeatable)."
)


def Flag(*names: str, help: str, default: bool = False):  # noqa: N802 - reads like typer.Option
    """An on/off option: shown in ``--help`` without a ``<bool>`` value, since it takes none."""
    return typer.Option(default, *names, metavar="", help=help)


JsonOpt = Flag("--json", help="Print one JSON object instead of tables.")


def _pairs(items: Optional[list[str]], option: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{option}: expected NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _load_runs(
    runs: Optional[str],
    example: Optional[str],
    column: Optional[list[str]],
    where: Optional[list[str]],
):
    from scalelab import examples
    from scalelab.runs import read_table

    if (runs is None) == (example is None):
        raise InputError("give a run table (RUNS) or --example NAME, not both or neither")
    columns, conditions = _pairs(column, "--column"), _pairs(where, "--where")
    table = examples.load(example) if example else read_table(runs, columns)
    if conditions:
        table = table.where(**conditions)
    for note in table.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    return table


def _resolve_law(spec: str):
    """A law from a JSON file or a published name (``scalelab published``)."""
    from scalelab.laws import published

    return published.resolve(spec)


def _given(**values) -> dict:
    """The options given on the command line (those left at None take the API's defaults)."""
    return {k: v for k, v in values.items() if v is not None}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _interval(ci: Optional[list]) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""


def _num(value: Optional[str], name: str) -> Optional[float]:
    from scalelab.units import optional_quantity

    return optional_quantity(value, name)


def _print_kv(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _ratio(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _money(x: Optional[float]) -> str:
    return "" if x is None else f"{x:,.0f}"
