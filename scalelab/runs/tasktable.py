"""Task tables: downstream-task rows of the run table, and readers of the formats users bring.

A task row is one (run, evaluation point, task, bucket): the run-table columns (``run_id``, ``N``,
``D``, ``C``, ``step``, ``eval_set``; the general held-out ``loss`` may be absent) plus ``task``,
``bucket`` (``all`` or absent: the whole task), ``accuracy`` in [0, 1], ``chance`` in [0, 1),
``task_loss`` (> 0) with ``task_loss_unit`` (``nats/token``, ``nats/char``, ``nats/word`` or
``bits/byte``), and optionally ``task_nats_per_char``, ``task_bits_per_byte``, ``n_examples``.
Validation is the run table's (:mod:`scalelab.runs.validate`). A missing ``chance`` is filled
from the built-in table of well-known tasks (:mod:`scalelab.runs.chance`) or the user's values.

Two readers turn other layouts into such rows:

* :func:`read_wide`: one row per (run, evaluation point) with one column per task and metric,
  named ``<task>_acc`` with ``<task>_loss`` or ``<task>_bpb``, or ``acc_<task>`` with
  ``bpb_<task>`` (and ``ce_<task>``), as in the OLMo ladder's ``rungs.csv``; or any names mapped
  with ``task_columns={"hellaswag": ("HS acc", "HS loss")}``;
* :func:`read_lm_eval`: result JSON files of EleutherAI's lm-evaluation-harness, old and new key
  spellings, joined to N and D through a mapping file (:mod:`scalelab.runs.lmeval`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.chance import KNOWN_CHANCE, chance_of
from scalelab.runs.conditions import Conditions
from scalelab.runs.lmeval import lm_eval_rows
from scalelab.runs.lmeval import read_raw as _read_raw
from scalelab.runs.table import RunTable
from scalelab.runs.validate import TASK_LOSS_UNITS
from scalelab.units import cut

__all__ = [
    "KNOWN_CHANCE",
    "chance_of",
    "fill_chance",
    "fittable",
    "read_lm_eval",
    "read_tasks",
    "read_wide",
    "task_table",
    "wide_columns",
]

ACC_SUFFIXES = ("acc", "accuracy")
LOSS_SUFFIXES = ("task_loss", "loss", "bpb")
PREFIXES = {"acc": "accuracy", "bpb": "task_loss", "ce": "task_ce"}
"""Prefixed wide columns (the OLMo ladder's ``acc_<task>``, ``bpb_<task>``, ``ce_<task>``): the
task row's column each becomes. ``ce`` (the cross-entropy over the answer choices, OLMo's "task
cross-entropy") is kept as ``task_ce``, not as the task loss."""
META_COLUMNS = ("run_id", "N", "N_total", "N_active", "D", "C", "step", "eval_set", "loss")


def fill_chance(frame: pd.DataFrame, chance: Optional[Mapping[str, float]] = None) -> pd.DataFrame:
    """Fill a missing ``chance`` from ``chance`` ({task or glob: value}) or the built-in table
    (:data:`scalelab.runs.chance.CHANCE`); a value given for a task overrides the table's."""
    frame = frame.copy()
    if "chance" not in frame.columns:
        frame["chance"] = math.nan
    names = frame["task"].astype(object).where(frame["task"].notna(), None)
    lookup = {t: chance_of(str(t), chance) for t in names.dropna().unique()}
    known = names.map(lambda t: math.nan if t is None or lookup[t] is None else lookup[t])
    known = known.astype(float)
    missing = frame["chance"].isna() | frame["chance"].astype(str).str.strip().eq("")
    if chance:  # the user's value wins over a file's column
        given = names.map(
            lambda t: t is not None and chance_of(str(t), chance, builtin=False) is not None
        )
        missing = missing | given.astype(bool)
    frame["chance"] = frame["chance"].astype(object).where(~missing, known)
    return frame


def task_table(
    frame: pd.DataFrame,
    source: str,
    unit: Optional[str] = None,
    chance: Optional[Mapping[str, float]] = None,
    columns: Optional[Mapping[str, str]] = None,
) -> RunTable:
    """Validate long task rows, filling ``task_loss_unit`` (from ``unit``) and ``chance``;
    ``columns`` maps schema names to the frame's columns (``{"loss": "loss_c4"}``)."""
    frame = frame.copy()
    if "task" not in frame.columns:
        raise InputError(
            f"{source}: no 'task' column; a task table has one row per (run, evaluation point, "
            "task) (use wide=True for one column per task)"
        )
    if unit is not None:
        if unit not in TASK_LOSS_UNITS:
            raise InputError(
                f"task loss unit: expected one of {', '.join(TASK_LOSS_UNITS)}, got {cut(unit)}"
            )
        if "task_loss_unit" in frame.columns:
            frame["task_loss_unit"] = frame["task_loss_unit"].fillna(unit)
        else:
            frame["task_loss_unit"] = unit
    return RunTable.from_frame(fill_chance(frame, chance), source, columns)


def read_tasks(
    path: str | os.PathLike,
    *,
    wide: bool = False,
    task_columns: Optional[Mapping[str, tuple]] = None,
    lm_eval_map: Optional[str | os.PathLike] = None,
    unit: Optional[str] = None,
    chance: Optional[Mapping[str, float]] = None,
    metric: str = "acc",
    columns: Optional[Mapping[str, str]] = None,
    where: Optional[Conditions] = None,
) -> RunTable:
    """Read a task table: long (the default), ``wide`` (one column per task), or lm-eval result
    files (``lm_eval_map``: ``path`` is then a results JSON file, a folder of them or a glob).
    ``columns`` maps schema names to the file's columns ({"loss": "loss_c4"}); ``where`` keeps
    the rows meeting the conditions (``["N<=3e9"]``, or {column: value} equalities; the mapping's
    columns too; :meth:`RunTable.filter`)."""
    if lm_eval_map is not None:
        table = read_lm_eval(path, lm_eval_map, metric=metric, chance=chance, columns=columns)
    elif wide or task_columns:
        table = read_wide(
            path, task_columns=task_columns, unit=unit, chance=chance, columns=columns
        )
    else:
        path = Path(path)
        table = task_table(_read_raw(path), str(path), unit, chance, columns)
    return table.filter(where) if where else table


def fittable(table: RunTable, through: str = "task_loss") -> RunTable:
    """The rows of tasks that ``--task all`` can fit: tasks with no chance accuracy (not in the
    built-in table and not given), with no accuracy, or (``through="task_loss"``) with no task
    loss are dropped, with one note per reason naming them. Rows without a task are kept."""
    data = table.data
    if "task" not in data.columns:
        return table
    task = data["task"]
    named = task.notna()
    drop: dict[str, list[str]] = {}
    checks = [("chance", "no chance accuracy (give --chance TASK=P)"), ("accuracy", "no accuracy")]
    if through == "task_loss":
        checks.append(("task_loss", f"no task loss (try {_loss_hint(data)})"))
    elif through.startswith("task_loss:"):  # another task's loss: that task must have one
        proxy = through.split(":", 1)[1]
        has = "task_loss" in data.columns and data.loc[task == proxy, "task_loss"].notna().any()
        if not has:
            raise InputError(
                f"{table.source}: --through {through}: task {proxy!r} has no task loss"
                + ("" if (task == proxy).any() else " (no such task)")
            )
    gone = pd.Series(False, index=data.index)
    for column, why in checks:
        if column in data.columns:
            has = data[column].notna().groupby(task.where(named, "")).any()
        else:
            has = pd.Series(False, index=task[named].unique())
        names = sorted(str(t) for t, ok in has.items() if t != "" and not ok)
        names = [t for t in names if not gone[task == t].any()]
        if names:
            drop[why] = names
            gone |= task.isin(names)
    if not gone.any():
        return table
    notes = []
    for why, names in drop.items():
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        notes.append(f"--task all: {len(names)} task(s) skipped, {why}: {shown}")
    if not (named & ~gone).any():
        raise InputError(f"{table.source}: no task can be fitted: " + "; ".join(notes))
    kept = table.with_data(data[~gone])
    kept.notes.extend(notes)
    return kept


def _loss_hint(data: pd.DataFrame) -> str:
    """What to pass instead of ``--through task_loss``: the general loss if the table has one,
    else the loss of a task that has one (the Pythia files' LAMBADA), as the intermediate."""
    if "loss" in data.columns and data["loss"].notna().any():
        return "--through loss"
    if "task_loss" in data.columns:
        with_loss = data.loc[data["task_loss"].notna(), "task"].dropna().astype(str)
        if len(with_loss):
            return f"--through task_loss:{sorted(with_loss.unique())[0]}, another task's loss"
    return "--through loss"


# -- wide tables -----------------------------------------------------------------------------------


def wide_columns(columns, task_columns: Optional[Mapping[str, tuple]] = None) -> dict:
    """{task: {"accuracy": column, "task_loss": column, "chance": column}} found in a wide table:
    ``task_columns`` as given, else every ``<task>_acc``/``_accuracy`` column with its
    ``<task>_loss``/``_task_loss``/``_bpb`` and ``<task>_chance`` where present, and every
    ``acc_<task>`` column with its ``bpb_<task>`` (task loss, bits/byte) and ``ce_<task>``
    (kept as ``task_ce``)."""
    columns = [str(c) for c in columns]
    if task_columns:
        out = {}
        for task, names in task_columns.items():
            names = (names,) if isinstance(names, str) else tuple(names)
            out[task] = dict(zip(("accuracy", "task_loss"), names, strict=False))
            missing = [n for n in names if n not in columns]
            if missing:
                raise InputError(
                    f"task columns for {task!r}: column(s) {', '.join(map(cut, missing))} not "
                    f"found; columns are {', '.join(columns[:30])}"
                )
        return out
    out: dict[str, dict] = {}
    present = set(columns)
    for column in columns:
        if column in META_COLUMNS:
            continue
        m = re.fullmatch(r"(.+?)_(" + "|".join(ACC_SUFFIXES) + ")", column)
        if m:
            task = m.group(1)
            entry = out.setdefault(task, {"accuracy": column})
            for suffix in LOSS_SUFFIXES:
                if f"{task}_{suffix}" in present:
                    entry["task_loss"] = f"{task}_{suffix}"
                    break
            if f"{task}_chance" in present:
                entry["chance"] = f"{task}_chance"
            continue
        m = re.fullmatch(r"acc_(.+)", column)
        if m and m.group(1) not in out:
            task = m.group(1)
            out[task] = {
                target: f"{prefix}_{task}"
                for prefix, target in PREFIXES.items()
                if f"{prefix}_{task}" in present
            }
    return out


def read_wide(
    path: str | os.PathLike,
    *,
    task_columns: Optional[Mapping[str, tuple]] = None,
    unit: Optional[str] = None,
    chance: Optional[Mapping[str, float]] = None,
    columns: Optional[Mapping[str, str]] = None,
) -> RunTable:
    """A wide table (one row per run and evaluation point, one column per task and metric)
    reshaped to task rows. ``unit`` names the task losses' unit (``bits/byte`` when the columns
    are ``<task>_bpb`` or ``bpb_<task>``, else ``nats/token`` unless given)."""
    path = Path(path)
    frame = _read_raw(path)
    found = wide_columns(frame.columns, task_columns)
    if not found:
        raise InputError(
            f"{path}: no task columns found; expected columns named <task>_acc (with "
            "<task>_loss) or acc_<task> (with bpb_<task>), or give task columns "
            "(--task-columns TASK=ACC_COLUMN[:LOSS_COLUMN])"
        )
    used = {c for entry in found.values() for c in entry.values()}
    keep = [c for c in frame.columns if c not in used and not _is_task_column(c, found)]
    parts = []
    for task, entry in found.items():
        part = frame[keep].copy()
        part["task"] = task
        for target, column in entry.items():
            part[target] = frame[column].to_numpy()
        if "task_loss" in entry:
            bpb = entry["task_loss"].endswith("_bpb") or entry["task_loss"].startswith("bpb_")
            part["task_loss_unit"] = unit or ("bits/byte" if bpb else "nats/token")
        parts.append(part)
    return task_table(pd.concat(parts, ignore_index=True), str(path), None, chance, columns)


def _is_task_column(column: str, found: Mapping) -> bool:
    column = str(column)
    return any(
        column.startswith(task + "_") or any(column == f"{p}_{task}" for p in PREFIXES)
        for task in found
    )


def read_lm_eval(
    results: str | os.PathLike,
    mapping: str | os.PathLike,
    *,
    metric: str = "acc",
    chance: Optional[Mapping[str, float]] = None,
    columns: Optional[Mapping[str, str]] = None,
) -> RunTable:
    """Task rows from lm-evaluation-harness result files joined to runs through ``mapping``
    (:mod:`scalelab.runs.lmeval`).

    ``results`` is one JSON file, a folder (every ``*.json`` under it) or a glob; a file is mapped
    by its path relative to the folder, its file name, or a row's ``match`` glob. Files outside the
    mapping and checkpoints at step 0 are skipped with one note each. ``metric`` picks the accuracy
    (``acc``, ``acc_norm``, ``exact_match``, ...).
    """
    frame, notes = lm_eval_rows(results, mapping, metric)
    source = f"{results} (mapping {Path(mapping).name})"
    table = task_table(frame, source, None, chance, columns)
    table.notes[:0] = notes
    return table
