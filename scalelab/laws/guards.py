"""Guards on what a law is asked: warnings the law carries, extrapolation far beyond its runs, too
many parameters for the runs, and a C-only law asked at (N, D).

* :func:`law_warnings`: the law's own warnings (e.g. "E sits on its lower bound"), repeated wherever
  it is used (``predict``, ``optimal``, ``plan``).
* :func:`extrapolation_warnings`: a prediction beyond ``MAX_COMPUTE_RATIO`` x the largest fitted
  compute, or at N more than ``MAX_N_RATIO`` x outside the fitted N range. The prediction interval
  carries a misspecification term measured from the form's own held-out refits
  (:mod:`scalelab.laws.misspec`), growing with the distance; beyond the distances those folds
  reached it is still extrapolated, so far out the interval is a lower bound.
* :func:`fit_warnings`: a form with more parameters than runs / ``RUNS_PER_PARAM``.
* :func:`resolve_variables`: a law in C alone given N and D: C by the law's FLOP convention.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from scalelab.errors import InputError

TOKENS_PER_PARAM_RANGE = (0.1, 1e5)
"""Compute-optimal tokens/parameter outside this range is no allocation anyone trains at: a law
that derives it is not identified along the allocation (see :func:`derived_warnings`)."""
MAX_COMPUTE_RATIO = 100.0
MAX_N_RATIO = 10.0
RUNS_PER_PARAM = 3


def law_warnings(law) -> list[str]:
    """The warnings recorded in the law (fit-time), to repeat to whoever uses it."""
    return [str(w) for w in (law.warnings or [])]


def fitted_compute(law) -> Optional[tuple[float, float]]:
    """(min, max) of the training compute C of the law's runs, or None if not recorded."""
    data = law.data or {}
    if data.get("compute"):
        lo, hi = data["compute"]
        return float(lo), float(hi)
    ranges = data.get("ranges") or {}
    if "C" in ranges:
        return float(ranges["C"][0]), float(ranges["C"][1])
    return None


def extrapolation_warnings(
    law, *, C: Optional[float] = None, N: Optional[float] = None, what: str = "prediction"
) -> list[str]:
    """Warnings for a ``what`` at compute C and/or size N far outside the law's fitted runs."""
    out = []
    has_interval = law.samples is not None and len(law.samples) > 0
    compute = fitted_compute(law)
    if C is not None and compute is not None and C > MAX_COMPUTE_RATIO * compute[1]:
        out.append(
            f"{what} at C = {C:.3g} FLOPs is {C / compute[1]:.3g}x the largest fitted compute "
            f"({compute[1]:.3g}; more than {MAX_COMPUTE_RATIO:g}x): an extrapolation"
        )
    n_range = (law.data or {}).get("ranges", {}).get("N")
    if N is not None and n_range:
        lo, hi = float(n_range[0]), float(n_range[1])
        if N > MAX_N_RATIO * hi or N < lo / MAX_N_RATIO:
            side = f"{N / hi:.3g}x the largest" if N > hi else f"1/{lo / N:.3g} of the smallest"
            out.append(
                f"{what} at N = {N:.3g} is {side} fitted size (fitted N {lo:.3g} to {hi:.3g}; "
                f"more than {MAX_N_RATIO:g}x outside): an extrapolation"
            )
    if out and has_interval:
        out.append(
            "the bootstrap interval there holds only the fit's parameter uncertainty, not the "
            "error of the form itself, which grows with the extrapolation: the real interval is "
            "wider"
        )
    return out


def derived_warnings(law) -> list[str]:
    """Warnings for absurd derived numbers (the compute-optimal allocation at the law's budget):
    tokens/parameter outside :data:`TOKENS_PER_PARAM_RANGE`, fewer than one parameter or token,
    a loss that is not positive."""
    d, out = law.derived or {}, []
    budget = getattr(law.options, "budget", None)
    at = f" at C = {budget:.3g}" if isinstance(budget, (int, float)) else ""
    lo, hi = TOKENS_PER_PARAM_RANGE
    ratio = d.get("tokens_per_param")
    if ratio is not None and np.isfinite(ratio) and not lo <= ratio <= hi:
        out.append(
            f"the compute-optimal tokens/parameter{at} is {ratio:.3g}, outside any plausible "
            f"range ({lo:g} to {hi:g}): the runs do not identify the allocation (vary both N and "
            "D over a wider range, or fix the exponents)"
        )
    for key, what in (("N_opt", "parameters"), ("D_opt", "tokens")):
        value = d.get(key)
        if value is not None and np.isfinite(value) and value < 1:
            out.append(f"the compute-optimal {key}{at} is {value:.3g} {what}, below one: absurd")
    loss = d.get("loss_at_budget")
    if loss is not None and np.isfinite(loss) and loss <= 0:
        out.append(f"the predicted loss{at} is {loss:.3g}, not positive: absurd")
    return out


def fit_warnings(n_params: int, n_runs: int, form: str) -> list[str]:
    """A warning when the form has more parameters than runs / RUNS_PER_PARAM."""
    if n_runs is not None and n_params > n_runs / RUNS_PER_PARAM:
        return [
            f"form '{form}' has {n_params} parameters for {n_runs} runs (more than runs/"
            f"{RUNS_PER_PARAM} = {n_runs / RUNS_PER_PARAM:.3g}): too few runs per parameter, "
            "the fit may follow the noise; prefer a simpler form or more runs"
        ]
    return []


def resolve_variables(law, variables: dict) -> tuple[dict, list[str]]:
    """The variables to evaluate ``law`` at, and notes: a law in C alone given N and D (no C)
    gets C from the law's FLOP convention (C = 6 N D), and says so."""
    names = tuple(law.law_form.variables)
    if names != ("C",) or "C" in variables or not {"N", "D"} <= set(variables):
        return variables, []
    convention = str((law.conventions or {}).get("flops", ""))
    if not (convention == "6ND" or convention.replace(" ", "").startswith("C=6ND")):
        raise InputError(
            f"law '{law.form}' depends on C alone and records no 6ND FLOP convention "
            f"({convention or 'none recorded'}): give C (--C) instead of N and D"
        )
    N, D = float(variables["N"]), float(variables["D"])
    C = 6.0 * N * D
    rest = {k: v for k, v in variables.items() if k not in ("N", "D")}
    note = (
        f"the law depends on C alone: C = 6 N D = 6 x {N:.4g} x {D:.4g} = {C:.4g} FLOPs "
        "(the law's FLOP convention)"
    )
    return rest | {"C": C}, [note]


def prediction_warnings(law, variables: dict) -> list[str]:
    """The law's warnings and the extrapolation warnings for a prediction at ``variables``."""
    C = variables.get("C")
    if C is None and "N" in variables and "D" in variables:
        C = 6.0 * float(variables["N"]) * float(variables["D"])
    N = variables.get("N")
    return law_warnings(law) + extrapolation_warnings(
        law,
        C=None if C is None else float(np.max(C)),
        N=None if N is None else float(np.max(N)),
    )


def with_allocation_warnings(law, alloc) -> dict:
    """An allocation's dict with a ``warnings`` list: the law's and any extrapolation's."""
    d = alloc.to_dict()
    d["warnings"] = law_warnings(law) + extrapolation_warnings(
        law, C=alloc.C, N=alloc.N_opt, what="allocation"
    )
    return d
