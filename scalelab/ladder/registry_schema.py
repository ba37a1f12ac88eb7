"""The registry database's format: its file name and schema version, the job statuses, the tables
(:data:`SCHEMA`), and how a value is stored (:func:`to_json`, :func:`eval_key`).

:mod:`scalelab.ladder.registry` reads and writes it and re-exports the public constants.
"""

from __future__ import annotations

import json
import math
from typing import Any

DB_NAME = "ladder.db"
SCHEMA_VERSION = 1
STATUSES = ("queued", "running", "done", "diverged", "failed")
FINAL = ("done", "diverged", "failed")
DEFAULT_LEASE_S = 120.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    config TEXT NOT NULL,
    N INTEGER, D INTEGER, C REAL, steps INTEGER, batch_tokens INTEGER, lr REAL, seed INTEGER,
    n_layer INTEGER, d_model INTEGER, n_head INTEGER, compute REAL, estimated_s REAL,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    claim TEXT, host TEXT, pid INTEGER, lease_until REAL, heartbeat REAL,
    step INTEGER, train_loss REAL, tokens_per_s REAL,
    queued_at REAL, started_at REAL, finished_at REAL, wall_s REAL,
    code_version TEXT, out_dir TEXT, error TEXT, summary TEXT
);
CREATE TABLE IF NOT EXISTS points (
    run_id TEXT PRIMARY KEY, job TEXT NOT NULL REFERENCES runs(run_id),
    N INTEGER, D INTEGER, C REAL, steps INTEGER, seed INTEGER, status TEXT NOT NULL DEFAULT 'queued'
);
CREATE TABLE IF NOT EXISTS evals (
    run_id TEXT NOT NULL, job TEXT NOT NULL, step INTEGER NOT NULL, eval_set TEXT NOT NULL,
    N INTEGER, D INTEGER, C REAL, loss REAL, status TEXT, row TEXT NOT NULL,
    PRIMARY KEY (run_id, step, eval_set)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, run_id TEXT, kind TEXT NOT NULL,
    claim TEXT, host TEXT, pid INTEGER, message TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, position);
"""


def to_json(obj: Any) -> str:
    """``obj`` as sorted JSON; a non-finite float is null, another non-JSON value a float or a
    string."""

    def default(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            return str(v)

    return json.dumps(obj, sort_keys=True, default=default)


def eval_key(row: dict) -> str:
    """A run-table row's evaluation key: its eval set, with ``|task|bucket`` for a task row."""
    key, task = str(row.get("eval_set") or "val"), row.get("task")
    return key if task is None or task != task else f"{key}|{task}|{row.get('bucket') or 'all'}"
