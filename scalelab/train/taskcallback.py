"""The task-evaluation callback: the run's ``[eval] tasks`` at every evaluation point, as rows.

``[eval] tasks`` names task files (JSON-lines, :mod:`scalelab.data.taskfile`; relative paths
resolve against the config's folder) or the built-in names ``cloze`` and ``mc``, generated (seed
0, ``[eval] task_examples`` examples) from the held-out documents of the run's prepared data
folder (:mod:`scalelab.data.tasksets`). Both need the data folder's tokenizer, so ``[data] train``
must be a prepared folder (``scalelab data prepare``) or a token file inside one.

At each evaluation of the main run (``on_eval``) and of each cool-down branch (``on_branch``) the
model is scored (:mod:`scalelab.train.taskeval`) and one row per (task, bucket) is appended to the
run's rows: the columns of that evaluation's general held-out row (``val`` if the run has it,
else its first eval set: ``eval_set`` and ``loss`` are that set's) plus the task columns. The
seconds spent scoring (``seconds``) and building the task sets (``setup_seconds``) go to
``task_eval.json`` in the run folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scalelab import atomic
from scalelab.data.manifest import read_manifest
from scalelab.data.taskfile import read_task_file
from scalelab.data.tasksets import BUILTIN_TASKS, data_directory, make_task_set
from scalelab.data.tokenize import load_saved
from scalelab.errors import InputError
from scalelab.train.callbacks import Callback
from scalelab.train.config import RunConfig
from scalelab.train.taskeval import encode_task, evaluate_tasks

TASK_EVAL = "task_eval.json"
BUILTIN_SEED = 0


def load_run_tasks(cfg: RunConfig, source: str = "<config>") -> list:
    """The run's task sets, tokenised with its data folder's tokenizer (InputError if it has
    none or a task file is bad)."""
    if cfg.data.train == "synthetic":
        raise InputError(
            f"{source}: [eval] tasks needs [data] train to be a prepared data folder (made by "
            "`scalelab data prepare`: its tokenizer turns the task text into tokens), not synthetic"
        )
    try:
        folder = data_directory(cfg.resolve(cfg.data.train))
    except InputError:
        raise InputError(
            f"{source}: [eval] tasks needs [data] train to be a prepared data folder (made by "
            f"`scalelab data prepare`), got {cfg.data.train}"
        ) from None
    manifest = read_manifest(folder)
    tok = load_saved(folder, manifest["tokenizer"])
    if tok.vocab_size > cfg.model.vocab_size:
        raise InputError(
            f"{source}: [eval] tasks: the tokenizer of {folder} has {tok.vocab_size} tokens, "
            f"more than [model] vocab_size {cfg.model.vocab_size}"
        )
    sets, problems = [], []
    for name in cfg.eval.tasks:
        try:
            if name in BUILTIN_TASKS:
                task = make_task_set(folder, name, cfg.eval.task_examples, BUILTIN_SEED)
            else:
                task = read_task_file(cfg.resolve(name))
                available = len(task.examples)
                task.examples = task.examples[: cfg.eval.task_examples]
        except InputError as exc:
            problems.extend(f"{source}: [eval] tasks: {p}" for p in exc.problems)
            continue
        sets.append(encode_task(task, tok))
        if name not in BUILTIN_TASKS and available > len(task.examples):
            sets[-1].available = available
    names = [t.name for t in sets]
    if len(set(names)) < len(names):
        problems.append(f"{source}: [eval] tasks: two task sets named alike ({names})")
    if problems:
        raise InputError(problems)
    return sets


class TaskEvaluation(Callback):
    """Appends task rows to ``trainer.rows`` at every evaluation (see the module docstring)."""

    def __init__(self, cfg: RunConfig, source: str = "<config>"):
        t0 = time.perf_counter()
        self.tasks = load_run_tasks(cfg, source)
        self.setup_seconds = time.perf_counter() - t0  # building / reading and tokenising
        self.seconds = 0.0
        self.evaluations = 0

    def _rows(self, trainer, run_id: str, step: int) -> None:
        t0 = time.perf_counter()
        base = [r for r in trainer.rows if r["run_id"] == run_id and r["step"] == step]
        if not base:
            return
        general = next((r for r in base if r.get("eval_set") == "val"), base[0])
        general = {k: v for k, v in general.items() if k not in ("task", "bucket")}
        results = evaluate_tasks(
            trainer.raw_model, self.tasks, trainer.plan.gpt.n_ctx, trainer.autocast
        )
        trainer.rows.extend({**general, **r} for r in results)
        self.seconds += time.perf_counter() - t0
        self.evaluations += 1

    def on_eval(self, trainer, step: int, losses: dict[str, float]) -> None:
        self._rows(trainer, trainer.cfg.run_id, step)

    def on_branch(self, trainer, branch, record: dict) -> None:
        self._rows(trainer, branch.run_id, branch.steps)

    def on_end(self, trainer, summary) -> None:
        info = {
            "tasks": [t.name for t in self.tasks],
            "examples": {t.name: t.n_examples for t in self.tasks},
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "setup_seconds": self.setup_seconds,
        }
        atomic.write_text(Path(trainer.out) / TASK_EVAL, json.dumps(info, indent=2) + "\n")
