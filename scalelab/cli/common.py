"""What every command shares: the typer app, the consoles, JSON output, run-table and law inputs.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Optional

import typer
from rich.console import Console

from scalelab.cli.usage import PlainGroup
from scalelab.errors import InputError
from scalelab.units import cut as _cut
from scalelab.units import optional_quantity

app = typer.Typer(
    cls=PlainGroup,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="scalelab: a scaling-law laboratory for language models.",
)
PIPE_WIDTH = 200
"""Columns of the tables printed into a pipe or a file (a terminal's own width otherwise; rich
would take 80 and cut cells to "para…"). ``COLUMNS`` in the environment wins."""


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    width = None if tty or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(stderr=stderr, emoji=False, width=width)


out = _console()
err = _console(stderr=True)


NOT_FINITE = "could not be computed (the result is not a finite number)"


def emit_json(obj: Any, reasons: Optional[dict[str, str]] = None) -> None:
    """Print one JSON object on stdout: numbers as plain floats, a number that could not be
    computed (NaN, infinite) as ``null`` -- never the non-standard ``NaN``/``Infinity``. Where an
    object's number became ``null``, its key ``null_reasons`` says why, by path (``optimal.N_opt``);
    ``reasons`` gives the known reasons by path."""
    nulls: dict[str, str] = {}
    data = _finite(obj, "", nulls)
    if nulls and isinstance(data, dict):
        known = reasons or {}
        data["null_reasons"] = {path: known.get(path, why) for path, why in nulls.items()}
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n")


def json_text(obj: Any) -> str:
    """``obj`` as strict JSON text for a file (``-o``): as :func:`emit_json` prints it; values
    JSON has no type for (paths, dates) are written as text."""
    data = _finite(obj, "", {})
    return json.dumps(data, indent=2, default=_text_default, allow_nan=False) + "\n"


def _text_default(value: Any) -> Any:
    try:
        return _json_default(value)
    except TypeError:
        return str(value)


def _finite(value: Any, path: str = "", nulls: Optional[dict] = None) -> Any:
    nulls = {} if nulls is None else nulls
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        nulls[path or "."] = NOT_FINITE
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), nulls) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, f"{path}[{i}]", nulls) for i, v in enumerate(value)]
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy scalars and arrays
        return _finite(value.tolist(), path, nulls)
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
    None,
    help="Run table (.csv, .parquet, .jsonl). Or use --example.",
    show_default=False,
    metavar="RUNS",
)
ExampleOpt = typer.Option(
    None,
    "--example",
    metavar="NAME",
    help="A built-in example table instead of RUNS (see `scalelab examples`).",
)
ColumnOpt = typer.Option(
    None,
    "--column",
    metavar="NAME=COLUMN",
    help="Map a schema column to a column of the file: N=params (repeatable). To map onto a name "
    "the file already has, map that column too: --column N_total=N --column N=N_no_emb.",
)
WhereOpt = typer.Option(
    None,
    "--where",
    metavar="CONDITION",
    help="Keep the rows that meet a condition: dataset=c4, N<=2.8B, D>=10B, C<1e21, "
    "recipe!=base (=, !=, <, <=, >, >=; sizes as 27B/14T/1e21; < and > on numeric columns "
    "only). Repeatable: all must hold.",
)


def Flag(*names: str, help: str, default: bool = False):  # noqa: N802 - reads like typer.Option
    """An on/off option: shown in ``--help`` without a ``<bool>`` value, since it takes none."""
    return typer.Option(default, *names, metavar="", help=help)


JsonOpt = Flag("--json", help="Print one JSON object instead of tables.")
LawOpt = typer.Option(
    ..., "--law", metavar="LAW", help="A law JSON file (from fit -o) or a published law name."
)


def BudgetOpt(help: str):  # noqa: N802 - reads like typer.Option
    """``--budget``: a count of FLOPs as people write it (``1e23``, ``576e21``)."""
    return typer.Option(None, "--budget", metavar="FLOPS", help=help, show_default=False)


def _pairs(items: Optional[list[str]], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise InputError(f"{option}: expected NAME=VALUE, got {_cut(item)}")
        if key in out:
            raise InputError(
                f"{option}: {_cut(key)} given twice ({_cut(out[key])} and {_cut(value)}); give "
                "each name once"
            )
        out[key] = value
    return out


def _conditions(where: Optional[list[str]]):
    """``--where`` as parsed conditions (syntax errors before any file is read); a table applies
    them with ``RunTable.filter``."""
    from scalelab.runs.conditions import parse_conditions

    return parse_conditions(where, "--where")


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
    columns, conditions = _pairs(column, "--column"), _conditions(where)
    table = examples.load(example, columns) if example is not None else read_table(runs, columns)
    table = table.filter(conditions)
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
    """An optional count (``27B``, ``14T``, ``1e23``) from an option given as text."""
    return optional_quantity(value, name)


def _count(value: Optional[str], name: str) -> Optional[float]:
    """An optional positive count (``27B``, ``1e23``); zero or a negative is an error naming
    the option."""
    number = optional_quantity(value, name)
    if number is not None and not number > 0:
        raise InputError(f"{name}: expected a positive number, got {_cut(value)}")
    return number


def _real(value: float, name: str, low: float = 0.0, high: float = math.inf) -> float:
    """A plain number option that must be finite and in (low, high)."""
    if not (math.isfinite(value) and low < value < high):
        bounds = f"between {low:g} and {high:g}" if math.isfinite(high) else f"above {low:g}"
        raise InputError(f"{name}: expected a finite number {bounds}, got {value}")
    return value


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
