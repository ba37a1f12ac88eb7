"""The defaults of a watch (:mod:`scalelab.plan.watch`), declared once and importing nothing heavy.

:mod:`scalelab.plan.watch` and :mod:`scalelab.plan.watch_source` import them from here, and so
does the command line (``scalelab watch --help`` loads neither pandas nor numpy).

    >>> from scalelab.plan.watch_options import DEFAULT_TOLERANCE, EXIT_DEPARTURE
    >>> DEFAULT_TOLERANCE, EXIT_DEPARTURE
    (0.03, 4)
"""

DEFAULT_TOLERANCE = 0.03
"""Relative widening of the law's band around each predicted point."""
DEFAULT_SPIKE = 0.05
"""A point whose loss rose by more than this (relative) over the previous one is a spike."""
DEFAULT_SKIP = 0.1
"""The fraction of a run's tokens not judged (warm-up: early losses follow no power law)."""
DEFAULT_PATIENCE = 2
"""Consecutive judged points above (or below) the band after which the run departs."""
EXIT_DEPARTURE = 4
"""Exit status of ``scalelab watch`` when the run departs from its law (or diverges)."""
DEFAULT_IDLE = 300.0
"""``--follow`` on a source that cannot say when its run finished (a plain run table, a train log
with no run folder around it) stops once it has not changed for this many seconds."""
