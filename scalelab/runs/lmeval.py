"""Result files of EleutherAI's lm-evaluation-harness as task rows (:mod:`scalelab.runs.tasktable`).

A results file is ``{"results": {task: {metric: value}}, "config": {...}, ...}``. Both key
spellings are read: the old harness's (``acc``, ``acc_stderr``, ``ppl``; Pythia's files) and the
new one's (``acc,none``, ``acc_stderr,none``, ``perplexity,none``: metric, comma, filter; the
``none`` filter first, else the first filter given). Per task:

* ``accuracy``: the chosen metric (``acc`` by default; ``acc_norm``, ``exact_match``, ...), with
  ``accuracy_stderr`` from ``<metric>_stderr`` where given;
* ``task_loss`` and ``task_loss_unit``, from the first of (:data:`LOSS_KEYS`): ``bits_per_byte``
  (bits/byte), ``byte_perplexity`` (log2 of it: bits/byte), ``word_perplexity`` (ln of it:
  nats/word), ``perplexity`` or ``ppl`` (ln of it: nats/word; LAMBADA's perplexity is that of the
  target word, all its tokens together: exp of the mean negative log-likelihood per example);
* ``n_examples`` from the new harness's ``n-samples`` (``effective``) where given;
* a task with neither (``crows_pairs_*``: ``pct_stereotype``) gives no row; the table's notes
  count such tasks once.

Files are joined to runs through a mapping (CSV or TOML, :func:`read_mapping`): rows that name one
``file`` (``file, run_id, N, D[, step]``, as before), or rows that ``match`` many files by a glob
and give ``D`` as the checkpoint's step times ``tokens_per_step``, the step read from the file
name (``..._step143000.json``) or from the file's ``config.model_args`` (``revision=step143000``).
Files no row maps, and checkpoints at step 0 (D = 0), are skipped with one note each (a count).
"""

from __future__ import annotations

import fnmatch
import glob as globlib
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
from scalelab.runs.table import read_frame
from scalelab.units import cut

LOSS_KEYS = (
    ("bits_per_byte", "bits/byte", lambda v: v),
    ("byte_perplexity", "bits/byte", math.log2),
    ("word_perplexity", "nats/word", math.log),
    ("perplexity", "nats/word", math.log),
    ("ppl", "nats/word", math.log),
)
"""(harness metric, task_loss_unit, value -> task loss), in order of preference."""
STEP_PATTERN = r"step[_-]?(\d+)"
"""Where the step is read from a file name (the last match) or a ``revision=...`` argument."""
ROW_KEYS = ("file", "match")
"""How a mapping row names its files: one path, or a glob."""


# -- one results file ------------------------------------------------------------------------------


def flat_metrics(metrics: Mapping) -> dict:
    """{metric: value} with the new harness's ``metric,filter`` keys folded (filter ``none``
    first, else the first filter seen)."""
    flat: dict = {}
    filtered: dict = {}
    for key, value in metrics.items():
        name, _, filt = str(key).partition(",")
        if filt in ("", "none"):
            flat[name] = value
        else:
            filtered.setdefault(name, value)
    return {**filtered, **flat}


