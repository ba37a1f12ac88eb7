"""Callbacks: the one way to watch a run from outside the :class:`~scalelab.train.trainer.Trainer`.

A callback overrides the hooks it needs; each hook gets the trainer (its attributes are the run's
state: ``step``, ``plan``, ``cfg``, ``rows``, ``train_log``, ``out``, ...). Callbacks run on rank 0
only unless ``rank_zero_only`` is False. Each one does one thing:

* :class:`RunRecords` writes ``config.json``, ``runs.csv``, ``train_log.csv`` and ``summary.json``.
* :class:`ProgressLines` writes human progress lines (``step 10/40 loss 3.2101 lr 0.003 5,120
  tok/s`` about every 10 s and at the last step; resume, branch and divergence lines) to the logger
  ``scalelab.train`` at INFO, or to a function.
* :class:`ConsoleProgress` is ``scalelab train``'s: a rich progress bar when the console is a
  terminal, otherwise the same lines as :class:`ProgressLines`.
* :class:`StepFunction` calls ``fn(step, total_steps, loss, tokens_per_s)`` after every step (the
  ladder's heartbeat reads progress this way).
* :class:`ProgressFile` keeps the latest :class:`Progress` as JSON in a file, for a process that
  watches a run it started elsewhere (:func:`scalelab.train.launch.launch` and its torchrun
  children).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Protocol

from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from scalelab import atomic
from scalelab.train.config import RunConfig
from scalelab.train.plan import SUMMARY, Branch, Plan
from scalelab.train.records import CONFIG, RunSummary, write_records


class Trainer(Protocol):
    """What a callback reads of the :class:`~scalelab.train.trainer.Trainer` (which imports this
    module, so callbacks see it through this view rather than importing it)."""

    cfg: RunConfig
    out: Path
    plan: Plan
    step: int
    resumed_from: Optional[int]
    running_min: float
    rows: list[dict]
    train_log: list[dict]


logger = logging.getLogger("scalelab.train")


@dataclass(frozen=True)
class Progress:
    """Where a run stands after an optimiser step (``tokens_per_s``: this session's average)."""

    step: int
    total_steps: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float

    def line(self) -> str:
        return (
            f"step {self.step}/{self.total_steps} loss {self.loss:.4f} lr {self.lr:.3g} "
            f"{self.tokens_per_s:,.0f} tok/s"
        )


class Callback:
    """Hooks the trainer calls, in this order: ``on_setup`` once (state loaded, output folder made),
    then per step ``on_branch`` (a cool-down branch finished), ``on_eval`` (the main run evaluated)
    and ``on_step``; ``on_checkpoint`` after every checkpoint; ``on_end`` once with the summary."""

    rank_zero_only = True

    def on_setup(self, trainer: Trainer) -> None:
        pass

    def on_step(self, trainer: Trainer, progress: Progress) -> None:
        pass

    def on_eval(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
        pass

    def on_branch(self, trainer: Trainer, branch: Branch, record: dict) -> None:
        pass

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        pass

    def on_end(self, trainer: Trainer, summary: RunSummary) -> None:
        pass


class RunRecords(Callback):
    """The run's files: ``config.json`` at setup; ``runs.csv``, ``train_log.csv`` and
    ``summary.json`` at the end (each written atomically)."""

    def on_setup(self, trainer: Trainer) -> None:
        atomic.write_text(trainer.out / CONFIG, trainer.cfg.to_json())

    def on_end(self, trainer: Trainer, summary: RunSummary) -> None:
        write_records(trainer.out, trainer.rows, trainer.train_log)
        text = json.dumps(summary.to_dict(), indent=2, default=str) + "\n"
        atomic.write_text(trainer.out / SUMMARY, text)


class ProgressLines(Callback):
    """Progress as lines of text: to ``sink`` if given, else to the logger ``scalelab.train``."""

    def __init__(self, sink: Optional[Callable[[str], None]] = None, every_s: float = 10.0):
        self.sink = sink
        self.every_s = every_s
        self.last = time.perf_counter()

    def emit(self, msg: str) -> None:
        if self.sink is not None:
            self.sink(msg)
        else:
            logger.info(msg)

    def on_setup(self, trainer: Trainer) -> None:
        self.last = time.perf_counter()
        if trainer.resumed_from is not None:
            self.emit(
                f"resumed {trainer.cfg.run_id} at step {trainer.step}/{trainer.plan.total_steps}"
            )

    def on_step(self, trainer: Trainer, progress: Progress) -> None:
        now = time.perf_counter()
        if now - self.last > self.every_s or progress.step == progress.total_steps:
            self.emit(progress.line())
            self.last = now

    def on_branch(self, trainer: Trainer, branch: Branch, record: dict) -> None:
        losses = " ".join(f"{k}={v:.4f}" for k, v in record["loss"].items())
        self.emit(f"branch {branch.run_id}: D={branch.tokens} {losses}")

    def on_end(self, trainer: Trainer, summary: RunSummary) -> None:
        if summary.status == "diverged":
            loss = trainer.train_log[-1]["loss"]
            self.emit(
                f"diverged at step {summary.step}: training loss {loss:.4g} "
                f"(running minimum {trainer.running_min:.4g})"
            )


class ConsoleProgress(ProgressLines):
    """``scalelab train``'s progress on a rich console: a progress bar (step, loss, lr, tokens/s)
    when it is a terminal, otherwise plain :class:`ProgressLines` lines. Call :meth:`close` if the
    run fails, to give the terminal back."""

    def __init__(self, console, every_s: float = 10.0):
        super().__init__(every_s=every_s)
        self.console = console
        self.bar: Optional[RichProgress] = None
        self.task = None

    def emit(self, msg: str) -> None:
        self.console.print(msg, markup=False, highlight=False)  # above the bar, if one is shown

    def on_setup(self, trainer: Trainer) -> None:
        if self.console.is_terminal:
            self.bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("step {task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.bar.add_task(
                trainer.cfg.run_id, total=trainer.plan.total_steps, completed=trainer.step, info=""
            )
            self.bar.start()
        super().on_setup(trainer)

    def on_step(self, trainer: Trainer, progress: Progress) -> None:
        if self.bar is None:
            super().on_step(trainer, progress)
            return
        p = progress
        info = f"loss {p.loss:.4f} lr {p.lr:.3g} {p.tokens_per_s:,.0f} tok/s"
        self.bar.update(self.task, completed=p.step, info=info)

    def on_end(self, trainer: Trainer, summary: RunSummary) -> None:
        self.close()
        super().on_end(trainer, summary)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class StepFunction(Callback):
    """``fn(step, total_steps, loss, tokens_per_s)`` after every optimiser step, on every rank
    (progress bars, heartbeats; keep it cheap)."""

    rank_zero_only = False

    def __init__(self, fn: Callable[[int, int, float, float], None]):
        self.fn = fn

    def on_step(self, trainer: Trainer, progress: Progress) -> None:
        self.fn(progress.step, progress.total_steps, progress.loss, progress.tokens_per_s)


class ProgressFile(Callback):
    """The latest :class:`Progress` as one JSON object in ``path``, replaced at most every
    ``every_s`` seconds and at the last step (a reader never sees a torn file)."""

    def __init__(self, path: str | os.PathLike, every_s: float = 0.2):
        self.path = Path(path)
        self.every_s = every_s
        self.last = -float("inf")

    def on_step(self, trainer: Trainer, progress: Progress) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s or progress.step == progress.total_steps:
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps(asdict(progress)))
            os.replace(tmp, self.path)  # progress, not a record: no fsync
            self.last = now


def read_progress(path: str | os.PathLike) -> Optional[Progress]:
    """What a :class:`ProgressFile` holds (None when there is nothing, or nothing readable, yet)."""
    try:
        return Progress(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None
