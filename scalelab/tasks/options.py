"""Task options: the choices of a two-step task prediction, typed, with their defaults in one place.

:func:`scalelab.tasks.predict`, :func:`scalelab.tasks.backtest` and
:func:`scalelab.tasks.predictability` take these choices as keyword arguments; the command line
(``scalelab tasks predict|backtest|rank``) reads its defaults from here.

    >>> from scalelab.tasks.options import TaskOptions
    >>> TaskOptions().through, TaskOptions().smooth
    ('task_loss', 5)

This module is the one source of the task defaults and choices, and it imports nothing heavy:
``scalelab tasks --help`` reads them without loading pandas or numpy. The task modules import
them from here (:mod:`~scalelab.tasks.chain` its ``SMOOTH``, ``SKIP``, ``STEP1_POINTS``;
:mod:`~scalelab.tasks.data` ``THROUGH``; :mod:`~scalelab.tasks.links` ``LINKS``;
:mod:`~scalelab.tasks.predict` ``DEFAULT_BOOTSTRAP``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from scalelab.errors import InputError

THROUGH = ("task_loss", "loss")
"""Step 1's intermediate: the task's own loss or the general held-out loss (or :data:`PROXY`)."""
PROXY = "task_loss:"
"""``through="task_loss:OTHER"``: the intermediate is task OTHER's task loss at the same (run,
evaluation point), e.g. LAMBADA's for the Pythia files' PIQA or ARC, which carry no loss."""
LINKS = ("sigmoid", "olmo", "exp", "sigmoid-free")
"""Step 2's fitted links (:mod:`scalelab.tasks.links`); ``auto`` chooses among them by backtest."""
SMOOTH = 5
"""Checkpoints averaged by step 2's moving average (OLMo ladder: ``--moving_avg 5``)."""
SKIP = 0.1
"""Fraction of each run's tokens skipped by step 2 as warm-up (OLMo ladder: ``--skip_perc 0.1``)."""
STEP1_POINTS = ("auto", "all", "final")
"""Step 1's points: ``all`` (every checkpoint after the warm-up skip), ``final`` (each run's last
point), ``auto`` (the default: ``final`` for a ladder with cool-down branches, whose trunks'
checkpoints are not annealed and whose branches end annealed; else ``all``)."""
DEFAULT_BOOTSTRAP = 200
"""Resamples of both steps' parameters for a task prediction's intervals."""


def check_through(through: str) -> Optional[str]:
    """Validate ``through``; the other task named by ``task_loss:OTHER`` (else None)."""
    if through in THROUGH:
        return None
    if isinstance(through, str) and through.startswith(PROXY) and through[len(PROXY) :].strip():
        return through[len(PROXY) :].strip()
    raise InputError(
        f"through: expected one of {', '.join(THROUGH)} or task_loss:TASK (another task's loss), "
        f"got {through!r}"
    )


@dataclass(frozen=True)
class TaskOptions:
    """The choices of a task prediction.

    Attributes:
        through: the intermediate of step 1, ``task_loss`` (the task's own), ``loss`` (the
            general held-out loss) or ``task_loss:OTHER`` (task OTHER's loss at the same points).
        link: step 2's link, ``auto`` (chosen per task by backtest over held-out sizes) or one of
            :data:`LINKS`.
        form: step 1's law form, ``auto`` (as ``fit --form auto``) or a registered form.
        bootstrap: resamples of both steps' parameters for the intervals; seed, level: theirs.
        smooth: step 2's moving average over this many checkpoints of each run.
        skip: step 2 skips this fraction of each run's tokens (warm-up).
        step1_points: ``auto``, ``all`` or ``final`` (:data:`STEP1_POINTS`).
    """

    through: str = THROUGH[0]
    link: str = "auto"
    form: str = "auto"
    bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = 0
    level: float = 0.95
    smooth: int = SMOOTH
    skip: float = SKIP
    step1_points: str = STEP1_POINTS[0]

    def __post_init__(self):
        check_through(self.through)
        if self.link != "auto" and self.link not in LINKS:
            raise InputError(f"link: expected auto or one of {LINKS}, got {self.link!r}")
        if self.step1_points not in STEP1_POINTS:
            raise InputError(
                f"step1_points: expected one of {STEP1_POINTS}, got {self.step1_points!r}"
            )
        if self.bootstrap < 0:
            raise InputError(f"bootstrap: expected 0 or more resamples, got {self.bootstrap}")
        if not 0 < self.level < 1:
            raise InputError(f"level: expected a confidence level in (0, 1), got {self.level}")
