"""The run table: the one interchange format between training and fitting (DESIGN.md §3).

One row per (run, evaluation point). Columns: at least ``N`` (non-embedding parameters), ``loss``
(nats/token) and ``D`` (tokens) or ``C`` (training FLOPs); optionally ``run_id``, ``N_total``,
``N_active``, ``step``, ``tokens_per_step``, ``eval_set``, ``task``, ``accuracy``, ``n_layer``,
``d_model``, ``n_head``, ``n_ctx``, ``lr``, ``seed``, ``status``, ``flops_per_token``. Any other
column is kept as it is.

CSV, Parquet and JSON-lines read and write alike. :func:`read_table` validates what it reads and
reports every problem as one line naming the file, the row and the column (an
:class:`~scalelab.errors.InputError`, exit status 2 in the CLI).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from scalelab import atomic
from scalelab.errors import InputError
from scalelab.runs.conditions import Conditions, apply, describe, parse_conditions
from scalelab.runs.read import TEXT_COLUMNS, read_frame  # noqa: F401 - TEXT_COLUMNS re-exported
from scalelab.runs.validate import (  # noqa: F401 - the schema's names, re-exported
    MAX_PROBLEM_LINES,
    NUMERIC_COLUMNS,
    POSITIVE_COLUMNS,
    SCHEMA_COLUMNS,
    validate,
)

FINISHED_STATUS = "done"
FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass
class RunTable:
    """A validated run table.

    Attributes:
        data: the rows, one per (run, evaluation point), with the schema columns as floats.
        source: where the rows came from (a path, or ``"<memory>"``).
        notes: what was filled in or chosen on the user's behalf ("C filled as 6*N*D"), in order.
        derived: schema columns that were not in the input but computed (``run_id``, ``C``, ``D``).
    """

    data: pd.DataFrame
    source: str = "<memory>"
    notes: list[str] = field(default_factory=list)
    derived: frozenset = frozenset()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, source: str = "<memory>", columns: Mapping[str, str] | None = None
    ) -> RunTable:
        """Validate a DataFrame (renaming ``columns`` = {schema name: frame column} first)."""
        return _validate(frame.copy(), source, columns or {})

    @classmethod
    def from_records(cls, records: Iterable[Mapping], source: str = "<memory>") -> RunTable:
        return cls.from_frame(pd.DataFrame(list(records)), source)

    # -- access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, column: str) -> np.ndarray:
        return self.data[column].to_numpy()

    def has(self, column: str) -> bool:
        return column in self.data.columns

    @property
    def run_ids(self) -> np.ndarray:
        return self.data["run_id"].to_numpy()

    @property
    def n_runs(self) -> int:
        return int(self.data["run_id"].nunique())

    def with_data(self, data: pd.DataFrame, note: str | None = None) -> RunTable:
        notes = self.notes + ([note] if note else [])
        return RunTable(data.reset_index(drop=True), self.source, notes, self.derived)

    def where(self, **conditions) -> RunTable:
        """Rows whose columns equal the given values (compared as text; on a numeric column a
        value that reads as a number also matches that number), e.g. ``where(dataset="c4")``.
        Comparisons: :meth:`filter`."""
        return self.filter(conditions)

    def filter(self, conditions: Conditions) -> RunTable:
        """Rows every condition keeps: ``filter(["N<=2.8B", "dataset=c4"])`` (text as
        ``--where`` takes it, :class:`~scalelab.runs.conditions.Condition` objects, or a
        {column: value} mapping of equalities). The syntax and the matching:
        :mod:`scalelab.runs.conditions`. An unknown column, a comparison on a text column, a bad
        number or a condition that leaves no row is an :class:`InputError` naming it."""
        parsed = parse_conditions(conditions)
        if not parsed:
            return self
        kept = apply(self.data, parsed, self.source)
        counts = f"{len(kept)} of {len(self.data)} rows"
        if self.has("run_id"):
            counts += f", {kept['run_id'].nunique()} of {self.n_runs} runs"
        return self.with_data(kept, f"{describe(parsed)} ({counts})")

    # -- selection ----------------------------------------------------------------------------
    def select(
        self,
        eval_set: str | None = None,
        task: str | None = None,
        points: str = "final",
        keep_unfinished: bool = False,
    ) -> RunTable:
        """Rows a fit should use.

        Args:
            eval_set: which evaluation set; default ``val`` if present, else the only one.
            task: which task (rows with a ``task`` column); default: rows with no task, else the
            only one.
            points: ``"final"`` keeps each run's last evaluation (largest D); ``"all"`` keeps every
                evaluation point (learning curves).
            keep_unfinished: keep runs whose ``status`` is not ``done`` (diverged, failed, ...).
        """
        table = self
        if self.has("status") and not keep_unfinished:
            status = self.data["status"].fillna(FINISHED_STATUS).astype(str)
            off = self.data.loc[status != FINISHED_STATUS, ["run_id"]].assign(
                status=status[status != FINISHED_STATUS]
            )
            bad = off.drop_duplicates("run_id")
            if len(bad):
                shown = ", ".join(
                    f"{r} ({s})"
                    for r, s in zip(bad["run_id"].head(5), bad["status"].head(5), strict=False)
                )
                table = table.with_data(
                    self.data[status == FINISHED_STATUS],
                    f"left out {len(bad)} run(s) whose status is not '{FINISHED_STATUS}': "
                    + shown
                    + (" ..." if len(bad) > 5 else ""),
                )
        for column, wanted, preferred in (("eval_set", eval_set, "val"), ("task", task, None)):
            table = table._select_value(column, wanted, preferred)
        if points == "final":
            data = table.data
            order = ["run_id", "D"] + (["step"] if "step" in data.columns else [])
            last = data.sort_values(order, kind="stable").groupby("run_id", sort=False).tail(1)
            if len(last) < len(data):
                table = table.with_data(
                    last.sort_index(),
                    f"using each run's final evaluation ({len(last)} of {len(data)} rows)",
                )
        elif points != "all":
            raise InputError(f"points: expected 'final' or 'all', got {points!r}")
        if len(table) == 0:
            raise InputError(f"{self.source}: no rows left to fit after selection")
        return table

    def _select_value(self, column: str, wanted: str | None, preferred: str | None) -> RunTable:
        if not self.has(column):
            if wanted is not None:
                raise InputError(
                    f"{self.source}: {column} {wanted!r} requested but the table has no "
                    f"'{column}' column"
                )
            return self
        values = self.data[column]
        present = sorted(values.dropna().astype(str).unique())
        if wanted is None:
            if values.isna().any():
                return self.with_data(self.data[values.isna()])  # rows without a task/eval set
            if len(present) == 1:
                return self
            if preferred in present:
                wanted = preferred
            else:
                raise InputError(
                    f"{self.source}: column '{column}' has several values {present}; choose one"
                )
            note = f"{column} '{wanted}' chosen of {present}"
        else:
            note = None
        if wanted not in present:
            raise InputError(f"{self.source}: {column} {wanted!r} not found; present: {present}")
        return self.with_data(self.data[values.astype(str) == wanted], note)

    # -- output -------------------------------------------------------------------------------
    def write(self, path: str | os.PathLike) -> Path:
        """Write the table (format from the suffix) atomically."""
        path = Path(path)
        fmt = _format_of(path)
        with atomic.atomic_path(path) as tmp:
            if fmt == "csv":
                self.data.to_csv(tmp, index=False)
            elif fmt == "parquet":
                _require_pyarrow(path)
                self.data.to_parquet(tmp, index=False)
            else:
                self.data.to_json(tmp, orient="records", lines=True)
        return path


Runs = Union["RunTable", pd.DataFrame, str, os.PathLike]
"""What every fitting function accepts as its runs: a RunTable, a DataFrame or a path to a table."""


def as_table(runs: Runs) -> RunTable:
    """Accept a RunTable, a DataFrame or a path to a run table."""
    if isinstance(runs, RunTable):
        return runs
    if isinstance(runs, pd.DataFrame):
        return RunTable.from_frame(runs)
    return read_table(runs)


def read_table(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> RunTable:
    """Read and validate a run table from CSV, Parquet or JSON-lines.

    Args:
        path: the file; its suffix picks the format (.csv, .parquet/.pq, .jsonl/.ndjson/.json).
        columns: optional renames {schema column: column in the file}, e.g. ``{"N": "params"}``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(
            f"{path}: is a directory, expected a run table file (.csv, .parquet, .jsonl)"
        )
    fmt = _format_of(path)
    if fmt == "parquet":
        _require_pyarrow(path)
    try:
        frame = read_frame(path, fmt)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty, expected a header and rows") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot be read as {fmt}: not UTF-8 text") from None
    except (ValueError, OSError, pd.errors.ParserError, RecursionError) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise InputError(f"{path}: cannot be read as {fmt}: {first}") from None
    return _validate(frame, str(path), columns or {})


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown table format '{path.suffix}', expected .csv, .parquet or .jsonl"
        )
    return fmt


def _require_pyarrow(path: Path) -> None:
    try:
        import pyarrow  # noqa: F401, PLC0415 (optional dependency)
    except ImportError:
        raise InputError(
            f"{path}: Parquet needs pyarrow (pip install 'scalelab[parquet]')"
        ) from None


def _validate(frame: pd.DataFrame, source: str, columns: Mapping[str, str]) -> RunTable:
    data, notes, derived = validate(frame, source, columns)
    return RunTable(data, source, notes, derived)
