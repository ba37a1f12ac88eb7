"""What ``scalelab watch`` reads, and following a live run.

A run is read from

* a **run folder** (what ``scalelab train`` writes): its ``runs.csv`` (held-out evaluations, what a
  law is fitted to) when it has one, otherwise its ``train_log.csv`` (per-step training loss); its
  ``summary.json`` says whether the run has finished (``done``, ``diverged``, ``interrupted``);
* a ``train_log.csv``: per-step training losses, averaged over windows that end at a fixed
  geometric grid of steps (each about 15% past the last, so a growing log keeps its earlier
  points); N comes from the ``summary.json`` or ``config.json`` beside it, or from ``N=``;
* a run table (one row per evaluation), as :func:`scalelab.plan.watch.read_curve` reads it.

:func:`follow` polls a run's records until its summary says it finished (or a timeout), judging
the curve again whenever they change and reporting each new point once.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.model.counting import count_params
from scalelab.model.shapes import shape_for
from scalelab.plan.watch import Watch, read_curve, watch
from scalelab.plan.watch_forecast import forecast_final
from scalelab.plan.watch_options import DEFAULT_IDLE
from scalelab.runs.table import RunTable
from scalelab.train.config import GPT_FIELDS, ModelSection

TRAIN_LOG, RUNS, SUMMARY, CONFIG = "train_log.csv", "runs.csv", "summary.json", "config.json"
FINISHED = ("done", "diverged", "interrupted")
GRID_RATIO = 1.15
"""Train-log windows end at steps round(1.15^k): about 16 points per factor of 10 in steps."""


@dataclass
class RunRecords:
    """One read of a run's records."""

    table: Optional[RunTable]  # None: no evaluation yet
    nonfinite: pd.DataFrame
    status: Optional[str]  # the summary's status; None while the run has no summary
    source: str  # which file the points came from
    run_id: Optional[str] = None  # a run folder's own run (its WSD branches are runs too)
    can_finish: bool = True  # False: nothing in the source can ever say the run finished

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def read_run(path, columns: Optional[dict] = None, N: Optional[float] = None) -> RunRecords:
    """A run folder, a ``train_log.csv`` or a run table (see the module doc)."""
    p = Path(path)
    if p.is_dir():
        summary = _json(p / SUMMARY)
        status = summary.get("status") if summary else None
        own = (summary or _json(p / CONFIG) or {}).get("run_id")
        if (p / RUNS).is_file():
            table, nonfinite = read_curve(p / RUNS, columns)
            if status == "diverged":  # runs.csv keeps finite losses only: the blow-up is a point
                nonfinite = pd.concat([nonfinite, _blow_up(p, table)], ignore_index=True)
            return RunRecords(table, nonfinite, status, str(p / RUNS), own)
        if (p / TRAIN_LOG).is_file():
            return RunRecords(*_from_train_log(p / TRAIN_LOG, N), status, str(p / TRAIN_LOG))
        if p.exists() and ((p / CONFIG).is_file() or summary is not None):
            return RunRecords(None, pd.DataFrame(), status, str(p))  # started, nothing logged yet
        raise InputError(
            f"{p}: not a run folder (no {RUNS}, {TRAIN_LOG}, {CONFIG} or {SUMMARY} in it)"
        )
    if not p.is_file():
        raise InputError(f"{p}: no such run folder, train log or run table")
    status = (_json(p.parent / SUMMARY) or {}).get("status")
    if p.name == TRAIN_LOG or _is_train_log(p):
        in_folder = (p.parent / SUMMARY).is_file() or (p.parent / CONFIG).is_file()
        return RunRecords(*_from_train_log(p, N), status, str(p), can_finish=in_folder)
    table, nonfinite = read_curve(p, columns)
    return RunRecords(table, nonfinite, None, str(p), can_finish=False)


def _json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent, or being written: the next poll reads it


def _is_train_log(path: Path) -> bool:
    if path.suffix != ".csv":
        return False
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):  # not text: the table reader says what it is
        return False
    return {"step", "tokens", "loss"} <= set(head) and "N" not in head


def _complete_lines(path: Path) -> pd.DataFrame:
    """The CSV's complete lines (a writer may be half-way through the last one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {exc.start}); expected a CSV train log"
        ) from None
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    if not text.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(text))


def _run_n(folder: Path, N: Optional[float]) -> tuple[str, float]:
    """(run id, non-embedding N) from summary.json, else config.json's model shape, else N=."""
    summary, config = _json(folder / SUMMARY) or {}, _json(folder / CONFIG) or {}
    run_id = str(summary.get("run_id") or config.get("run_id") or folder.name or "run")
    if N is not None:
        return run_id, float(N)
    if summary.get("N"):
        return run_id, float(summary["N"])
    m = config.get("model") or {}
    try:
        section = ModelSection.model_construct(**{k: m[k] for k in GPT_FIELDS if k in m})
        if m.get("n_params"):
            gpt = shape_for(
                float(m["n_params"]), section.gpt_config(d_ff=0), aspect=m.get("aspect", 64.0)
            )
            return run_id, float(count_params(gpt).non_embedding)
        if all(m.get(k) is not None for k in ("n_layer", "d_model", "n_head")):
            return run_id, float(count_params(section.gpt_config()).non_embedding)
    except (TypeError, ValueError):
        pass
    raise InputError(
        f"{folder / TRAIN_LOG}: the run's parameter count is not recorded beside it (no "
        f"{SUMMARY}, no model shape in {CONFIG}); give it with --N"
    )


