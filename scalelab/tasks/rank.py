"""Which tasks can be predicted: noise, signal and backtest error per task, and a ranking.

A task's row (OLMo's variance analysis, Bhagia et al. 2024): the *noise* of its accuracy over the
last evaluation points of each run, the *signal* of step 2 (how far above chance the best run
reaches), their ratio, and the backtest error of the chain. Tasks are ranked: predictable ones
first, by chain backtest error (smallest first; tasks without one after), then by signal-to-noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from scalelab.runs.table import Runs, as_table
from scalelab.tasks import data as taskdata
from scalelab.tasks.backtest import backtest_points


@dataclass
class Predictability:
    task: str
    rank: int
    predictable: bool
    reason: Optional[str]
    noise: Optional[float]
    signal: float
    snr: Optional[float]
    step1_rel_error: Optional[float]
    step2_error: Optional[float]
    chain_error: Optional[float]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def predictability(
    runs: Runs,
    task="all",
    *,
    through: str = "task_loss",
    link: str = "auto",
    form: str = "auto",
    split: str = "size",
    threshold: Optional[float] = None,
    ratio: float = 10.0,
) -> list[Predictability]:
    """Each task's noise, signal and backtest errors, ranked (rank 1: the most trustworthy)."""
    table = as_table(runs)
    rows = []
    for name in taskdata.resolve_tasks(table, task):
        pts = taskdata.task_points(table, name, through)
        chance = taskdata.chance_of(pts, name, table.source)
        sn = taskdata.signal_noise(pts, chance)
        bt = backtest_points(pts, name, link, form, split, threshold, ratio, table.source)
        rows.append(
            Predictability(
                name,
                0,
                sn.predictable and bt.predictable,
                sn.reason or bt.reason,
                sn.noise,
                sn.signal,
                sn.snr,
                bt.step1_rel_error,
                bt.step2_error,
                bt.chain_error,
            )
        )
    rows.sort(
        key=lambda r: (
            not r.predictable,
            r.chain_error if r.chain_error is not None else math.inf,
            -(r.snr or 0.0),
        )
    )
    for i, r in enumerate(rows, 1):
        r.rank = i
    return rows
