"""Joint fits across groups: several laws of one form that may share parameters.

A :class:`ParamMap` lays the groups' parameters out in one vector: a shared parameter has one slot
used by every group, a free one a slot per group. The joint objective is the sum of the groups'
objectives (:class:`scalelab.laws.objective.Objective`: Huber on log-loss residuals, or MSE), each
evaluated at its group's view of the joint vector, with the gradients added back slot by slot; it
is minimised by the laws layer's batched, bound-projected L-BFGS (:mod:`scalelab.laws.lbfgs`). No
second optimiser.

Starts: each group's own fit of the form (:func:`scalelab.laws.fit_form`, the form's full
initialisation grid); a shared slot starts from each group's value and from their mean in turn
(and from a pooled fit of all groups' rows when one is given: :func:`pooled_fit`). Refits on
subsets (out-of-sample checks) start from the full-data solutions (``own``, ``warm``).

The bootstrap resamples runs *within each group* (every group keeps its number of runs) and refits
the joint model from the best solution, all resamples in one batched call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from scalelab.compare.groups import Group
from scalelab.errors import InputError, NumericalError
from scalelab.laws import lbfgs
from scalelab.laws.fit import fit_form
from scalelab.laws.formkit import Form
from scalelab.laws.law import Law
from scalelab.laws.objective import Objective
from scalelab.laws.options import FitOptions
from scalelab.runs.table import RunTable

CONVERGED_RTOL = 1e-6


def memory(pmap: ParamMap) -> int:
    """L-BFGS memory for a joint fit: twice the joint parameters (10 to 40). The laws layer's
    default of 10 pairs suits one law's ~5 parameters; a joint fit of 11 to 15 parameters with
    the default memory needs several times more iterations (measured on gadre2024-all: 800 vs 150
    with alpha and beta shared) and often stops at the iteration limit."""
    return int(min(40, max(10, 2 * pmap.size)))


def percentiles(values: np.ndarray, level: float) -> Optional[list[float]]:
    """Percentile interval of the finite values; None when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return [float(lo), float(hi)]


def resolve_shared(form: Form, shared: Sequence[str] | str | None) -> tuple[str, ...]:
    """Internal names of the shared parameters, from natural (``alpha``, ``E``) or internal
    (``e``) names, comma-separated or a list; ``none`` or empty: nothing shared."""
    if shared is None:
        return ()
    if isinstance(shared, str):
        shared = [s for s in shared.split(",")]
    names = [s.strip() for s in shared if s.strip() and s.strip().lower() != "none"]
    by_natural = {p.natural: p.name for p in form.params}
    internal = set(form.param_names)
    out = []
    for name in names:
        if name in by_natural:
            out.append(by_natural[name])
        elif name in internal:
            out.append(name)
        else:
            raise InputError(
                f"--shared: {name!r} is not a parameter of form '{form.name}'; its parameters "
                f"are {', '.join(form.natural_names)}"
            )
    out = list(dict.fromkeys(out))
    if len(out) == len(form.params):
        raise InputError(
            f"--shared: sharing every parameter of '{form.name}' leaves nothing to compare; "
            "leave at least one parameter free (e.g. E)"
        )
    return tuple(p for p in form.param_names if p in out)  # in the form's order