def lm_eval_metrics(
    doc: object, source: str, metric: str = "acc"
) -> tuple[dict[str, dict], list[str]]:
    """({task: {"accuracy", "accuracy_stderr", "task_loss", "task_loss_unit"}}, [tasks skipped
    for having neither the metric nor a loss]) of one results document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise InputError(
            f"{source}: no 'results' object; expected an lm-evaluation-harness results file "
            '({"results": {task: {"acc,none": ...}}})'
        )
    out: dict[str, dict] = {}
    skipped = []
    for task, metrics in doc["results"].items():
        if not isinstance(metrics, dict):
            raise InputError(f"{source}: results[{cut(task)}]: expected an object of metrics")
        flat = flat_metrics(metrics)
        row: dict = {}
        if flat.get(metric) is not None:
            row["accuracy"] = _number(flat[metric], source, task, metric)
            stderr = flat.get(f"{metric}_stderr")
            if isinstance(stderr, (int, float)) and not isinstance(stderr, bool):
                row["accuracy_stderr"] = float(stderr)
        for name, unit, convert in LOSS_KEYS:
            if flat.get(name) is not None:
                value = _number(flat[name], source, task, name)
                if not value > 0:
                    raise InputError(
                        f"{source}: results[{cut(task)}][{name}]: expected a positive number, "
                        f"got {value:g}"
                    )
                row["task_loss"] = float(convert(value))
                row["task_loss_unit"] = unit
                break
        if row:
            out[str(task)] = row
        else:
            skipped.append(str(task))
    return out, skipped


def _number(value: object, source: str, task: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(
            f"{source}: results[{cut(task)}][{name}]: expected a finite number, got {value!r}"
        )
    return float(value)


def n_samples(doc: Mapping) -> dict[str, float]:
    """{task: examples scored} from the new harness's ``n-samples`` (``effective``, else
    ``original``); empty where the file has none."""
    counts = doc.get("n-samples") if isinstance(doc, Mapping) else None
    out = {}
    for task, entry in (counts or {}).items() if isinstance(counts, Mapping) else ():
        value = (
            entry.get("effective", entry.get("original")) if isinstance(entry, Mapping) else None
        )
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out[str(task)] = float(value)
    return out


def step_of(path: Path, doc: Mapping, pattern: str = STEP_PATTERN) -> Optional[int]:
    """The checkpoint's step: from the file name, else the config's ``model_args`` revision."""
    found = re.findall(pattern, path.name)
    if found:
        return int(found[-1])
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping):
        return None
    args = config.get("model_args")
    if isinstance(args, Mapping):  # some harness versions write the arguments as an object
        revisions = [str(args.get("revision") or "")]
    else:
        revisions = re.findall(r"revision=([^,\s]+)", str(args or ""))
    revisions.append(str(config.get("model_revision") or ""))
    for revision in revisions:
        found = re.findall(pattern, revision)
        if found:
            return int(found[-1])
    return None


def read_raw(path: Path) -> pd.DataFrame:
    """A CSV, Parquet or JSON-lines file as it is (no validation); a missing or unreadable file
    is one InputError line."""
    from scalelab.runs.table import _format_of  # noqa: PLC0415 - the one suffix table

    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return read_frame(path, _format_of(path))
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot be read: {str(exc).splitlines()[0][:200]}") from None


# -- the mapping -----------------------------------------------------------------------------------


def read_mapping(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """(rows, defaults) of a mapping from result files to runs.

    CSV: one row per file (``file``) or per set of files (``match``, a glob), with ``run_id``,
    ``N`` (or ``N_total``) and ``D``, or ``tokens_per_step`` (D = step x tokens_per_step), and
    any other run-table or user columns (``--where`` filters on them). TOML: top-level defaults
    (``tokens_per_step``, ``step_pattern``) and ``[[run]]`` or ``[[file]]`` tables with the same
    keys.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file (the lm-eval mapping)")
    defaults: dict = {}
    if path.suffix.lower() == ".toml":
        from scalelab.tomlfile import read  # noqa: PLC0415

        doc = read(path, "lm-eval mapping")
        rows = [*doc.get("run", []), *doc.get("file", [])]
        tables = ("run", "file")
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise InputError(
                f"{path}: expected [[run]] tables (match = GLOB, run_id, N, tokens_per_step) or "
                "[[file]] tables (file, run_id, N, D)"
            )
        defaults = {k: v for k, v in doc.items() if k not in tables}
        unknown = sorted(set(defaults) - {"tokens_per_step", "step_pattern"})
        if unknown:
            raise InputError(
                f"{path}: unknown top-level key(s) {', '.join(unknown)}; expected "
                "tokens_per_step, step_pattern, [[run]], [[file]]"
            )
        frame = pd.DataFrame(rows)
    else:
        frame = read_raw(path)
    problems = []
    if not any(k in frame.columns for k in ROW_KEYS):
        problems.append("a 'file' or 'match' column")
    if not any(k in frame.columns for k in ("N", "N_total", "N_active")):
        problems.append("N (or N_total)")
    per_step = "tokens_per_step" in frame.columns or "tokens_per_step" in defaults
    if not per_step and "D" not in frame.columns and "C" not in frame.columns:
        problems.append("D (or tokens_per_step, D = step x tokens_per_step)")
    if problems:
        raise InputError(
            f"{path}: the lm-eval mapping lacks {', '.join(problems)}; expected rows with file "
            "(or match = GLOB), run_id, N and D (or tokens_per_step)"
        )
    for key in ROW_KEYS:
        if key in frame.columns:
            frame[key] = frame[key].astype(object).where(frame[key].notna(), None)
    names = frame["file"] if "file" in frame.columns else pd.Series([None] * len(frame))
    globs = frame["match"] if "match" in frame.columns else pd.Series([None] * len(frame))
    for i, (name, pattern) in enumerate(zip(names, globs, strict=True)):
        if (name is None) == (pattern is None):
            raise InputError(
                f"{path}: row {i + 1}: give one of file (a path) or match (a glob), not both "
                "or neither"
            )
    if "run_id" not in frame.columns:
        frame["run_id"] = [
            str(n if n is not None else p) for n, p in zip(names, globs, strict=True)
        ]
    files = names.dropna().astype(str)
    twice = files[files.duplicated()].unique()
    if len(twice):
        raise InputError(f"{path}: file(s) {', '.join(map(cut, twice[:5]))} mapped more than once")
    if "tokens_per_step" in defaults:
        value = defaults["tokens_per_step"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"{path}: tokens_per_step: expected a positive number, got {value!r}")
        if "tokens_per_step" not in frame.columns:
            frame["tokens_per_step"] = float(value)
        frame["tokens_per_step"] = frame["tokens_per_step"].fillna(float(value))
    if "step_pattern" in defaults:
        try:
            re.compile(str(defaults["step_pattern"]))
        except re.error as exc:
            raise InputError(f"{path}: step_pattern: not a regular expression ({exc})") from None
    return frame.reset_index(drop=True), defaults


