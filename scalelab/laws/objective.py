"""The fitting objective: a robust loss on log-loss residuals, batched over starts and resamples.

f_k(theta) = sum_i w_ki * rho(log Lhat(theta; x_i) - log L_i)

with rho the Huber function (delta = 1e-3 by default, as Hoffmann et al. 2022) or 0.5*r^2 (MSE).
The weights w_ki are 1 for a plain fit and the resampling counts of each row's run for a bootstrap
replicate, so one batched evaluation serves all starts or all replicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.formkit import Form, LogVariables
from scalelab.laws.lbfgs import clip, einsum
from scalelab.laws.options import LOSSES

CHUNK_ELEMENTS = (
    24576  # points x batch rows per evaluation chunk: ~192 KiB per float64 temporary, inside L2
)


def rho(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    if loss == "mse":
        return 0.5 * r * r
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


@dataclass
class Objective:
    """The batched objective for one form on one data set.

    Attributes:
        form: the law's form.
        logx: log-variables {name: (n,)}.
        logy: log of the observed losses (n,).
        weights: ``None`` (every point once), (n,) shared weights, or (K, n) one row per batch
            element (bootstrap replicates).
        loss: ``huber`` or ``mse``; delta: the Huber threshold.
    """

    form: Form
    logx: Mapping[str, np.ndarray]
    logy: np.ndarray
    weights: np.ndarray | None = None
    loss: str = "huber"
    delta: float = 1e-3

    def __post_init__(self):
        self.logx = LogVariables(self.logx)  # derived arrays computed once, reused by every call
        if self.loss not in LOSSES:
            raise InputError(f"fitting loss: expected one of {LOSSES}, got {self.loss!r}")
        if self.loss == "huber" and not self.delta > 0:
            raise InputError(f"Huber delta: expected a positive number, got {self.delta}")

    def value_grad(self, theta: np.ndarray, rows: np.ndarray):
        """Objective values (k,) and gradients (k, P) at theta (k, P) for batch elements ``rows``.

        Evaluated in chunks of rows whose temporaries fit in the CPU cache: the arithmetic is a
        few passes over (k, n) arrays, and memory traffic, not arithmetic, is its cost. (Threads
        over chunks were measured slower on 2 cores: the GIL is held between the small NumPy calls.)
        """
        chunk = max(1, CHUNK_ELEMENTS // max(1, self.logy.shape[0]))
        if theta.shape[0] <= chunk:
            return self._value_grad(theta, rows)
        f = np.empty(theta.shape[0])
        g = np.empty(theta.shape)
        for start in range(0, theta.shape[0], chunk):
            sl = slice(start, start + chunk)
            f[sl], g[sl] = self._value_grad(theta[sl], rows[sl])
        return f, g

    def _value_grad(self, theta: np.ndarray, rows: np.ndarray):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            y, pullback = self.form.log_loss_and_pullback(theta, self.logx)
            r = y - self.logy[None, :]
            w = None
            if self.weights is not None:
                w = self.weights[None, :] if self.weights.ndim == 1 else self.weights[rows]
            if self.loss == "mse":
                slope = r if w is None else r * w
                f = 0.5 * einsum("kn,kn->k", slope, r)
            else:
                # Huber: sum m |r| - m^2/2 with m = min(|r|, delta), i.e. r^2/2 inside delta and
                # delta (|r| - delta/2) outside; its slope is clip(r, -delta, delta) and m =
                # |slope|.
                slope = clip(r, -self.delta, self.delta)  # np.clip's ufunc
                m = np.abs(slope)
                wm = m if w is None else m * w
                f = einsum("kn,kn->k", wm, np.abs(r)) - 0.5 * einsum("kn,kn->k", wm, m)
                if w is not None:
                    slope *= w
            return f, pullback(slope)

    def value(self, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = self.form.log_predict(theta, self.logx) - self.logy[None, :]
            per_point = rho(r, self.loss, self.delta)
            if self.weights is not None:
                per_point = per_point * (
                    self.weights[None, :] if self.weights.ndim == 1 else self.weights[rows]
                )
            return per_point.sum(axis=1)
