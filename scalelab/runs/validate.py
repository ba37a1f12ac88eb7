"""Validating a run table: column mapping, the schema's columns, values, derived columns.

Every problem is an :class:`~scalelab.errors.InputError` naming the source and the user's column
(``'params' (mapped to N)`` where ``--column N=params`` renamed it). The error carries one line per
bad cell (``problems``, capped) and a short ``summary``, one line per column and kind of problem
with a count of bad rows, which is what the CLI prints (:mod:`scalelab.runs.problems`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.problems import (  # MAX_PROBLEM_LINES re-exported (runs.table)
    MAX_PROBLEM_LINES,  # noqa: F401
    MAX_SUMMARY_LINES,
    SHOWN_ROWS,
    Group,
    cap,
    group,
    raise_problems,
)
from scalelab.runs.read import TEXT_COLUMNS, numbers
from scalelab.units import cut

NUMERIC_COLUMNS = (
    "N",
    "D",
    "C",
    "loss",
    "N_total",
    "N_active",
    "step",
    "tokens_per_step",
    "accuracy",
    "chance",
    "task_loss",
    "task_nats_per_char",
    "task_bits_per_byte",
    "n_examples",
    "n_layer",
    "d_model",
    "n_head",
    "n_ctx",
    "lr",
    "seed",
    "flops_per_token",
)
"""Schema columns that must hold numbers wherever they are present."""

POSITIVE_COLUMNS = (
    "N",
    "D",
    "C",
    "loss",
    "N_total",
    "N_active",
    "tokens_per_step",
    "flops_per_token",
    "task_loss",
    "task_nats_per_char",
    "task_bits_per_byte",
    "n_examples",
    "n_layer",
    "d_model",
    "n_head",
    "n_ctx",
)
"""Schema columns that must be strictly positive."""

SCHEMA_COLUMNS = NUMERIC_COLUMNS + TEXT_COLUMNS
"""Every column the schema names: the ones ``--column NAME=...`` may map to."""
PARAM_COLUMNS = ("N", "N_total", "N_active")
"""Parameter counts: non-embedding, total, active. A table needs at least one."""
REQUIRED_VALUES = ("N", "D", "C", "loss")
"""Columns where a missing value (NaN) is an error (``loss`` not on task rows with a task_loss)."""
FRACTION_COLUMNS = {"accuracy": (0.0, 1.0, True), "chance": (0.0, 1.0, False)}
"""Task columns holding fractions: {column: (low, high, high included)}."""
TASK_COLUMNS = (
    "chance",
    "task_loss",
    "task_nats_per_char",
    "task_bits_per_byte",
    "n_examples",
    "bucket",
    "task_loss_unit",
)
"""The task table's own columns (besides ``task`` and ``accuracy``)."""
TASK_LOSS_UNITS = ("nats/token", "nats/char", "nats/word", "bits/byte")
"""The units a task's loss may be given in (``task_loss_unit``). ``nats/word``: per word, as
lm-evaluation-harness's ``word_perplexity`` (ln of it) and LAMBADA's ``perplexity`` (ln of it:
the target word's negative log-likelihood, all its tokens together, per example)."""

PLAUSIBLE = {
    "N": (1.0, 1e16, "parameters"),
    "N_total": (1.0, 1e16, "parameters"),
    "N_active": (1.0, 1e16, "parameters"),
    "D": (1.0, 1e18, "tokens"),
    "C": (1.0, 1e38, "FLOPs"),
    "loss": (1e-6, 1e9, "nats/token"),
}
"""Ranges no language-model run leaves (a million times beyond the largest trained; the loss bound
leaves room for a blow-up logged before the run diverged): a value outside is a unit or a typo."""
C_RATIO_LIMIT = 1e4
"""Given N, D and C, C/(6 N D) outside [1/limit, limit] is no FLOP convention (attention, an
embedding, a mixture of experts move it by a small factor): a column in the wrong unit."""

SHOWN_NAMES = 30


