"""Inference-aware allocation (Sardana et al. 2024, arXiv:2401.00448).

A model that will serve T inference tokens costs 6 N D_train + 2 N T FLOPs over its life. For a
target loss L*, choose N (and the D_train that reaches L* at that N) to minimise that total:

    minimise  6 N D_train + 2 N T   subject to   L(N, D_train) = L*.

With T = 0 this is the compute-optimal allocation; as T grows the optimum moves to smaller models
trained on more tokens. The target loss defaults to the loss of the compute-optimal model at the
training budget C, so the plan answers "the same quality, cheaper to own".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import Law
from scalelab.laws.optimal import require_nd

FLOPS_PER_PARAM_TOKEN_INFERENCE = 2.0
LOG_D_RANGE = (0.0, 80.0)  # D from 1 to e^80 tokens
SCAN = 401
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass
class InferencePlan:
    inference_tokens: float
    target_loss: float
    N: float
    D_train: float
    tokens_per_param: float
    train_flops: float
    inference_flops: float
    total_flops: float
    # the training-only compute-optimal model reaching the same loss, for comparison
    chinchilla_N: float
    chinchilla_D: float
    chinchilla_total_flops: float
    saving: float  # 1 - total / chinchilla_total
    loss_interval: Optional[list] = None

    def to_dict(self) -> dict:
        return asdict(self)


def tokens_for_loss(law: Law, N: np.ndarray, target: float) -> np.ndarray:
    """D with L(N, D) = target for each N (bisection in log D); NaN where no D reaches it."""
    N = np.asarray(N, dtype=float)
    lo = np.full(N.shape, LOG_D_RANGE[0])
    hi = np.full(N.shape, LOG_D_RANGE[1])
    with np.errstate(over="ignore", invalid="ignore"):
        reachable = law.predict(N=N, D=np.exp(hi)) < target
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            above = law.predict(N=N, D=np.exp(mid)) > target  # loss falls with D: go right
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
    return np.where(reachable, np.exp(0.5 * (lo + hi)), np.nan)


def _lifetime_flops(
    law: Law, logN: np.ndarray, target: float, T: float
) -> tuple[np.ndarray, np.ndarray]:
    N = np.exp(logN)
    D = tokens_for_loss(law, N, target)
    total = 6.0 * N * D + FLOPS_PER_PARAM_TOKEN_INFERENCE * N * T
    return np.where(np.isfinite(total), total, np.inf), D


def inference_optimal(
    law: Law,
    inference_tokens: float,
    *,
    C: Optional[float] = None,
    target_loss: Optional[float] = None,
) -> InferencePlan:
    """Minimise training plus inference FLOPs for the loss of the compute-optimal model at ``C``
    (or for ``target_loss``), serving ``inference_tokens`` tokens."""
    require_nd(law.law_form)
    T = float(inference_tokens)
    if not T >= 0 or not np.isfinite(T):
        raise InputError(
            f"inference tokens: expected a non-negative number, got {inference_tokens}"
        )
    if (C is None) == (target_loss is None):
        raise InputError(
            "an inference-aware plan needs a training budget C or a target loss, not both or "
            "neither"
        )
    if target_loss is None:
        ref = law.optimal(C)
        target = ref.loss
    else:
        target = float(target_loss)
        if not target > 0:
            raise InputError(f"target loss: expected a positive number, got {target_loss}")
    # Chinchilla reference: the compute-optimal model that reaches the target (T = 0).
    ref_logN = _minimise(law, target, 0.0)
    ref_N = float(np.exp(ref_logN))
    ref_D = float(tokens_for_loss(law, np.array([ref_N]), target)[0])
    logN = _minimise(law, target, T, around=ref_logN)
    N = float(np.exp(logN))
    D = float(tokens_for_loss(law, np.array([N]), target)[0])
    train, inf = 6.0 * N * D, FLOPS_PER_PARAM_TOKEN_INFERENCE * N * T
    ref_total = 6.0 * ref_N * ref_D + FLOPS_PER_PARAM_TOKEN_INFERENCE * ref_N * T
    interval = None
    if law.samples is not None and len(law.samples):
        interval = law.interval(N=N, D=D)
    return InferencePlan(
        T,
        float(target),
        N,
        D,
        D / N,
        train,
        inf,
        train + inf,
        ref_N,
        ref_D,
        ref_total,
        1.0 - (train + inf) / ref_total,
        interval,
    )


def _minimise(law: Law, target: float, T: float, around: Optional[float] = None) -> float:
    """log N minimising lifetime FLOPs: a log-spaced scan then golden-section refinement."""
    centre = around if around is not None else 20.0
    grid = (
        np.linspace(centre - 25.0, centre + 10.0, SCAN)
        if around is not None
        else np.linspace(0.0, 70.0, SCAN)
    )
    f, _ = _lifetime_flops(law, grid, target, T)
    if not np.isfinite(f).any():
        raise NumericalError(
            f"no model size reaches the target loss {target:.4g} under law '{law.form}' "
            "(it is below the law's irreducible loss)"
        )
    i = int(np.argmin(f))
    step = grid[1] - grid[0]
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, SCAN - 1)]
    if i in (0, SCAN - 1):
        raise NumericalError(
            "the inference-aware optimum lies at the edge of the searched model sizes"
        )
    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    f1, f2 = (_lifetime_flops(law, np.array([x]), target, T)[0][0] for x in (x1, x2))
    while hi - lo > 1e-7 * max(1.0, step):
        if f1 < f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - GOLDEN * (hi - lo)
            f1 = _lifetime_flops(law, np.array([x1]), target, T)[0][0]
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + GOLDEN * (hi - lo)
            f2 = _lifetime_flops(law, np.array([x2]), target, T)[0][0]
    return 0.5 * (lo + hi)
