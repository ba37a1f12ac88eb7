"""What a report reads besides the fit: the runs (a file or a ladder directory), the data manifest,
backtest predictions and the catalog of published models.

Backtest rows and catalog models may be given as plain data (the report's ``backtest=`` and
``catalog=``); ``"auto"`` computes them with :func:`scalelab.laws.backtest.backtest` and
:data:`scalelab.plan.catalog.MODELS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Optional

from scalelab.data.manifest import read_manifest
from scalelab.errors import InputError, ScalelabError
from scalelab.ladder.registry import DB_NAME, Registry
from scalelab.laws import backtest as bt
from scalelab.laws import select
from scalelab.laws.options import FitOptions
from scalelab.plan import catalog as cat
from scalelab.runs.table import RunTable, read_table

TABLE_SUFFIXES = (".csv", ".parquet", ".jsonl")


# -- runs and manifest -----------------------------------------------------------------------------
def load_input(path: str | Path) -> tuple[RunTable, Optional[dict], str]:
    """A run table, or a ladder directory: (RunTable, manifest or None, description).

    A directory is read through its ladder registry (``ladder.db``), otherwise from a
    ``runs.csv``/``runs.parquet``/``runs.jsonl`` exported into it. Its data manifest is
    ``manifest.json`` or ``data/manifest.json`` in the directory, or the ``data_dir`` the runs name.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such run table or ladder directory")
    if p.is_file():
        table = read_table(p)
        return table, manifest_for(table), f"run table {p}"
    if (p / DB_NAME).is_file():
        with Registry.open(p) as reg:
            table = reg.table()
    else:
        found = [f for f in (p / f"runs{s}" for s in TABLE_SUFFIXES) if f.is_file()]
        if not found:
            raise InputError(
                f"{p}: a directory but not a ladder (no {DB_NAME}, and no runs.csv/"
                "runs.parquet/runs.jsonl in it)"
            )
        table = read_table(found[0])
    return table, manifest_for(table, p), f"ladder {p}"


def manifest_for(table: Optional[RunTable], directory: Optional[Path] = None) -> Optional[dict]:
    """The data manifest of the runs: ``manifest.json`` in ``directory`` or ``directory/data``, or
    in the one ``data_dir`` the table's rows name; None when there is none."""
    candidates = []
    if directory is not None:
        candidates += [Path(directory), Path(directory) / "data"]
    if table is not None and table.has("data_dir"):
        dirs = table.data["data_dir"].dropna().astype(str).unique()
        if len(dirs) == 1:
            candidates.append(Path(dirs[0]))
    for c in candidates:
        if (c / "manifest.json").is_file():
            try:
                return read_manifest(c)
            except InputError:
                continue
    return None


# -- backtest --------------------------------------------------------------------------------------
def _plain(obj: Any) -> Any:
    if isinstance(obj, bt.Backtest):
        return obj.to_dict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return obj


def backtest_rows(result: Any) -> list[dict]:
    """Rows ``{label, predicted, actual, lo, hi, rel_error, inside, compute_ratio}``.

    ``result`` is a :class:`scalelab.laws.backtest.Backtest` (or the same shape: ``folds``, each
    with ``predictions``), a list of rows, or ``{"rows": [...]}``. A row holds ``predicted`` (or
    ``pred``), ``actual`` (or ``loss``, the observed loss), optionally ``interval`` or
    ``lo``/``hi``,
    ``run_id`` (or ``label``) and ``compute_ratio``.
    """
    d = _plain(result)
    rows = d
    kind = (d.get("options") or {}).get("interval") if isinstance(d, Mapping) else None
    if isinstance(d, Mapping):
        rows = d.get("rows")
        if rows is None and isinstance(d.get("folds"), list):
            rows = [
                dict(p, fold=f.get("held_out"))
                for f in map(_plain, d["folds"])
                for p in f.get("predictions", [])
            ]
    if not isinstance(rows, list):
        raise InputError(
            "backtest result: expected a list of rows with predicted and actual losses"
        )
    out = []
    for r in map(_plain, rows):
        pred, act = _first(r, ("predicted", "pred")), _first(r, ("actual", "loss"))
        if pred is None or act is None:
            raise InputError("backtest row: no predicted/actual loss in " + ", ".join(map(str, r)))
        lo, hi = r.get("interval") or (r.get("lo"), r.get("hi"))
        out.append(
            {
                "label": str(_first(r, ("run_id", "label")) or ""),
                "predicted": float(pred),
                "actual": float(act),
                "lo": None if lo is None else float(lo),
                "hi": None if hi is None else float(hi),
                "rel_error": float(pred) / float(act) - 1.0,
                "inside": None if lo is None or hi is None else bool(lo <= act <= hi),
                "compute_ratio": r.get("compute_ratio"),
                "interval_kind": r.get("interval_kind", kind),  # what the interval holds
            }
        )
    return out


def _first(d: Mapping, keys: Sequence[str]) -> Any:
    return next((d[k] for k in keys if d.get(k) is not None), None)


def auto_backtest(
    table: RunTable, form: str, *, options: Optional[FitOptions] = None, **overrides
) -> tuple[Optional[list[dict]], str]:
    """Rows of :func:`scalelab.laws.backtest.backtest` (compute split: fit on the runs with at most
    a tenth of the largest run's compute, predict the rest) and ``"ok"``; or None and why not.
    ``options`` (or keyword arguments: ``bootstrap``, ``params``, ``flops``) are the folds' fit."""
    rows, why, _ = auto_schedule_backtest(
        table, form, options=options, schedules=False, **overrides
    )
    return rows, why


def auto_schedule_backtest(
    table: RunTable,
    form: str,
    *,
    options: Optional[FitOptions] = None,
    schedules: bool = True,
    **overrides,
) -> tuple[Optional[list[dict]], str, Optional[dict]]:
    """:func:`auto_backtest`, and on a table with learning-rate schedules the schedule-aware
    law on the same held-out runs (:mod:`scalelab.laws.schedule_backtest`; None without)."""
    from scalelab.laws import schedule_backtest  # noqa: PLC0415 - paid only by a report

    opts = FitOptions.make(options, **overrides)
    try:
        if schedules:
            result, record = schedule_backtest.backtest(table, form, options=opts)
        else:
            result, record = select.backtest(table, form, options=opts), None
    except ScalelabError as exc:
        return None, "backtest failed: " + "; ".join(exc.problems), None
    return backtest_rows(result), "ok", record


# -- catalog ---------------------------------------------------------------------------------------
def catalog_models(catalog: Sequence[Any]) -> list[dict]:
    """Models ``{name, N, D}`` from plain data: rows (dicts or dataclasses) with a ``name``, the
    parameters that cost compute (``N``; or ``active_params``, else ``params``) and the training
    tokens (``D`` or ``tokens``)."""
    out = []
    for r in map(_plain, catalog or []):
        name = r.get("name")
        N = _first(r, ("N", "active_params", "params"))
        D = _first(r, ("D", "tokens"))
        if name is not None and N and D:
            out.append({"name": str(name), "N": float(N), "D": float(D)})
    return out


def auto_catalog() -> tuple[Optional[list[dict]], str]:
    """The catalog of published models (:data:`scalelab.plan.catalog.MODELS`) and ``"ok"``."""
    models = [
        {"name": m.name, "N": float(m.compute_params), "D": float(m.tokens)} for m in cat.MODELS
    ]
    return (models, "ok") if models else (None, "the model catalog is empty")