def validate(
    frame: pd.DataFrame, source: str, columns: Mapping[str, str]
) -> tuple[pd.DataFrame, list[str], frozenset]:
    """(rows with schema columns as floats and run_id/C/D filled in, notes, derived columns)."""
    frame = map_columns(frame, source, columns)
    labels = {s: f"'{cut(f)[1:-1]}' (mapped to {s})" for s, f in columns.items()}

    def label(column: str) -> str:
        return labels.get(column, f"'{column}'")

    task_table = _check_columns(frame, source)
    frame = frame.reset_index(drop=True)
    whole, groups = _number_groups(frame, source, label, task_table)
    groups += _range_groups(frame, label)
    groups += _task_groups(frame, label)
    raise_problems(source, whole, groups)

    notes, derived, synthetic_ids = _fill_ids_and_counts(frame)
    raise_problems(source, [], _derived_groups(frame, derived, label))

    dups = _duplicates(frame, source, synthetic_ids=synthetic_ids)
    if dups:
        raise InputError(cap(dups), summary=cap(dups, MAX_SUMMARY_LINES))
    return frame, notes, frozenset(derived)


def _check_columns(frame: pd.DataFrame, source: str) -> bool:
    """Raise unless the table has rows and the columns a run table needs; return whether it is a
    task table (task and task_loss columns: its rows may lack the general loss)."""
    if len(frame) == 0:
        raise InputError(f"{source}: no rows, expected at least one run")
    task_table = "task" in frame.columns and "task_loss" in frame.columns
    missing = [] if "loss" in frame.columns or task_table else ["loss"]
    if not any(c in frame.columns for c in PARAM_COLUMNS):
        missing.insert(0, "N (or N_total, N_active)")
    if "D" not in frame.columns and "C" not in frame.columns:
        missing.append("D (or C)")
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; a run table needs "
            f"N, D or C, and loss (columns found: {names(frame.columns)})"
        )
    return task_table


def _number_groups(
    frame: pd.DataFrame, source: str, label, task_table: bool
) -> tuple[list[str], list[Group]]:
    """Convert the numeric columns to floats in place; the whole-column problems and the rows
    that are not numbers or lack a required value."""
    whole: list[str] = []
    groups: list[Group] = []
    for column in NUMERIC_COLUMNS:
        if column not in frame.columns:
            continue
        raw = frame[column]
        values, bad, reason = numbers(raw)
        if reason:
            whole.append(f"{source}: column {label(column)}: {reason}; expected numbers")
        groups.append(
            group(
                label(column),
                "are not numbers",
                np.flatnonzero(bad),
                lambda i, raw=raw: f"expected a number, got {cut(raw.iloc[i])}",
            )
        )
        if column in REQUIRED_VALUES and not reason:
            absent = np.isnan(values) & ~bad
            if column == "loss" and task_table:
                absent &= frame["task"].isna().to_numpy()  # task rows may lack the general loss
            groups.append(
                group(
                    label(column),
                    "have no value",
                    np.flatnonzero(absent),
                    lambda i: "missing value (NaN), expected a number",
                )
            )
        frame[column] = values
    return whole, groups


def _range_groups(frame: pd.DataFrame, label) -> list[Group]:
    """Rows of the numeric columns that are not positive, not finite, or implausible."""
    groups: list[Group] = []
    for column in NUMERIC_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy()
        if column in POSITIVE_COLUMNS:
            groups.append(
                group(
                    label(column),
                    "are not positive",
                    np.flatnonzero(np.isfinite(values) & (values <= 0)),
                    lambda i, v=values: f"expected a positive number, got {v[i]:g}",
                )
            )
        groups.append(
            group(
                label(column),
                "are not finite",
                np.flatnonzero(np.isinf(values)),
                lambda i, v=values: f"expected a finite number, got {v[i]:g}",
            )
        )
        if column in PLAUSIBLE:
            low, high, unit = PLAUSIBLE[column]
            groups.append(
                group(
                    label(column),
                    f"are outside {low:g} to {high:g} {unit}",
                    np.flatnonzero(
                        (values > 0) & np.isfinite(values) & ((values < low) | (values > high))
                    ),
                    lambda i, v=values, low=low, high=high, unit=unit: (
                        f"expected {low:g} to {high:g} {unit}, got {v[i]:g} (a unit or a typo?)"
                    ),
                )
            )
    return groups


