"""Task tables: downstream-task rows of the run table, and readers of the formats users bring.

A task row is one (run, evaluation point, task, bucket): the run-table columns (``run_id``, ``N``,
``D``, ``C``, ``step``, ``eval_set``; the general held-out ``loss`` may be absent) plus ``task``,
``bucket`` (``all`` or absent: the whole task), ``accuracy`` in [0, 1], ``chance`` in [0, 1),
``task_loss`` (> 0) with ``task_loss_unit`` (``nats/token``, ``nats/char`` or ``bits/byte``), and
optionally ``task_nats_per_char``, ``task_bits_per_byte``, ``n_examples``. Validation is the run
table's (:mod:`scalelab.runs.validate`).

Two readers turn other layouts into such rows:

* :func:`read_wide`: one row per (run, evaluation point) with one column per task and metric, as
  in OLMo's ladder CSVs (``hellaswag_acc``, ``hellaswag_loss``, ...), or any names mapped with
  ``task_columns={"hellaswag": ("HS acc", "HS loss")}``;
* :func:`read_lm_eval`: result JSON files of EleutherAI's lm-evaluation-harness
  (``{"results": {task: {"acc,none": ..., "acc_norm,none": ...}}}``, old ``acc`` keys too),
  joined to N and D through a mapping file (CSV or TOML: ``file, run_id, N, D[, step]``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.read import numbers
from scalelab.runs.table import RunTable, read_frame
from scalelab.runs.validate import TASK_LOSS_UNITS
from scalelab.units import cut

KNOWN_CHANCE = {
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "hellaswag": 0.25,
    "openbookqa": 0.25,
    "sciq": 0.25,
    "mmlu": 0.25,
    "csqa": 0.2,
    "commonsense_qa": 0.2,
    "piqa": 0.5,
    "winogrande": 0.5,
    "boolq": 0.5,
    "copa": 0.5,
    "socialiqa": 1 / 3,
    "siqa": 1 / 3,
    "lambada": 0.0,
    "lambada_openai": 0.0,
}
"""Accuracy of guessing on common benchmarks, used when a table gives no ``chance``."""
ACC_SUFFIXES = ("acc", "accuracy")
LOSS_SUFFIXES = ("task_loss", "loss", "bpb")
META_COLUMNS = ("run_id", "N", "N_total", "N_active", "D", "C", "step", "eval_set", "loss")


def chance_of(task: str, given: Optional[Mapping[str, float]] = None) -> Optional[float]:
    """The chance accuracy of a task: ``given`` first, then :data:`KNOWN_CHANCE` (by name, or by
    the name before a ``:`` or ``_`` suffix such as ``mmlu_abstract_algebra``)."""
    if given and task in given:
        return float(given[task])
    if task in KNOWN_CHANCE:
        return KNOWN_CHANCE[task]
    for known, value in KNOWN_CHANCE.items():
        if task.startswith(known + "_") or task.startswith(known + ":"):
            return value
    return None


def fill_chance(frame: pd.DataFrame, chance: Optional[Mapping[str, float]] = None) -> pd.DataFrame:
    """Fill a missing ``chance`` from ``chance`` ({task: value}) or :data:`KNOWN_CHANCE`."""
    frame = frame.copy()
    if "chance" not in frame.columns:
        frame["chance"] = math.nan
    known = (
        frame["task"]
        .map(lambda t: math.nan if pd.isna(t) else chance_of(str(t), chance), na_action=None)
        .astype(float)
    )
    missing = frame["chance"].isna() | frame["chance"].astype(str).str.strip().eq("")
    frame["chance"] = frame["chance"].astype(object).where(~missing, known)
    return frame


def task_table(
    frame: pd.DataFrame,
    source: str,
    unit: Optional[str] = None,
    chance: Optional[Mapping[str, float]] = None,
) -> RunTable:
    """Validate long task rows, filling ``task_loss_unit`` (from ``unit``) and ``chance``."""
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
    return RunTable.from_frame(fill_chance(frame, chance), source)


def read_tasks(
    path: str | os.PathLike,
    *,
    wide: bool = False,
    task_columns: Optional[Mapping[str, tuple]] = None,
    lm_eval_map: Optional[str | os.PathLike] = None,
    unit: Optional[str] = None,
    chance: Optional[Mapping[str, float]] = None,
    metric: str = "acc",
) -> RunTable:
    """Read a task table: long (the default), ``wide`` (one column per task), or lm-eval result
    files (``lm_eval_map``: ``path`` is then a results JSON file or a folder of them)."""
    if lm_eval_map is not None:
        return read_lm_eval(path, lm_eval_map, metric=metric, chance=chance)
    if wide or task_columns:
        return read_wide(path, task_columns=task_columns, unit=unit, chance=chance)
    path = Path(path)
    return task_table(_read_raw(path), str(path), unit, chance)


# -- wide tables -----------------------------------------------------------------------------------


def wide_columns(columns, task_columns: Optional[Mapping[str, tuple]] = None) -> dict:
    """{task: {"accuracy": column, "task_loss": column, "chance": column}} found in a wide table:
    ``task_columns`` as given, else every ``<task>_acc``/``_accuracy`` column with its
    ``<task>_loss``/``_task_loss``/``_bpb`` and ``<task>_chance`` where present."""
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
    for column in columns:
        m = re.fullmatch(r"(.+?)_(" + "|".join(ACC_SUFFIXES) + ")", column)
        if not m or column in META_COLUMNS:
            continue
        task = m.group(1)
        entry = out.setdefault(task, {"accuracy": column})
        for suffix in LOSS_SUFFIXES:
            if f"{task}_{suffix}" in columns:
                entry["task_loss"] = f"{task}_{suffix}"
                break
        if f"{task}_chance" in columns:
            entry["chance"] = f"{task}_chance"
    return out


def read_wide(
    path: str | os.PathLike,
    *,
    task_columns: Optional[Mapping[str, tuple]] = None,
    unit: Optional[str] = None,
    chance: Optional[Mapping[str, float]] = None,
) -> RunTable:
    """A wide table (one row per run and evaluation point, one column per task and metric)
    reshaped to task rows. ``unit`` names the task losses' unit (``bits/byte`` when the columns
    end in ``_bpb``, else ``nats/token`` unless given)."""
    path = Path(path)
    frame = _read_raw(path)
    found = wide_columns(frame.columns, task_columns)
    if not found:
        raise InputError(
            f"{path}: no task columns found; expected columns named <task>_acc (with "
            "<task>_loss), or give task columns (--task-columns TASK=ACC_COLUMN[:LOSS_COLUMN])"
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
            part["task_loss_unit"] = unit or (
                "bits/byte" if entry["task_loss"].endswith("_bpb") else "nats/token"
            )
        parts.append(part)
    return task_table(pd.concat(parts, ignore_index=True), str(path), None, chance)


def _is_task_column(column: str, found: Mapping) -> bool:
    return any(str(column).startswith(task + "_") for task in found)


def _read_raw(path: Path) -> pd.DataFrame:
    from scalelab.runs.table import _format_of  # noqa: PLC0415 - the one suffix table

    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return read_frame(path, _format_of(path))
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot be read: {str(exc).splitlines()[0][:200]}") from None


# -- lm-evaluation-harness -------------------------------------------------------------------------

LM_EVAL_LOSSES = (("bits_per_byte", "bits/byte"), ("byte_perplexity", "bits/byte"))
"""(lm-eval metric, unit) giving a task loss; ``perplexity`` becomes ln(ppl) nats/token."""


def read_mapping(path: str | os.PathLike) -> pd.DataFrame:
    """The mapping from result files to runs: CSV (``file,run_id,N,D[,step]``) or TOML
    (``[[file]]`` tables with the same keys)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file (the lm-eval mapping)")
    if path.suffix.lower() == ".toml":
        from scalelab.tomlfile import read  # noqa: PLC0415

        doc = read(path, "lm-eval mapping")
        rows = doc.get("file")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError(
                f"{path}: expected [[file]] tables with keys file, run_id, N, D (and step)"
            )
        frame = pd.DataFrame(rows)
    else:
        frame = _read_raw(path)
    missing = [c for c in ("file", "N") if c not in frame.columns]
    if "D" not in frame.columns and "C" not in frame.columns:
        missing.append("D (or C)")
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; the lm-eval mapping needs "
            "file, run_id, N and D (and optionally step)"
        )
    frame["file"] = frame["file"].astype(str)
    if "run_id" not in frame.columns:
        frame["run_id"] = frame["file"]
    twice = frame["file"][frame["file"].duplicated()].unique()
    if len(twice):
        raise InputError(f"{path}: file(s) {', '.join(map(cut, twice[:5]))} mapped more than once")
    return frame


