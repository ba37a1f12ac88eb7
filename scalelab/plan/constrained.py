"""Data-constrained allocation (Muennighoff et al. 2023, arXiv:2305.16264).

With U unique tokens, a run of D > U tokens repeats the data for R = D/U - 1 extra epochs, and
repeated tokens are worth less. The effective data is

    D' = U + U R* (1 - exp(-R / R*)),   R* = 15.4   (DESIGN.md §2; Muennighoff et al. Eq. 5)

so D' -> U (1 + R*) however long one trains. The plan spends a budget C = 6 N D and chooses N to
minimise L(N, D'(C / 6N)). (The paper also discounts excess parameters with R_N* = 5.3; that term is
not applied here -- the loss is the law's L(N, D').)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import Law
from scalelab.laws.optimal import require_nd

R_STAR = 15.4
SCAN = 601
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def effective_tokens(D, U, r_star: float = R_STAR):
    """Effective data D' for D tokens seen drawn from U unique tokens (D <= U: D' = D)."""
    D = np.asarray(D, dtype=float)
    U = np.asarray(U, dtype=float)
    R = np.maximum(D / U - 1.0, 0.0)
    return np.where(D <= U, D, U + U * r_star * (1.0 - np.exp(-R / r_star)))


@dataclass
class ConstrainedPlan:
    unique_tokens: float
    C: float
    N: float
    D: float  # tokens seen
    epochs: float  # D / U
    D_effective: float
    tokens_per_param: float
    loss: float
    loss_interval: Optional[list]
    unconstrained_N: float
    unconstrained_D: float
    unconstrained_loss: float
    loss_penalty: float  # loss - unconstrained_loss
    r_star: float = R_STAR

    def to_dict(self) -> dict:
        return asdict(self)


def _loss(law: Law, logN, C: float, U: float, r_star: float):
    N = np.exp(logN)
    D_eff = effective_tokens(C / (6.0 * N), U, r_star)
    with np.errstate(over="ignore", invalid="ignore"):
        return law.predict(N=N, D=D_eff)


def data_constrained_optimal(
    law: Law, C: float, unique_tokens: float, r_star: float = R_STAR
) -> ConstrainedPlan:
    """The N minimising L(N, D') at budget C with ``unique_tokens`` of unique data."""
    require_nd(law.law_form)
    U = float(unique_tokens)
    if not U > 0 or not np.isfinite(U):
        raise InputError(f"unique tokens: expected a positive number, got {unique_tokens}")
    free = law.optimal(C)
    half = np.log(C / 6.0)
    grid = np.linspace(0.5 * half - 30.0, 0.5 * half + 30.0, SCAN)
    f = _loss(law, grid, C, U, r_star)
    f = np.where(np.isfinite(f), f, np.inf)
    i = int(np.argmin(f))
    if i in (0, SCAN - 1):
        raise NumericalError(
            "the data-constrained optimum lies at the edge of the searched model sizes"
        )
    lo, hi = grid[i - 1], grid[i + 1]
    one = lambda x: float(_loss(law, np.array([x]), C, U, r_star)[0])  # noqa: E731
    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    f1, f2 = one(x1), one(x2)
    while hi - lo > 1e-9:
        if f1 < f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - GOLDEN * (hi - lo)
            f1 = one(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + GOLDEN * (hi - lo)
            f2 = one(x2)
    N = float(np.exp(0.5 * (lo + hi)))
    D = C / (6.0 * N)
    D_eff = float(effective_tokens(D, U, r_star))
    loss = float(law.predict(N=N, D=D_eff))
    interval = law.interval(N=N, D=D_eff) if law.samples is not None and len(law.samples) else None
    return ConstrainedPlan(
        U,
        float(C),
        N,
        D,
        D / U,
        D_eff,
        D / N,
        loss,
        interval,
        free.N_opt,
        free.D_opt,
        free.loss,
        loss - free.loss,
        r_star,
    )
