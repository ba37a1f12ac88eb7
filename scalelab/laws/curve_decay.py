"""Choosing the annealing law's momentum lambda blind to any held-out run: profile likelihood.

The annealing area ``S2`` of Tissue et al. 2024 carries a momentum ``lambda`` that enters the
law through a recursion over every step, so it is not one of the fit's smooth parameters; the
paper fixes it (0.999) and reports that the fits are sensitive to it. Here it is fitted like a
bounded parameter on a grid: for each ``lambda`` in :data:`DECAY_GRID` (0.9 .. 0.9999) the law is
fitted to the same points, and the residual sum of squares (log scale) gives the profile
log-likelihood ``-n/2·log(RSS/n)``. The chosen ``lambda`` minimises RSS; its interval is the grid
values whose likelihood-ratio statistic ``n·log(RSS/RSS_min)`` stays under the chi-square(1)
quantile of the fit's level (3.84 at 95%).

When the interval covers the whole grid the curves do not identify ``lambda`` -- no annealing
at all, or (the demo's one WSD run per size, 24 evaluations) a few cool-down points per run,
all of the same shape, that every ``lambda`` fits within the noise -- and the paper's 0.999 is
kept, with a warning: such a law predicts that same schedule at another size well, but another
length or cool-down only as well as 0.999 happens to fit it. The multi-power law has no
``lambda`` (its decay form is fitted).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.curve_forms import DECAY

AUTO = "auto"
DECAY_GRID = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999)
CHI2_1_95 = 3.841


def choose_decay(rss_of: Callable[[float], tuple[float, int]], law: str) -> tuple[float, dict]:
    """``(lambda, profile)``: ``rss_of(lambda)`` gives (RSS, n) of the fit with that lambda;
    ``profile`` records the grid, each RSS, the interval and any warning (plain data)."""
    if law != "annealing":
        return DECAY, {"method": "none", "warnings": [], "note": f"{law} has no lambda"}
    fits = [rss_of(lam) for lam in DECAY_GRID]
    rss = np.array([r for r, _ in fits])
    n = fits[0][1]
    stat = n * np.log(rss / rss.min())
    inside = [lam for lam, s in zip(DECAY_GRID, stat, strict=True) if s <= CHI2_1_95]
    chosen = float(DECAY_GRID[int(np.argmin(rss))])
    warnings = []
    identified = len(inside) < len(DECAY_GRID)
    if not identified:
        warnings.append(
            f"lambda is not identified by these curves (every value in {DECAY_GRID[0]}.."
            f"{DECAY_GRID[-1]} fits within the noise): kept the paper's {DECAY}; predictions "
            "of another schedule or length rest on it"
        )
        chosen = DECAY
    profile = {
        "method": "profile likelihood",
        "grid": list(DECAY_GRID),
        "rss": rss.tolist(),
        "lr_stat": stat.tolist(),
        "interval": [min(inside), max(inside)],
        "identified": identified,
        "chosen": chosen,
        "warnings": warnings,
    }
    return chosen, profile


def parse_decay(text: str):
    """``--decay``: a number in (0, 1] or ``auto``."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise InputError(f"--decay: expected a number in (0, 1] or 'auto', got {text!r}")
    return value