def lm_eval_metrics(doc: object, source: str, metric: str = "acc") -> dict[str, dict]:
    """{task: {"accuracy": ..., "task_loss": ..., "task_loss_unit": ...}} of one results file."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise InputError(
            f"{source}: no 'results' object; expected an lm-evaluation-harness results file "
            '({"results": {task: {"acc,none": ...}}})'
        )
    out = {}
    for task, metrics in doc["results"].items():
        if not isinstance(metrics, dict):
            raise InputError(f"{source}: results[{cut(task)}]: expected an object of metrics")
        flat = {}
        for key, value in metrics.items():
            name, _, filt = str(key).partition(",")
            if filt not in ("", "none") and name in flat:
                continue
            flat[name] = value
        row: dict = {}
        if metric in flat:
            row["accuracy"] = _metric(flat[metric], source, task, metric)
        for name, unit in LM_EVAL_LOSSES:
            if name in flat:
                value = _metric(flat[name], source, task, name)
                row["task_loss"] = math.log2(value) if name == "byte_perplexity" else value
                row["task_loss_unit"] = unit
                break
        else:
            if "perplexity" in flat:
                row["task_loss"] = math.log(_metric(flat["perplexity"], source, task, "ppl"))
                row["task_loss_unit"] = "nats/token"
        if row:
            out[str(task)] = row
    if not out:
        raise InputError(
            f"{source}: no task has the metric {metric!r} or a loss (bits_per_byte, perplexity)"
        )
    return out


def _metric(value: object, source: str, task: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            f"{source}: results[{cut(task)}][{name}]: expected a number, got {value!r}"
        )
    if not math.isfinite(value):
        raise InputError(
            f"{source}: results[{cut(task)}][{name}]: expected a finite number, got {value!r}"
        )
    return float(value)


def read_lm_eval(
    results: str | os.PathLike,
    mapping: str | os.PathLike,
    *,
    metric: str = "acc",
    chance: Optional[Mapping[str, float]] = None,
) -> RunTable:
    """Task rows from lm-evaluation-harness result files joined to runs through ``mapping``.

    ``results`` is one JSON file or a folder (every ``*.json`` under it); each file must be named
    in the mapping (by its path relative to the folder, or its file name). ``metric`` picks the
    accuracy (``acc``, ``acc_norm``, ``exact_match``, ...).
    """
    results = Path(results)
    table = read_mapping(mapping)
    if not results.exists():
        raise InputError(f"{results}: no such file or folder (lm-eval results)")
    files = sorted(results.rglob("*.json")) if results.is_dir() else [results]
    if not files:
        raise InputError(f"{results}: no .json result files")
    by_name = {f: i for i, f in enumerate(table["file"])}
    rows = []
    problems = []
    for f in files:
        rel = f.relative_to(results).as_posix() if results.is_dir() else f.name
        key = next((k for k in (rel, f.name, str(f)) if k in by_name), None)
        if key is None:
            problems.append(f"{f}: not in the mapping {mapping} (add a row with file={rel})")
            continue
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{f}: not valid JSON ({str(exc)[:120]})")
            continue
        try:
            metrics = lm_eval_metrics(doc, str(f), metric)
        except InputError as exc:
            problems += exc.lines
            continue
        meta = table.iloc[by_name[key]].drop(labels=["file"]).to_dict()
        for task, values in metrics.items():
            rows.append({**meta, "task": task, **values})
    if problems:
        raise InputError(problems)
    frame = pd.DataFrame(rows)
    for column in ("N", "D", "C", "step"):
        if column in frame.columns:
            values, bad, _ = numbers(frame[column])
            if not bad.any():
                frame[column] = values
    return task_table(frame, f"{mapping}", None, chance)
