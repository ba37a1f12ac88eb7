"""The two fitted steps of one task (:class:`Chain`) and the chain's prediction with its interval.

Step 1 is a law of the intermediate at every checkpoint after each run's warm-up skip (the laws'
``points="all"``; a table of final points only gives the final points; ``step1_points="final"``
keeps each run's final point alone, as ``"auto"``, the default, does for a WSD ladder with
cool-down branches), fitted by :func:`scalelab.laws.fit`: ``form="auto"`` by
default (the multi-fold form selection and misspecification term of ``fit --form
auto``); when every run has the same D (Pythia: one token budget, sizes only) the selection is
among the N-only forms. Step 2 is a link (:mod:`scalelab.tasks.links`) fitted to the checkpoints
of every run after :func:`step2_points` skips each run's warm-up (its first ``skip`` fraction of
tokens) and smooths it (moving average over ``smooth`` checkpoints; the OLMo ladder's defaults
0.1 and 5). ``link="auto"`` chooses the link by backtest over several held-out sizes
(:mod:`scalelab.tasks.select`), which also measures step 2's own extrapolation error.

The interval at a target goes through both steps (:func:`chain_prediction`): the intermediate is
drawn log-normally with step 1's prediction interval (run scatter, parameter uncertainty, tied
forms and the law's misspecification term, all from :meth:`scalelab.laws.Law.interval`), each
draw is passed through a bootstrap replicate of the link, and step 2's error is added (normal, sd
the larger of the link's residual scatter and its held-out error, measured by its own held-out
refits). Accuracies are clipped to [0, 1] and so is the interval, which always contains the point
prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.runs.table import RunTable
from scalelab.tasks import data as taskdata
from scalelab.tasks import select
from scalelab.tasks.links import TOP, LinkFit, fit_link
from scalelab.tasks.options import SKIP, SMOOTH, STEP1_POINTS

N_ONLY = ("power-offset:N", "power:N")
"""Step 1's candidates when every run has the same D (C is then proportional to N: the laws in N
alone); otherwise the registry's ``--form auto`` candidates (:func:`scalelab.laws.forms.candidates`)."""
STEP1_MAX_ITER = 300
COARSE = 2
AUTO_COARSE = 3
DRAWS = 4000
ONE_SIGMA = 0.6826894921370859


@dataclass
class Chain:
    """Both fitted steps of one task (what backtests and the report reuse)."""

    law: Any  # scalelab.laws.Law of the intermediate
    link: LinkFit
    single: Optional[LinkFit]
    chance: float
    points: pd.DataFrame
    step2_sd: float = 0.0
    selection: dict = field(default_factory=dict)

    def intermediate(self, N, D) -> np.ndarray:
        return np.asarray(self.law.predict(**variables_at(self.law, N, D)), dtype=float)


def variables_at(law, N, D) -> dict:
    """The law's variables at (N, D), C under the law's own FLOP convention."""
    N = np.atleast_1d(np.asarray(N, dtype=float))
    D = np.atleast_1d(np.asarray(D, dtype=float))
    N, D = np.broadcast_arrays(N, D)
    names = law.law_form.variables
    if "C" not in names:
        return {v: {"N": N, "D": D}[v] for v in names}
    return {v: flops(law, N, D)[v] for v in names}


def flops(law_or_none, N, D) -> dict:
    """N, D and C as the conventions count them (those of a fitted law, else the defaults)."""
    from scalelab.laws import Conventions  # noqa: PLC0415 - the fitting layer, loaded lazily

    options = getattr(law_or_none, "options", None)
    conv = options.conventions if options is not None else Conventions()
    N = np.atleast_1d(np.asarray(N, dtype=float))
    D = np.atleast_1d(np.asarray(D, dtype=float))
    frame = pd.DataFrame({"run_id": [f"t{i}" for i in range(len(N))], "N": N, "D": D})
    frame["N_total"] = N
    frame["loss"] = 1.0
    got = conv.variables(RunTable.from_frame(frame, "<target>"))
    return {"N": got["N"], "D": got["D"], "C": got["C"]}


