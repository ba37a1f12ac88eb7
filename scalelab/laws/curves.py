"""Fit a schedule-aware learning-curve law to every evaluation point of a ladder's runs, and
predict with it.

``fit_curves(runs, law="annealing")`` reads each run's curve and learning-rate sequence
(:func:`scalelab.runs.curves.learning_curves`), drops each run's first ``skip_first`` (10%) of
steps, and minimises the engine's objective -- Huber (delta 1e-3) on log-loss residuals
(:mod:`scalelab.laws.objective`) -- with the batched L-BFGS (:mod:`scalelab.laws.lbfgs`) from a
grid of starts scaled to the data. Intervals: a bootstrap over runs (all points of a run go
together), percentile intervals of every parameter; prediction bands add the residual scatter of
single points (``sigma``) and the law's misspecification measured on held-out folds of its own
runs, growing with the distance beyond them (:mod:`scalelab.laws.curve_misspec`).
``law="auto"`` chooses the law and lambda by those folds (:mod:`scalelab.laws.curve_auto`).

Predictions (:class:`CurveLaw`): ``predict(N, lr)`` a whole curve for a size and a learning-rate
sequence; ``final(N, schedule)`` the final, annealed loss of a run under another schedule or
length; ``forecast(curve, schedule)`` a running job's final loss from its curve so far (the law's
shape, re-levelled to the job's own points).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.laws import curve_fit, curve_misspec
from scalelab.laws.curve_decay import AUTO, choose_decay
from scalelab.laws.curve_forms import DECAY, LAWS, Features, curve_features, form
from scalelab.laws.objective import Objective
from scalelab.runs.curves import Curve, learning_curves
from scalelab.runs.schedules import Schedule, lr_sequence
from scalelab.runs.table import Runs, as_table

SKIP_FIRST = 0.1
LEVEL = 0.9


@dataclass
class CurveLaw:
    """A fitted learning-curve law: plain data (``to_dict`` / ``from_dict``)."""

    law: str
    joint: bool
    params: dict
    ci: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)  # bootstrap internal parameter vectors
    sigma: float = 0.0  # residual scatter of single points (log scale)
    n_points: int = 0
    n_runs: int = 0
    decay: float = DECAY
    skip_first: float = SKIP_FIRST
    level: float = LEVEL
    fit_s: float = 0.0
    warnings: list = field(default_factory=list)
    data: dict = field(default_factory=dict)
    misspec: dict = field(default_factory=dict)  # held-out refits (curve_misspec): tau, folds

    # -- plain data --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "kind": "learning-curve law",
            "law": self.law,
            "joint": self.joint,
            "formula": form(self.law, self.joint).formula,
            "reference": form(self.law, self.joint).reference,
            "params": self.params,
            "ci": self.ci,
            "level": self.level,
            "samples": [list(map(float, s)) for s in self.samples],
            "sigma": self.sigma,
            "n_points": self.n_points,
            "n_runs": self.n_runs,
            "decay": self.decay,
            "skip_first": self.skip_first,
            "fit_s": self.fit_s,
            "warnings": self.warnings,
            "data": self.data,
            "misspec": self.misspec,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CurveLaw:
        if d.get("law") not in LAWS or not isinstance(d.get("params"), dict):
            raise InputError(f"law file: expected a learning-curve law ({', '.join(LAWS)})")
        keep = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        ps = keep["params"]
        if keep["law"] == "multipower" and "B_d" in ps and "Bbeta_d" not in ps:
            # a law file written before the decay amplitude was fitted as B_d·beta_d
            keep["params"] = {**ps, "Bbeta_d": ps["B_d"] * ps["beta_d"]}
            keep["params"].pop("B_d")
            keep["samples"] = []
            keep["ci"] = {}
        return cls(**keep)

    # -- prediction -------------------------------------------------------------------------------
    @property
    def form(self):
        return form(self.law, self.joint)

    @property
    def theta(self) -> np.ndarray:
        return self.form.internal(self.params)

    def _features(self, N: float, lr, steps) -> dict:
        return curve_features(np.asarray(lr, float), np.asarray(steps), N, self.decay).as_dict()

    def predict(self, N: float, lr, steps, band: bool = False):
        """Loss at ``steps`` of a run of size ``N`` trained with learning rates ``lr``; with
        ``band``, also the (lo, hi) prediction band (bootstrap spread and point scatter)."""
        x = self._features(N, lr, steps)
        f = self.form
        centre = np.exp(f.log_predict(self.theta[None, :], x)[0])
        if not band:
            return centre
        return (centre, *self._band(f, x, centre, d=self.distance(N, steps)))

    def distance(self, N: float, steps) -> np.ndarray:
        """Decades beyond the fitted runs in N or compute (0 inside), at ``steps`` of a run of
        size N with the fitted runs' tokens per step."""
        m = self.misspec
        if not m.get("N_max"):
            return np.zeros(np.size(steps))
        C = N * np.asarray(steps, float) * m.get("tokens_per_step", 1.0)
        return curve_misspec.distance(N, C, m["N_max"], m["C_max"])

    def _band(self, f, x, centre, offsets=None, d=None):
        logc = np.log(centre)
        s_param = np.zeros_like(logc)
        if len(self.samples):
            with np.errstate(all="ignore"):
                vals = f.log_predict(np.asarray(self.samples, float), x)
            if offsets is not None:
                vals = vals + offsets[:, None]
            vals[~np.isfinite(vals)] = np.nan
            lo, hi = np.nanpercentile(vals, [15.87, 84.13], axis=0)
            s_param = np.nan_to_num((hi - lo) / 2.0)
        tau = float(self.misspec.get("tau", 0.0) or 0.0)
        extra = (tau * (1.0 + d)) ** 2 if d is not None else 0.0
        total = np.sqrt(s_param**2 + self.sigma**2 + extra)
        z = _z(0.5 + self.level / 2)
        return np.exp(logc - z * total), np.exp(logc + z * total)

    def final(self, N: float, schedule: Schedule) -> dict:
        """The final loss of a run of size ``N`` under ``schedule``, with its band."""
        steps = [schedule.total_steps]
        centre, lo, hi = self.predict(N, lr_sequence(schedule), steps, band=True)
        return _finite(
            {"N": N, "steps": schedule.total_steps, "loss": centre[0], "lo": lo[0], "hi": hi[0]}
        )

    def forecast(self, curve: Curve, schedule: Optional[Schedule] = None) -> dict:
        """A running job's final loss: the law's curve for the job's size and schedule, shifted
        (on the log scale) to the job's points after the warm-up cut; the band re-levels every
        bootstrap law the same way."""
        schedule = schedule or curve.schedule
        if schedule is None:
            raise InputError(f"run '{curve.run_id}': a forecast needs the run's schedule")
        keep = curve.steps >= self.skip_first * schedule.total_steps
        if not keep.any():
            raise NumericalError(
                f"run '{curve.run_id}': no evaluation after the first "
                f"{self.skip_first:.0%} of its steps yet"
            )
        lr = lr_sequence(schedule)
        f = self.form
        seen = self._features(curve.N, lr, curve.steps[keep])
        end = self._features(curve.N, lr, [schedule.total_steps])
        obs = np.log(curve.loss[keep])
        shift = float(np.median(obs - f.log_predict(self.theta[None, :], seen)[0]))
        centre = np.exp(f.log_predict(self.theta[None, :], end)[0] + shift)
        offsets = None
        if len(self.samples):
            with np.errstate(all="ignore"):
                s = np.asarray(self.samples, float)
                offsets = np.nanmedian(obs[None, :] - f.log_predict(s, seen), axis=1)
        lo, hi = self._band(f, end, centre, offsets)
        return _finite(
            {
                "run_id": curve.run_id,
                "step": int(curve.steps[-1]),
                "total_steps": schedule.total_steps,
                "loss": centre[0],
                "lo": lo[0],
                "hi": hi[0],
                "shift": shift,
                "points_used": int(keep.sum()),
            }
        )


