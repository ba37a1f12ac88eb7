"""Reading a run table's file into a DataFrame: CSV, Parquet, JSON-lines, strictly.

What the readers of pandas let pass silently is an error here, one line naming the file and the
line or column: a JSON-lines line that is not an object, a column name given twice (pandas keeps
the first in CSV, the last key in JSON-lines), nesting too deep to parse. Values are checked
later, column by column (:mod:`scalelab.runs.table`).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.units import cut

TEXT_COLUMNS = ("run_id", "eval_set", "task", "bucket", "task_loss_unit", "status")
MAX_LINE_PROBLEMS = 5


def read_frame(path: Path, fmt: str) -> pd.DataFrame:
    """The file's rows as they are (no validation of values), or an :class:`InputError`."""
    if fmt == "csv":
        _check_unique(path, _csv_header(path), "the header")
        return pd.read_csv(path, dtype={c: object for c in TEXT_COLUMNS})
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        try:
            for row in csv.reader(f):
                if any(cell.strip() for cell in row):
                    return [cell.strip() for cell in row]
        except csv.Error as exc:
            raise InputError(f"{path}: cannot be read as csv: the header: {exc}") from None
    return []


def _check_unique(path: Path, names: list, where: str) -> None:
    twice = [name for name, n in Counter(map(str, names)).items() if n > 1]
    if twice:
        raise InputError(
            f"{path}: {where}: column name(s) {', '.join(cut(t) for t in twice[:5])} given more "
            "than once; each column must have a unique name"
        )


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq  # noqa: PLC0415 (optional dependency, checked by the caller)

    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
        raise InputError(f"{path}: cannot be read as parquet: {_first_line(exc)}") from None
    _check_unique(path, names, "the schema")
    try:
        return pd.read_parquet(path)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        raise InputError(f"{path}: cannot be read as parquet: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's own error kinds (ArrowInvalid, ...)
        raise InputError(f"{path}: cannot be read as parquet: {_first_line(exc)}") from None


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    seen = Counter(k for k, _ in pairs)
    twice = [k for k, n in seen.items() if n > 1]
    if twice:
        raise _RepeatedKey(", ".join(cut(k) for k in twice[:5]))
    return dict(pairs)


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows: list[dict] = []
    problems: list[str] = []
    n_bad = 0
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            problem = None
            try:
                obj = json.loads(line, object_pairs_hook=_unique_keys)
            except _RepeatedKey as exc:
                problem = f"key(s) {exc} given more than once; each column must have a unique name"
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON ({exc.msg}, at character {exc.colno})"
            except RecursionError:
                problem = "JSON nested too deeply, expected one flat object per line"
            else:
                if not isinstance(obj, dict):
                    problem = (
                        f'expected a JSON object such as {{"N": 1e6, "D": 2e7, "loss": 3.1}}'
                        f" (one run per line), got {_json_kind(obj)} {cut(line.strip())}"
                    )
                else:
                    rows.append(obj)
            if problem:
                n_bad += 1
                if len(problems) < MAX_LINE_PROBLEMS:
                    problems.append(f"{path}: cannot be read as jsonl: line {number}: {problem}")
    if problems:
        if n_bad > len(problems):
            problems.append(f"{path}: ... and {n_bad - len(problems)} more bad line(s)")
        raise InputError(problems)
    if not rows:
        raise pd.errors.EmptyDataError("no rows")
    return pd.DataFrame(rows)


def _json_kind(obj: object) -> str:
    if obj is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}.get(
        type(obj), "a number"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return cut(text.splitlines()[0], 200)[1:-1] if text else type(exc).__name__


# -- values ----------------------------------------------------------------------------------------


def numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(values as floats, mask of cells that are present but not numbers, or a reason why the whole
    column cannot hold numbers: a timestamp, a boolean, ...). Missing cells are NaN, not bad."""
    dtype = raw.dtype
    n = len(raw)
    if (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or pd.api.types.is_complex_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        return np.full(n, np.nan), np.zeros(n, bool), f"holds {dtype} values, not numbers"
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        return values, np.zeros(n, bool), None
    values = np.full(n, np.nan)
    bad = np.zeros(n, bool)
    for i, cell in enumerate(raw.astype(object).to_numpy()):
        values[i], bad[i] = _cell(cell)
    return values, bad, None


def _cell(cell: object) -> tuple[float, bool]:
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return math.nan, False
    if isinstance(cell, (bool, np.bool_)):
        return math.nan, True
    if isinstance(cell, (int, float, np.integer, np.floating)):
        try:
            return float(cell), False
        except OverflowError:
            return math.inf, False  # an integer beyond float range: reported as not finite
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            return math.nan, False
        try:
            return float(text), False
        except ValueError:
            return math.nan, True
    return math.nan, True
