"""The target's schedule when ``predict`` is given none: the fitted runs' own hyper-parameter rule
(issue 22, item 5).

A ladder sets each run's schedule by a rule in its size (and length): OLMo's peak lr falls as
N^-1/3, its warm-up is N tokens, its batch grows with N. Stretching the largest run's schedule to
the target (its peak lr, its warm-up fraction) ignores that rule, and the annealing law's loss
depends on the summed lr, so the target's assumed lr matters. :func:`derive` reads the rule from
the fitted runs, field by field:

* **numbers** (peak lr, tokens per step, warm-up): constant across the runs (relative spread
  below :data:`TOL`) -> the constant; else a least-squares line of log value on log N (and on
  log D where the value differs between runs of one size: it then depends on the run's length),
  evaluated at the target. The warm-up is read in steps, in tokens and as a fraction of the run,
  and OLMo's comes out as N tokens.
  A constant unit is kept first, then the rule with the fewest terms that fits the runs within
  1% (log rms), the closest among them. A run whose warm-up is 0 leaves only the constant (0) or
  the largest run's value.
* **labels** (kind, final lr ratio, cool-down fraction and shape): every run's, when all agree;
  else the largest run's, and the rule says so.

:func:`at` evaluates the rule at a target (N and its length), clamped to finite positive values
(the largest run's value where a trend gives none), and describes each field as it was assumed.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

TOL = 1e-6
RMS_OK = 0.01
NUMBERS = ("peak_lr", "tokens_per_step")
LABELS = ("kind", "min_lr_ratio", "cooldown_frac", "cooldown_shape")
WARMUP_UNITS = ("steps", "tokens", "fraction")


def derive(curves, tokens) -> Optional[dict]:
    """The rule of the runs with schedules; ``tokens(curve)`` is a run's final D. None when no
    run has a schedule."""
    runs = [c for c in curves if c.schedule is not None]
    if not runs:
        return None
    largest = max(runs, key=lambda c: (c.N, c.final_step))
    N = np.array([c.N for c in runs], float)
    D = np.array([tokens(c) for c in runs], float)
    tps = D / np.array([c.final_step for c in runs], float)
    values = {
        "peak_lr": np.array([c.schedule.peak_lr for c in runs]),
        "tokens_per_step": tps,
    }
    rule: dict = {"run_id": largest.run_id}
    i = runs.index(largest)
    for name, v in values.items():
        rule[name] = _number(v, N, D, i)
    warm = np.array([c.schedule.warmup_steps for c in runs], float)
    steps = np.array([c.schedule.total_steps for c in runs], float)
    by_unit = {"steps": warm, "tokens": warm * tps, "fraction": warm / steps}
    fits = {u: dict(_number(v, N, D, i), unit=u) for u, v in by_unit.items()}
    rule["warmup"] = _simplest(fits)
    for name in LABELS:
        vals = [getattr(c.schedule, name) for c in runs]
        agree = all(v == vals[0] for v in vals)
        rule[name] = {"value": getattr(largest.schedule, name), "agree": agree}
    return rule


def _simplest(fits: dict) -> dict:
    """The warm-up rule: a constant unit first, then the trend with the fewest terms whose log
    residual is within :data:`RMS_OK` (the lowest residual among them), else the lowest."""
    order = {u: k for k, u in enumerate(WARMUP_UNITS)}
    ranked = sorted(
        fits.values(),
        key=lambda r: (
            r["how"] != "constant",
            r.get("rms", math.inf) > RMS_OK,
            len(r.get("coef", {})),
            r.get("rms", math.inf),
            order[r["unit"]],
        ),
    )
    return ranked[0]


def _number(v: np.ndarray, N: np.ndarray, D: np.ndarray, largest: int) -> dict:
    """A constant, or the least-squares line of log v on log N (and log D where v differs
    within one size), or the largest run's value when v is not positive."""
    fallback = float(v[largest])
    if np.all(np.abs(v - v[0]) <= TOL * max(abs(v[0]), 1e-300)):
        return {"how": "constant", "value": float(v[0])}
    if not np.all(v > 0) or not np.all(np.isfinite(v)):
        return {"how": "largest", "value": fallback}
    names, cols = ["const"], [np.ones_like(N)]
    if np.unique(N).size > 1:
        names.append("logN")
        cols.append(np.log(N))
    within = any(np.ptp(np.log(v[N == n])) > TOL for n in np.unique(N))
    if within and np.unique(D).size > 1:
        names.append("logD")
        cols.append(np.log(D))
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1] and "logD" in names:
        names, X = names[:-1], X[:, :-1]
    if X.shape[1] == 1:
        return {"how": "largest", "value": fallback}
    coef, *_ = np.linalg.lstsq(X, np.log(v), rcond=None)
    rms = float(np.sqrt(np.mean((np.log(v) - X @ coef) ** 2)))
    return {
        "how": "trend",
        "coef": dict(zip(names, map(float, coef), strict=True)),
        "rms": rms,
        "value": fallback,
    }


