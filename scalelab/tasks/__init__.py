"""Downstream-task scaling: predict a large model's task accuracy from a ladder (torch-free).

Two steps (Gadre et al. 2024; Bhagia et al. 2024): a scaling law for an intermediate loss (the
task's own loss or the general held-out loss), then a link from that loss to accuracy. See
docs/tasks.md.

    >>> from scalelab import tasks
    >>> [p.to_dict() for p in tasks.predict("tasks.csv", "all", N=7e9, D=2e12)]  # doctest: +SKIP

Its names are imported on first use (:mod:`scalelab.lazy`): ``import scalelab.tasks.options`` (as
``scalelab tasks --help`` does) loads neither pandas nor numpy.
"""

from typing import TYPE_CHECKING

from scalelab.lazy import exports

if TYPE_CHECKING:  # the names below, for static tools; at run time __getattr__ imports them
    from scalelab.tasks.backtest import backtest
    from scalelab.tasks.predict import TaskPrediction, predict
    from scalelab.tasks.rank import predictability

__all__ = ["TaskPrediction", "backtest", "predict", "predictability"]

__getattr__, __dir__ = exports(
    __name__,
    {
        "TaskPrediction": "scalelab.tasks.predict",
        "backtest": "scalelab.tasks.backtest",
        "predict": "scalelab.tasks.predict",
        "predictability": "scalelab.tasks.rank",
    },
)