def _fill_ids_and_counts(frame: pd.DataFrame) -> tuple[list[str], set, bool]:
    """Fill in run_id (a row is its own run), D = C/(6N) or C = 6ND where absent, in place;
    return the notes, the derived columns and whether the run ids are synthetic."""
    notes: list[str] = []
    derived = set()
    synthetic_ids = "run_id" not in frame.columns
    if synthetic_ids:
        frame.insert(0, "run_id", [f"row{i + 1}" for i in range(len(frame))])
        notes.append("no run_id column: each row is treated as its own run")
        derived.add("run_id")
    else:
        frame["run_id"] = frame["run_id"].astype(str)
    n_col = next(c for c in PARAM_COLUMNS if c in frame.columns)
    n_values = frame[n_col].to_numpy(dtype=float)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        if "D" not in frame.columns:
            frame["D"] = frame["C"].to_numpy(dtype=float) / (6.0 * n_values)
            notes.append(f"D derived as C/(6*{n_col}) (no D column)")
            derived.add("D")
        if "C" not in frame.columns:
            frame["C"] = 6.0 * n_values * frame["D"].to_numpy(dtype=float)
            notes.append(f"C filled as 6*{n_col}*D (no C column)")
            derived.add("C")
    return notes, derived, synthetic_ids


def _derived_groups(frame: pd.DataFrame, derived: set, label) -> list[Group]:
    """Rows whose derived D or C overflows or vanishes; with both given, rows whose C disagrees
    with 6ND by more than :data:`C_RATIO_LIMIT`."""
    groups: list[Group] = []
    n_col = next(c for c in PARAM_COLUMNS if c in frame.columns)
    n_values = frame[n_col].to_numpy(dtype=float)
    formula = f"C = 6*{n_col}*D" if "C" in derived else f"D = C/(6*{n_col})"
    for column in sorted(derived - {"run_id"}):
        values = frame[column].to_numpy(dtype=float)
        groups.append(
            group(
                f"'{column}' (derived, {formula})",
                "overflow or vanish",
                np.flatnonzero(~(np.isfinite(values) & (values > 0))),
                lambda i, v=values: (
                    f"expected a positive finite number, got {v[i]:g} "
                    "(the inputs are too large or too small)"
                ),
            )
        )
    if not derived & {"C", "D"}:
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            ratio = frame["C"].to_numpy(dtype=float) / (
                6.0 * n_values * frame["D"].to_numpy(dtype=float)
            )
        off = np.isfinite(ratio) & ((ratio > C_RATIO_LIMIT) | (ratio < 1 / C_RATIO_LIMIT))
        off |= ~np.isfinite(ratio) & np.isfinite(frame["C"].to_numpy(dtype=float))
        groups.append(
            group(
                label("C"),
                f"disagree with 6*{n_col}*D by more than {C_RATIO_LIMIT:g}x",
                np.flatnonzero(off),
                lambda i, r=ratio: (
                    f"C is {r[i]:.3g} x 6*{n_col}*D; expected within a factor "
                    f"{C_RATIO_LIMIT:g} (is a column in the wrong unit?)"
                ),
            )
        )
    return groups


def _task_groups(frame: pd.DataFrame, label) -> list[Group]:
    """The task columns' own checks: fractions in range, chance below the ceiling, known units,
    a task row with neither accuracy nor task_loss."""
    groups = []
    for column, (low, high, closed) in FRACTION_COLUMNS.items():
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy(dtype=float)
        outside = (values < low) | ((values > high) if closed else (values >= high))
        expected = f"[{low:g}, {high:g}]" if closed else f"[{low:g}, {high:g}) (below the ceiling)"
        groups.append(
            group(
                label(column),
                "are out of range",
                np.flatnonzero(np.isfinite(values) & outside),
                lambda i, v=values, e=expected: f"expected a fraction in {e}, got {v[i]:g}",
            )
        )
    if "task_loss_unit" in frame.columns:
        units = frame["task_loss_unit"]
        unknown = units.notna() & ~units.astype(str).str.strip().isin(TASK_LOSS_UNITS)
        groups.append(
            group(
                label("task_loss_unit"),
                "name an unknown unit",
                np.flatnonzero(unknown.to_numpy()),
                lambda i, u=units: (
                    f"expected one of {', '.join(TASK_LOSS_UNITS)}, got {cut(u.iloc[i])}"
                ),
            )
        )
    if "task" in frame.columns:
        measured = [c for c in ("accuracy", "task_loss") if c in frame.columns]
        on_task = frame["task"].notna().to_numpy()
        empty = on_task.copy()
        for column in measured:
            empty &= np.isnan(frame[column].to_numpy(dtype=float))
        groups.append(
            group(
                label("task"),
                "have neither accuracy nor task_loss",
                np.flatnonzero(empty),
                lambda i: "a task row needs an accuracy or a task_loss value",
            )
        )
    return groups


