"""The critical batch size B_crit(L) from batch-size sweeps (Kaplan et al. 2020 §5.1, McCandlish
et al. 2018).

Runs of one model size that differ only in their batch size B (tokens per step) trade steps for
tokens: to reach a loss L, run i needs S_i steps and E_i = B_i·S_i tokens, and across batch sizes

    (S/S_min − 1)(E/E_min − 1) = 1,   equivalently   S(B) = S_min + E_min/B,

with S_min the fewest steps (B → ∞) and E_min the fewest tokens (B → 0) that reach L. Their ratio
is the critical batch size B_crit(L) = E_min/S_min, the batch at which a run spends 2·S_min steps
and 2·E_min tokens. Kaplan et al. find it depends on the loss alone, as a power law

    B_crit(L) = B*/L^(1/α_B),   B* ≈ 2e8 tokens, α_B ≈ 0.21   (WebText2, nats; Eq. 5.3).

:func:`critical_batch` follows their procedure: for each target loss, the steps each run needs to
*first* reach it (interpolated along the running minimum of its learning curve, in log step and
log loss), then S_min and E_min from a least-squares fit of S = S_min + E_min/B (relative
residuals), per model size; then log B_crit = log B* − (1/α_B)·log L across every (size, loss).
Intervals are percentile bootstraps resampling runs within each size. A loss reached by fewer than
``min_batches`` batch sizes cannot give S_min and E_min: it is skipped when chosen automatically,
and a :class:`~scalelab.errors.NumericalError` (exit 3) when asked for, or when no loss is left.

:func:`s_min` is the other use of B_crit: Kaplan's L(N, S_min) reads each run's steps as the
steps at the critical batch, S_min = S/(1 + B_crit(L)/B) (Eq. 5.4); ``kaplan-ns`` fits through it
(see :mod:`scalelab.laws.conventions`, the ``bcrit`` convention).

Torch-free; reads a run table (:mod:`scalelab.runs`) with ``step`` and the batch as
``tokens_per_step`` (else D/step).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from scalelab import atomic
from scalelab.errors import InputError, NumericalError
from scalelab.runs.table import Runs, as_table

KAPLAN_B_STAR = 2.0e8
"""Kaplan et al. 2020, Eq. (5.3): B* in tokens (WebText2, loss in nats)."""
KAPLAN_ALPHA_B = 0.21
"""Kaplan et al. 2020, Eq. (5.3): α_B."""
KAPLAN = "kaplan-2020"
MIN_BATCHES = 3
"""Fewest distinct batch sizes that must reach a loss to fit S_min and E_min there."""
BRACKET = 3.0
"""A level's B_crit enters the power law only within [B_min/3, 3·B_max] of the batches that
reached it: beyond, S(B) is flat (or ∝ 1/B) and one of S_min, E_min is not measured."""
BCRIT_KINDS = (KAPLAN, "none", "B*,alpha_B", "a bcrit JSON file (scalelab laws bcrit -o)")


def bcrit_of(loss, b_star: float, alpha_b: float):
    """B_crit(L) = B*/L^(1/α_B), in tokens."""
    return b_star / np.asarray(loss, dtype=float) ** (1.0 / alpha_b)


def s_min(steps, batch, loss, b_star: float, alpha_b: float):
    """Kaplan's S_min = S/(1 + B_crit(L)/B): the steps at the critical batch size."""
    return np.asarray(steps, dtype=float) / (1.0 + bcrit_of(loss, b_star, alpha_b) / batch)


