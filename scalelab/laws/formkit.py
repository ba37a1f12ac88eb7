"""The building blocks of a functional form: :class:`Form`, its parameters (:class:`Param`,
:func:`log_param`, :func:`exponent`), log-sum-exp forms (:func:`lse_form`) and the closed-form
Chinchilla frontier. :mod:`scalelab.laws.forms` registers the built-in forms made of them (and
re-exports these names)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from scalelab.errors import InputError

LogPredict = Callable[[np.ndarray, Mapping[str, np.ndarray]], np.ndarray]
"""(theta (K, P), log-variables {name: (n,) shared, or (K, n) one row per theta}) -> log L (K,
n)."""
Forward = Callable[[np.ndarray, Mapping[str, np.ndarray]], tuple[np.ndarray, Callable]]
"""(theta, log-variables) -> (log L (K, n), pullback), pullback(v (K, n)) = sum_i v_i d log L_i/d
  theta (K, P)."""


class LogVariables(dict):
    """Log-variables {name: (n,)} that also keep what the forms derive from them (design matrices,
    ranges), so repeated evaluations on the same data -- a fit's thousands -- compute them once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cache: dict = {}

    def derived(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def _derived(logx, key, make):
    return logx.derived(key, make) if isinstance(logx, LogVariables) else make()


def _affine(logx, v):
    """[1; -log x] (2, n): c - alpha log x = [c, alpha] @ this."""
    return _derived(logx, ("affine", v), lambda: np.stack([np.ones_like(logx[v]), -logx[v]]))


def _design(logx, v):
    """[1, log x] (n, 2): pulls a gradient back to (c, alpha) with -sign on alpha."""
    return _derived(logx, ("design", v), lambda: np.stack([np.ones_like(logx[v]), logx[v]], axis=1))


def _ones(logx, n):
    """A vector of n ones (kept with the data: a fit's every evaluation needs it)."""
    return _derived(logx, ("ones", n), lambda: np.ones(n))


def _range(logx, v):
    return _derived(logx, ("range", v), lambda: (float(np.min(logx[v])), float(np.max(logx[v]))))


@dataclass(frozen=True)
class Param:
    """One internal parameter: its name, the natural parameter it stands for, bounds and grid."""

    name: str
    natural: str
    lower: float
    upper: float
    grid: tuple[float, ...]
    log: bool = False  # True: natural = exp(internal) (a coefficient); False: identical

    def to_natural(self, value):
        return np.exp(value) if self.log else value

    def from_natural(self, value):
        return np.log(value) if self.log else value


def log_param(name: str, natural: str, lower: float, upper: float, grid: Sequence[float]) -> Param:
    """A positive coefficient fitted as its logarithm (``a = log A``)."""
    return Param(name, natural, lower, upper, tuple(grid), log=True)


def exponent(
    name: str,
    grid: Sequence[float],
    lower: float = 0.0,
    upper: float = 5.0,
    natural: str | None = None,
) -> Param:
    """A power-law exponent, fitted as it is."""
    return Param(name, natural or name, lower, upper, tuple(grid))


@dataclass(frozen=True)
class Form:
    """A scaling-law functional form.

    Attributes:
        name: registry key (``chinchilla``, ``power-offset:N``, ...).
        formula: the law as a person writes it.
        variables: run-table variables it reads, among ``N``, ``D``, ``C``, ``S``.
        params: internal parameters (optimised), with bounds and initialisation grid.
        log_predict: log L from internal parameters and log-variables.
        forward: log L with a pullback for its gradient (reverse mode, no Jacobian is built);
            ``None`` means numerical differentiation of ``log_predict``.
        irreducible: natural parameter that is the irreducible loss (``E``), if any.
        frontier: closed-form compute-optimal allocation, natural params -> (a, b, G) with
            N_opt = G (C/6)^a and D_opt = (C/6)^b / G; ``None`` when only numeric optimisation
            applies.
        points: which evaluation points a fit uses by default: ``final`` (each run's last) or
        ``all``.
        reference: where the form comes from.
        auto: a candidate of ``fit --form auto`` (:func:`scalelab.laws.forms.candidates`, in
            the order the forms were registered).
        family: forms of one family are alternatives for the same question (``L(N, D)``: the
            laws that give a compute-optimal allocation); the sensitivity analysis refits its
            baseline as each other form of the baseline's family
            (:func:`scalelab.laws.forms.neighbours`). None: a family of its own.
        quick_grid: a reduced initialisation grid {internal parameter: values} for quick refits
            (the sensitivity analysis's ``--fast``; axes it leaves out keep the full grid);
            None: the full grid.
    """

    name: str
    formula: str
    variables: tuple[str, ...]
    params: tuple[Param, ...]
    log_predict: LogPredict
    forward: Optional[Forward] = None
    irreducible: Optional[str] = None
    frontier: Optional[Callable[[Mapping[str, np.ndarray]], tuple]] = None
    points: str = "final"
    reference: str = ""
    extra: dict = field(default_factory=dict)
    auto: bool = False
    family: Optional[str] = None
    quick_grid: Optional[Mapping[str, Sequence[float]]] = None

    def __post_init__(self):
        if self.quick_grid is not None:
            self.grid(self.quick_grid)  # its axes must be the form's parameters
            quick = {k: tuple(float(x) for x in v) for k, v in self.quick_grid.items()}
            object.__setattr__(self, "quick_grid", quick)

    # -- parameter spaces -----------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def natural_names(self) -> tuple[str, ...]:
        return tuple(p.natural for p in self.params)

    @property
    def lower(self) -> np.ndarray:
        return np.array([p.lower for p in self.params])

    @property
    def upper(self) -> np.ndarray:
        return np.array([p.upper for p in self.params])

    def natural(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Internal parameters (..., P) -> {natural name: values (...)}."""
        theta = np.asarray(theta, dtype=float)
        return {p.natural: p.to_natural(theta[..., i]) for i, p in enumerate(self.params)}

    def internal(self, natural: Mapping[str, float]) -> np.ndarray:
        """{natural name: value} -> internal parameter vector (P,)."""
        missing = [p.natural for p in self.params if p.natural not in natural]
        if missing:
            raise InputError(f"form '{self.name}': missing parameter(s) {missing}")
        return np.array([p.from_natural(float(natural[p.natural])) for p in self.params])

    def grid(self, overrides: Mapping[str, Sequence[float]] | None = None) -> np.ndarray:
        """The Cartesian initialisation grid (every combination), shape (n_starts, P)."""
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(self.param_names)
        if unknown:
            raise InputError(
                f"form '{self.name}': unknown grid parameter(s) {sorted(unknown)}; "
                f"its parameters are {list(self.param_names)}"
            )
        axes = [np.asarray(overrides.get(p.name, p.grid), dtype=float) for p in self.params]
        return np.array(list(itertools.product(*axes)), dtype=float)

    # -- evaluation --------------------------------------------------------------------------------
    def log_loss_and_pullback(self, theta: np.ndarray, logx: Mapping[str, np.ndarray]):
        """log L (K, n) and a function v -> sum_i v_i d log L_i / d theta, shape (K, P)."""
        if self.forward is not None:
            return self.forward(theta, logx)
        y, jac = _numeric_jacobian(self.log_predict, theta, logx)
        return y, lambda v: np.einsum("kn,knp->kp", v, jac)

    def predict(self, theta: np.ndarray, **variables) -> np.ndarray:
        """Loss at the given variables (arrays broadcast) for one parameter vector or a batch (K,
        P)."""
        missing = [v for v in self.variables if variables.get(v) is None]
        if missing:
            raise InputError(
                f"form '{self.name}' needs {', '.join(self.variables)}; missing "
                f"{', '.join(missing)}"
            )
        arrays = np.broadcast_arrays(
            *[np.asarray(variables[v], dtype=float) for v in self.variables]
        )
        shape = arrays[0].shape
        logx = {v: np.log(a).ravel() for v, a in zip(self.variables, arrays, strict=False)}
        theta = np.asarray(theta, dtype=float)
        batch = theta.reshape(-1, theta.shape[-1])
        out = np.exp(self.log_predict(batch, logx))
        return out.reshape(theta.shape[:-1] + shape)

    def predict_each(self, theta: np.ndarray, **variables) -> np.ndarray:
        """Loss for row k of ``theta`` (K, P) at the k-th value of each variable (K,) -> (K,)."""
        logx = {
            v: np.log(np.asarray(variables[v], dtype=float)).reshape(-1, 1) for v in self.variables
        }
        with np.errstate(over="ignore", invalid="ignore"):
            return np.exp(self.log_predict(np.asarray(theta, dtype=float), logx))[:, 0]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "formula": self.formula,
            "variables": list(self.variables),
            "params": {
                p.natural: {
                    "internal": p.name,
                    "log": p.log,
                    "bounds": [p.lower, p.upper],
                    "grid": list(p.grid),
                }
                for p in self.params
            },
            "irreducible": self.irreducible,
            "closed_form_frontier": self.frontier is not None,
            "points": self.points,
            "reference": self.reference,
            "auto": self.auto,
            "family": self.family,
        }


def _numeric_jacobian(log_predict: LogPredict, theta, logx, rel: float = 1e-6):
    y = log_predict(theta, logx)
    jac = np.empty(y.shape + (theta.shape[-1],))
    for j in range(theta.shape[-1]):
        h = rel * np.maximum(1.0, np.abs(theta[:, j]))
        up, down = theta.copy(), theta.copy()
        up[:, j] += h
        down[:, j] -= h
        jac[..., j] = (log_predict(up, logx) - log_predict(down, logx)) / (2 * h[:, None])
    return y, jac


# -- log-sum-exp forms -----------------------------------------------------------------------------
Term = tuple[str, Optional[str], Optional[str]]
"""(coefficient param, exponent param or None, variable or None): the term ``c - alpha*log x``."""


def lse_form(
    name: str,
    formula: str,
    variables: Sequence[str],
    params: Sequence[Param],
    terms: Sequence[Term],
    **kwargs,
) -> Form:
    """A form whose log-loss is a log-sum-exp of terms ``c_k - alpha_k * log x_k``.

    This covers ``power`` (one term), ``power-offset``, ``chinchilla``, ``chinchilla-tied`` and
    Kaplan's L(N, S): L = sum_k C_k x_k^-alpha_k. The analytic Jacobian comes for free.
    """
    names = [p.name for p in params]
    index = {n: i for i, n in enumerate(names)}
    spec = [(index[c], None if a is None else index[a], v) for c, a, v in terms]
    # built once, not per call: each term's parameter pair, and a key for what the data gives
    pairs = [None if a is None else np.array([c, a]) for c, a, _ in spec]
    prepared_key = ("lse_form", object())

    def prepared(logx):
        # per term: [1; -log x] when x is shared by all rows, else None; the range of log x; and
        # the design matrices of the pullback -- computed once per data set (LogVariables)
        def make():
            affine = [
                None if a is None or logx[v].ndim != 1 else _affine(logx, v) for _, a, v in spec
            ]
            ranges = [None if a is None else _range(logx, v) for _, a, v in spec]
            design = {v: _design(logx, v) for _, a, v in spec if a is not None}
            return affine, ranges, design

        return _derived(logx, prepared_key, make)

    def term_values(theta, logx, affine):
        # c - alpha * log x, as a (K, 2) @ (2, n) product when x is shared by all rows (faster than
        # broadcasting); constant terms stay (K, 1): they cost nothing per point.
        return [
            theta[:, c, None]
            if a is None
            else theta[:, ca] @ af
            if af is not None
            else theta[:, c, None] - theta[:, a, None] * logx[v]
            for (c, a, v), ca, af in zip(spec, pairs, affine, strict=True)
        ]

    def term_bounds(theta, ranges):
        # Range of every term from the range of each parameter and log-variable (O(K + n)), in
        # Python floats (the same IEEE doubles as NumPy's scalars, without their per-operation cost).
        t_lo, t_hi = theta.min(axis=0).tolist(), theta.max(axis=0).tolist()
        lo, hi = np.inf, -np.inf
        for (c, a, _), x_range in zip(spec, ranges, strict=True):
            c_lo, c_hi = t_lo[c], t_hi[c]
            if a is not None:
                x_lo, x_hi = x_range
                products = (t_lo[a] * x_lo, t_lo[a] * x_hi, t_hi[a] * x_lo, t_hi[a] * x_hi)
                c_lo, c_hi = c_lo - max(products), c_hi - min(products)
            lo, hi = min(lo, c_lo), max(hi, c_hi)
        return lo, hi

    def forward(theta, logx):
        affine, ranges, design = prepared(logx)
        t = term_values(theta, logx, affine)
        if len(t) == 1:  # a pure power law: log L is linear in theta
            y, exps, total = t[0], [None], None
        else:
            y, exps, total = _lse_parts(t, term_bounds(theta, ranges))

        def pullback(v):
            # d log L / d c_k = w_k and d log L / d alpha_k = -w_k log x, with w_k = exp(t_k)/total.
            g = np.zeros((v.shape[0], theta.shape[1]))
            vt = v if total is None else v / total
            for (c, a, var), e in zip(spec, exps, strict=False):
                if e is not None and e.shape[1] == 1:  # constant term: w_k = e_k/total
                    g[:, c] += e[:, 0] * (vt @ _ones(logx, vt.shape[1]))
                    continue
                ve = vt if e is None else vt * e
                if a is None:
                    g[:, c] += ve.sum(axis=1)
                else:
                    both = ve @ design[var]
                    g[:, c] += both[:, 0]
                    g[:, a] -= both[:, 1]
            return g

        return y, pullback

    def log_predict(theta, logx):
        return forward(theta, logx)[0]

    return Form(
        name=name,
        formula=formula,
        variables=tuple(variables),
        params=tuple(params),
        log_predict=log_predict,
        forward=forward,
        **kwargs,
    )


def _lse_parts(terms, bounds=None):
    """log(sum_k exp t_k), the exp of each term (constant terms stay (K, 1)) and their sum.

    The softmax weights are exps[k] / total. Unshifted when no term can overflow or underflow
    (``bounds`` = (lowest, highest) term, if known in advance, saves computing them); otherwise
    every term is shifted by the elementwise maximum, which leaves the weights unchanged."""
    if bounds is None:
        bounds = (min(float(t.min()) for t in terms), max(float(t.max()) for t in terms))
    shift = None
    if not (-700.0 < bounds[0] and bounds[1] < 700.0):
        shift = terms[0]
        for t in terms[1:]:
            shift = np.maximum(shift, t)
        terms = [t - shift for t in terms]
    exps = [np.exp(t) for t in terms]
    total = exps[0] + exps[1]
    for e in exps[2:]:
        total = total + e
    log_total = np.log(total)
    if shift is not None:
        log_total += shift
    return log_total, exps, total


def _lse(terms):
    """log(sum_k exp t_k) and the softmax weights exp(t_k)/sum."""
    y, exps, total = _lse_parts(terms)
    return y, [e / total for e in exps]


# -- closed-form frontier --------------------------------------------------------------------------
def chinchilla_frontier(p: Mapping[str, np.ndarray]):
    """Hoffmann et al. 2022, Eq. (4): a = beta/(alpha+beta), b = alpha/(alpha+beta),
    G = (alpha A / (beta B))^(1/(alpha+beta)); N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b."""
    alpha, beta = p["alpha"], p.get("beta", p["alpha"])
    s = alpha + beta
    G = (alpha * p["A"] / (beta * p["B"])) ** (1.0 / s)
    return beta / s, alpha / s, G