def map_columns(frame: pd.DataFrame, source: str, columns: Mapping[str, str]) -> pd.DataFrame:
    """Rename the file's columns to the schema's: ``{"N": "params"}``. A schema name already
    taken by a column of the file that is not itself mapped elsewhere is an error; one file column
    may feed several schema columns (``N=params``, ``N_total=params``)."""
    twice = pd.Index(frame.columns)[pd.Index(frame.columns).duplicated()].unique()
    if len(twice):
        raise InputError(
            f"{source}: column name(s) {names(twice)} given more than once; each column must have "
            "a unique name"
        )
    if not columns:
        return frame
    unknown = [k for k in columns if k not in SCHEMA_COLUMNS]
    if unknown:
        k = unknown[0]
        raise InputError(
            f"{source}: column mapping {cut(k)[1:-1]}={cut(columns[k])[1:-1]}: "
            f"'{cut(k)[1:-1]}' is not a run-table column; known columns: "
            + ", ".join(c for c in SCHEMA_COLUMNS if c not in TASK_COLUMNS)
            + " and the task columns (docs/tasks.md)"
        )
    for schema_name, file_name in columns.items():
        if file_name not in frame.columns:
            raise InputError(
                f"{source}: column '{cut(file_name)[1:-1]}' (given for {schema_name}) not found; "
                f"columns are {names(frame.columns)}"
            )
    sources = set(columns.values())
    for schema_name, file_name in columns.items():
        if schema_name in frame.columns and schema_name not in sources:
            raise InputError(
                f"{source}: column mapping {schema_name}={cut(file_name)[1:-1]}: the file already "
                f"has a column '{schema_name}'; map that one too (e.g. N_total=N) or remove it"
            )
    by_file: dict[str, list[str]] = {}
    for schema_name, file_name in columns.items():
        by_file.setdefault(file_name, []).append(schema_name)
    out = {}
    for name in frame.columns:
        for target in by_file.get(name, [name]):
            out[target] = frame[name]
    return pd.DataFrame(out, index=frame.index)


def names(columns) -> str:
    """The columns of a file, each name cut, at most SHOWN_NAMES of them."""
    shown = [cut(str(c))[1:-1] for c in list(columns)[:SHOWN_NAMES]]
    more = len(columns) - len(shown)
    return ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "")


def _duplicates(frame: pd.DataFrame, source: str, synthetic_ids: bool) -> list[str]:
    if synthetic_ids:
        key = [c for c in frame.columns if c != "run_id"]
        what = "identical rows"
    else:
        key = ["run_id", "D"] + [
            c for c in ("step", "eval_set", "task", "bucket") if c in frame.columns
        ]
        what = "duplicate (" + ", ".join(key) + ")"
    try:
        dup = frame.duplicated(subset=key, keep=False)
    except TypeError:  # unhashable cells (lists from JSON) in a column outside the schema
        dup = frame[key].astype(str).duplicated(keep=False)
    if not dup.any():
        return []
    problems = []
    groups = frame[dup].astype({k: str for k in key}).groupby(key, dropna=False, sort=False).groups
    for rows in groups.values():
        rows = [int(r) + 1 for r in rows]
        shown = ", ".join(map(str, rows[:SHOWN_ROWS])) + (", ..." if len(rows) > SHOWN_ROWS else "")
        problems.append(f"{source}: rows {shown}: {what}")
    return problems
