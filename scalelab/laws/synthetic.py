"""Synthetic runs drawn from a known law: for testing fits, backtests and sensitivity analyses.

>>> from scalelab.laws import published, synthetic
>>> table = synthetic.simulate(published.get("chinchilla-2022"), N=[1e8, 3e8, 1e9], D=[2e9, 2e10],
noise=0.01)
>>> len(table)
6
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.laws.law import Law
from scalelab.runs.table import RunTable

TOKENS_PER_PARAM = 20.0


def simulate(
    law: Law,
    *,
    noise: float = 0.0,
    seed: int = 0,
    isoflop: Optional[Sequence[float]] = None,
    **grid: Sequence[float],
) -> RunTable:
    """One run per combination of the given variables (``N=[...], D=[...]``), or IsoFLOP profiles.

    Args:
        law: the true law.
        noise: multiplicative log-normal noise on the loss (sd of log L).
        seed: seed of the noise.
        isoflop: budgets C; with ``N=[...]`` gives, for each budget, every N with D = C/(6N).
        grid: values of each variable of the law's form (steps ``S`` make learning curves: every
            (N, S) pair is a row of run ``N``).
    """
    rng = np.random.default_rng(seed)
    if isoflop is not None:
        rows = [{"N": n, "D": c / (6.0 * n), "C": c} for c in isoflop for n in grid["N"]]
    else:
        names = list(grid)
        rows = [
            dict(zip(names, values, strict=False))
            for values in itertools.product(*(grid[n] for n in names))
        ]
    frame = pd.DataFrame(rows)
    variables = {v: frame[v].to_numpy(dtype=float) for v in law.law_form.variables}
    loss = law.predict(**variables) * np.exp(noise * rng.standard_normal(len(frame)))
    frame["loss"] = loss
    if "S" in frame.columns:
        frame["step"] = frame.pop("S")
        frame["run_id"] = [f"N={n:.4g}" for n in frame["N"]]
        frame["D"] = frame["step"] * 1024.0
    else:
        frame["run_id"] = [f"run{i}" for i in range(len(frame))]
    # Single-variable laws: fill the other schema columns at 20 tokens/parameter.
    if "N" not in frame.columns and "D" not in frame.columns:
        frame["N"] = np.sqrt(frame["C"] / (6.0 * TOKENS_PER_PARAM))
    if "D" not in frame.columns:
        frame["D"] = (
            frame["C"] / (6.0 * frame["N"])
            if "C" in frame.columns
            else TOKENS_PER_PARAM * frame["N"]
        )
    if "N" not in frame.columns:
        frame["N"] = frame["D"] / TOKENS_PER_PARAM
    return RunTable.from_frame(frame, source=f"synthetic:{law.form}")