@dataclass(frozen=True)
class ParamMap:
    """Where each group's parameters live in the joint vector."""

    form: Form
    groups: tuple[str, ...]
    shared: tuple[str, ...]  # internal names

    @property
    def index(self) -> np.ndarray:
        """(G, P): the joint slot of group g's parameter p."""
        G, P = len(self.groups), len(self.form.params)
        idx = np.empty((G, P), dtype=int)
        slot = 0
        for p, param in enumerate(self.form.params):
            if param.name in self.shared:
                idx[:, p] = slot
                slot += 1
            else:
                idx[:, p] = np.arange(slot, slot + G)
                slot += G
        return idx

    @property
    def size(self) -> int:
        return int(self.index.max()) + 1

    @property
    def slot_names(self) -> list[str]:
        names = [""] * self.size
        for g, group in enumerate(self.groups):
            for p, param in enumerate(self.form.params):
                s = self.index[g, p]
                names[s] = (
                    param.natural if param.name in self.shared else f"{param.natural}[{group}]"
                )
        return names

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.empty(self.size), np.empty(self.size)
        for g in range(len(self.groups)):
            lo[self.index[g]] = self.form.lower
            hi[self.index[g]] = self.form.upper
        return lo, hi

    def split(self, theta: np.ndarray) -> np.ndarray:
        """Joint vectors (..., J) -> per-group internal vectors (..., G, P)."""
        return np.asarray(theta)[..., self.index]

    def join(self, per_group: np.ndarray, shared_from: Optional[np.ndarray] = None) -> np.ndarray:
        """Per-group vectors (G, P) -> one joint vector; a shared slot takes ``shared_from``'s
        value (P,) or the groups' mean."""
        per_group = np.asarray(per_group, dtype=float)
        out = np.empty(self.size)
        for p in range(per_group.shape[1]):
            slots = self.index[:, p]
            if self.form.params[p].name in self.shared:
                out[slots[0]] = (
                    per_group[:, p].mean() if shared_from is None else float(shared_from[p])
                )
            else:
                out[slots] = per_group[:, p]
        return out


class JointObjective:
    """Sum of the groups' objectives at their views of the joint vector (batched over rows)."""

    def __init__(self, pmap: ParamMap, objectives: Sequence[Objective]):
        self.pmap = pmap
        self.objectives = list(objectives)
        self.index = pmap.index

    def value_grad(self, theta: np.ndarray, rows: np.ndarray):
        per = theta[:, self.index]  # (K, G, P)
        f = np.zeros(theta.shape[0])
        g = np.zeros(theta.shape)
        for gi, obj in enumerate(self.objectives):
            fg, gg = obj.value_grad(per[:, gi], rows)
            f += fg
            g[:, self.index[gi]] += gg  # a group's parameters sit in distinct slots
        return f, g

    def parts(self, theta: np.ndarray) -> np.ndarray:
        """Each group's objective at one joint vector (G,)."""
        per = self.pmap.split(theta[None, :])
        rows = np.zeros(1, dtype=int)
        return np.array([obj.value(per[:, gi], rows)[0] for gi, obj in enumerate(self.objectives)])


@dataclass
class JointFit:
    """A joint fit: one law per group, some parameters shared.

    Attributes:
        form: the form's name; groups: the group names in order; shared: the shared parameters
            (natural names).
        theta: the joint internal vector; samples: bootstrap joint vectors (n_ok, J) or None.
        laws: one :class:`~scalelab.laws.Law` per group (its parameters and bootstrap samples:
            ``laws[g].predict``, ``.interval``, ``.optimal`` work as for any law).
        objective: the joint objective; parts: each group's share; n_points per group.
        warnings: parameters on a bound, failed bootstrap refits.
    """

    form: str
    groups: list[str]
    shared: list[str]
    pmap: ParamMap
    theta: np.ndarray
    objective: float
    parts: dict[str, float]
    n_points: dict[str, int]
    n_runs: dict[str, int]
    laws: dict[str, Law]
    level: float
    samples: Optional[np.ndarray] = None
    warnings: list[str] = field(default_factory=list)
    starts: dict[str, Any] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        return self.pmap.size

    @property
    def total_points(self) -> int:
        return int(sum(self.n_points.values()))

    def group_theta(self, name: str) -> np.ndarray:
        return self.pmap.split(self.theta)[self.groups.index(name)]

    def group_samples(self, name: str) -> Optional[np.ndarray]:
        if self.samples is None:
            return None
        return self.pmap.split(self.samples)[:, self.groups.index(name)]

    def to_dict(self) -> dict:
        return {
            "form": self.form,
            "groups": list(self.groups),
            "shared": list(self.shared),
            "n_params": self.n_params,
            "objective": self.objective,
            "n_points": dict(self.n_points),
            "n_runs": dict(self.n_runs),
            "params": {g: dict(law.params) for g, law in self.laws.items()},
            "ci": {g: dict(law.ci) for g, law in self.laws.items()},
            "level": self.level,
            "bootstrap": None if self.samples is None else int(len(self.samples)),
            "starts": dict(self.starts),
            "warnings": list(self.warnings),
        }


