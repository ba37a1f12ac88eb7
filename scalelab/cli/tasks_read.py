"""The reading options every ``scalelab tasks`` fitting command shares (``--wide``,
``--lm-eval-map``, ``--where``, ``--chance``, ...), in one place, and the printing of warnings.

A command decorated with :func:`reads_tasks` gets these options added to its command line and
receives them as one :class:`TaskReading` (its parameter ``reading``), whose :meth:`TaskReading.read`
is the one call to :func:`scalelab.runs.tasktable.read_tasks`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from scalelab.cli.common import ColumnOpt, WhereOpt, _conditions, _pairs, err
from scalelab.errors import InputError

RunsArg = typer.Argument(
    ...,
    metavar="RUNS",
    help="A task table (CSV, Parquet, JSON-lines); with --lm-eval-map a results JSON file, a "
    "folder of them or a quoted glob ('evals/*/*.json').",
)
WideOpt = typer.Option(
    False, "--wide", metavar="", help="One column per task: <task>_acc, <task>_loss, or acc_<task>."
)
TaskColumnsOpt = typer.Option(
    None,
    "--task-columns",
    metavar="TASK=ACC[:LOSS]",
    help="A wide table's columns of one task (repeatable); implies --wide.",
)
MapOpt = typer.Option(
    None,
    "--lm-eval-map",
    "--map",
    metavar="FILE",
    help="lm-evaluation-harness results: CSV/TOML mapping file -> run_id, N, D (or "
    "tokens_per_step); 'pythia' for the bundled Pythia mapping.",
)
MetricOpt = typer.Option("acc", "--metric", help="lm-eval accuracy metric (acc, acc_norm, ...).")
UnitOpt = typer.Option(
    None,
    "--unit",
    help="Unit of task_loss without a task_loss_unit column: nats/token, nats/char, nats/word, "
    "bits/byte.",
)
ChanceOpt = typer.Option(
    None,
    "--chance",
    metavar="TASK=P",
    help="Chance accuracy of a task, or of tasks matching a glob (repeatable); overrides the "
    "built-in table.",
)

OPTIONS: dict[str, tuple[Any, Any]] = {
    "wide": (bool, WideOpt),
    "task_columns": (Optional[list[str]], TaskColumnsOpt),
    "lm_eval_map": (Optional[str], MapOpt),
    "metric": (str, MetricOpt),
    "unit": (Optional[str], UnitOpt),
    "chance": (Optional[list[str]], ChanceOpt),
    "column": (Optional[list[str]], ColumnOpt),
    "where": (Optional[list[str]], WhereOpt),
}
"""The shared reading options: {parameter: (type, typer option)}."""

BUNDLED_MAPS = {"pythia": "pythia_lm_eval.toml"}
"""Mappings shipped in ``scalelab/examples`` (``--lm-eval-map pythia``)."""


@dataclass
class TaskReading:
    """The reading options of one command line."""

    wide: bool = False
    task_columns: Optional[list[str]] = None
    lm_eval_map: Optional[str] = None
    metric: str = "acc"
    unit: Optional[str] = None
    chance: Optional[list[str]] = None
    column: Optional[list[str]] = None
    where: Optional[list[str]] = None

    def read(self, runs: str, task: Optional[Iterable[str]] = None, through: str = "task_loss"):
        """The task table, its notes printed on stderr. With ``task`` all, tasks that cannot be
        fitted (no chance accuracy, no accuracy, no task loss) are dropped with a note."""
        from scalelab.runs.tasktable import fittable, read_tasks

        columns = {
            k: tuple(v.split(":", 1))
            for k, v in _pairs(self.task_columns, "--task-columns").items()
        }
        table = read_tasks(
            runs,
            wide=self.wide,
            task_columns=columns or None,
            lm_eval_map=lm_eval_map(self.lm_eval_map),
            unit=self.unit,
            chance=chances(self.chance),
            metric=self.metric,
            columns=_pairs(self.column, "--column") or None,
            where=_conditions(self.where) or None,
        )
        if task is not None and list(task) in (["all"], []):
            table = fittable(table, through)
        for note in table.notes:
            err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        return table


def lm_eval_map(value: Optional[str]) -> Optional[str]:
    """A mapping file, or the bundled mapping of that name when no such file exists."""
    if value is None or Path(value).exists() or value not in BUNDLED_MAPS:
        return value
    from importlib import resources

    return str(resources.files("scalelab.examples").joinpath(BUNDLED_MAPS[value]))


def chances(items: Optional[list[str]]) -> Optional[dict[str, float]]:
    """``--chance TASK=P`` pairs as numbers in [0, 1)."""
    out = {}
    for k, v in _pairs(items, "--chance").items():
        try:
            out[k] = float(v)
        except ValueError:
            raise InputError(f"--chance: {k}: expected a number, got {v!r}") from None
        if not 0 <= out[k] < 1:
            raise InputError(f"--chance: {k}: expected a fraction in [0, 1), got {v}")
    return out or None


def reads_tasks(command):
    """Add the shared reading options to ``command`` (before ``--json``); the command receives
    them as ``reading`` (a :class:`TaskReading`)."""
    signature = inspect.signature(command)
    params = [p for name, p in signature.parameters.items() if name != "reading"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=kind)
        for name, (kind, opt) in OPTIONS.items()
    ]
    at = next((i for i, p in enumerate(params) if p.name == "as_json"), len(params))
    params = params[:at] + added + params[at:]
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]

    @functools.wraps(command)
    def wrapper(**kwargs):
        reading = TaskReading(**{name: kwargs.pop(name) for name in OPTIONS})
        return command(reading=reading, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)
    hints = {k: v for k, v in command.__annotations__.items() if k != "reading"}
    wrapper.__annotations__ = {**hints, **{name: kind for name, (kind, _) in OPTIONS.items()}}
    return wrapper


def warnings_of(result: Any) -> list[str]:
    """Every warning and note a result carries: its ``warnings`` and ``notes``, and those of its
    parts (``step1``, ``step2``, ...), as plain lines."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("warnings", "notes") and isinstance(item, (list, tuple)):
                    found.extend(str(w) for w in item if w)
                elif key in ("warnings", "notes") and isinstance(item, str) and item:
                    found.append(item)
                elif isinstance(item, dict):
                    walk(item)

    walk(result.to_dict() if hasattr(result, "to_dict") else result)
    return list(dict.fromkeys(found))


def print_warnings(results: Iterable[Any]) -> None:
    """One ``warning: TASK: ...`` line on stderr per distinct warning (table mode; the JSON
    carries them in its objects); a warning several tasks share (one step-1 law fitted once for
    all of them, ``--through loss``) is printed once, naming the tasks."""
    seen: dict[str, list[str]] = {}
    for r in results:
        name = getattr(r, "task", "") + (f" [{r.bucket}]" if getattr(r, "bucket", None) else "")
        for line in warnings_of(r):
            seen.setdefault(line, []).append(name)
    for line, names in seen.items():
        who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        err.print(f"warning: {who}: {line}", highlight=False, markup=False, soft_wrap=True)
