"""Learning-rate schedules: the trainer's names for :mod:`scalelab.runs.schedules`.

The pure schedule math lives one layer down (``scalelab/runs/schedules.py``) so that the
learning-curve laws, which may not import ``train``, rebuild a run's learning rates with the very
same code the trainer steps with.
"""

from __future__ import annotations

from scalelab.runs.schedules import (  # noqa: F401 - the trainer's names, re-exported
    Schedule,
    log_spaced_steps,
    lr_sequence,
    schedule_columns,
)