def objectives(
    form: Form, groups: Sequence[Group], options: FitOptions, weights=None
) -> list[Objective]:
    return [
        Objective(
            form,
            {v: np.log(g.X[v]) for v in form.variables},
            np.log(g.loss),
            None if weights is None else weights[i],
            options.loss,
            options.delta if options.delta is not None else 1e-3,
        )
        for i, g in enumerate(groups)
    ]


def own_fits(form: Form, groups: Sequence[Group], options: FitOptions) -> np.ndarray:
    """Each group's own best fit (G, P), from the form's full initialisation grid."""
    out = []
    opts = _plain(options)
    for g in groups:
        try:
            law = fit_form(_frame(g), form, options=opts)
        except NumericalError as exc:
            raise NumericalError(f"group {g.name!r}: {exc.problems[0]}") from None
        out.append(form.internal(law.params))
    return np.array(out)


def pooled_fit(form: Form, groups: Sequence[Group], options: FitOptions) -> Optional[np.ndarray]:
    """One law fitted to every group's rows together (a start for shared slots)."""
    frame = pd.concat([_frame(g).data for g in groups], ignore_index=True)
    frame["run_id"] = [f"{i}" for i in range(len(frame))]
    try:
        law = fit_form(RunTable(frame, "pooled"), form, options=_plain(options))
    except NumericalError:
        return None
    return form.internal(law.params)


def _plain(options: FitOptions) -> FitOptions:
    """Options for a fit of a group's :func:`_frame`: its rows are already selected and its N
    and C already follow the conventions."""
    return options.replace(
        bootstrap=0, points="all", eval_set=None, task=None, params="non-embedding", flops="table"
    )


def _frame(g: Group) -> RunTable:
    """The group's rows as a plain run table: N, D and C as the conventions read them."""
    data = pd.DataFrame({v: g.X[v] for v in ("N", "D", "C")})
    data["loss"] = g.loss
    data["run_id"] = [str(r) for r in g.run_ids]
    return RunTable(data.reset_index(drop=True), g.name)