def _mapping_row(rel: str, name: str, frame: pd.DataFrame, source: str) -> Optional[int]:
    """The mapping row of a file: the row naming it exactly, else the one glob matching it."""
    if "file" in frame.columns:
        exact = [i for i, f in enumerate(frame["file"]) if f is not None and str(f) in (rel, name)]
        if exact:
            return exact[0]
    if "match" not in frame.columns:
        return None
    hits = [
        i
        for i, g in enumerate(frame["match"])
        if g is not None and (fnmatch.fnmatchcase(rel, str(g)) or fnmatch.fnmatchcase(name, str(g)))
    ]
    if len(hits) > 1:
        ids = ", ".join(str(frame["run_id"].iloc[i]) for i in hits[:4])
        raise InputError(f"{source}: {rel} matches several mapping rows ({ids}); make them unique")
    return hits[0] if hits else None


# -- files -----------------------------------------------------------------------------------------


def result_files(results: str | os.PathLike) -> tuple[list[Path], Path]:
    """(files, the folder their names are relative to): one JSON file, every ``*.json`` under a
    folder, or the files a glob matches (``'evals/*/*_step*.json'``, ``**`` for any depth)."""
    text = str(results)
    path = Path(results)
    if path.is_dir():
        return sorted(path.rglob("*.json")), path
    if path.is_file():
        return [path], path.parent
    if re.search(r"[*?\[]", text):
        files = sorted(Path(f) for f in globlib.glob(text, recursive=True) if Path(f).is_file())
        prefix = re.split(r"[*?\[]", text, maxsplit=1)[0]
        base = Path(prefix or ".") if prefix.endswith(("/", os.sep)) or not prefix else None
        base = base or Path(prefix).parent
        if not files:
            raise InputError(f"{text}: no file matches this pattern (lm-eval results)")
        return files, base
    raise InputError(f"{text}: no such file or folder (lm-eval results)")