def step2_points(points: pd.DataFrame, smooth: int = SMOOTH, skip: float = SKIP) -> pd.DataFrame:
    """Each run's points with accuracy, its first ``skip`` fraction of tokens dropped (never its
    final point), then a trailing moving average of ``x`` and ``accuracy`` over ``smooth``
    checkpoints (shorter windows at the start, as the OLMo ladder's ``moving_average``)."""
    if smooth < 1:
        raise InputError(f"smooth: expected 1 or more checkpoints, got {smooth}")
    if not 0 <= skip < 1:
        raise InputError(f"skip: expected a fraction of each run's tokens in [0, 1), got {skip}")
    ok = np.isfinite(points["x"].to_numpy(float)) & np.isfinite(points["accuracy"].to_numpy(float))
    pts = points[ok].sort_values(["run_id", "D", "step"], kind="stable")
    d_final = pts.groupby("run_id")["D"].transform("max")
    pts = pts[(pts["D"] >= skip * d_final) | (pts["D"] == d_final)].copy()
    if smooth > 1:
        g = pts.groupby("run_id", sort=False)
        for col in ("x", "accuracy"):
            pts[col] = g[col].transform(lambda s: s.rolling(smooth, min_periods=1).mean())
    return pts.reset_index(drop=True)


def fit_step1(points: pd.DataFrame, form: str, bootstrap: int, seed: int, level: float,
              source: str, cache: Optional[dict] = None, step1_points: str = STEP1_POINTS[0],
              skip: float = SKIP):  # fmt: skip
    """The law of the intermediate at every checkpoint after the first ``skip`` of each run's
    tokens (``step1_points="all"``, the laws' ``points="all"``) or at each run's final point
    (``"final"``); ``cache`` keeps laws by input."""
    from scalelab import laws  # noqa: PLC0415 - the fitting engine, loaded when fitting

    if step1_points not in STEP1_POINTS:
        raise InputError(f"step1_points: expected one of {', '.join(STEP1_POINTS)}, got "
                         f"{step1_points!r}")  # fmt: skip
    if step1_points == "auto":
        branched = "branch_of" in points.columns and points["branch_of"].notna().any()
        step1_points = "final" if branched else "all"
    final = taskdata.finals(points)
    rows = final if step1_points == "final" else points
    frame = rows[["run_id", "N", "D"]].assign(loss=rows["x"].to_numpy())
    if step1_points == "all":
        frame["step"] = rows["step"].to_numpy()
    step1 = RunTable.from_frame(frame, source)
    key = (form, bootstrap, seed, level, step1_points, skip, frame.to_csv(index=False))
    if cache is not None and key in cache:
        return cache[key]
    logd = np.log(final["D"].to_numpy(float))
    one_d = len(final) > 1 and float(np.ptp(logd)) < 1e-9 and step1_points == "final"
    common = {"bootstrap": bootstrap, "seed": seed, "level": level, "max_iter": STEP1_MAX_ITER}
    if step1_points == "all":
        common.update(points="all", skip_first=skip)
    if form == "auto":
        names = N_ONLY if one_d else laws.forms.candidates()
        grid = {name: coarse_grid(name, AUTO_COARSE) for name in names}
        law = laws.select.fit_auto(step1, candidates=names, grid=grid, **common)
    else:
        law = laws.fit(step1, form, grid=coarse_grid(form), **common)
    if cache is not None:
        cache[key] = law
    return law


def coarse_grid(form: str, every: int = COARSE) -> dict:
    """Every other value of the form's default initialisation grid (``chinchilla``: 243 of 4,500
    starts; every third for the auto selection's many refits): one task's step 1 has a handful
    of runs, and the bootstrap starts warm."""
    from scalelab.laws import forms  # noqa: PLC0415

    return {p.name: list(p.grid)[::every] for p in forms.get(form).params}


