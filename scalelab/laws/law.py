"""A fitted (or published) scaling law: parameters, uncertainty, provenance; predict and allocate.

A :class:`Law` is plain data: it saves to JSON and loads back to an identical object. Its
bootstrap samples (internal parameters, one row per resample) travel with it, so predictions and
allocations made after loading still carry their intervals.

As in scikit-learn, the choices of the fit (:class:`~scalelab.laws.options.FitOptions`, typed, in
``options``) are kept apart from what the fit found (``params``, ``ci``, ``derived``, ``objective``,
``starts``, ``warnings``, ``data``, ``samples``). A published or hand-made law has no options.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from scalelab import __version__, atomic
from scalelab.errors import InputError, NumericalError
from scalelab.laws import forms, intervals, lawdoc, optimal
from scalelab.laws.options import FitOptions

DEFAULT_LEVEL = 0.95


@dataclass
class Allocation:
    """A compute-optimal allocation for one budget C (FLOPs, C = 6 N D)."""

    C: float
    N_opt: float
    D_opt: float
    tokens_per_param: float
    loss: float
    ci: dict[str, list[float]] = field(default_factory=dict)  # name -> [lo, hi] at ``level``
    level: Optional[float] = None
    method: str = "closed-form"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Law:
    """A scaling law of a given form with its parameters.

    Attributes:
        form: the form's registry name (see :mod:`scalelab.laws.forms`).
        params: natural parameters (for ``chinchilla``: E, A, B, alpha, beta).
        ci: percentile bootstrap intervals {name: [lo, hi]} of parameters and derived quantities.
        derived: point estimates of derived quantities (exponents a, b; tokens/param at a budget).
        objective: the fit's objective at the optimum (None for published laws).
        n_points / n_runs: rows and runs the fit used.
        starts: the initialisation grid's outcome (count, converged to the best, statuses).
        warnings: what a careful reader must know (parameter on a bound, unidentifiable fit, ...).
        options: the fit's choices (:class:`FitOptions`: loss, delta, grid, bootstrap, seed,
            level, conventions, budget, selection of points), resolved as the fit applied them;
            None for a published or hand-made law. Saved as the JSON object ``options``.
        conventions: parameter and FLOP conventions (see :mod:`scalelab.laws.conventions`).
        data: where the runs came from, the notes made reading them, and the run ids used.
        provenance: for published laws: citation, table/equation, conventions of the source.
        samples: bootstrap samples of the internal parameters, shape (n_ok, P), or None.
        scatter: the scatter of single runs about the law (sigma, its source, degrees of
            freedom, parameter covariance) that prediction intervals use
            (:mod:`scalelab.laws.intervals`); {} for a published law.
    """

    form: str
    params: dict[str, float]
    ci: dict[str, list[float]] = field(default_factory=dict)
    derived: dict[str, float] = field(default_factory=dict)
    objective: Optional[float] = None
    n_points: Optional[int] = None
    n_runs: Optional[int] = None
    starts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    options: Optional[FitOptions] = None
    conventions: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    samples: Optional[np.ndarray] = None
    version: str = __version__
    scatter: dict[str, Any] = field(default_factory=dict)  # run scatter, see laws.intervals

    def __post_init__(self):
        if isinstance(self.options, Mapping):  # a saved law's record, or {} for none
            self.options = (
                FitOptions.from_record(self.options, self.conventions) if self.options else None
            )

    # -- parameters --------------------------------------------------------------------------------
    @property
    def law_form(self) -> forms.Form:
        return forms.get(self.form)

    @property
    def theta(self) -> np.ndarray:
        """Internal (optimiser) parameter vector."""
        return self.law_form.internal(self.params)

    @property
    def level(self) -> float:
        return float(self.options.level) if self.options else DEFAULT_LEVEL

    # -- prediction --------------------------------------------------------------------------------
    def predict(self, *args, **variables) -> np.ndarray:
        """Loss (nats/token) at the given variables, in the form's order: ``law.predict(N, D)``
        or by name, ``law.predict(N=..., D=...)``; arrays broadcast. Where the law overflows the
        loss is inf (no warning printed): callers check finiteness."""
        merged = self._variables(args, variables)
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            if self.options is not None and self.options.auto and self.options.auto.get("stacked"):
                return intervals.stacked_predict(self, merged)
            return self.law_form.predict(self.theta, **merged)

    def interval(self, *args, level: Optional[float] = None, kind: str = "prediction", **variables):
        """Interval (lo, hi) at ``level``: ``kind="prediction"`` (default) for a new run's loss,
        combining parameter uncertainty, run scatter and tied forms (:mod:`.intervals`);
        ``kind="ci"`` the parameter (confidence) interval of the law's prediction, percentiles of
        the bootstrap laws."""
        if kind not in intervals.KINDS:
            raise InputError(f"interval kind: expected one of {intervals.KINDS}, got {kind!r}")
        if kind == "prediction":
            merged = self._variables(args, variables)
            return intervals.prediction_interval(self, merged, level or self.level)
        return self.confidence_interval(*args, level=level, **variables)

    def confidence_interval(self, *args, level: Optional[float] = None, **variables):
        """Percentile bootstrap interval (lo, hi) of the law's prediction (parameter uncertainty
        only); needs bootstrap samples."""
        if self.samples is None or len(self.samples) == 0:
            raise NumericalError(
                f"law '{self.form}' has no bootstrap samples; fit with bootstrap > 0 for intervals"
            )
        variables = self._variables(args, variables)
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            values = self.law_form.predict(self.samples, **variables)
        return _percentiles(values, level or self.level)

    def _variables(self, args, variables) -> dict:
        names = self.law_form.variables
        if len(args) > len(names):
            raise InputError(
                f"form '{self.form}' takes {len(names)} variable(s) ({', '.join(names)}), got "
                f"{len(args)}"
            )
        merged = dict(zip(names, args, strict=False))
        merged.update({k: v for k, v in variables.items() if v is not None})
        unknown = set(merged) - set(names)
        if unknown:
            raise InputError(
                f"form '{self.form}' depends on {', '.join(names)}, not on "
                f"{', '.join(sorted(unknown))}"
            )
        for name, value in merged.items():
            if np.any(~(np.asarray(value, dtype=float) > 0)):
                raise InputError(f"{name}: expected positive numbers, got {value}")
        return merged

    # -- compute-optimal allocation ----------------------------------------------------------------
    def optimal(self, C: float, level: Optional[float] = None) -> Allocation:
        """N_opt, D_opt, tokens/parameter and the loss to expect at budget C (FLOPs, C = 6 N D)."""
        form = self.law_form
        C = float(C)
        if not C > 0 or not np.isfinite(C):
            raise InputError(f"budget C: expected a positive number of FLOPs, got {C}")
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            N, D = optimal.allocate(form, self.theta, np.array([C]))
            loss = float(form.predict(self.theta, N=N[0], D=D[0])) if np.isfinite(N[0]) else 0.0
        if not (np.isfinite(N[0]) and np.isfinite(D[0]) and N[0] > 0 and D[0] > 0):
            raise NumericalError(
                f"law '{self.form}' has no interior compute-optimal N at C={C:.3g} "
                "(the loss keeps falling towards an edge, or the numbers overflow)"
            )
        if not np.isfinite(loss):
            raise NumericalError(
                f"law '{self.form}': the loss at the compute-optimal allocation for C={C:.3g} is "
                "not a finite number (the law overflows there)"
            )
        alloc = Allocation(
            C,
            float(N[0]),
            float(D[0]),
            float(D[0] / N[0]),
            loss,
            method="closed-form" if form.frontier is not None else "numeric",
        )
        if self.samples is not None and len(self.samples):
            lvl = level or self.level
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                Ns, Ds = optimal.allocate(form, self.samples, np.array([C]))
                Ns, Ds = Ns[:, 0], Ds[:, 0]
                ok = np.isfinite(Ns) & np.isfinite(Ds) & (Ns > 0) & (Ds > 0)
                losses = form.predict_each(self.samples[ok], N=Ns[ok], D=Ds[ok])
            alloc.ci = {
                "N_opt": _percentiles(Ns[ok], lvl),
                "D_opt": _percentiles(Ds[ok], lvl),
                "tokens_per_param": _percentiles(Ds[ok] / Ns[ok], lvl),
                "loss": _percentiles(losses, lvl),
            }
            alloc.level = lvl
        if self.scatter:  # a new run's loss at the allocation (laws.intervals)
            alloc.ci["loss_prediction"] = self.interval(N=N[0], D=D[0], level=level)
            alloc.level = level or self.level
        return alloc

    def not_computed(self) -> dict[str, str]:
        """Derived quantities at the fit's budget (N_opt, D_opt, tokens/parameter) that could not
        be computed, each with the reason; {} when all were (or the form has none)."""
        budget = self.options.budget if self.options else None
        why = (
            f"no finite compute-optimal allocation at C={budget:.3g} under this law (the loss "
            "keeps falling towards an edge, or the numbers overflow)"
        )
        return {
            k: why
            for k in ("N_opt", "D_opt", "tokens_per_param")
            if k in self.derived and not np.isfinite(self.derived[k])
        }

    def exponents(self) -> tuple[float, float]:
        """(a, b) with N_opt ~ C^a and D_opt ~ C^b."""
        a, b = optimal.exponents(self.law_form, self.theta[None, :])
        return float(a[0]), float(b[0])

    # -- persistence -------------------------------------------------------------------------------
    def options_record(self) -> dict:
        """The options as saved (the JSON object ``options``); {} for a law without a fit."""
        return self.options.to_record(self.law_form) if self.options else {}

    def to_dict(self, samples: bool = True) -> dict:
        d: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name == "options":
                d[name] = self.options_record()
            elif name == "samples":
                d[name] = (
                    None
                    if self.samples is None or not samples
                    else np.asarray(self.samples).tolist()
                )
            else:
                d[name] = copy.deepcopy(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "<dict>") -> Law:
        """A law from its document, checked whole (:mod:`scalelab.laws.lawdoc`): every key, and
        the parameters against the form's names and bounds."""
        kwargs = lawdoc.check(d, source, cls.__dataclass_fields__)
        try:
            return cls(**kwargs)
        except InputError as exc:
            key = "conventions" if "convention" in exc.problems[0] else "options"
            raise InputError(f"{source}: {key}: {exc.problems[0]}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"{source}: options: {str(exc)[:200]}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the law as JSON, atomically."""
        path = Path(path)
        text = json.dumps(_strict(self.to_dict()), indent=2, default=_json_default, allow_nan=False)
        atomic.write_text(path, text + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Law:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such law file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory, expected a law JSON file (from fit -o)")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
            ) from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not valid JSON (not UTF-8 text)") from None
        except RecursionError:
            raise InputError(f"{path}: JSON nested too deeply to be a law file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        return cls.from_dict(d, str(path))

    def summary(self) -> dict:
        """The JSON the CLI prints: everything but the bootstrap samples."""
        return self.to_dict(samples=False) | {
            "samples": None if self.samples is None else len(self.samples)
        }


def _percentiles(values: np.ndarray, level: float) -> list[float]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [float("nan"), float("nan")]
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(values, [tail, 100.0 - tail], axis=0)
    return [float(lo), float(hi)]


def _strict(value):
    """A law's document as strict JSON: a number that is not finite (an interval no bootstrap
    sample reached) is written as null and loads back as NaN."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return _strict(value.tolist())
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
