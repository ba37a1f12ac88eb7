"""Task options: the choices of a two-step task prediction, typed, with their defaults in one place.

:func:`scalelab.tasks.predict`, :func:`scalelab.tasks.backtest` and
:func:`scalelab.tasks.predictability` take these choices as keyword arguments; the command line
(``scalelab tasks predict|backtest|rank``) reads its defaults from here.

    >>> from scalelab.tasks.options import TaskOptions
    >>> TaskOptions().through, TaskOptions().smooth
    ('task_loss', 5)
"""

from __future__ import annotations

from dataclasses import dataclass

from scalelab.errors import InputError
from scalelab.tasks.chain import SKIP, SMOOTH, STEP1_POINTS
from scalelab.tasks.data import THROUGH, check_through
from scalelab.tasks.links import LINKS
from scalelab.tasks.predict import DEFAULT_BOOTSTRAP


@dataclass(frozen=True)
class TaskOptions:
    """The choices of a task prediction.

    Attributes:
        through: the intermediate of step 1, ``task_loss`` (the task's own), ``loss`` (the
            general held-out loss) or ``task_loss:OTHER`` (task OTHER's loss at the same points).
        link: step 2's link, ``auto`` (chosen per task by backtest over held-out sizes) or one of
            :data:`scalelab.tasks.links.LINKS`.
        form: step 1's law form, ``auto`` (as ``fit --form auto``) or a registered form.
        bootstrap: resamples of both steps' parameters for the intervals; seed, level: theirs.
        smooth: step 2's moving average over this many checkpoints of each run.
        skip: step 2 skips this fraction of each run's tokens (warm-up).
        step1_points: ``auto``, ``all`` or ``final`` (:data:`scalelab.tasks.chain.STEP1_POINTS`).
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
