"""Task files: the JSON-lines format of a downstream task set, its manifest, and its validation.

One example per line, one kind per file (the kind is read from the fields)::

    {"id": "cloze-00001", "context": "... and the king", "target": " said", "bucket": "freq-q1"}
    {"id": "mc-00001", "context": "...", "choices": [" A.", " B.", " C.", " D."], "label": 2}

* **cloze** (LAMBADA-style): ``context`` (str) and ``target`` (non-empty str: the continuation
  to predict, with its leading space, e.g. ``" said"``);
* **mc** (multiple choice): ``context`` (str), ``choices`` (a list of at least 2 distinct
  non-empty strings, each a continuation of the context) and ``label`` (the index of the right
  one, an int);
* optional in both: ``bucket`` (str, a difficulty bucket) and ``id`` (str or int).

Any other field is a mistake (a typo such as ``lable`` would otherwise go unnoticed). A file that
breaks these rules is an :class:`~scalelab.errors.InputError` with one line per problem, named
``file:line: field: what was expected``. The task's name is the file's stem (``cloze.jsonl`` →
``cloze``).

A generated task set (:mod:`scalelab.data.tasksets`) is written as ``NAME.jsonl`` plus
``NAME.manifest.json``: format, generator and version, seed, the source data directory's hash,
counts per bucket and the sha256 of the JSON-lines bytes (the same seed and data give the same
bytes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from scalelab import atomic
from scalelab.errors import InputError

TASK_FORMAT = "scalelab-tasks/1"
KINDS = ("cloze", "mc")
MAX_PROBLEMS = 50
_FIELDS = {
    "cloze": {"context", "target", "bucket", "id"},
    "mc": {"context", "choices", "label", "bucket", "id"},
}


@dataclass
class TaskSet:
    """A task's examples (validated dicts) and where they came from."""

    name: str
    kind: str  # "cloze" or "mc"
    examples: list[dict]
    source: str = "<memory>"
    manifest: dict = field(default_factory=dict)

    def buckets(self) -> list[str]:
        return sorted({ex.get("bucket", "all") for ex in self.examples} - {"all"})

    def to_jsonl(self) -> bytes:
        """The canonical JSON-lines bytes (sorted keys, UTF-8, one example per line)."""
        return jsonl_bytes(self.examples)


def jsonl_bytes(examples: list[dict]) -> bytes:
    text = "".join(json.dumps(ex, ensure_ascii=False, sort_keys=True) + "\n" for ex in examples)
    return text.encode("utf-8")


def manifest_path(path: str | Path) -> Path:
    """``cloze.jsonl`` → ``cloze.manifest.json`` (beside it)."""
    p = Path(path)
    return p.with_name(p.stem + ".manifest.json")


def write_task_set(task: TaskSet, path: str | Path) -> dict:
    """Write ``task`` as JSON-lines at ``path`` and its manifest beside it (both atomically);
    returns the manifest (with the file's sha256)."""
    p = Path(path).expanduser()
    atomic.check_file(p, "task file")
    data = task.to_jsonl()
    manifest = {
        **task.manifest,
        "format": TASK_FORMAT,
        "name": p.stem,
        "kind": task.kind,
        "examples_file": p.name,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    with atomic.atomic_path(p) as tmp:
        tmp.write_bytes(data)
    atomic.write_text(manifest_path(p), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _check_example(obj: Any, where: str, kind: Optional[str]) -> tuple[Optional[str], list[str]]:
    """The example's kind and its problems (one line each, prefixed with ``where``)."""
    if not isinstance(obj, dict):
        return kind, [f"{where}: expected a JSON object, got {type(obj).__name__}"]
    mine = "mc" if "choices" in obj or "label" in obj else "cloze" if "target" in obj else None
    problems = []
    if mine is None:
        return kind, [f"{where}: target: missing (a cloze example needs 'target'; a "
                      "multiple-choice one needs 'choices' and 'label')"]  # fmt: skip
    if kind is not None and mine != kind:
        problems.append(f"{where}: a {mine} example in a {kind} task file (one kind per file)")
    for key in sorted(set(obj) - _FIELDS[mine]):
        problems.append(
            f"{where}: {key}: unknown field (allowed: {', '.join(sorted(_FIELDS[mine]))})"
        )
    ctx = obj.get("context")
    if ctx is None:
        problems.append(f"{where}: context: missing")
    elif not isinstance(ctx, str):
        problems.append(f"{where}: context: expected a string, got {type(ctx).__name__}")
    if mine == "cloze":
        t = obj.get("target")
        if not isinstance(t, str):
            problems.append(f"{where}: target: expected a string, got {type(t).__name__}")
        elif not t.strip():
            problems.append(f"{where}: target: empty (expected the continuation to predict)")
    else:
        ch, label = obj.get("choices"), obj.get("label")
        n = None
        if ch is None:
            problems.append(f"{where}: choices: missing")
        elif not isinstance(ch, list):
            problems.append(f"{where}: choices: expected a list of strings")
        elif len(ch) < 2:
            problems.append(f"{where}: choices: {len(ch)} choice(s), expected at least 2")
        elif not all(isinstance(c, str) and c.strip() for c in ch):
            problems.append(f"{where}: choices: every choice must be a non-empty string")
        elif len(set(ch)) < len(ch):
            problems.append(f"{where}: choices: two choices are the same text")
        else:
            n = len(ch)
        if label is None:
            problems.append(f"{where}: label: missing")
        elif isinstance(label, bool) or not isinstance(label, int):
            problems.append(f"{where}: label: expected an integer index, got {label!r}")
        elif n is not None and not 0 <= label < n:
            problems.append(f"{where}: label: {label} out of range (0 to {n - 1} for {n} choices)")
    b = obj.get("bucket")
    if b is not None and (not isinstance(b, str) or not b.strip()):
        problems.append(f"{where}: bucket: expected a non-empty string, got {b!r}")
    i = obj.get("id")
    if i is not None and (isinstance(i, bool) or not isinstance(i, str | int)):
        problems.append(f"{where}: id: expected a string or an integer, got {i!r}")
    return (kind or mine), problems


def parse_task_lines(lines: list[str], source: str, name: str) -> TaskSet:
    """Validate JSON-lines text (blank lines are skipped); InputError lists every problem."""
    problems: list[str] = []
    examples: list[dict] = []
    kind: Optional[str] = None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}:{no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        kind, found = _check_example(obj, where, kind)
        problems.extend(found)
        if not found:
            examples.append(obj)
    if not problems and not examples:
        problems.append(f"{source}: no examples (expected one JSON object per line)")
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"{source}: ... and {len(problems) - MAX_PROBLEMS} more problem(s)")
        raise InputError(shown)
    return TaskSet(name=name, kind=kind or "cloze", examples=examples, source=source)


def read_task_file(path: str | Path) -> TaskSet:
    """Read and validate a task file (and its manifest, when one lies beside it)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{p}: no such task file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    task = parse_task_lines(text.splitlines(), str(p), p.stem)
    mp = manifest_path(p)
    if mp.is_file():
        try:
            task.manifest = json.loads(mp.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{mp}: not valid JSON ({exc})") from None
        want = task.manifest.get("sha256")
        got = hashlib.sha256(p.read_bytes()).hexdigest()
        if want is not None and want != got:
            raise InputError(
                f"{p}: sha256 {got[:12]} does not match its manifest ({str(want)[:12]}); the "
                "file was changed after it was generated (delete the manifest to use it as is)"
            )
    return task
