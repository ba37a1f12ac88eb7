"""Sensitivity analysis: refit under alternative choices and show how the conclusions move.

Li, Kudugunta and Zettlemoyer 2025 ("(Mis)Fitting") show that published scaling laws disagree
(20 tokens per parameter against other ratios) because of choices nobody reports. This module
refits one run table under each alternative choice, one at a time, everything else held at the
baseline:

* **form**: the baseline form against the other forms of its family
  (:func:`scalelab.laws.forms.neighbours`: ``chinchilla``, ``chinchilla-tied``, ``kaplan-nd``);
* **fitting loss**: Huber with other deltas, and mean squared error;
* **initialisation**: a coarse grid (the two end values of each axis) and a single start;
* **fitting range**: dropping the smallest quarter of the model sizes, or the largest quarter;
* **parameter convention**: total against non-embedding parameters, where the table has both;
* **FLOP convention**: how a budget C buys (N, D). The fit itself does not change; the allocation
  at the budget does: C = 6 r(N) N D, with r the ratio of the table's own FLOP counts under the
  alternative convention to 6 N D, interpolated in log N (r = 1 for C = 6 N D).

For each variant it reports alpha, beta, E, the exponents a and b (N_opt ~ C^a, D_opt ~ C^b), and
N_opt, D_opt and tokens/parameter at the chosen budget; then the spread of each across variants.

    >>> from scalelab.report import sensitivity
    >>> result = sensitivity.analyse("runs.csv", budget=1e23)       # doctest: +SKIP
    >>> result.spread["tokens_per_param"]                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

from scalelab.errors import InputError, NumericalError, ScalelabError
from scalelab.laws import forms as form_registry
from scalelab.laws.conventions import FLOP_CONVENTIONS, PARAM_CONVENTIONS, Conventions
from scalelab.laws.fit import fit_form
from scalelab.laws.isoflop import group_budgets
from scalelab.laws.optimal import require_nd
from scalelab.laws.options import DEFAULT_FORM, FitOptions
from scalelab.report.options import default_budget
from scalelab.runs.table import Runs, RunTable, as_table

METRICS = ("alpha", "beta", "E", "a", "b", "N_opt", "D_opt", "tokens_per_param")
HUBER_DELTAS = (1e-4, 1e-2)
RANGE_FRACTION = 0.25
SCAN_HALF_WIDTH = 30.0
SCAN_POINTS = 3001
SIZE_RTOL = 0.02


def __getattr__(name: str):
    """``FAST_GRID``: the reduced start grids of quick analyses (``--fast``), one per form that
    declares one (``quick_grid``: 108 starts for ``chinchilla``, 16 for ``kaplan-nd``), read from
    the registry when asked (:func:`scalelab.laws.forms.quick_grids`)."""
    if name == "FAST_GRID":
        return form_registry.quick_grids()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Variant:
    """One alternative choice: fit options that differ from the baseline (``form`` and
    :class:`~scalelab.laws.options.FitOptions` fields), and/or a row selection."""

    name: str
    group: str
    fit_kwargs: dict = field(default_factory=dict)
    select: Optional[Callable[[RunTable], RunTable]] = None
    flops: Optional[str] = None  # FLOP convention used for the allocation (None: the fit's own)
    unavailable: Optional[str] = None  # why this variant cannot be run on this table


@dataclass
class SensitivityResult:
    """The table of variants and the spread of each quantity across them."""

    budget: float
    baseline: dict
    rows: list[dict]
    spread: dict[str, dict]
    source: str = ""
    budget_origin: str = "asked"

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ok_rows(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "ok"]


def model_sizes(N: np.ndarray) -> np.ndarray:
    """Label each row by model size: sizes within a relative SIZE_RTOL share a label (ascending).

    Tables read off figures (Chinchilla's) carry read-off noise in N; this groups it."""
    return group_budgets(np.asarray(N, dtype=float), SIZE_RTOL)


def _restrict_sizes(column: str, keep: Callable[[np.ndarray], np.ndarray], what: str):
    def select(table: RunTable) -> RunTable:
        labels = model_sizes(table[column])
        kept = keep(np.arange(labels.max() + 1))
        mask = np.isin(labels, kept)
        N = table[column].astype(float)[mask]
        return table.with_data(
            table.data[mask],
            f"{what}: kept {len(kept)} of {labels.max() + 1} model sizes "
            f"({N.min():.3g} to {N.max():.3g})",
        )

    return select


def default_variants(
    table: RunTable, form: str = DEFAULT_FORM, *, options: Optional[FitOptions] = None, **overrides
) -> list[Variant]:
    """The alternative choices of the module docstring, for this table and baseline (``options``,
    or keyword arguments of FitOptions' names)."""
    opts = FitOptions.make(options, **overrides)
    params, flops, loss, delta, grid = opts.params, opts.flops, opts.loss, opts.delta, opts.grid
    base_form = form_registry.get(form)
    out: list[Variant] = [Variant("baseline", "baseline")]

    for other in form_registry.neighbours(base_form.name):
        out.append(Variant(f"form {other}", "form", {"form": other}))

    if loss == "huber":
        for d in HUBER_DELTAS:
            if d != delta:
                out.append(Variant(f"Huber delta={d:g}", "fitting loss", {"delta": d}))
        out.append(Variant("MSE", "fitting loss", {"loss": "mse"}))
    else:
        out.append(Variant("Huber delta=1e-3", "fitting loss", {"loss": "huber", "delta": 1e-3}))

    own = form_registry.grid_for(grid, base_form) or {}
    axes = {p.name: list(own.get(p.name, p.grid)) for p in base_form.params}
    coarse = {k: sorted({v[0], v[-1]}) for k, v in axes.items()}
    single = {k: [v[len(v) // 2]] for k, v in axes.items()}
    n_coarse = int(np.prod([len(v) for v in coarse.values()]))
    out.append(Variant(f"coarse grid ({n_coarse} starts)", "initialisation", {"grid": coarse}))
    out.append(Variant("single start (grid centre)", "initialisation", {"grid": single}))

    column = PARAM_CONVENTIONS[params][0]
    n_sizes = int(model_sizes(table[column]).max() + 1) if table.has(column) else 0
    k = max(1, int(round(RANGE_FRACTION * n_sizes)))
    if n_sizes - k >= 3:
        out.append(
            Variant(
                f"drop smallest {k} of {n_sizes} sizes",
                "fitting range",
                select=_restrict_sizes(column, lambda s: s[k:], "dropped the smallest sizes"),
            )
        )
        out.append(
            Variant(
                f"drop largest {k} of {n_sizes} sizes",
                "fitting range",
                select=_restrict_sizes(column, lambda s: s[:-k], "dropped the largest sizes"),
            )
        )
    else:
        why = f"only {n_sizes} model size(s); dropping {k} would leave too few"
        out.append(Variant("drop smallest sizes", "fitting range", unavailable=why))
        out.append(Variant("drop largest sizes", "fitting range", unavailable=why))

    for other in ("non-embedding", "total"):
        if other == params:
            continue
        col = PARAM_CONVENTIONS[other][0]
        if table.has(col) and table.data[col].notna().all():
            out.append(Variant(f"{other} parameters", "parameter convention", {"params": other}))
        else:
            out.append(
                Variant(
                    f"{other} parameters",
                    "parameter convention",
                    unavailable=f"the run table has no complete '{col}' column",
                )
            )

    for other in FLOP_CONVENTIONS:
        if other == flops:
            continue
        try:
            Conventions(params, other).variables(table)
        except InputError as exc:
            out.append(
                Variant(
                    f"FLOPs {other}",
                    "FLOP convention",
                    unavailable=str(exc.problems[0]).split(": ", 1)[-1],
                )
            )
            continue
        out.append(Variant(f"FLOPs {other}", "FLOP convention", flops=other))
    return out


def flop_model(table: RunTable, params: str, flops: str) -> tuple[np.ndarray, np.ndarray]:
    """The table's FLOPs under convention ``flops`` relative to 6 N D, as a function of model size.

    Returns knots (log N, log r) with r = C / (6 N D) averaged per model size; between knots log r
    is interpolated linearly in log N, beyond them it is held at the end values."""
    v = Conventions(params, flops).variables(table)
    logN = np.log(v["N"])
    logr = np.log(v["C"] / (6.0 * v["N"] * v["D"]))
    labels = model_sizes(v["N"])
    x = np.array([logN[labels == i].mean() for i in range(labels.max() + 1)])
    y = np.array([logr[labels == i].mean() for i in range(labels.max() + 1)])
    return x, y


def allocate_under(
    law, C: float, knots: Optional[tuple[np.ndarray, np.ndarray]] = None
) -> tuple[float, float]:
    """N_opt, D_opt minimising the law's loss subject to C = 6 r(N) N D (NaN if at an edge).

    ``knots`` = (log N, log r) from :func:`flop_model`; None means r = 1 (C = 6 N D)."""
    form = law.law_form
    theta = law.theta[None, :]
    h = np.log(C / 6.0)  # log N + log D + log r(N) = h
    kx, ky = knots if knots is not None else (np.array([0.0]), np.array([0.0]))

    def logd(x):
        return h - x - np.interp(x, kx, ky)

    def f(x):
        x = np.atleast_1d(x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            y = form.log_predict(theta, {"N": x, "D": logd(x)})[0]
        return np.where(np.isfinite(y), y, np.inf)

    centre = 0.5 * (h - float(np.mean(ky)))
    grid = np.linspace(centre - SCAN_HALF_WIDTH, centre + SCAN_HALF_WIDTH, SCAN_POINTS)
    values = f(grid)
    i = int(np.argmin(values))
    if i in (0, SCAN_POINTS - 1) or not np.isfinite(values[i]):
        return float("nan"), float("nan")
    lo, hi = grid[i - 1], grid[i + 1]
    golden = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(80):
        x1, x2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if f(x1)[0] < f(x2)[0]:
            hi = x2
        else:
            lo = x1
    x = 0.5 * (lo + hi)
    return float(np.exp(x)), float(np.exp(logd(x)))


def _row(variant: Variant, law, budget: float, knots, n_rows: int) -> dict:
    p = law.params
    row: dict[str, Any] = {
        "name": variant.name,
        "group": variant.group,
        "status": "ok",
        "reason": None,
        "form": law.form,
        "n_runs": law.n_runs,
        "n_points": n_rows,
        "alpha": p.get("alpha"),
        "beta": p.get("beta", p.get("alpha")),
        "note": None,
        "E": p.get("E"),
        "objective": law.objective,
        "warnings": list(law.warnings),
        "params": dict(p),
        "options": {"loss": law.options.loss, "delta": law.options.delta},
        "conventions": dict(law.conventions),
        "flop_model": None,
    }
    if (
        "alpha" not in p
    ):  # another form's exponents (kaplan-nd's alpha_N, alpha_D) are not alpha, beta
        row["alpha"] = row["beta"] = None
        row["note"] = "exponents of a different form: " + ", ".join(
            f"{k} = {v:.3g}" for k, v in p.items() if k.startswith("alpha")
        )
    if variant.flops is None:
        d = law.derived
        row.update({m: d.get(m) for m in ("a", "b", "N_opt", "D_opt", "tokens_per_param")})
    else:
        N, D = allocate_under(law, budget, knots)
        N_lo, D_lo = allocate_under(law, budget * np.exp(-0.5), knots)
        N_hi, D_hi = allocate_under(law, budget * np.exp(0.5), knots)
        ok = np.all(np.isfinite([N_lo, N_hi]))
        r = (
            float(np.exp(np.interp(np.log(N), knots[0], knots[1])))
            if np.isfinite(N)
            else float("nan")
        )
        row.update(
            {
                "a": float(np.log(N_hi / N_lo)) if ok else float("nan"),
                "b": float(np.log(D_hi / D_lo)) if ok else float("nan"),
                "N_opt": N,
                "D_opt": D,
                "tokens_per_param": D / N if np.isfinite(N) else float("nan"),
                "flop_model": {
                    "convention": variant.flops,
                    "ratio_at_N_opt": r,
                    "ratio_range": [float(np.exp(knots[1].min())), float(np.exp(knots[1].max()))],
                    "meaning": "C = 6 r(N) N D, r = the table's FLOPs under this convention / (6 "
                    "N D), "
                    "interpolated in log N, held constant beyond the sampled sizes",
                },
            }
        )
    for m in METRICS:
        if row.get(m) is not None and not np.isfinite(row[m]):
            row[m] = None
    if row["tokens_per_param"] is None:
        row["reason"] = "no interior compute-optimal N at the budget"
    return row


def analyse(
    runs: Runs,
    form: str = DEFAULT_FORM,
    *,
    options: Optional[FitOptions] = None,
    variants: Optional[Sequence[Variant]] = None,
    progress: Optional[Callable[[str], None]] = None,
    budget_from_runs: bool = False,
    **overrides,
) -> SensitivityResult:
    """Refit ``runs`` under each variant and summarise the spread.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        form: the baseline form (a law in N and D).
        options: the baseline's fit (:class:`~scalelab.laws.options.FitOptions`; keyword
            arguments of its names replace fields): its conventions and fitting loss; its
            ``budget``, the C (FLOPs) at which N_opt, D_opt and tokens/parameter are compared;
            its ``grid``, an override of the initialisation grid for every variant, per
            parameter (keys a form lacks are ignored per form) or per form ({form name:
            {parameter: values}}, as :data:`FAST_GRID`); small grids make the analysis fast.
        variants: the variants to run (default :func:`default_variants`).
        progress: called with each variant's name before it is fitted.
        budget_from_runs: compare at the report's default budget instead of ``options.budget``
            (:func:`scalelab.report.options.default_budget`: 100x the largest run's compute).
    """
    opts = FitOptions.make(options, **overrides)
    table = as_table(runs)
    require_nd(form_registry.get(form))
    origin = "asked"
    if budget_from_runs:
        budget, origin = default_budget(table, opts, form)
        opts = opts.replace(budget=budget)
    budget = opts.budget
    variants = (
        list(variants) if variants is not None else default_variants(table, form, options=opts)
    )
    rows = []
    for v in variants:
        if progress:
            progress(v.name)
        if v.unavailable:
            rows.append(
                {
                    "name": v.name,
                    "group": v.group,
                    "status": "not available",
                    "reason": v.unavailable,
                    **{m: None for m in METRICS},
                }
            )
            continue
        changes = dict(v.fit_kwargs)
        vform = form_registry.get(changes.pop("form", form))
        g = form_registry.grid_for(changes.pop("grid", opts.grid), vform)
        try:
            t = v.select(table) if v.select else table
            vopts = opts.replace(grid=g, **changes)
            law = fit_form(t, vform.name, options=vopts)
            knots = None if v.flops is None else flop_model(t, vopts.params, v.flops)
            rows.append(_row(v, law, budget, knots, law.n_points or 0))
        except ScalelabError as exc:
            rows.append(
                {
                    "name": v.name,
                    "group": v.group,
                    "status": "failed",
                    "reason": "; ".join(exc.problems),
                    **{m: None for m in METRICS},
                }
            )
    if rows and not any(r["status"] == "ok" for r in rows):
        first = next((r for r in rows if r["status"] == "failed"), rows[0])
        reason = str(first.get("reason") or first["status"])
        raise NumericalError(
            f"{table.source}: every refit failed ({len(rows)} variant(s)); {first['name']}: "
            + (reason if len(reason) <= 200 else reason[:197] + "...")
        )
    baseline = next((r for r in rows if r["group"] == "baseline"), rows[0] if rows else {})
    return SensitivityResult(
        budget=float(budget),
        baseline=baseline,
        rows=rows,
        spread=spread(rows, baseline),
        source=table.source,
        budget_origin=origin,
    )


def spread(rows: Sequence[dict], baseline: Optional[dict] = None) -> dict[str, dict]:
    """For each quantity: min, max (with the variants that gave them), ratio max/min, and the
    largest relative departure from the baseline."""
    out = {}
    for m in METRICS:
        vals = [(r[m], r["name"]) for r in rows if r.get("status") == "ok" and r.get(m) is not None]
        if not vals:
            continue
        lo = min(vals)
        hi = max(vals)
        entry = {
            "min": lo[0],
            "min_variant": lo[1],
            "max": hi[0],
            "max_variant": hi[1],
            "n": len(vals),
            "ratio": hi[0] / lo[0] if lo[0] > 0 else None,
        }
        b = (baseline or {}).get(m)
        if b:
            dev = max(vals, key=lambda t: abs(t[0] / b - 1.0))
            entry |= {
                "baseline": b,
                "max_departure": dev[0] / b - 1.0,
                "max_departure_variant": dev[1],
            }
        out[m] = entry
    by_group: dict[str, list[float]] = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("tokens_per_param") is not None:
            by_group.setdefault(r["group"], []).append(r["tokens_per_param"])
    base_tpp = (baseline or {}).get("tokens_per_param")
    if base_tpp:
        out["tokens_per_param_by_group"] = {
            grp: {
                "min": min(v + [base_tpp]),
                "max": max(v + [base_tpp]),
                "ratio": max(v + [base_tpp]) / min(v + [base_tpp]),
            }
            for grp, v in by_group.items()
            if grp != "baseline"
        }
    return out


def headline(result: SensitivityResult) -> str:
    """One sentence on the spread of tokens/parameter at the budget."""
    s = result.spread.get("tokens_per_param")
    if not s:
        return "no variant gave a finite compute-optimal allocation at the budget"
    text = (
        f"tokens/parameter at C = {result.budget:.3g} ranges from {s['min']:.3g} "
        f"({s['min_variant']}) to "
        f"{s['max']:.3g} ({s['max_variant']}): a {s['ratio']:.2g}x spread over {s['n']} fits"
    )
    if "baseline" in s:
        text += f"; baseline {s['baseline']:.3g}"
    return text