def _skipped_note(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{len(names)} {what} skipped ({shown})"


def lm_eval_rows(
    results: str | os.PathLike,
    mapping: str | os.PathLike,
    metric: str = "acc",
) -> tuple[pd.DataFrame, list[str]]:
    """(task rows, notes) from result files joined to runs through ``mapping`` (not validated:
    :func:`scalelab.runs.tasktable.read_lm_eval` validates them)."""
    table, defaults = read_mapping(mapping)
    pattern = str(defaults.get("step_pattern", STEP_PATTERN))
    files, base = result_files(results)
    if not files:
        raise InputError(f"{results}: no .json result files")
    rows, problems = [], []
    unmapped, at_zero, no_results = [], [], []
    skipped_tasks: set[str] = set()
    used: set[int] = set()
    for f in files:
        try:
            rel = f.relative_to(base).as_posix()
        except ValueError:
            rel = f.name
        i = _mapping_row(rel, f.name, table, str(mapping))
        if i is None:
            unmapped.append(rel)
            continue
        used.add(i)
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{f}: not valid JSON ({str(exc)[:120]})")
            continue
        except OSError as exc:
            problems.append(f"{f}: cannot be read ({exc.strerror or exc})")
            continue
        meta = {k: v for k, v in table.iloc[i].to_dict().items() if k not in ROW_KEYS}
        meta = {k: v for k, v in meta.items() if not _missing(v)}
        if "step" not in meta:
            step = step_of(f, doc if isinstance(doc, dict) else {}, pattern)
            if step is not None:
                meta["step"] = step
        if "D" not in meta and "C" not in meta:
            if "tokens_per_step" not in meta or "step" not in meta:
                problems.append(
                    f"{f}: no D for this file: the mapping row gives no D and "
                    + ("no tokens_per_step" if "step" in meta else "no step is in the file name")
                )
                continue
            meta["D"] = float(meta["step"]) * float(meta["tokens_per_step"])
        if _zero(meta.get("D")) or _zero(meta.get("C")):
            at_zero.append(rel)
            continue
        try:
            metrics, skipped = lm_eval_metrics(doc, str(f), metric)
        except InputError as exc:
            problems += exc.lines
            continue
        skipped_tasks.update(skipped)
        if not metrics:
            no_results.append(rel)
        counts = n_samples(doc)
        for task, values in metrics.items():
            extra = {"n_examples": counts[task]} if task in counts else {}
            rows.append({**meta, "task": task, **values, **extra})
    if problems:
        raise InputError(problems)
    if not rows:
        raise InputError(
            f"{results}: no task rows: of {len(files)} file(s), {len(unmapped)} not in the mapping "
            f"{mapping}, {len(at_zero)} at step 0, {len(no_results)} without the metric "
            f"{metric!r} or a loss"
        )
    notes = []
    if unmapped:
        notes.append(_skipped_note(f"file(s) not in the mapping {mapping}", unmapped))
    idle = [str(table["run_id"].iloc[i]) for i in range(len(table)) if i not in used]
    if idle:
        notes.append(_skipped_note("mapping row(s) matching no file", idle).replace(" skipped", ""))
    if at_zero:
        notes.append(_skipped_note("file(s) at step 0 (D = 0, the initialisation)", at_zero))
    if skipped_tasks:
        notes.append(
            _skipped_note(
                f"task(s) with neither the metric {metric!r} nor a loss",
                sorted(skipped_tasks),
            )
        )
    frame = pd.DataFrame(rows)
    for column in ("N", "N_total", "N_active", "D", "C", "step", "tokens_per_step"):
        if column in frame.columns:
            values, bad, _ = numbers(frame[column])
            if not bad.any():
                frame[column] = values
    if "task_loss" not in frame.columns:
        frame["task_loss"] = math.nan
    return frame, notes


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _zero(value: object) -> bool:
    if _missing(value):
        return False
    try:
        return float(value) == 0.0
    except (TypeError, ValueError):
        return False
