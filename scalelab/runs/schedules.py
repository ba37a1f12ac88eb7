"""Learning-rate schedules as pure functions of the step (so resuming needs only the step count).

The one implementation: the trainer (:mod:`scalelab.train.schedule` re-exports it) and the
learning-curve laws (:mod:`scalelab.runs.curves`, :mod:`scalelab.laws.curves`) both use it, so a
run's learning-rate sequence reconstructed from its run-table columns is the trainer's, exactly.

* ``cosine``: linear warmup, then cosine decay to ``min_lr_ratio·peak`` ending exactly at the run's
  last step, i.e. the decay length matches the run's D (Hoffmann et al. 2022 found a cosine longer
  than the run overestimates the loss).
* ``wsd`` (warmup–stable–decay): linear warmup, constant, then a cool-down over the last
  ``cooldown_frac`` of the steps (shape ``1-sqrt``, ``linear`` or ``cosine``; Hägele et al. 2024).
  A WSD run of S steps is identical to a longer WSD run up to the longer run's stable phase, which
  is what makes cool-down *branches* possible: :meth:`Schedule.branch` gives the schedule of the
  run that stops at S_b < S, sharing everything before step ``S_b - cooldown(S_b)``.
* ``constant``: linear warmup, then constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Schedule:
    kind: str
    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    cooldown_frac: float = 0.2
    cooldown_shape: str = "1-sqrt"

    @property
    def cooldown_steps(self) -> int:
        if self.kind != "wsd":
            return 0
        return max(
            1,
            min(self.total_steps - self.warmup_steps, round(self.cooldown_frac * self.total_steps)),
        )

    @property
    def decay_start(self) -> int:
        """First step of the WSD cool-down (the step a branch leaves the stable phase)."""
        return self.total_steps - self.cooldown_steps

    def lr(self, step: int) -> float:
        """Learning rate of update ``step`` (0-based)."""
        peak, low = self.peak_lr, self.peak_lr * self.min_lr_ratio
        if step < self.warmup_steps:
            return peak * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return peak
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            p = min(1.0, (step - self.warmup_steps) / span)
            return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * p))
        if self.kind == "wsd":
            if step < self.decay_start:
                return peak
            p = min(1.0, (step - self.decay_start + 1) / self.cooldown_steps)
            if self.cooldown_shape == "linear":
                f = 1 - p
            elif self.cooldown_shape == "cosine":
                f = 0.5 * (1 + math.cos(math.pi * p))
            else:
                f = 1 - math.sqrt(p)
            return low + (peak - low) * f
        raise ValueError(f"unknown schedule {self.kind!r}")

    def branch(self, total_steps: int) -> Schedule:
        """The schedule of a shorter run of ``total_steps`` that shares this one's warmup and
        stable phase."""
        return replace(self, total_steps=total_steps)


def log_spaced_steps(total_steps: int, points: int) -> list[int]:
    """About ``points`` distinct steps in 1..total_steps, log-spaced, always including the last."""
    if total_steps <= 0:
        return []
    if points <= 1:
        return [total_steps]
    steps = {max(1, round(total_steps ** (i / (points - 1)))) for i in range(points)}
    steps.add(total_steps)
    return sorted(s for s in steps if s <= total_steps)


SCHEDULE_COLUMNS = (
    "warmup_steps",
    "total_steps",
    "min_lr_ratio",
    "cooldown_frac",
    "cooldown_shape",
    "decay_start",
)
"""Run-table columns that describe a row's schedule (with ``schedule`` = kind and ``lr`` = peak)."""


def schedule_columns(schedule: Schedule, step: int) -> dict:
    """The run-table columns from which :func:`scalelab.runs.curves.learning_curves` rebuilds the
    schedule of a row at ``step`` (``lr`` stays the peak; ``lr_step`` is the lr of the row's last
    update, ``step - 1``)."""
    return {
        "warmup_steps": schedule.warmup_steps,
        "total_steps": schedule.total_steps,
        "min_lr_ratio": schedule.min_lr_ratio,
        "cooldown_frac": schedule.cooldown_frac,
        "cooldown_shape": schedule.cooldown_shape,
        "decay_start": schedule.decay_start,
        "lr_step": schedule.lr(max(0, step - 1)),
    }


def lr_sequence(schedule: Schedule, steps: int | None = None) -> list[float]:
    """The learning rate of updates 0 .. ``steps - 1`` (default: the whole run), as the trainer
    applies them."""
    n = schedule.total_steps if steps is None else steps
    return [schedule.lr(s) for s in range(n)]
