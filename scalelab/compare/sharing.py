"""Do the data support sharing parameters across groups? Shared against free, two ways.

* **F test on the fit's objective** (nested models): F = ((f_shared - f_free) / df) /
  (f_free / (n - p_free)), df = p_free - p_shared, against F(df, n - p_free). With ``loss="mse"``
  this is the classical F test of nested least-squares models (the Gaussian likelihood ratio);
  with Huber it is the drop-in-dispersion test of robust regression, an approximation. Sharing is
  rejected when p < 0.05.
* **Out of sample**: each group's largest size is held out, both models are refitted on the rest
  and predict it; the mean |relative error| of each is reported (the shared model should predict
  no worse when the sharing holds).

The hypotheses tested: the user's ``--shared`` set, the exponents (same exponents, separate
coefficients and E), and the offset model (everything shared but the irreducible E: the groups'
losses differ by a constant, Kaplan et al. 2020's claim for other distributions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from scalelab.compare.groups import SIZE_RTOL, Group
from scalelab.compare.joint import JointFit, fit_joint
from scalelab.errors import NumericalError
from scalelab.laws.formkit import Form
from scalelab.laws.options import FitOptions

SIGNIFICANCE = 0.05


@dataclass
class SharingTest:
    """One sharing hypothesis against the free model."""

    hypothesis: str  # "user", "exponents", "offset"
    shared: list[str]  # natural names
    df: int
    F: Optional[float]
    p_value: Optional[float]
    supported: Optional[bool]
    oos_error_shared: Optional[float] = None  # mean |relative error| on each group's largest size
    oos_error_free: Optional[float] = None
    verdict: str = ""
    reason: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


def hypotheses(form: Form, user: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """{name: shared internal names}: the user's set, the exponents, the offset model."""
    out: dict[str, tuple[str, ...]] = {}
    if user:
        out["user"] = tuple(user)
    exps = tuple(p.name for p in form.params if not p.log)
    if exps and len(exps) < len(form.params):
        out["exponents"] = exps
    if form.irreducible:
        out["offset"] = tuple(p.name for p in form.params if p.natural != form.irreducible)
    seen, unique = set(), {}
    for name, shared in out.items():
        if shared not in seen:
            seen.add(shared)
            unique[name] = shared
    return unique


def f_test(shared: JointFit, free: JointFit) -> tuple[int, Optional[float], Optional[float], str]:
    from scipy import stats

    n = free.total_points
    df = free.n_params - shared.n_params
    dof = n - free.n_params
    if df <= 0 or dof <= 0:
        return df, None, None, f"too few points for the test ({n} points, {free.n_params} params)"
    dispersion = free.objective / dof
    if not dispersion > 0:
        return df, None, None, "the free fit is exact (zero objective): no noise to test against"
    F = max(shared.objective - free.objective, 0.0) / df / dispersion
    return df, float(F), float(stats.f.sf(F, df, dof)), ""


def held_out(groups: Sequence[Group]) -> tuple[list[Group], list[Group]]:
    """Each group split into (all but its largest size, its largest size)."""
    fit, test = [], []
    for g in groups:
        N = g.X["N"]
        top = N >= g.sizes()[-1] / (1 + SIZE_RTOL)
        fit.append(g.subset(~top))
        test.append(g.subset(top))
    return fit, test


def oos_error(model: JointFit, test: Sequence[Group], form: Form) -> float:
    errs = []
    for g in test:
        law = model.laws[g.name]
        pred = law.predict(**{v: g.X[v] for v in form.variables})
        errs.append(np.abs(pred / g.loss - 1.0))
    return float(np.mean(np.concatenate(errs)))


def run_tests(
    form: Form,
    groups: Sequence[Group],
    options: FitOptions,
    free: JointFit,
    fits: dict[str, JointFit],
    own: np.ndarray,
    pooled: Optional[np.ndarray],
    out_of_sample: bool = True,
) -> list[SharingTest]:
    """The tests of each hypothesis in ``fits`` ({name: its shared fit}) against ``free``."""
    oos_free, train, test = None, None, None
    reason_oos = None
    if out_of_sample:
        train, test = held_out(groups)
        if any(len(g.sizes()) < 2 or len(g.loss) <= len(form.params) for g in train):
            reason_oos = "too few sizes left to fit once the largest is held out"
        else:
            try:
                free_sub = fit_joint(
                    form, train, (), options, own=free.pmap.split(free.theta), bootstrap=0
                )
                oos_free = oos_error(free_sub, test, form)
            except NumericalError as exc:
                reason_oos = f"out-of-sample fit failed: {exc.problems[0]}"
    out = []
    for name, fit in fits.items():
        df, F, p, reason = f_test(fit, free)
        test_ = SharingTest(
            name, list(fit.shared), df, F, p, None if p is None else p >= SIGNIFICANCE
        )
        test_.reason = reason or None
        if oos_free is not None:
            try:
                sub = fit_joint(
                    form,
                    train,
                    fit.pmap.shared,
                    options,
                    own=free_sub.pmap.split(free_sub.theta),
                    pooled=pooled,
                    warm=[fit.theta],
                    bootstrap=0,
                )
                test_.oos_error_shared = oos_error(sub, test, form)
                test_.oos_error_free = oos_free
            except NumericalError as exc:
                reason_oos = f"out-of-sample fit failed: {exc.problems[0]}"
        if reason_oos and test_.reason is None:
            test_.reason = reason_oos
        test_.verdict = _verdict(test_)
        out.append(test_)
    return out


def _verdict(t: SharingTest) -> str:
    shared = ", ".join(t.shared)
    if t.p_value is None:
        return f"sharing {shared}: not tested ({t.reason})"
    word = "supported" if t.supported else "rejected"
    line = f"sharing {shared}: {word} (F test p = {t.p_value:.3g})"
    if t.oos_error_shared is not None and t.oos_error_free is not None:
        better = "better" if t.oos_error_shared < t.oos_error_free else "worse"
        line += (
            f"; held-out largest size: shared {t.oos_error_shared:.2%} vs free "
            f"{t.oos_error_free:.2%} mean |error| (shared predicts {better})"
        )
    return line
