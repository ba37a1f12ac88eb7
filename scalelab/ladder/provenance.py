"""What a ladder's run table says about how each run was made, beside its losses: the optimiser and
its settings, the data set (name, hash, folder, training tokens and tokenizer, from the data
manifest when the runs read a prepared folder: each ``[[variants]]`` data mixture its own) and the
code version that trained it. The (Mis)Fitting checklist
(:mod:`scalelab.report.checklist`) reads these columns, so a ladder scalelab trained itself does
not report them as unknown.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Optional

from scalelab.data.manifest import read_manifest
from scalelab.errors import InputError

COLUMNS = (
    "optimizer",
    "weight_decay",
    "dataset",
    "data_hash",
    "data_dir",
    "data_tokens",
    "tokenizer",
)
"""Columns :func:`columns` may add (plus ``code_version``; and ``recipe``/``shape`` from the plan:
a ladder with ``[[variants]]`` or a shape-family grid)."""


def with_provenance(conn, rows: list[dict]) -> list[dict]:
    """``rows`` (run-table rows of a registry, keyed by ``run_id``: a job's own run or one of its
    branches) with :func:`columns` of the job that made each; a row's own columns win."""
    made = {}
    labels = plan_labels(conn)
    for r in conn.execute(
        "SELECT p.run_id, j.config, j.code_version, p.job FROM points p JOIN runs j "
        "ON p.job = j.run_id"
    ):
        made[r[0]] = {**columns(json.loads(r[1]), r[2]), **labels.get(r[3], {})}
    return [{**made.get(str(row.get("run_id")), {}), **row} for row in rows]


def plan_labels(conn) -> dict[str, dict[str, str]]:
    """Each job's labels from the registry's plan: ``recipe`` (its ``[[variants]]`` name) and
    ``shape`` (``L{n_layer}-d{d_model}``, in a shape-family grid); {} when there are none."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'plan'").fetchone()
    try:
        jobs = json.loads(row[0]).get("jobs", []) if row else []
    except (ValueError, AttributeError):
        return {}
    out = {}
    for j in jobs if isinstance(jobs, list) else []:
        found = {k: j[k] for k in ("recipe", "shape") if isinstance(j, dict) and j.get(k)}
        if found:
            out[str(j["run_id"])] = found
    return out


def columns(config: dict, code_version: Optional[str]) -> dict[str, Any]:
    """Run-table columns from one job's run config (``config.json``) and the code version the
    registry recorded when the job finished; a value that is not recorded is left out."""
    t = config.get("train") or {}
    out: dict[str, Any] = {}
    if t:
        out["optimizer"] = (
            f"AdamW (beta1={t.get('beta1', 0.9):g}, beta2={t.get('beta2', 0.95):g}, "
            f"eps={t.get('eps', 1e-8):g}, weight_decay={t.get('weight_decay', 0.1):g} on "
            f"matrices and embeddings, grad_clip={t.get('grad_clip', 1.0):g})"
        )
        if t.get("weight_decay") is not None:
            out["weight_decay"] = t["weight_decay"]
    out.update(_data(config.get("data") or {}, (config.get("model") or {}).get("vocab_size")))
    if code_version:
        out["code_version"] = code_version
    return out


def _data(data: dict, vocab: Optional[int]) -> dict[str, Any]:
    train = data.get("train")
    if not train:
        return {}
    if train == "synthetic":
        return {
            "dataset": f"synthetic Markov source ({int(data.get('synthetic_tokens', 0)):,} "
            f"training tokens, seed 1; vocabulary {vocab or '?'})",
            "tokenizer": "none (synthetic token ids)",
        }
    return dict(_folder(str(train)))


@functools.lru_cache(maxsize=64)
def _folder(train: str) -> tuple[tuple[str, Any], ...]:
    """The data set of a token file or prepared folder: its manifest's name, hash and tokenizer."""
    path = Path(train)
    folder = path if path.is_dir() else path.parent
    try:
        m = read_manifest(folder)
    except InputError:
        return (("dataset", str(path)),)  # a bare token file: its path is all that is recorded
    tok = m.get("tokenizer") or {}
    out = {
        "dataset": m.get("name") or str(folder),
        "data_hash": m.get("data_hash"),
        "data_dir": str(folder),
        "data_tokens": ((m.get("splits") or {}).get("train") or {}).get("tokens"),
        "tokenizer": " ".join(
            str(x)
            for x in (tok.get("kind"), tok.get("vocab_size") and f"vocab {tok['vocab_size']}")
            if x
        )
        or None,
    }
    return tuple((k, v) for k, v in out.items() if v is not None)
