"""How wrong a learning-curve law was when it extrapolated, measured on the fitted runs.

A curve law's band (bootstrap over runs + the scatter of single points) says how well the
parameters are pinned by the curves at hand, not whether the law's shape holds at a larger size
or a longer run: fitted on the 16 OLMo paper rungs, the annealing law predicted a model 2.5x
larger 1.4-2.8% too high, none of five lengths inside its 1.5%-wide band (issue 22). As the
final-point forms do (:mod:`scalelab.laws.misspec`), the law is refitted on folds of its own
runs, each holding out what lies beyond a boundary, and the held-out runs' final (annealed)
losses are predicted:

* ``largest size``: every run of the largest N held out (needs 4 sizes or more, so the fold is
  still fitted jointly across >= 3 sizes);
* ``compute/3``, ``compute/10``: every curve cut at a third (a tenth) of the largest run's
  compute (C = N·tokens), the runs that went beyond it held out -- their ends are extrapolations
  along their own curves.

Each held-out final point gives a log error e_i at a distance d_i (decades beyond the fold's
fitted range: the larger of log10(N / max fitted N) and log10(C / max fitted C)). The law's
misspecification per unit of distance is ``tau² = max(0, sum(e_i² - sigma_k²) / sum((1 +
d_i)²))`` (sigma_k the fold's own point scatter), and a prediction at distance d gets
``(tau·(1 + d))²`` added to its band's variance: the engine's convention for final-point forms.
The refits start from the whole fit's minimum (one batched minimisation per fold, no bootstrap),
so measuring costs a few fits, not a few bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scalelab.runs.curves import Curve

COMPUTE_FACTORS = (3.0, 10.0)
MIN_SIZES_JOINT = 3


@dataclass
class Fold:
    name: str
    fit: list[Curve]
    held: list[Curve]
    N_max: float
    C_max: float


def tokens(c: Curve, step) -> np.ndarray:
    """Tokens seen at ``step`` (steps when the table gives no tokens per step)."""
    return np.asarray(step, float) * (c.tokens_per_step or 1.0)


def compute(c: Curve, step) -> np.ndarray:
    return c.N * tokens(c, step)


def extent(curves: list[Curve]) -> tuple[float, float]:
    """(max N, max C) of the fitted points."""
    return (
        max(c.N for c in curves),
        max(float(compute(c, c.final_step)) for c in curves),
    )


def distance(N, C, N_max: float, C_max: float) -> np.ndarray:
    """Decades beyond the fitted range (0 inside it)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.maximum(
            np.log10(np.asarray(N, float) / N_max), np.log10(np.asarray(C, float) / C_max)
        )
    return np.maximum(np.nan_to_num(d, nan=0.0), 0.0)


def _cut(c: Curve, c_max: float) -> Curve | None:
    keep = compute(c, c.steps) <= c_max
    if keep.sum() < 2:
        return None
    return replace(c, steps=c.steps[keep], loss=c.loss[keep], lr=c.lr[: int(c.steps[keep][-1])])


def folds(curves: list[Curve]) -> list[Fold]:
    """The held-out folds these curves allow."""
    out = []
    sizes = sorted({c.N for c in curves})
    if len(sizes) > MIN_SIZES_JOINT:
        fit = [c for c in curves if c.N < sizes[-1]]
        held = [c for c in curves if c.N == sizes[-1]]
        out.append(Fold("largest size", fit, held, *extent(fit)))
    c_top = max(float(compute(c, c.final_step)) for c in curves)
    for factor in COMPUTE_FACTORS:
        cut = c_top / factor
        fit = [k for k in (_cut(c, cut) for c in curves) if k is not None]
        held = [c for c in curves if float(compute(c, c.final_step)) > cut]
        if held and len({c.N for c in fit}) >= min(MIN_SIZES_JOINT, len(sizes)):
            out.append(Fold(f"compute/{factor:g}", fit, held, *extent(fit)))
    return out


def summarise(errors: list[dict]) -> dict:
    """tau from the held-out errors (each with ``error`` (log), ``distance``, ``sigma``)."""
    if len(errors) < 3:
        return {"tau": 0.0, "n": len(errors), "note": "fewer than 3 held-out runs: not measured"}
    e = np.array([r["error"] for r in errors])
    s = np.array([r["sigma"] for r in errors])
    d = np.array([r["distance"] for r in errors])
    tau2 = max(0.0, float(np.sum(e**2 - s**2) / np.sum((1 + d) ** 2)))
    return {
        "tau": float(np.sqrt(tau2)),
        "n": len(errors),
        "rms_error": float(np.sqrt(np.mean(e**2))),
        "max_abs_error": float(np.max(np.abs(e))),
    }