def starts(
    pmap: ParamMap, own: np.ndarray, pooled: Optional[np.ndarray], warm: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """Joint starts: the groups' own values for free slots; each group's value, the mean and the
    pooled value for shared slots; the pooled law everywhere; and any warm starts."""
    cands = [pmap.join(own)] + [pmap.join(own, own[g]) for g in range(len(own))]
    if pooled is not None:
        cands.append(pmap.join(own, pooled))
        cands.append(pmap.join(np.tile(pooled, (len(own), 1)), pooled))
    cands += [np.asarray(w, dtype=float) for w in warm]
    lo, hi = pmap.bounds()
    return np.clip(np.unique(np.array(cands), axis=0), lo, hi)


def fit_joint(
    form: Form,
    groups: Sequence[Group],
    shared: Sequence[str],
    options: FitOptions,
    *,
    own: Optional[np.ndarray] = None,
    pooled: Optional[np.ndarray] = None,
    warm: Sequence[np.ndarray] = (),
    bootstrap: Optional[int] = None,
) -> JointFit:
    """Fit one law per group with the ``shared`` (internal names) parameters in common."""
    pmap = ParamMap(form, tuple(g.name for g in groups), tuple(shared))
    if own is None:
        own = own_fits(form, groups, options)
    x0 = starts(pmap, own, pooled, warm)
    lo, hi = pmap.bounds()
    objs = objectives(form, groups, options)
    jobj = JointObjective(pmap, objs)
    res = lbfgs.minimize(
        jobj.value_grad, x0, lo, hi, max_iter=options.max_iter, memory=memory(pmap)
    )
    finite = np.isfinite(res.fun)
    if not finite.any():
        raise NumericalError(f"joint fit of '{form.name}' failed: no start reached a finite value")
    best = int(np.argmin(np.where(finite, res.fun, np.inf)))
    theta = res.x[best]
    f_best = float(res.fun[best])
    at_best = finite & (res.fun - f_best <= CONVERGED_RTOL * abs(f_best)) & res.converged
    names = [g.name for g in groups]
    parts = jobj.parts(theta)
    level = options.level
    warnings = _bound_warnings(pmap, theta)
    if not res.converged[best]:
        warnings.append("the joint fit stopped at the iteration limit; the optimum may be missed")
    fit = JointFit(
        form=form.name,
        groups=names,
        shared=[p.natural for p in form.params if p.name in shared],
        pmap=pmap,
        theta=theta,
        objective=f_best,
        parts={n: float(v) for n, v in zip(names, parts, strict=True)},
        n_points={g.name: int(len(g.loss)) for g in groups},
        n_runs={g.name: g.n_runs for g in groups},
        laws={},
        level=level,
        warnings=warnings,
        starts={"n": int(len(x0)), "converged_to_best": int(at_best.sum())},
    )
    n_boot = options.bootstrap if bootstrap is None else bootstrap
    if n_boot:
        _bootstrap(fit, form, groups, options, n_boot, res, best)
    for gi, g in enumerate(groups):
        per = pmap.split(theta)[gi]
        samples = None if fit.samples is None else pmap.split(fit.samples)[:, gi]
        law = Law(
            form=form.name,
            params={k: float(v) for k, v in form.natural(per).items()},
            objective=float(parts[gi]),
            n_points=int(len(g.loss)),
            n_runs=g.n_runs,
            options=options,
            conventions=options.conventions.describe(),
            data={
                "source": g.table.source,
                "group": g.name,
                "shared": fit.shared,
                "ranges": {v: [float(g.X[v].min()), float(g.X[v].max())] for v in form.variables},
            },
            samples=samples,
        )
        if samples is not None:
            law.ci = {
                k: percentiles(v, level) or [float("nan")] * 2
                for k, v in form.natural(samples).items()
            }
        fit.laws[g.name] = law
    return fit


def _bootstrap(fit, form, groups, options, n_boot, res, best) -> None:
    rng = np.random.default_rng(options.seed)
    weights = []
    for g in groups:
        codes, unique = pd.factorize(pd.Series(g.run_ids).astype(str))
        counts = rng.multinomial(len(unique), np.full(len(unique), 1.0 / len(unique)), n_boot)
        weights.append(counts[:, codes].astype(float))
    # start each resample from the best solution and the next-best distinct one
    order = np.argsort(np.where(np.isfinite(res.fun) & res.converged, res.fun, np.inf))
    chosen = [res.x[best]]
    for i in order:
        if len(chosen) >= 2 or not np.isfinite(res.fun[i]):
            break
        if np.max(np.abs(res.x[i] - chosen[0])) > 1e-3:
            chosen.append(res.x[i])
    s = len(chosen)
    objs = objectives(form, groups, options, [np.repeat(w, s, axis=0) for w in weights])
    jobj = JointObjective(fit.pmap, objs)
    lo, hi = fit.pmap.bounds()
    boot = lbfgs.minimize(
        jobj.value_grad,
        np.tile(np.array(chosen), (n_boot, 1)),
        lo,
        hi,
        max_iter=options.max_iter,
        memory=memory(fit.pmap),
    )
    fun = np.where(np.isfinite(boot.fun), boot.fun, np.inf).reshape(n_boot, s)
    pick = np.argmin(fun, axis=1)
    rows = np.arange(n_boot) * s + pick
    ok = np.isfinite(fun[np.arange(n_boot), pick]) & boot.converged[rows]
    fit.samples = boot.x[rows][ok]
    fit.starts["bootstrap"] = {
        "resamples": int(n_boot),
        "failed": int((~ok).sum()),
        "unit": "run, within each group",
    }
    if (~ok).sum() > 0.05 * n_boot:
        fit.warnings.append(
            f"{int((~ok).sum())} of {n_boot} bootstrap refits did not converge; intervals use "
            "the rest"
        )
    if ok.sum() < 2:
        raise NumericalError("the joint bootstrap failed: fewer than two refits converged")


def _bound_warnings(pmap: ParamMap, theta: np.ndarray) -> list[str]:
    lo, hi = pmap.bounds()
    out = []
    for name, value, a, b in zip(pmap.slot_names, theta, lo, hi, strict=True):
        for side, bound in (("lower", a), ("upper", b)):
            if abs(value - bound) <= 1e-6 * (b - a):
                out.append(
                    f"parameter {name} sits on its {side} bound; the fit is not identified in "
                    "that direction"
                )
    return out
