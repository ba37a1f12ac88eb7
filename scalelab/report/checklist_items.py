"""The checklist's items and where their values come from: the item record, the run-table columns
that may carry each item, and the code version (see :mod:`scalelab.report.checklist`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Optional

import numpy as np

from scalelab import __version__

UNKNOWN = "unknown"
KNOWN, ASSUMED, MISSING = "known", "assumed", "unknown"

# Columns a run table (a user's, or a ladder's export) may carry for each item, first match wins.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "data_name": ("dataset", "data_name", "data", "corpus"),
    "data_hash": ("data_hash",),
    "tokenizer": ("tokenizer", "tokenizer_name"),
    "vocab_size": ("vocab_size", "n_vocab"),
    "optimizer": ("optimizer", "optimiser", "optim"),
    "schedule": ("schedule", "lr_schedule", "scheduler"),
    "lr": ("lr", "peak_lr", "learning_rate"),
    "warmup": ("warmup", "warmup_steps"),
    "weight_decay": ("weight_decay", "wd"),
    "batch": ("tokens_per_step", "batch_tokens", "batch_size"),
    "seed": ("seed",),
    "code_version": ("code_version", "git_commit", "commit", "scalelab_version"),
    "loss_unit": ("loss_unit", "loss_units"),
    "dtype": ("dtype", "precision"),
}
SHAPE_COLUMNS = ("n_layer", "d_model", "n_head", "n_ctx", "d_ff")


def item(group: str, key: str, label: str, value: Any, status: str, source: str) -> dict:
    return {
        "group": group,
        "item": key,
        "label": label,
        "value": UNKNOWN if status == MISSING else value,
        "status": status,
        "source": source,
    }


def unknown_item(group: str, key: str, label: str, why: str) -> dict:
    return item(group, key, label, UNKNOWN, MISSING, why)


def recorded_column(frame, key: str) -> Optional[str]:
    if frame is None:
        return None
    for name in COLUMN_ALIASES.get(key, (key,)):
        if name in frame.columns and frame[name].notna().any():
            return name
    return None


def column_values(frame, column: str, limit: int = 6) -> str:
    values = frame[column].dropna()
    unique = list(dict.fromkeys(_plain(v) for v in values))
    shown = ", ".join(map(str, unique[:limit])) + (
        f", ... ({len(unique)} values)" if len(unique) > limit else ""
    )
    return shown


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    if isinstance(v, np.integer):
        return int(v)
    return v


def from_column(frame, group: str, key: str, label: str, what: str) -> dict:
    column = recorded_column(frame, key)
    if column is None:
        names = "/".join(COLUMN_ALIASES.get(key, (key,)))
        return unknown_item(
            group,
            key,
            label,
            f"not recorded: the run table has no {names} "
            f"column{'' if frame is not None else ' (no run table)'}",
        )
    return item(
        group,
        key,
        label,
        column_values(frame, column),
        KNOWN,
        f"run table column '{column}'" + (f" ({what})" if what else ""),
    )


def code_version() -> str:
    """scalelab's version, with the git commit of the checkout when it is one."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"scalelab {__version__}" + (
        f" (git {commit}{', modified' if dirty else ''})" if commit else ""
    )


def data_by_recipe(frame, manifest_hash: Optional[str]) -> Optional[dict[str, str]]:
    """When the runs' data is not the manifest's alone (``[[variants]]`` data mixtures, or a fit of
    a variant's runs only): the data items (``data_name``, ``data_size``, ``data_hash``) listed per
    recipe from the run table's ``dataset``, ``data_tokens`` and ``data_hash`` columns; else None."""
    if frame is None or "data_hash" not in frame.columns:
        return None
    hashes = frame["data_hash"].dropna().astype(str).unique()
    if len(hashes) == 0 or (len(hashes) == 1 and hashes[0] == (manifest_hash or hashes[0])):
        return None
    by = "recipe" if "recipe" in frame.columns else "data_hash"
    out: dict[str, list[str]] = {"data_name": [], "data_size": [], "data_hash": []}
    for label, rows in frame.groupby(frame[by].astype(str), sort=False):
        first = rows.iloc[0]
        tag = f"{label}: " if by == "recipe" else ""
        name, tokens, h = (first.get(c) for c in ("dataset", "data_tokens", "data_hash"))
        out["data_name"].append(tag + (str(name) if isinstance(name, str) else UNKNOWN))
        known = _number(tokens) and np.isfinite(float(tokens))
        out["data_size"].append(tag + (f"{int(float(tokens)):,}" if known else UNKNOWN))
        out["data_hash"].append(tag + (str(h) if isinstance(h, str) else UNKNOWN))
    return {k: "; ".join(v) for k, v in out.items()}


def _number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True
