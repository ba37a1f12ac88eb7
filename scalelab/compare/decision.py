"""Decision accuracy across scales: does the ranking of recipes at small scale predict the ranking
at the largest? (The DataDecide question, Magnusson et al. 2025.)

The *target* is the ranking at the largest size every group was trained at, at the tokens per
parameter (D/N) all groups share there, the one closest to 20 preferred. Two ways of predicting it:

* **single scale**: the ranking at each smaller shared size, at the shared D/N closest to the
  target's;
* **extrapolated with more rungs**: each group's law (the comparison's model, shared parameters
  included) fitted to the sizes up to the r-th smallest only, all of their runs, and evaluated at
  the target's (N, D); r grows from 2 rungs to all sizes below the target.

Accuracy is the share of group pairs ordered as at the target (pairs tied at the target are left
out). Rung fits start from the user's initialisation grid, or else a small one (two values per
parameter, 32 starts for ``chinchilla``), at most 300 iterations, fitted to the rung's rows only:
nothing of the larger runs leaks into them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from scalelab.compare.groups import SIZE_RTOL, Group, distinct
from scalelab.compare.joint import fit_joint, own_fits
from scalelab.errors import NumericalError
from scalelab.laws.formkit import Form
from scalelab.laws.options import FitOptions

RATIO_RTOL = 0.05
TARGET_RATIO = 20.0
RUNG_MAX_ITER = 300
"""Iteration limit of the rung fits: fits to two or three sizes are often unidentified and
creep along a valley up to any limit; their ranking is settled long before."""


@dataclass
class Rung:
    N: float
    tokens_per_param: Optional[float]
    losses: dict[str, float]
    ranking: list[str]  # best (lowest loss) first
    accuracy: Optional[float]
    reason: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Extrapolation:
    rungs: int
    max_N: float
    predicted: dict[str, float]
    ranking: list[str]
    accuracy: Optional[float]
    reason: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DecisionAccuracy:
    target: Optional[Rung]
    single_scale: list[Rung] = field(default_factory=list)
    extrapolated: list[Extrapolation] = field(default_factory=list)
    pairs: int = 0
    reason: Optional[str] = None

    def to_dict(self) -> dict:
        return {
            "target": None if self.target is None else self.target.to_dict(),
            "single_scale": [r.to_dict() for r in self.single_scale],
            "extrapolated": [e.to_dict() for e in self.extrapolated],
            "pairs": self.pairs,
            "reason": self.reason,
        }


def _at(g: Group, N: float) -> np.ndarray:
    return np.abs(g.X["N"] / N - 1.0) <= SIZE_RTOL


def _common_sizes(groups: Sequence[Group]) -> np.ndarray:
    sizes = groups[0].sizes()
    return np.array([s for s in sizes if all(_at(g, s).any() for g in groups[1:])])


def _common_ratio(groups: Sequence[Group], N: float, prefer: float) -> Optional[float]:
    ratios = [distinct(g.X["D"][_at(g, N)] / g.X["N"][_at(g, N)], RATIO_RTOL) for g in groups]
    common = [
        r for r in ratios[0] if all(np.any(np.abs(o / r - 1) <= RATIO_RTOL) for o in ratios[1:])
    ]
    if not common:
        return None
    return float(min(common, key=lambda r: abs(np.log(r / prefer))))


def _losses(groups: Sequence[Group], N: float, ratio: float) -> dict[str, float]:
    out = {}
    for g in groups:
        keep = _at(g, N) & (np.abs(g.X["D"] / g.X["N"] / ratio - 1) <= RATIO_RTOL)
        out[g.name] = float(np.mean(g.loss[keep]))  # seeds: their mean
    return out


def _ranking(losses: dict[str, float]) -> list[str]:
    return sorted(losses, key=lambda k: losses[k])


def agreement(pred: dict[str, float], target: dict[str, float]) -> Optional[float]:
    hits, n = 0, 0
    for a, b in itertools.combinations(sorted(target), 2):
        t = np.sign(target[a] - target[b])
        if t == 0:
            continue
        n += 1
        hits += int(np.sign(pred[a] - pred[b]) == t)
    return hits / n if n else None


def decision_accuracy(
    form: Form,
    groups: Sequence[Group],
    shared: Sequence[str],
    options: FitOptions,
    extrapolate: bool = True,
) -> DecisionAccuracy:
    sizes = _common_sizes(groups)
    if len(sizes) < 2:
        return DecisionAccuracy(None, reason="fewer than two model sizes are shared by all groups")
    N_t = float(sizes[-1])
    ratio_t = _common_ratio(groups, N_t, TARGET_RATIO)
    if ratio_t is None:
        return DecisionAccuracy(
            None, reason=f"no tokens-per-parameter ratio shared by all groups at N = {N_t:.3g}"
        )
    target_losses = _losses(groups, N_t, ratio_t)
    target = Rung(N_t, ratio_t, target_losses, _ranking(target_losses), None)
    n_pairs = sum(
        1
        for a, b in itertools.combinations(sorted(target_losses), 2)
        if target_losses[a] != target_losses[b]
    )
    result = DecisionAccuracy(target, pairs=n_pairs)
    for N in sizes[:-1]:
        ratio = _common_ratio(groups, N, ratio_t)
        if ratio is None:
            result.single_scale.append(
                Rung(float(N), None, {}, [], None, "no tokens-per-parameter ratio shared")
            )
            continue
        losses = _losses(groups, N, ratio)
        result.single_scale.append(
            Rung(float(N), ratio, losses, _ranking(losses), agreement(losses, target_losses))
        )
    if not extrapolate:
        return result
    # the user's grid if one was given, else every other value of the form's default grid
    grid = options.grid or {p.name: list(p.grid[::2]) for p in form.params}
    coarse = options.replace(grid=grid, bootstrap=0)
    for r in range(2, len(sizes)):
        top = float(sizes[r - 1])
        subset = [g.subset(g.X["N"] <= top * (1 + SIZE_RTOL)) for g in groups]
        short = [
            g.name
            for g in subset
            if len(g.loss) <= len(form.params)
            or any(distinct(g.X[v]).size < 2 for v in form.variables)
        ]
        if short:
            result.extrapolated.append(
                Extrapolation(r, top, {}, [], None, f"too few runs to fit group(s) {short}")
            )
            continue
        try:
            own = own_fits(form, subset, coarse)
            fit = fit_joint(form, subset, shared, coarse, own=own, bootstrap=0)
        except NumericalError as exc:
            result.extrapolated.append(Extrapolation(r, top, {}, [], None, exc.problems[0]))
            continue
        pred = {}
        for g in groups:
            variables = {"N": N_t, "D": ratio_t * N_t, "C": 6.0 * N_t * ratio_t * N_t}
            pred[g.name] = float(
                fit.laws[g.name].predict(**{v: variables[v] for v in form.variables})
            )
        result.extrapolated.append(
            Extrapolation(r, top, pred, _ranking(pred), agreement(pred, target_losses))
        )
    return result