def fit_chain(
    points: pd.DataFrame,
    chance: float,
    *,
    link: str = "auto",
    form: str = "auto",
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
    source: str = "<memory>",
    cache: Optional[dict] = None,
    smooth: int = SMOOTH,
    skip: float = SKIP,
    top: float = TOP,
    step1_points: str = STEP1_POINTS[0],
) -> Chain:
    """Fit step 1 and step 2 (module doc) to a task's points
    (:func:`scalelab.tasks.data.task_points`). ``cache`` (a dict) keeps step-1 laws by their
    input, so tasks sharing an intermediate (``through="loss"``) fit step 1 once."""
    ok = np.isfinite(points["x"].to_numpy(dtype=float))
    pts = points[ok]
    law = fit_step1(pts, form, bootstrap, seed, level, source, cache, step1_points, skip)
    two = step2_points(pts, smooth, skip)
    choice = select.choose_link(two, pts, chance, link, top)
    codes = pd.factorize(two["run_id"].astype(str))[0]
    link_fit = fit_link(
        choice["chosen"],
        two["x"].to_numpy(dtype=float),
        two["accuracy"].to_numpy(dtype=float),
        chance,
        codes,
        bootstrap,
        seed + 1,
        top,
    )
    held = choice.get("heldout_rms")
    step2_sd = max(link_fit.residual_sd, held if held is not None else 0.0)
    single = None
    fin = taskdata.finals(pts[np.isfinite(pts["accuracy"].to_numpy(float))])
    if len(fin) >= 5:
        c = flops(law, fin["N"].to_numpy(float), fin["D"].to_numpy(float))["C"]
        try:
            single = fit_link(
                "sigmoid-free",
                -np.log10(c),
                fin["accuracy"].to_numpy(dtype=float),
                chance,
                np.arange(len(fin)),
                bootstrap,
                seed + 2,
            )
        except NumericalError:
            single = None
    return Chain(law, link_fit, single, chance, pts, step2_sd, choice)


def _pct(values: np.ndarray, level: float) -> Optional[list]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def step1_log_sd(law, N: float, D: float) -> float:
    """Step 1's standard deviation of log intermediate at (N, D): half the width, in logs, of the
    law's one-sigma prediction interval (0 where the law has none)."""
    try:
        lo, hi = law.interval(level=ONE_SIGMA, **variables_at(law, N, D))
    except (NumericalError, InputError):
        return 0.0
    lo, hi = float(np.ravel(lo)[0]), float(np.ravel(hi)[0])
    if not (lo > 0 and hi > 0 and np.isfinite(lo) and np.isfinite(hi)):
        return 0.0
    return float(np.log(hi / lo) / 2)


def chain_prediction(
    chain: Chain, N: float, D: float, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Accuracy, its interval, the intermediate and its interval at (N, D) (module doc)."""
    x_hat = float(chain.intermediate(N, D)[0])
    if not np.isfinite(x_hat):
        raise NumericalError(f"step 1 predicts no finite intermediate at N={N:.3g}, D={D:.3g}")
    link = chain.link
    acc_hat = float(link.predict([x_hat])[0])
    rng = np.random.default_rng(seed + 3)
    s1 = step1_log_sd(chain.law, N, D)
    xs = x_hat * np.exp(s1 * rng.standard_normal(DRAWS))
    thetas = link.samples if link.samples is not None and len(link.samples) else link.theta[None]
    thetas = thetas[rng.integers(0, len(thetas), DRAWS)]
    acc = link.predict_pairs(xs, thetas) + chain.step2_sd * rng.standard_normal(DRAWS)
    interval = _pct(np.clip(acc, 0.0, 1.0), level)
    if interval is not None:
        interval = [min(interval[0], acc_hat), max(interval[1], acc_hat)]
    return {
        "accuracy": acc_hat,
        "x": x_hat,
        "interval": interval,
        "x_interval": _pct(xs, level),
        "step1_log_sd": s1,
        "step2_sd": chain.step2_sd,
    }
