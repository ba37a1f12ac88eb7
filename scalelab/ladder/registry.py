"""The run registry: one SQLite database per ladder (``<out_dir>/ladder.db``), every result kept.

* WAL journal (readers never block the writer: ``scalelab ladder status`` works while a ladder
  runs), ``synchronous=NORMAL``, a busy timeout, and one short transaction per change.
* ``runs``: one row per job (a training process; a WSD trunk and its cool-down branches are one job)
  with its engine config (JSON), status (``queued``, ``running``, ``done``, ``diverged``,
  ``failed``), attempts, the claim (worker id, host, pid, lease expiry, heartbeat), live progress
  (step, loss, tokens/s), timing, code version, error text and the engine's summary.
* ``points``: one row per (N, D) point a job yields (the trunk, and each branch), with its status.
* ``evals``: the run-table rows (DESIGN.md §3), one per (run, step, eval set[|task|bucket]).
* ``events``: an append-only log (claims, resumes, completions, releases) for audits and tests.

**Claims.** :meth:`Registry.claim` runs ``BEGIN IMMEDIATE`` (the write lock, taken before reading)
and picks the first job that is ``queued``, or ``running`` under a claim that is dead: its lease
expired (the worker stopped heart-beating), or it was claimed on this host by a process that no
longer exists (a SIGKILLed worker is reclaimed at once). Two processes can never hold the same
job: the second sees the first's claim inside its own locked transaction. Completion is
conditional on still holding the claim (its token), so a worker whose claim was taken over cannot
overwrite the new owner's results; a job reaches ``done`` once.

The tables and constants are in :mod:`scalelab.ladder.registry_schema` (re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from scalelab.errors import InputError
from scalelab.ladder.configure import same_config
from scalelab.ladder.host import code_version, hostname, pid_alive
from scalelab.ladder.provenance import with_provenance
from scalelab.ladder.registry_schema import (  # DB_NAME, DEFAULT_LEASE_S, FINAL, STATUSES: re-exported
    DB_NAME,  # noqa: F401
    DEFAULT_LEASE_S,
    FINAL,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    eval_key,
    to_json,
)
from scalelab.ladder.spec import load_spec
from scalelab.runs.table import RunTable


class Registry:
    """One ladder's database. Cheap to open; open one per process (sqlite connections don't cross
    forks)."""

    def __init__(self, path: str | Path, *, create: bool = False, lease_s: float = DEFAULT_LEASE_S):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise InputError(f"{self.path}: no ladder registry here")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_s = float(lease_s)
        self.host = hostname()
        self.conn = sqlite3.connect(
            str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 60000")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # pragma: no cover - e.g. a filesystem without shared memory
            raise InputError(f"{self.path}: cannot use WAL journal mode here (got {mode})")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        if create:
            with self.transaction():
                for stmt in SCHEMA.strip().split(";"):
                    if stmt.strip():
                        self.conn.execute(stmt)
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        version = self.meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise InputError(
                f"{self.path}: registry schema version {version!r}, "
                f"this scalelab reads {SCHEMA_VERSION}"
            )

    @classmethod
    def open(cls, ladder: str | Path, **kw) -> Registry:
        """Open by the ladder's folder, its database file, or (given a .toml) the spec's out_dir."""
        p = Path(ladder).expanduser()
        if p.suffix == ".toml" and p.is_file():
            p = Path(load_spec(p).out_dir).expanduser()
        if p.is_dir():
            p = p / DB_NAME
        if not p.is_file():
            raise InputError(
                f"{ladder}: no ladder registry ({DB_NAME}) found; "
                "run `scalelab ladder run SPEC` first"
            )
        return cls(p, **kw)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (take the write lock first) ... ``COMMIT``; rollback on any error."""
        for attempt in range(100):
            try:
                self.conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
                break
            except sqlite3.OperationalError as exc:  # busy beyond the timeout: try again
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.05 * (attempt + 1))
        else:  # pragma: no cover
            raise sqlite3.OperationalError(f"{self.path}: database stayed locked")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- meta ----------------------------------------------------------------------------------
    def meta(self, key: str) -> Optional[str]:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _event(
        self, run_id: Optional[str], kind: str, claim: Optional[str] = None, message: str = ""
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (t, run_id, kind, claim, host, pid, message) "
            "VALUES (?,?,?,?,?,?,?)",
            (time.time(), run_id, kind, claim, self.host, os.getpid(), message),
        )

    # -- plan ------------------------------------------------------------------------------------
    def sync_plan(self, plan, source: str = "<ladder spec>") -> dict[str, int]:
        """Insert the plan's jobs that are new; refuse a job whose config changed (InputError)."""
        added = 0
        with self.transaction():
            existing = {
                r["run_id"]: r["config"]
                for r in self.conn.execute("SELECT run_id, config FROM runs")
            }
            changed = [
                j.run_id
                for j in plan.jobs
                if j.run_id in existing and not same_config(existing[j.run_id], j.config)
            ]
            if changed:
                raise InputError(
                    f"{source}: {self.path} already holds run {changed[0]} with a different config "
                    f"({len(changed)} run(s) differ); keep the spec's settings for existing runs "
                    "or use "
                    "another out_dir"
                )
            pos0 = (
                self.conn.execute("SELECT COALESCE(MAX(position), -1) FROM runs").fetchone()[0] + 1
            )
            now = time.time()
            for i, j in enumerate(plan.jobs):
                if j.run_id in existing:
                    continue
                self.conn.execute(
                    "INSERT INTO runs (run_id, position, config, N, D, C, steps, batch_tokens, lr, "
                    "seed, n_layer, "
                    "d_model, n_head, compute, estimated_s, status, queued_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'queued',?)",
                    (
                        j.run_id,
                        pos0 + i,
                        to_json(j.config),
                        j.N,
                        j.D,
                        j.C,
                        j.steps,
                        j.batch_tokens,
                        j.lr,
                        j.seed,
                        j.n_layer,
                        j.d_model,
                        j.n_head,
                        j.compute,
                        plan.estimate_s(j),
                        now,
                    ),
                )
                for p in j.points:
                    self.conn.execute(
                        "INSERT INTO points (run_id, job, N, D, C, steps, seed) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (p.run_id, j.run_id, p.N, p.D, p.C, p.steps, p.seed),
                    )
                added += 1
            if self.meta("name") is None:
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('name', ?)", (plan.spec.name,)
                )
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('created', ?)", (str(now),))
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('plan', ?)", (to_json(plan.to_dict()),)
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('data', ?)", (to_json(asdict(plan.data)),)
            )
            if added:
                self._event(None, "plan", message=f"{added} new run(s)")
        return {"added": added, "existing": len(existing)}

    # -- claims ------------------------------------------------------------------------------------
    def _claimable(self, row: sqlite3.Row, now: float) -> bool:
        if row["status"] == "queued":
            return True
        if row["status"] != "running":
            return False
        if row["lease_until"] is not None and row["lease_until"] < now:
            return True
        return (
            row["host"] == self.host and row["pid"] is not None and not pid_alive(int(row["pid"]))
        )

    def claim(self, run_id: Optional[str] = None, largest_first: bool = False) -> Optional[dict]:
        """Claim the next runnable job (or ``run_id``); None when nothing is claimable.

        Jobs go in plan order (smallest first: early results), or with ``largest_first`` by
        descending compute: with several workers, longest-first keeps the last one from finishing
        long after the others (the LPT rule for the makespan).
        """
        now = time.time()
        order = "compute DESC, position" if largest_first else "position"
        with self.transaction():
            rows = self.conn.execute(
                f"SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY {order}"
            ).fetchall()
            for row in rows:
                if run_id is not None and row["run_id"] != run_id:
                    continue
                if not self._claimable(row, now):
                    continue
                token = uuid.uuid4().hex
                resumed = row["status"] == "running"
                self.conn.execute(
                    "UPDATE runs SET status='running', claim=?, host=?, pid=?, lease_until=?, "
                    "heartbeat=?, attempts=attempts+1, started_at=COALESCE(started_at, ?), "
                    "error=NULL WHERE run_id=?",
                    (token, self.host, os.getpid(), now + self.lease_s, now, now, row["run_id"]),
                )
                self._event(
                    row["run_id"],
                    "claim",
                    token,
                    f"took over from {row['host']}:{row['pid']} (dead claim)" if resumed else "",
                )
                out = dict(row)
                out.update(
                    claim=token,
                    config=json.loads(row["config"]),
                    attempts=row["attempts"] + 1,
                    took_over=resumed,
                )
                return out
        return None

    def heartbeat(
        self,
        run_id: str,
        token: str,
        *,
        step: Optional[int] = None,
        train_loss: Optional[float] = None,
        tokens_per_s: Optional[float] = None,
    ) -> bool:
        """Extend the lease (and record progress); False if the claim was lost."""
        now = time.time()
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE runs SET lease_until=?, heartbeat=?, step=COALESCE(?, step), "
                "train_loss=COALESCE(?, train_loss), tokens_per_s=COALESCE(?, tokens_per_s) "
                "WHERE run_id=? AND claim=? AND status='running'",
                (now + self.lease_s, now, step, train_loss, tokens_per_s, run_id, token),
            )
            return cur.rowcount == 1

    def release(self, run_id: str, token: str, reason: str = "interrupted") -> bool:
        """Give a claimed job back to the queue (interrupted; its checkpoint resumes it)."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE runs SET status='queued', claim=NULL, pid=NULL, lease_until=NULL "
                "WHERE run_id=? AND claim=? AND status='running'",
                (run_id, token),
            )
            if cur.rowcount:
                self._event(run_id, "release", token, reason)
            return cur.rowcount == 1

    def finish(
        self,
        run_id: str,
        token: str,
        status: str,
        *,
        rows: list[dict] = (),
        summary: Optional[dict] = None,
        error: Optional[str] = None,
        out_dir: Optional[str] = None,
        wall_s: Optional[float] = None,
    ) -> bool:
        """Record a job's result (``done``/``diverged``/``failed``) and its eval rows, if we still
        hold it."""
        if status not in FINAL:
            raise ValueError(f"not a final status: {status}")
        now = time.time()
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE runs SET status=?, finished_at=?, wall_s=COALESCE(?, wall_s), error=?, "
                "summary=?, out_dir=?, code_version=?, lease_until=NULL, step=COALESCE(?, step), "
                "tokens_per_s=COALESCE(?, tokens_per_s) "
                "WHERE run_id=? AND claim=? AND status='running'",
                (
                    status,
                    now,
                    wall_s,
                    error,
                    to_json(summary) if summary is not None else None,
                    out_dir,
                    code_version(),
                    (summary or {}).get("step"),
                    (summary or {}).get("tokens_per_s_this_session"),
                    run_id,
                    token,
                ),
            )
            if cur.rowcount != 1:
                return False
            self.conn.execute("DELETE FROM evals WHERE job=?", (run_id,))
            point_status: dict[str, str] = {}
            for r in rows:
                st = r.get("status") or status
                self.conn.execute(
                    "INSERT OR REPLACE INTO evals "
                    "(run_id, job, step, eval_set, N, D, C, loss, status, row) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (r["run_id"], run_id, int(r.get("step") or 0), eval_key(r))
                    + (r.get("N"), r.get("D"), r.get("C"), r.get("loss"), st, to_json(r)),
                )
                point_status[r["run_id"]] = st
            for pid_, pts in point_status.items():
                self.conn.execute("UPDATE points SET status=? WHERE run_id=?", (pts, pid_))
            # points with no eval rows: a diverged/failed job's unreached branches share its fate; a
            # finished job that left a point without rows has failed that point
            self.conn.execute(
                "UPDATE points SET status=? WHERE job=? AND status IN ('queued', 'running')",
                ("failed" if status == "done" else status, run_id),
            )
            self._event(run_id, status, token, error or "")
        return True

    def requeue(self, statuses: tuple[str, ...] = ("failed",)) -> int:
        """Queue finished jobs of the given statuses again (e.g. after fixing a failure)."""
        with self.transaction():
            qs = ",".join("?" * len(statuses))
            ids = [
                r[0]
                for r in self.conn.execute(
                    f"SELECT run_id FROM runs WHERE status IN ({qs})", statuses
                )
            ]
            for rid in ids:
                self.conn.execute(
                    "UPDATE runs SET status='queued', claim=NULL, pid=NULL, error=NULL "
                    "WHERE run_id=?",
                    (rid,),
                )
                self.conn.execute("UPDATE points SET status='queued' WHERE job=?", (rid,))
                self.conn.execute("DELETE FROM evals WHERE job=?", (rid,))
                self._event(rid, "requeue")
        return len(ids)

    # -- queries ---------------------------------------------------------------------------------
    def runs(self) -> list[dict]:
        now = time.time()
        out = []
        for r in self.conn.execute("SELECT * FROM runs ORDER BY position"):
            d = dict(r)
            d["config"] = json.loads(d["config"])
            d["summary"] = json.loads(d["summary"]) if d["summary"] else None
            d["stale"] = d["status"] == "running" and self._claimable(r, now)
            out.append(d)
        return out

    def points(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM points ORDER BY job, D")]

    def events(self, kind: Optional[str] = None) -> list[dict]:
        if kind is None:
            return [dict(r) for r in self.conn.execute("SELECT * FROM events ORDER BY id")]
        return [
            dict(r)
            for r in self.conn.execute("SELECT * FROM events WHERE kind=? ORDER BY id", (kind,))
        ]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for r in self.conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"):
            out[r[0]] = r[1]
        return out

    def eval_rows(self, include: tuple[str, ...] = FINAL) -> list[dict]:
        """The run-table rows of finished jobs (every eval point of every run and branch)."""
        qs = ",".join("?" * len(include))
        rows = []
        for r in self.conn.execute(
            f"SELECT e.row, e.status, e.run_id FROM evals e JOIN runs j ON e.job = j.run_id "
            f"WHERE j.status IN ({qs}) ORDER BY j.position, e.run_id, e.step, e.eval_set",
            include,
        ):
            row = json.loads(r["row"])
            row["status"] = r["status"]
            rows.append(row)
        return rows

    def table(self, include: tuple[str, ...] = FINAL):
        """The run table (DESIGN.md §3) of every finished run, with its provenance columns."""
        rows = [r for r in self.eval_rows(include) if r.get("loss") is not None and r["loss"] > 0]
        if not rows:
            raise InputError(f"{self.path}: no finished runs with evaluations to export yet")
        return RunTable.from_records(with_provenance(self.conn, rows), source=str(self.path))

    def export(self, path: str | Path, include: tuple[str, ...] = FINAL) -> int:
        """Write the run table of every finished run; returns the number of rows."""
        table = self.table(include)
        table.write(path)
        return len(table)
