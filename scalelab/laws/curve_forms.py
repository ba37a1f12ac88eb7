"""Schedule-aware learning-curve laws: what each law reads from a curve, and its formula.

**annealing** (Tissue et al. 2024, arXiv:2408.11029): at step s,
``L(s) = L0 + A·S1^(-alpha) - C·S2``, with ``S1 = sum_{i<s} eta_i`` (the forward area) and
``S2 = sum_{i<s} m_i`` (the annealing area), ``m_i = lambda·m_{i-1} + (eta_{i-1} - eta_i)``,
``lambda`` = 0.999 by default. Decreases are counted from the peak on (a warm-up's rise is not
annealing).

**multipower** (Luo et al. 2025, arXiv:2503.12811): ``L(t) = L0 + A·(S1(t))^(-alpha) - LD(t)``,
``LD(t) = B·sum_{k<=t} (eta_{k-1} - eta_k)·G(eta_k^(-gamma)·S_k(t))``, ``G(x) = 1 - (C·x +
1)^(-beta)``, ``S_k(t) = sum_{k<=tau<=t} eta_tau`` (S1 includes the warm-up area, the paper's
``S_W``). Fitted as ``Bbeta_d = B·beta`` with ``LD = Bbeta_d·sum (eta_{k-1} - eta_k)·(1 -
(C·x + 1)^(-beta))/beta``: the same law, but smooth where the curves cannot tell ``beta`` from 0
(``B`` then grows as ``1/beta`` and the fit crawled along that valley to its iteration limit;
the reparametrised law has the limit ``Bbeta_d·log(1 + C·x)`` at ``beta = 0``). Its gradient is
analytic, on the live (point, block) pairs only. The sum over k is taken over at most
``SEGMENTS`` blocks of steps per run (each block
of decreasing steps summed; exact for WSD and step schedules, a fine quadrature for cosine).

Fitted jointly across model sizes (both papers scale their constants with N): the floor is
``L0(N) = E + B·N^(-beta)`` and the forward coefficient ``A(N) = A·N^(-nu)``; with a single size
the law has its paper's own parameters (``L0``, ``A``, ``alpha``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scalelab.laws.formkit import Form, Param, _derived

LAWS = ("annealing", "multipower")
DECAY = 0.999
SEGMENTS = 24
REFERENCES = {
    "annealing": "Tissue et al. 2024, Scaling law with learning rate annealing, arXiv:2408.11029",
    "multipower": "Luo et al. 2025, A multi-power law for loss curve prediction across learning "
    "rate schedules, arXiv:2503.12811",
}


@dataclass
class Features:
    """Per-point inputs of the laws: log N, log S1, S2 and the multi-power law's blocks
    (``d``: lr decrease of each block, ``eta``: lr after it, ``Sk``: lr area from it to the
    point), (n, SEGMENTS) each."""

    logN: np.ndarray
    logS1: np.ndarray
    S2: np.ndarray
    d: np.ndarray
    eta: np.ndarray
    Sk: np.ndarray

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("logN", "logS1", "S2", "d", "eta", "Sk")}

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        return Features(
            *[np.concatenate([getattr(p, k) for p in parts]) for k in Features.__annotations__]
        )


def curve_features(lr: np.ndarray, steps: np.ndarray, N: float, decay: float = DECAY) -> Features:
    """The features of the evaluation points at ``steps`` (updates done) of a run with learning
    rates ``lr`` (update 0, 1, ...)."""
    lr = np.asarray(lr, dtype=float)
    steps = np.asarray(steps, dtype=int)
    cum = np.cumsum(lr)
    S1 = cum[steps - 1]
    drop = np.zeros_like(lr)
    peak = int(np.argmax(lr)) if lr.size else 0
    drop[peak + 1 :] = lr[peak:-1] - lr[peak + 1 :]  # eta_{i-1} - eta_i from the peak on
    m = np.empty_like(lr)
    acc = 0.0
    for i, x in enumerate(drop.tolist()):
        acc = decay * acc + x
        m[i] = acc
    S2 = np.cumsum(m)[steps - 1]
    d, eta, Sk = _blocks(lr, drop, cum, steps)
    return Features(np.full(len(steps), np.log(N)), np.log(S1), S2, d, eta, Sk)


def _blocks(lr, drop, cum, steps):
    """The multi-power law's sum over k in at most SEGMENTS blocks of steps where lr changes."""
    changing = np.flatnonzero(drop != 0)
    n = len(steps)
    d = np.zeros((n, SEGMENTS))
    eta = np.ones((n, SEGMENTS))
    Sk = np.zeros((n, SEGMENTS))
    if changing.size == 0:
        return d, eta, Sk
    groups = np.array_split(changing, min(SEGMENTS, changing.size))
    for j, g in enumerate(groups):
        k = int(g[len(g) // 2])  # the block's representative step
        for p, s in enumerate(steps):
            inside = g[g < s]
            if inside.size == 0:
                continue
            d[p, j] = drop[inside].sum()
            eta[p, j] = lr[k] if k < s else lr[inside[-1]]
            kk = min(k, int(inside[-1]))
            Sk[p, j] = cum[s - 1] - (cum[kk - 1] if kk > 0 else 0.0)
    return d, eta, Sk


# -- the forms -------------------------------------------------------------------------------------
def _coef(name, lower=-40.0, upper=60.0):
    return Param(name, name, lower, upper, (), log=True)


def _expo(name, lower=0.0, upper=3.0):
    return Param(name, name, lower, upper, ())


def params(law: str, joint: bool) -> tuple[Param, ...]:
    """Internal parameters (coefficients fitted as their logarithms)."""
    head = (
        (_coef("E", -20, 5), _coef("B"), _expo("beta"), _coef("A"), _expo("nu", -1.0, 3.0))
        if joint
        else (_coef("L0", -20, 5), _coef("A"))
    )
    head += (_expo("alpha"),)
    if law == "annealing":
        return head + (_coef("C"),)
    return head + (_coef("Bbeta_d"), _coef("C_d"), _expo("beta_d", 0.0, 5.0), _expo("gamma_d"))


def form(law: str, joint: bool) -> Form:
    """The law as a :class:`Form` on :class:`Features` (numerical gradients)."""
    ps = params(law, joint)
    index = {p.name: i for i, p in enumerate(ps)}

    def log_predict(theta: np.ndarray, x: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.log(loss_terms(law, joint, theta, x, index))

    formula = {
        "annealing": "L = L0(N) + A(N)·S1^-alpha - C·S2",
        "multipower": "L = L0(N) + A(N)·S1^-alpha - Bbeta_d·sum (eta_{k-1}-eta_k)"
        "·(1-(C_d·eta_k^-gamma_d·S_k+1)^-beta_d)/beta_d",
    }[law]
    if joint:
        formula += "; L0(N) = E + B·N^-beta, A(N) = A·N^-nu"
    return Form(
        name=law,
        formula=formula,
        variables=("N", "S1", "S2"),
        params=ps,
        log_predict=log_predict,
        forward=_annealing_forward(joint) if law == "annealing" else _multipower_forward(joint),
        points="all",
        reference=REFERENCES[law],
    )


def _annealing_forward(joint: bool):
    """log L and its pullback for the annealing law (analytic: the fit's thousands of
    evaluations cost one pass each instead of 2P + 1)."""

    def forward(theta, x):
        logN, logS1, S2 = x["logN"][None, :], x["logS1"][None, :], x["S2"][None, :]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if joint:
                E = np.exp(theta[:, 0, None])
                Bn = np.exp(theta[:, 1, None] - theta[:, 2, None] * logN)
                F = np.exp(theta[:, 3, None] - theta[:, 4, None] * logN - theta[:, 5, None] * logS1)
                CS = np.exp(theta[:, 6, None]) * S2
                T = E + Bn + F - CS
                parts = (E, Bn, -Bn * logN, F, -F * logN, -F * logS1, -CS)
            else:
                L0 = np.exp(theta[:, 0, None])
                F = np.exp(theta[:, 1, None] - theta[:, 2, None] * logS1)
                CS = np.exp(theta[:, 3, None]) * S2
                T = L0 + F - CS
                parts = (L0, F, -F * logS1, -CS)
            y = np.log(T)

        return y, _pullback(parts, T)

    return forward


def _multipower_forward(joint: bool):
    """log L and its pullback for the multi-power law, analytic (the numerical gradient cost
    2P + 1 = 21 evaluations of the (K, n, SEGMENTS) decay term per step of the fit).

    With v = C_d·eta^-gamma_d·S_k, l = log(1 + v), H = exp(-beta_d·l), q = (1 - H)/beta_d, the
    decay term LD = Bbeta_d·sum d·q has d LD/d log Bbeta_d = LD, d LD/d log C_d =
    Bbeta_d·sum d·H·v/(1+v), d LD/d gamma_d = -Bbeta_d·sum d·H·v/(1+v)·log eta and
    d LD/d beta_d = Bbeta_d·sum d·(l·H - q)/beta_d (-l²/2 at beta_d = 0)."""
    head = 6 if joint else 3

    def forward(theta, x):
        logN, logS1 = x["logN"][None, :], x["logS1"][None, :]
        _, d, log_eta, log_sk, d_log_eta, _ = _derived(x, "multipower", lambda: _decay_inputs(x))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if joint:
                E = np.exp(theta[:, 0, None])
                Bn = np.exp(theta[:, 1, None] - theta[:, 2, None] * logN)
                F = np.exp(theta[:, 3, None] - theta[:, 4, None] * logN - theta[:, 5, None] * logS1)
                head_parts = (E, Bn, -Bn * logN, F, -F * logN, -F * logS1)
                T0 = E + Bn + F
            else:
                L0 = np.exp(theta[:, 0, None])
                F = np.exp(theta[:, 1, None] - theta[:, 2, None] * logS1)
                head_parts = (L0, F, -F * logS1)
                T0 = L0 + F
            LD, g_logc, g_beta, g_gamma = _decay_terms(
                theta[:, head:], d, log_eta, log_sk, d_log_eta
            )
            T = T0 - LD
            y = np.log(T)
        parts = head_parts + (-LD, -g_logc, -g_beta, -g_gamma)

        return y, _pullback(parts, T)

    return forward


KERNEL_ELEMENTS = 16384  # (pair, row) elements per kernel block: ~128 KiB temporaries, in L2


def _pullback(parts, T):
    """The vector-Jacobian product of log T, T's derivatives being ``parts`` (one per internal
    parameter, each broadcastable to T's shape)."""

    def pullback(v):
        w = v / T
        return np.stack([np.einsum("kn,kn->k", w, np.broadcast_to(p, w.shape)) for p in parts], 1)

    return pullback


def _decay_terms(th, d, log_eta, log_sk, d_log_eta):
    """LD and its derivatives in log C_d, beta_d and gamma_d (over Bbeta_d), per point (K, n)
    each, for the decay parameters ``th`` (K, 4: log Bbeta_d, log C_d, beta_d, gamma_d). Computed in
    blocks of rows whose (pairs, rows) temporaries stay in cache: on the OLMo rungs' 15,507
    live pairs one row at a time took 0.53 ms per row against 0.9 ms 21 rows at a time (each
    row's values are the same either way)."""
    K = th.shape[0]
    step = max(1, KERNEL_ELEMENTS // max(1, log_eta.size))
    out = np.empty((4, K, d.shape[0]))
    for a in range(0, K, step):
        t = th[a : a + step]
        bb = np.exp(t[:, 0])[:, None]
        beta = np.maximum(t[None, :, 2], BETA_FLOOR)
        l, H, q, r = _decay_kernel(t[None, :, 1], beta, t[None, :, 3], log_eta, log_sk)
        out[0, a : a + step] = bb * _to_points(q, d)
        l *= H  # in place from here: (l·H - q)/beta and H·r, the same values
        l -= q
        l /= beta
        out[2, a : a + step] = bb * _to_points(l, d)
        r *= H
        out[1, a : a + step] = bb * _to_points(r, d)
        out[3, a : a + step] = -bb * _to_points(r, d_log_eta)
    return out[0], out[1], out[2], out[3]


BETA_FLOOR = 1e-9  # beta_d below it is computed as this (q = log u to 1e-9 relative)


def _decay_kernel(logc, beta, gamma, log_eta, log_sk):
    """(l, H, q, r) of the multi-power decay on the live (point, block) pairs, (nnz, K) each:
    l = log(1 + v), v = C_d·eta^-gamma_d·S_k, H = (1 + v)^-beta_d, q = (1 - H)/beta_d and
    r = v/(1 + v)."""
    # in place where a temporary would be thrown away (bitwise the same values, fewer
    # (nnz, K) allocations: this kernel is most of a multi-power fit's time)
    v = gamma * log_eta[:, None]
    np.subtract(logc, v, out=v)
    v += log_sk[:, None]
    np.minimum(v, 700.0, out=v)
    np.exp(v, out=v)
    l = np.log1p(v)
    em = np.multiply(-beta, l)
    np.expm1(em, out=em)
    q = np.divide(em, beta)
    np.negative(q, out=q)
    r = 1.0 + v
    np.divide(v, r, out=r)
    em += 1.0
    return l, em, q, r


def _to_points(a, d):
    """(nnz, K) per live pair -> (K, n) per point, weighted by the sparse (n, nnz) ``d``."""
    return np.asarray(d @ a).T


def _decay_inputs(x):
    """The live (point, block) pairs -- a block the lr decreased in before the point -- as flat
    arrays (nnz,): the block's decrease summed to its point by the sparse ``d`` (n, nnz), its
    log lr and log area, and ``d·log eta``."""
    from scipy import sparse  # noqa: PLC0415 - paid by a multi-power fit only

    dd = np.asarray(x["d"], float)
    live = (dd != 0) & (x["Sk"] > 0)
    rows, cols = np.nonzero(live)
    n = dd.shape[0]
    log_eta = np.log(np.maximum(x["eta"][rows, cols], 1e-300))
    log_sk = np.log(x["Sk"][rows, cols])
    d = sparse.csr_matrix((dd[rows, cols], (rows, np.arange(rows.size))), shape=(n, rows.size))
    d_log_eta = sparse.csr_matrix(
        (dd[rows, cols] * log_eta, (rows, np.arange(rows.size))), shape=(n, rows.size)
    )
    return live, d, log_eta, log_sk, d_log_eta, n


def loss_terms(law, joint, theta, x, index) -> np.ndarray:
    """Predicted loss (K, n) for internal parameters theta (K, P)."""

    def p(name):
        v = theta[:, index[name], None]
        return v

    logN, logS1 = x["logN"][None, :], x["logS1"][None, :]
    if joint:
        floor = np.exp(p("E")) + np.exp(p("B") - p("beta") * logN)
        forward = np.exp(p("A") - p("nu") * logN - p("alpha") * logS1)
    else:
        floor = np.exp(p("L0"))
        forward = np.exp(p("A") - p("alpha") * logS1)
    if law == "annealing":
        return floor + forward - np.exp(p("C")) * x["S2"][None, :]
    _, d, log_eta, log_sk, _, _ = _derived(x, "multipower", lambda: _decay_inputs(x))
    beta = np.maximum(theta[None, :, index["beta_d"]], BETA_FLOOR)
    with np.errstate(over="ignore", invalid="ignore"):
        _, _, q, _ = _decay_kernel(
            theta[None, :, index["C_d"]], beta, theta[None, :, index["gamma_d"]], log_eta, log_sk
        )
    LD = np.exp(p("Bbeta_d")) * _to_points(q, d)
    return floor + forward - LD