@dataclass
class BcritResult:
    """B_crit(L) = B*/L^(1/α_B) fitted on batch sweeps, with the per-loss table behind it.

    Attributes:
        B_star, alpha_B: the power law (B* in tokens, L in the table's loss unit).
        ci: {"B_star": [lo, hi], "alpha_B": [lo, hi]} at ``level`` (NaN without a bootstrap).
        levels: one dict per (model size N, target loss): N, loss, S_min, E_min, B_crit,
            B_crit_ci, and the sweep behind it (batch, steps, tokens per run that reached it).
        samples: bootstrap (B*, α_B) pairs (for bands); n_runs, n_sizes: what was fitted.
        notes: what was skipped or chosen on the user's behalf.
    """

    B_star: float
    alpha_B: float
    ci: dict[str, list[float]]
    levels: list[dict]
    level: float = 0.95
    bootstrap: int = 0
    failed: int = 0
    n_runs: int = 0
    n_sizes: int = 0
    samples: list[list[float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = "<memory>"

    def predict(self, loss) -> np.ndarray:
        """B_crit at ``loss`` (tokens)."""
        return bcrit_of(loss, self.B_star, self.alpha_B)

    def band(self, loss) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of B_crit at ``loss`` over the bootstrap laws (NaN without them)."""
        loss = np.asarray(loss, dtype=float)
        if not self.samples:
            return np.full(loss.shape, np.nan), np.full(loss.shape, np.nan)
        s = np.asarray(self.samples, dtype=float)
        values = s[:, :1] / loss[None, :] ** (1.0 / s[:, 1:2])
        tail = 50.0 * (1.0 - self.level)
        lo, hi = np.percentile(values, [tail, 100.0 - tail], axis=0)
        return lo, hi

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bcrit", "formula": "B_crit(L) = B_star / L^(1/alpha_B)", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict, source: str = "<bcrit>") -> BcritResult:
        if not isinstance(d, dict) or d.get("kind") != "bcrit":
            raise InputError(f"{source}: not a B_crit fit (expected the JSON of laws bcrit -o)")
        names = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except TypeError as exc:
            raise InputError(f"{source}: not a complete B_crit fit ({exc})") from None

    def save(self, path: str | os.PathLike) -> Path:
        text = json.dumps(_strict(self.to_dict()), indent=2, allow_nan=False)
        atomic.write_text(path, text + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BcritResult:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such B_crit fit file")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not JSON ({exc})") from None
        return cls.from_dict(d, str(path))


def _strict(value):
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def resolve_bcrit(spec: Optional[str]) -> Optional[tuple[float, float, str]]:
    """(B*, α_B, where from) for the ``bcrit`` convention, or None for ``none`` (steps are
    already S_min): ``kaplan-2020`` (the published values), ``"B*,alpha_B"`` or a bcrit JSON."""
    spec = KAPLAN if spec is None else str(spec).strip()
    if spec == "none":
        return None
    if spec == KAPLAN:
        return KAPLAN_B_STAR, KAPLAN_ALPHA_B, "Kaplan et al. 2020 Eq. (5.3), published"
    if "," in spec and not Path(spec).exists():
        try:
            b_star, alpha_b = (float(x) for x in spec.split(","))
        except ValueError:
            b_star = alpha_b = float("nan")
        if not (b_star > 0 and alpha_b > 0 and np.isfinite(b_star) and np.isfinite(alpha_b)):
            raise InputError(
                f"bcrit: expected 'B*,alpha_B' as two positive numbers (e.g. 2e8,0.21), got {spec!r}"
            )
        return b_star, alpha_b, "given"
    if Path(spec).exists() or spec.endswith(".json"):
        r = BcritResult.load(spec)
        return float(r.B_star), float(r.alpha_B), f"fitted ({spec})"
    raise InputError(f"bcrit: expected one of {', '.join(BCRIT_KINDS)}; got {spec!r}")


# ------------------------------------------------------------------------------------------------
# steps to reach a loss, S_min and E_min
# ------------------------------------------------------------------------------------------------


def steps_to_reach(steps: np.ndarray, losses: np.ndarray, target: float) -> float:
    """Steps a learning curve needs to first reach ``target`` (NaN if it never does, or already
    had at its first evaluation): along its running minimum, interpolated in log-log."""
    order = np.argsort(steps, kind="stable")
    s, y = np.asarray(steps, float)[order], np.minimum.accumulate(np.asarray(losses, float)[order])
    below = np.flatnonzero(y <= target)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    i = below[0]
    s0, s1, y0, y1 = s[i - 1], s[i], y[i - 1], y[i]
    if s0 <= 0 or y1 >= y0:
        return float(s1)
    t = (np.log(y0) - np.log(target)) / (np.log(y0) - np.log(y1))
    return float(np.exp(np.log(s0) + t * (np.log(s1) - np.log(s0))))


def fit_steps_tokens(batch: np.ndarray, steps: np.ndarray) -> tuple[float, float]:
    """(S_min, E_min) of S = S_min + E_min/B by least squares in relative residuals (NaN where
    either is not positive: the sweep does not bracket B_crit)."""
    b, s = np.asarray(batch, float), np.asarray(steps, float)
    design = np.stack([1.0 / s, 1.0 / (b * s)], axis=1)
    (smin, emin), *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    if not (smin > 0 and emin > 0):
        return float("nan"), float("nan")
    return float(smin), float(emin)


def _sweeps(table, eval_set: Optional[str]) -> list[dict]:
    """One sweep per model size: its runs' batch sizes and learning curves."""
    sel = table.select(eval_set=eval_set, points="all")
    if not sel.has("step"):
        raise InputError(f"{table.source}: B_crit needs learning curves: a step column")
    data = sel.data
    if "tokens_per_step" in data.columns and data["tokens_per_step"].notna().all():
        batch = data["tokens_per_step"].astype(float)
    else:
        batch = data["D"].astype(float) / data["step"].astype(float).where(data["step"] > 0)
    data = data.assign(_B=batch)
    sweeps = []
    for n, group in data.groupby("N", sort=True):
        runs = []
        for rid, r in group.groupby("run_id", sort=True):
            b = r["_B"].dropna()
            if b.empty:
                continue
            runs.append(
                {
                    "run_id": str(rid),
                    "B": float(b.median()),
                    "step": r["step"].to_numpy(float),
                    "loss": r["loss"].to_numpy(float),
                }
            )
        sweeps.append({"N": float(n), "runs": runs})
    return sweeps


def _auto_levels(runs: list[dict], n_levels: int, min_batches: int) -> list[float]:
    """Target losses every run starts above and at least ``min_batches`` batch sizes reach."""
    best: dict[float, float] = {}
    for r in runs:
        best[r["B"]] = min(best.get(r["B"], np.inf), float(np.min(r["loss"])))
    if len(best) < min_batches:
        return []
    lo = sorted(best.values())[min_batches - 1]
    hi = min(float(r["loss"][np.argsort(r["step"])][0]) for r in runs)
    if not lo < hi:
        return []
    return [float(x) for x in np.geomspace(lo, hi, n_levels + 2)[1:-1]]


# ------------------------------------------------------------------------------------------------
# the fit
# ------------------------------------------------------------------------------------------------


def _level_fit(batch: np.ndarray, steps: np.ndarray, min_batches: int) -> tuple[float, float]:
    ok = np.isfinite(steps)
    if np.unique(batch[ok]).size < min_batches:
        return float("nan"), float("nan")
    return fit_steps_tokens(batch[ok], steps[ok])


def _power_law(loss: np.ndarray, bcrit: np.ndarray) -> tuple[float, float]:
    """(B*, α_B) of log B_crit = log B* − (1/α_B) log L by least squares; NaN if not falling."""
    ok = np.isfinite(bcrit) & (bcrit > 0)
    x, y = np.log(loss[ok]), np.log(bcrit[ok])
    if np.unique(x).size < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    if not slope < 0:
        return float("nan"), float("nan")
    return float(np.exp(intercept)), float(-1.0 / slope)


def critical_batch(
    runs: Runs,
    *,
    losses: Optional[list[float]] = None,
    n_levels: int = 8,
    min_batches: int = MIN_BATCHES,
    bootstrap: int = 200,
    seed: int = 0,
    level: float = 0.95,
    eval_set: Optional[str] = None,
) -> BcritResult:
    """Fit B_crit(L) = B*/L^(1/α_B) to batch-size sweeps (see the module doc).

    Args:
        runs: a run table with learning curves (``step``, ``loss``, ``N``, ``run_id`` and the batch
            as ``tokens_per_step`` or D/step); runs of the same N form one sweep.
        losses: target losses (default: ``n_levels`` spread over what each sweep reaches).
        min_batches: fewest distinct batch sizes that must reach a loss.
        bootstrap: resamples of runs (within each size) for the intervals; 0 for none.
    """
    if min_batches < 2:
        raise InputError(f"min_batches: expected at least 2, got {min_batches}")
    if not 0 < level < 1:
        raise InputError(f"level: expected a confidence level between 0 and 1, got {level}")
    if losses is not None and any(not (x > 0 and np.isfinite(x)) for x in losses):
        raise InputError(f"losses: expected positive target losses, got {losses}")
    table = as_table(runs)
    notes: list[str] = []
    cells = _cells(table, eval_set, losses, n_levels, min_batches, notes)
    fit = _Estimator(cells, min_batches)
    pl, b_star, alpha_b = fit(fit.full)
    if not np.isfinite(b_star):
        raise NumericalError(
            f"{table.source}: B_crit(L) = B*/L^(1/alpha_B) cannot be fitted: fewer than 2 losses "
            "give a positive S_min and E_min, or B_crit does not fall as the loss falls (the "
            "batch sizes may not bracket B_crit: sweep smaller and larger batches)"
        )
    rng = np.random.default_rng(seed)
    samples, per_level, failed = [], [], 0
    for _ in range(bootstrap):
        rows = [rng.integers(0, len(c["batch"]), len(c["batch"])) for c in cells]
        spl, sb, sa = fit(rows)
        if np.isfinite(sb) and np.isfinite(sa):
            samples.append([sb, sa])
            with np.errstate(invalid="ignore", divide="ignore"):
                per_level.append(spl[:, 1] / spl[:, 0])
        else:
            failed += 1
    tail = 50.0 * (1.0 - level)

    def pct(values) -> list[float]:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return [float("nan"), float("nan")]
        return [float(x) for x in np.percentile(v, [tail, 100.0 - tail])]

    s = np.array(samples, dtype=float).reshape(-1, 2)
    pv = np.array(per_level, dtype=float).reshape(-1, len(fit.all_losses))
    levels = _levels(cells, pl, [pct(pv[:, k]) for k in range(len(fit.all_losses))])
    for lv, lo, hi in zip(levels, fit.b_lo, fit.b_hi, strict=True):
        lv["used"] = bool(lo <= lv["B_crit"] <= hi)
    bad = [lv for lv in levels if not lv["used"]]
    if bad:
        notes.append(
            f"{len(bad)} of {len(levels)} (size, loss) level(s) left out of the power law: no "
            f"positive S_min and E_min, or B_crit outside {BRACKET:g}x the batch sizes swept "
            "(the sweep does not bracket B_crit there)"
        )
    if bootstrap and failed:
        notes.append(f"{failed} of {bootstrap} bootstrap resamples could not be fitted")
    return BcritResult(
        B_star=b_star,
        alpha_B=alpha_b,
        ci={"B_star": pct(s[:, 0]), "alpha_B": pct(s[:, 1])},
        levels=levels,
        level=level,
        bootstrap=bootstrap,
        failed=failed,
        n_runs=sum(len(c["batch"]) for c in cells),
        n_sizes=len(cells),
        samples=[[float(a), float(b)] for a, b in s],
        notes=list(table.notes) + notes,
        source=table.source,
    )


def _cells(table, eval_set, losses, n_levels: int, min_batches: int, notes: list) -> list[dict]:
    """Per model size: its batch sizes, the steps each run needs to reach each target loss (runs x
    losses) and the losses reached by ``min_batches`` batch sizes (notes the sizes skipped)."""
    cells = []
    for sweep in _sweeps(table, eval_set):
        rs = sweep["runs"]
        n_b = len({r["B"] for r in rs})
        if n_b < min_batches:
            notes.append(
                f"N = {sweep['N']:.4g}: {n_b} batch size(s), fewer than {min_batches}: skipped"
            )
            continue
        targets = list(losses) if losses is not None else _auto_levels(rs, n_levels, min_batches)
        batch = np.array([r["B"] for r in rs])
        steps = np.array([[steps_to_reach(r["step"], r["loss"], t) for t in targets] for r in rs])
        steps = steps.reshape(len(rs), len(targets))
        keep = []
        for j, t in enumerate(targets):
            reached = np.unique(batch[np.isfinite(steps[:, j])]).size
            if reached < min_batches:
                if losses is not None:
                    raise NumericalError(
                        f"{table.source}: N = {sweep['N']:.4g}: loss {t:g} is reached by "
                        f"{reached} batch size(s); S_min and E_min need at least {min_batches}"
                    )
                continue
            keep.append(j)
        cells.append(
            {
                "N": sweep["N"],
                "batch": batch,
                "steps": steps[:, keep],
                "losses": [targets[j] for j in keep],
            }
        )
    if not any(c["losses"] for c in cells):
        raise NumericalError(
            f"{table.source}: no loss is reached by {min_batches} or more batch sizes of one "
            f"model size: B_crit needs sweeps of at least {min_batches} batch sizes "
            "([grid] batch_tokens in a ladder)"
        )
    return cells


class _Estimator:
    """S_min and E_min per (size, loss) from chosen runs of each size, then B* and α_B from the
    levels whose B_crit falls within :data:`BRACKET` times the batch sizes that reached them."""

    def __init__(self, cells: list[dict], min_batches: int):
        self.cells, self.min_batches = cells, min_batches
        self.all_losses = np.array([t for c in cells for t in c["losses"]], dtype=float)
        reach = [
            c["batch"][np.isfinite(c["steps"][:, j])]
            for c in cells
            for j in range(len(c["losses"]))
        ]
        self.b_lo = np.array([b.min() / BRACKET for b in reach])
        self.b_hi = np.array([b.max() * BRACKET for b in reach])
        self.full = [np.arange(len(c["batch"])) for c in cells]

    def __call__(self, rows: list[np.ndarray]) -> tuple[np.ndarray, float, float]:
        per_level = []
        for c, idx in zip(self.cells, rows, strict=True):
            for j in range(len(c["losses"])):
                smin, emin = _level_fit(c["batch"][idx], c["steps"][idx, j], self.min_batches)
                per_level.append((smin, emin))
        pl = np.array(per_level, dtype=float).reshape(-1, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            bcrit = pl[:, 1] / pl[:, 0]
        bcrit = np.where((bcrit >= self.b_lo) & (bcrit <= self.b_hi), bcrit, np.nan)
        b_star, alpha_b = _power_law(self.all_losses, bcrit)
        return pl, b_star, alpha_b


def _levels(cells: list[dict], pl: np.ndarray, cis: list[list[float]]) -> list[dict]:
    """One record per (size, loss): S_min, E_min, B_crit with its interval, and the sweep."""
    levels, k = [], 0
    for c in cells:
        for j, t in enumerate(c["losses"]):
            ok = np.isfinite(c["steps"][:, j])
            smin, emin = pl[k]
            levels.append(
                {
                    "N": c["N"],
                    "loss": t,
                    "S_min": smin,
                    "E_min": emin,
                    "B_crit": emin / smin if smin > 0 else float("nan"),
                    "B_crit_ci": cis[k],
                    "batch": [float(x) for x in c["batch"][ok]],
                    "steps": [float(x) for x in c["steps"][ok, j]],
                    "tokens": [float(x) for x in c["batch"][ok] * c["steps"][ok, j]],
                }
            )
            k += 1
    return levels


def simulate_sweep(
    b_star: float = KAPLAN_B_STAR,
    alpha_b: float = KAPLAN_ALPHA_B,
    sizes=(1e5, 1e6),
    batches=(3e3, 1e4, 3e4, 1e5, 3e5),
    n_points: int = 40,
    noise: float = 0.0,
    seed: int = 0,
    law: Optional[dict] = None,
):
    """A run table of batch sweeps obeying (S/S_min − 1)(E/E_min − 1) = 1 exactly (for tests and
    benchmarks): after S_min steps at the critical batch the loss is Kaplan's
    L(N, S_min) = (N_c/N)^α_N + (S_c/S_min)^α_S (``law``; default Kaplan's constants), and a run of
    batch B needs S = S_min·(1 + B_crit(L)/B) steps; ``noise``: log-normal sd of the loss."""
    import pandas as pd  # noqa: PLC0415

    from scalelab.runs.table import RunTable  # noqa: PLC0415

    p = law or {"N_c": 8.8e13, "alpha_N": 0.076, "S_c": 2.1e3, "alpha_S": 0.76}
    rng = np.random.default_rng(seed)
    frames = []
    for n in sizes:
        smin = np.geomspace(30.0, 1e6, 400)
        loss = (p["N_c"] / n) ** p["alpha_N"] + (p["S_c"] / smin) ** p["alpha_S"]
        for b in batches:
            s = smin * (1.0 + bcrit_of(loss, b_star, alpha_b) / b)
            steps = np.round(np.geomspace(s[0] * 1.5, s[-1] / 2, n_points))
            y = np.exp(np.interp(np.log(steps), np.log(s), np.log(loss)))
            y *= np.exp(noise * rng.standard_normal(len(y)))
            frames.append(
                pd.DataFrame(
                    {"run_id": f"N{n:.0e}-B{b:.0f}", "N": n, "step": steps}
                    | {"tokens_per_step": b, "D": steps * b, "loss": y}
                )
            )
    return RunTable.from_frame(pd.concat(frames, ignore_index=True), source="synthetic:bcrit")