def _finite(d: dict) -> dict:
    """Numbers that cannot be computed become None (never NaN in output)."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in ((k, float(v) if isinstance(v, np.floating) else v) for k, v in d.items())
    }


def _z(p: float) -> float:
    from scipy import special  # noqa: PLC0415 - paid only by a prediction

    return float(special.ndtri(p))


# -- fitting ---------------------------------------------------------------------------------------
def fit_curves(
    runs: Runs,
    law: str = "annealing",
    *,
    eval_set: Optional[str] = None,
    skip_first: float = SKIP_FIRST,
    decay: Union[float, str] = DECAY,
    bootstrap: int = 100,
    seed: int = 0,
    level: float = LEVEL,
    loss: str = "huber",
    delta: float = 1e-3,
    max_iter: int = 2000,
    curves: Optional[list[Curve]] = None,
    misspec: bool = True,
) -> CurveLaw:
    """Fit ``law`` (``annealing`` or ``multipower``) to every point of every run's curve.

    ``decay="auto"`` chooses the annealing law's lambda by profile likelihood on
    :data:`DECAY_GRID` (:mod:`scalelab.laws.curve_decay`): blind to any held-out run.
    ``law="auto"`` chooses the law and lambda by held-out backtest
    (:mod:`scalelab.laws.curve_auto`)."""
    if law == AUTO:
        from scalelab.laws.curve_auto import fit_auto  # noqa: PLC0415

        if curves is None:
            curves = learning_curves(as_table(runs), eval_set)
        return fit_auto(
            curves,
            lambda **kw: fit_curves(runs, **kw),
            bootstrap=bootstrap,
            skip_first=skip_first,
            seed=seed,
            level=level,
            loss=loss,
            delta=delta,
            max_iter=max_iter,
            misspec=misspec,
        )
    if law not in LAWS:
        raise InputError(f"--law: expected one of {', '.join(LAWS)} or auto, got {law!r}")
    if not 0 <= skip_first < 1:
        raise InputError(f"skip_first: expected a fraction in [0, 1), got {skip_first}")
    if decay != AUTO and not (isinstance(decay, (int, float)) and 0 < decay <= 1):
        raise InputError(f"decay (lambda): expected a number in (0, 1] or 'auto', got {decay!r}")
    t0 = time.perf_counter()
    if curves is None:
        curves = learning_curves(as_table(runs), eval_set)
    profile = None
    if decay == AUTO:
        decay, profile = choose_decay(
            lambda lam: _fit_rss(curves, law, skip_first, lam, loss, delta, max_iter), law
        )
    x, logy, ids, sizes, joint, f, obj, res, best = _fit_points(
        curves, law, skip_first, decay, loss, delta, max_iter
    )
    # the reported fit is the minimum polished from the grid's best start (curve_fit.polish)
    theta, fun, converged = curve_fit.polish(f, obj, res.x[best], max_iter)
    if not fun < res.fun[best]:
        converged = converged or bool(res.converged[best])
    natural = {k: float(v) for k, v in f.natural(theta).items()}
    resid = logy - f.log_predict(theta[None, :], x)[0]
    dof = max(1, resid.size - len(f.params))
    out = CurveLaw(
        law=law,
        joint=joint,
        params=natural,
        sigma=float(np.sqrt(np.sum(resid**2) / dof)),
        n_points=int(logy.size),
        n_runs=len(curves),
        decay=decay,
        skip_first=skip_first,
        level=level,
        data={
            "run_ids": [c.run_id for c in curves],
            "N": sorted({float(c.N) for c in curves}),
            "starts": int(len(res.x)),
            "converged": converged,
            "objective": fun,
            "grid_objective": float(res.fun[best]),
        },
    )
    if profile is not None:
        out.data["decay_profile"] = profile
        out.warnings += profile.pop("warnings")
    if not converged:
        out.warnings.append(f"the best start stopped at the iteration limit ({max_iter})")
    for p, value in zip(f.params, theta, strict=True):
        if p.name == "beta_d" and value - p.lower <= 1e-6 * (p.upper - p.lower):
            out.data["decay_form"] = "log limit: Bbeta_d·log(1 + C_d·x)"  # a law, not a failure
        elif min(value - p.lower, p.upper - value) <= 1e-6 * (p.upper - p.lower):
            out.warnings.append(
                f"parameter {p.name} sits on a bound ({p.to_natural(value):.4g}): these curves "
                "do not identify it"
            )
    if not joint and sizes.size > 1:
        out.warnings.append(
            f"{sizes.size} model sizes: the joint law needs at least 3; fitted one law for all"
        )
    if misspec:
        out.misspec = _misspec(curves, law, skip_first, decay, loss, delta, max_iter, theta, joint)
    if bootstrap:
        _bootstrap(out, f, obj, theta, np.array(ids), bootstrap, seed, max_iter)
    _advise(out, logy.size, len(f.params))
    out.fit_s = time.perf_counter() - t0
    return out


def _fit_points(curves, law, skip_first, decay, loss, delta, max_iter, x0=None):
    """The points after the warm-up cut, their features, and the fit from the grid of starts
    (or from ``x0``)."""
    feats, y, ids = [], [], []
    for c in curves:
        total = c.schedule.total_steps if c.schedule is not None else c.final_step
        keep = (c.steps >= skip_first * total) | (c.steps == c.final_step)
        feats.append(curve_features(c.lr, c.steps[keep], c.N, decay))
        y.append(c.loss[keep])
        ids += [c.run_id] * int(keep.sum())
    x = Features.concat(feats).as_dict()
    logy = np.log(np.concatenate(y))
    if not np.all(np.isfinite(logy)):
        raise InputError("learning curves: losses must be positive and finite")
    sizes = np.unique(np.round(x["logN"], 9))
    joint = sizes.size >= 3
    f = form(law, joint)
    if logy.size <= len(f.params) + 1:
        raise NumericalError(
            f"too few points to fit '{law}': {logy.size} for {len(f.params)} parameters"
        )
    if x0 is None or np.shape(x0)[-1] != len(f.params):
        x0 = curve_fit.starts(law, joint, x, np.exp(logy))
    obj = Objective(f, x, logy, None, loss, delta)
    res = curve_fit.minimize(
        obj.value_grad, np.atleast_2d(x0), f, x, np.eye(len(f.params)), max_iter=max_iter
    )
    ok = np.isfinite(res.fun)
    if not ok.any():
        raise NumericalError(f"fit of '{law}' failed: no start reached a finite objective")
    best = int(np.argmin(np.where(ok, res.fun, np.inf)))
    return x, logy, ids, sizes, joint, f, obj, res, best


WELL_SAMPLED = 24
"""Points per run (after the warm-up cut) above which a parameter on its bound is not blamed on
sparse evaluation (the advice's own recommendation, ``[eval] points = 24``)."""


def _advise(out: CurveLaw, n_points: int, n_params: int) -> None:
    """What to do when the curves do not pin the law (a parameter on its bound, refits that did
    not converge): the usual cause is too few evaluations per run after the warm-up cut."""
    trouble = [w for w in out.warnings if "bound" in w or "did not converge" in w]
    if not trouble:
        return
    per_run = n_points / max(1, out.n_runs)
    if per_run >= WELL_SAMPLED and not any("did not converge" in w for w in trouble):
        out.warnings.append(
            f"what to do: {per_run:.0f} points per run already sample the curves well, so a "
            "parameter on its bound is where these curves put it (the term it governs is not "
            "resolved by them), not a sampling problem; the predictions and the band stand. "
            "Compare the laws on held-out runs with --law auto"
        )
        return
    out.warnings.append(
        f"what to do: {n_points} points ({per_run:.1f} per run after the first "
        f"{out.skip_first:.0%} of its steps) pin {n_params} parameters loosely, so the "
        "parameters above are not meaningful one by one and the band is wide; the predictions "
        "near the fitted runs still hold. Evaluate each run more often (e.g. [eval] points = 24 "
        "in the ladder spec), compare the laws on held-out runs with --law auto, and check a "
        "prediction beyond the fitted sizes with scalelab backtest"
    )


def _misspec(curves, law, skip_first, decay, loss, delta, max_iter, theta, joint) -> dict:
    """Refit on each held-out fold (from the whole fit's minimum) and measure tau
    (:mod:`scalelab.laws.curve_misspec`)."""
    N_max, C_max = curve_misspec.extent(curves)
    tps = [c.tokens_per_step for c in curves if c.tokens_per_step]
    errors, notes = [], []
    for fold in curve_misspec.folds(curves):
        try:
            x, logy, _, sizes, fjoint, f, _, res, best = _fit_points(
                fold.fit, law, skip_first, decay, loss, delta, max_iter, x0=theta
            )
        except (InputError, NumericalError) as exc:
            notes.append(f"{fold.name}: {exc}")
            continue
        if fjoint != joint:
            notes.append(f"{fold.name}: too few sizes left for the joint law")
            continue
        th = res.x[best]
        resid = logy - f.log_predict(th[None, :], x)[0]
        sigma = float(np.sqrt(np.sum(resid**2) / max(1, resid.size - len(f.params))))
        for c in fold.held:
            xf = curve_features(c.lr, [c.final_step], c.N, decay).as_dict()
            pred = float(f.log_predict(th[None, :], xf)[0, 0])
            C = float(curve_misspec.compute(c, c.final_step))
            errors.append(
                {
                    "fold": fold.name,
                    "run_id": c.run_id,
                    "N": float(c.N),
                    "error": float(np.log(c.loss[-1]) - pred),
                    "sigma": sigma,
                    "distance": float(curve_misspec.distance(c.N, C, fold.N_max, fold.C_max)),
                }
            )
    out = curve_misspec.summarise(errors)
    out.update(
        N_max=float(N_max),
        C_max=float(C_max),
        tokens_per_step=float(np.median(tps)) if tps else 1.0,
        errors=[{k: v for k, v in e.items()} for e in errors],
        notes=notes,
    )
    return out


def _fit_rss(curves, law, skip_first, decay, loss, delta, max_iter) -> tuple[float, int]:
    """Residual sum of squares (log scale) and point count of the fit with ``decay``."""
    x, logy, _, _, _, f, _, res, best = _fit_points(
        curves, law, skip_first, decay, loss, delta, max_iter
    )
    resid = logy - f.log_predict(res.x[best][None, :], x)[0]
    return float(np.sum(resid**2)), int(logy.size)


def _bootstrap(out: CurveLaw, f, obj: Objective, theta, ids, n: int, seed: int, max_iter: int):
    """Refit ``n`` run resamples at once (one batched L-BFGS, weights = resampling counts) from
    the whole data's polished minimum ``theta`` (:func:`scalelab.laws.curve_fit.polish`)."""
    codes, unique = pd.factorize(pd.Series(ids))
    if len(unique) < 2:
        out.warnings.append("one run: no bootstrap over runs (intervals need at least two)")
        return
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(unique), np.full(len(unique), 1 / len(unique)), size=n)
    boot = Objective(f, obj.logx, obj.logy, counts[:, codes].astype(float), obj.loss, obj.delta)
    res = curve_fit.minimize(
        boot.value_grad, np.tile(theta, (n, 1)), f, obj.logx, max_iter=max_iter
    )
    ok = np.isfinite(res.fun) & res.converged
    samples = res.x[ok]
    out.samples = samples.tolist()
    tail = (1 - out.level) / 2 * 100
    for name, values in f.natural(samples).items():
        lo, hi = np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan, np.nan)
        out.ci[name] = [float(lo), float(hi)] if np.isfinite([lo, hi]).all() else None
    if (~ok).sum() > 0.05 * n:
        out.warnings.append(f"{int((~ok).sum())} of {n} bootstrap refits did not converge")