def value(r: dict, N: float, D: float) -> tuple[float, bool]:
    """The rule ``r`` at (N, D), and whether it is the rule's (False: the largest run's value,
    the trend giving no finite positive number there)."""
    if r["how"] != "trend":
        return float(r["value"]), r["how"] == "constant"
    c = r["coef"]
    log = c["const"] + c.get("logN", 0.0) * math.log(N) + c.get("logD", 0.0) * math.log(D)
    x = math.exp(log) if log < 700 else math.inf
    if math.isfinite(x) and x > 0:
        return x, True
    return float(r["value"]), False


def tokens_per_step(rule: dict, N: float) -> float:
    """The target's tokens per step (its length is not known yet: at the largest run's D/N)."""
    r = rule["tokens_per_step"]
    return value(r, N, N)[0] if "logD" not in r.get("coef", {}) else float(r["value"])


def at(
    rule: dict, N: float, steps: int, tps: float, given: Optional[dict] = None
) -> tuple[dict, list[str]]:
    """The schedule fields at a target of ``N`` parameters and ``steps`` steps of ``tps`` tokens
    (kind, peak_lr, warmup_steps, min_lr_ratio, cooldown_frac, cooldown_shape) and how each not
    ``given`` (spec keys: lr, warmup, kind, ...) was assumed (text)."""
    given = given or {}
    D = steps * tps
    lr, _ = value(rule["peak_lr"], N, D)
    w = rule["warmup"]
    raw, _ = value(w, N, D)
    warm = {"steps": raw, "tokens": raw / tps, "fraction": raw * steps}[w["unit"]]
    warm = int(min(max(0, round(warm)), steps - 1))
    fields = {"peak_lr": lr, "warmup_steps": warm}
    fields.update({k: rule[k]["value"] for k in LABELS})
    said = []
    if "lr" not in given:
        said.append(f"peak lr {lr:.3g} {how(rule['peak_lr'], 'lr')}")
    if "warmup" not in given:
        said.append(f"warm-up {warm:,} steps {how(w, 'warm-up ' + w['unit'])}")
    kind = given.get("kind", fields["kind"])
    wanted = (
        ("kind",)
        + (("min_lr_ratio",) if kind != "constant" else ())
        + (("cooldown_frac", "cooldown_shape") if kind == "wsd" else ())
    )
    labels = [k for k in wanted if k not in given]
    split = [k for k in labels if not rule[k]["agree"]]
    if labels:
        said.append(
            ", ".join(f"{k} {fields[k]}" for k in labels)
            + (
                " (every fitted run's)"
                if not split
                else f" (the largest run's, {rule.get('run_id', '?')}: the fitted runs disagree "
                "on " + ", ".join(split) + ")"
            )
        )
    return fields, said


def how(r: dict, what: str) -> str:
    if r["how"] == "constant":
        return "(the same in every fitted run)"
    if r["how"] == "largest":
        return "(the largest fitted run's: the runs give no trend)"
    c = r["coef"]
    terms = " ".join(f"{v}^{c[k]:.2f}" for k, v in (("logN", "N"), ("logD", "D")) if k in c)
    fit = "exact" if r["rms"] < 5e-4 else f"rms {r['rms']:.1%}"
    return f"(the fitted runs' trend {what} ∝ {terms}, {fit})"