def _from_train_log(path: Path, N: Optional[float]) -> tuple[Optional[RunTable], pd.DataFrame]:
    """Evaluation-like points from a per-step log: the mean loss of each window of steps."""
    run_id, n = _run_n(path.parent, N)
    try:
        log = _complete_lines(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable train log ({exc})") from None
    if not len(log):
        return None, pd.DataFrame()
    missing = [c for c in ("step", "tokens", "loss") if c not in log.columns]
    if missing:
        raise InputError(f"{path}: a train log needs columns step, tokens, loss; missing {missing}")
    step = pd.to_numeric(log["step"], errors="coerce").to_numpy(dtype=float)
    tokens = pd.to_numeric(log["tokens"], errors="coerce").to_numpy(dtype=float)
    loss = pd.to_numeric(log["loss"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(step) & np.isfinite(tokens) & (tokens > 0)
    step, tokens, loss = step[ok], tokens[ok], loss[ok]
    rows, bad = [], []
    start = 0.0
    for end in _grid(step.max() if len(step) else 0):
        window = (step > start) & (step <= end)
        start = end
        if not window.any():
            continue
        values = loss[window]
        row = {"run_id": run_id, "N": n, "D": float(tokens[window].max()), "step": int(end)}
        if np.all(np.isfinite(values)):
            rows.append({**row, "loss": float(values.mean())})
        else:
            bad.append({**row, "loss": float("nan")})
            break  # the run blew up here: later steps are not a learning curve
    nonfinite = pd.DataFrame(bad)
    if not rows:
        if bad:
            raise InputError(f"{path}: the first logged loss is already NaN or infinite")
        return None, nonfinite
    return RunTable.from_records(rows, source=str(path)), nonfinite


def _grid(last: float) -> list[int]:
    out, k = [], 0
    while True:
        s = int(round(GRID_RATIO**k))
        k += 1
        if s > last:
            return out
        if not out or s > out[-1]:
            out.append(s)


def _blow_up(folder: Path, table: RunTable) -> pd.DataFrame:
    """The diverged run's last logged step, as a non-finite point."""
    try:
        log = _complete_lines(folder / TRAIN_LOG)
        d = float(log["tokens"].iloc[-1])
    except (OSError, ValueError, KeyError, IndexError, pd.errors.ParserError):
        d = float(table["D"].max()) * 1.0001
    return pd.DataFrame([{"run_id": str(table["run_id"].iloc[0]), "D": d, "loss": float("nan")}])


def follow(
    path,
    judge: Callable[[RunRecords], Watch],
    on_point: Callable[[dict], None],
    *,
    read: Callable[[], RunRecords],
    interval: float = 10.0,
    timeout: Optional[float] = None,
    idle: Optional[float] = DEFAULT_IDLE,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Optional[Watch], str]:
    """Poll ``read()`` every ``interval`` seconds; judge the curve with ``judge`` whenever the
    records change and call ``on_point`` once for each new point (by D).

    Returns ``(last Watch or None, why it stopped)``: ``"departed"`` as soon as the verdict is
    not ``ok``, ``"finished"`` when the run's summary says it finished, ``"timeout"``, or
    ``"idle"`` when a source that cannot say it finished (a plain run table) has not changed for
    ``idle`` seconds (``None``: wait for ever).
    """
    if not interval > 0 or not math.isfinite(interval):
        raise InputError(f"--interval: expected a positive number of seconds, got {interval}")
    if timeout is not None and not timeout >= 0:
        raise InputError(f"--timeout: expected a non-negative number of seconds, got {timeout}")
    if idle is not None and not (idle > 0 and math.isfinite(idle)):
        raise InputError(f"--idle: expected a positive number of seconds, got {idle}")
    deadline = None if timeout is None else clock() + timeout
    result, seen, shown, changed = None, None, -math.inf, clock()
    while True:
        records = read()
        key = (records.source, _fingerprint(records))
        if key != seen:
            changed = clock()
        if records.table is not None and key != seen:
            seen = key
            result = judge(records)
            for point in result.points:
                if point["D"] > shown:
                    on_point(point)
            shown = max([shown] + [p["D"] for p in result.points])
            if result.verdict != "ok":
                return result, "departed"
        seen = key
        if records.finished:
            return result, "finished"
        if deadline is not None and clock() >= deadline:
            return result, "timeout"
        if not records.can_finish and idle is not None and clock() - changed >= idle:
            return result, "idle"
        wait = interval if deadline is None else min(interval, deadline - clock())
        sleep(max(0.0, wait))


def _fingerprint(records: RunRecords) -> tuple:
    if records.table is None:
        return (0,)
    data = records.table.data
    return (len(data), float(data["D"].max()), len(records.nonfinite), records.status)


def judge_with(law, forecast=None, **options) -> Callable[[RunRecords], Watch]:
    """A judge for :func:`follow`: :func:`~scalelab.plan.watch.watch` with fixed options; with
    ``forecast`` (a learning-curve law), also the run's forecast final loss."""

    def judge(records: RunRecords) -> Watch:
        chosen = dict(options)
        ids = set(records.table.data["run_id"].astype(str))
        if chosen.get("run_id") is None and records.run_id in ids and len(ids) > 1:
            chosen["run_id"] = records.run_id
        result = watch(records.table, law, nonfinite=records.nonfinite, **chosen)
        if forecast is not None:
            result.forecast = forecast_final(
                records.table, forecast, result.run_id, chosen.get("eval_set")
            )
        return result

    return judge
