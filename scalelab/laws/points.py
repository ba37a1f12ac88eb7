"""Which evaluation points of each run a fit uses: the final one, or all after a warm-up cut.

Choshen et al. 2024 find that fitting intermediate checkpoints, minus the earliest (~10% of
training), improves extrapolation. ``FitOptions(points="all", skip_first=0.1)`` keeps every
evaluation of each run from 10% of its tokens on (the run's final point always stays).
"""

from __future__ import annotations

import numpy as np


def skip_warmup(selected, points: str, fraction: float):
    """``selected`` (a RunTable) without each run's points before ``fraction`` of its tokens."""
    if points != "all" or not fraction or "D" not in selected.data.columns:
        return selected
    data = selected.data
    D = data["D"].astype(float)
    run_max = D.groupby(data["run_id"].astype(str)).transform("max")
    keep = (D >= fraction * run_max).to_numpy() | ~np.isfinite(D.to_numpy())
    if keep.all():
        return selected
    return selected.with_data(
        data[keep],
        f"left out {int((~keep).sum())} point(s) in the first {fraction:.0%} of each run's tokens",
    )
