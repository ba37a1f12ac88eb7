"""Fit options: every choice a fit makes, typed, validated once and recorded in the law.

Li et al. 2025 show that undisclosed fitting choices move scaling laws. :class:`FitOptions` is the
one place those choices live: the fitting loss and its Huber delta, the initialisation grid, the
bootstrap (resamples, seed, confidence level), the parameter and FLOP conventions, the budget at
which derived quantities are reported, and which rows are fitted. :func:`scalelab.laws.fit`,
:func:`scalelab.laws.backtest.backtest`, :func:`scalelab.laws.select.select_form`, the
sensitivity analysis and the report all take one, and keyword arguments of the same names for
convenience (``fit(table, bootstrap=1000)`` builds ``FitOptions(bootstrap=1000)``).

    >>> from scalelab.laws.options import FitOptions
    >>> FitOptions(bootstrap=200).replace(loss="mse").loss
    'mse'

This module is the one source of the fit defaults, and it imports nothing heavy: the command line
reads its defaults from here without loading pandas or numpy (``scalelab fit --help``). The
fitting modules import the choices from here (:data:`LOSSES`); building a :class:`FitOptions`
imports :mod:`~scalelab.laws.conventions` to validate its conventions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from scalelab.errors import InputError

if TYPE_CHECKING:
    from scalelab.laws.conventions import Conventions
    from scalelab.laws.formkit import Form

LOSSES = ("huber", "mse")
"""The fitting losses on log residuals (:mod:`scalelab.laws.objective`)."""
CHINCHILLA_BUDGET = 5.76e23
"""Gopher's (and Chinchilla's) training budget in FLOPs: the default budget of derived
quantities."""
DEFAULT_FORM = "chinchilla"
"""The form a fit, a backtest, a report and a comparison fit when none is named."""
INTERVAL_BOOTSTRAP = 200
"""Run-level resamples of a command whose product is an interval (a report, a comparison, a
B_crit fit); a plain fit's default is none (``FitOptions.bootstrap``)."""
TIES = ("irreducible", "stack")
"""How ``form="auto"`` settles tied forms: prefer the one with an irreducible loss, or average."""
OPTIMIZER = "L-BFGS (batched, projected)"
"""The optimiser every fit uses (recorded in the law's options)."""

# Keys of a saved law's "options" object that are not fields of FitOptions: written from the form,
# read back as nothing (they follow from the form and the code version).
_RECORD_ONLY = ("optimizer", "bounds")


@dataclass(frozen=True)
class FitOptions:
    """The choices of one fit.

    Attributes:
        loss: ``huber`` (with ``delta``) or ``mse``, on log-loss residuals.
        delta: the Huber threshold (None once resolved for ``mse``).
        grid: initialisation grid override {internal parameter: values}; for ``form="auto"``
            {form name: {parameter: values}}. A fitted law records the full grid it used.
        bootstrap: run-level bootstrap resamples (0: none); seed: their seed; level: the
            confidence level of the intervals.
        params, flops: parameter and FLOP conventions (:mod:`scalelab.laws.conventions`).
        bcrit: what steps mean to ``kaplan-ns``: S_min = S/(1 + B_crit(L)/B) with B_crit from
            ``kaplan-2020`` (published), ``"B*,alpha_B"``, a B_crit fit file, or ``none``.
        budget: the budget C (FLOPs) at which derived quantities are reported.
        eval_set, task, points: which rows to fit (:meth:`RunTable.select`); a fitted law records
            the points it used.
        max_iter: L-BFGS iteration limit.
        skip_first: with ``points="all"``, drop each run's points before this fraction of its
            tokens (warm-up; Choshen et al. 2024 drop the first ~10%).
        tie: for ``form="auto"``: how tied forms are settled, ``irreducible`` (prefer E) or
            ``stack`` (their geometric mean); not part of the saved record (the ``auto`` record
            keeps the tie it used).
        auto: for a form chosen by ``form="auto"``: the selection's record (chosen, criterion,
            split, candidates, errors); None otherwise.
    """

    loss: str = "huber"
    delta: Optional[float] = 1e-3
    grid: Optional[Mapping[str, Any]] = None
    bootstrap: int = 0
    seed: int = 0
    level: float = 0.95
    params: str = "non-embedding"
    flops: str = "6ND"
    budget: float = CHINCHILLA_BUDGET
    eval_set: Optional[str] = None
    task: Optional[str] = None
    points: Optional[str] = None
    max_iter: int = 1000
    auto: Optional[dict] = None
    skip_first: float = 0.0
    bcrit: str = "kaplan-2020"
    tie: str = "irreducible"

    def __post_init__(self):
        from scalelab.laws.conventions import Conventions  # numpy: imported when a fit is built

        conv = Conventions(self.params, self.flops, self.bcrit)  # validates the conventions
        object.__setattr__(self, "bcrit", conv.bcrit)  # a B_crit fit file, as its numbers
        if self.tie not in TIES:
            raise InputError(f"tie: expected one of {TIES}, got {self.tie!r}")
        if self.loss not in LOSSES:
            raise InputError(f"fitting loss: expected one of {LOSSES}, got {self.loss!r}")
        if self.loss == "huber" and not (self.delta is not None and self.delta > 0):
            raise InputError(f"Huber delta: expected a positive number, got {self.delta}")
        if self.bootstrap < 0:
            raise InputError(
                f"bootstrap: expected a non-negative number of resamples, got {self.bootstrap}"
            )
        if not 0 < self.level < 1:
            raise InputError(
                f"level: expected a confidence level between 0 and 1, got {self.level}"
            )
        if not 0 <= self.skip_first < 1:
            raise InputError(
                f"skip_first: expected a fraction of each run's tokens in [0, 1), got "
                f"{self.skip_first}"
            )
        if not self.budget > 0:
            raise InputError(f"budget: expected a positive number of FLOPs, got {self.budget}")

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def make(cls, options: Optional[FitOptions] = None, **overrides) -> FitOptions:
        """``options`` (default: the defaults) with the given fields replaced; an unknown name
        is a TypeError, as for any function's keyword argument."""
        return (options or cls()).replace(**overrides)

    def replace(self, **changes) -> FitOptions:
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def conventions(self) -> Conventions:
        from scalelab.laws.conventions import Conventions

        return Conventions(self.params, self.flops, self.bcrit)

    def resolved(self, form: Form) -> FitOptions:
        """The options as a fit of ``form`` applies them: the full grid, the points, no delta
        for ``mse``. A fitted law keeps these."""
        grid = self.grid or {}
        return self.replace(
            grid={p.name: [float(x) for x in grid.get(p.name, p.grid)] for p in form.params},
            points=self.points or form.points,
            delta=self.delta if self.loss == "huber" else None,
        )

    # -- the saved record ----------------------------------------------------------------------
    def to_record(self, form: Optional[Form] = None) -> dict:
        """The ``options`` object of a saved law (its keys are the file format).

        Conventions are not in it: a law records them apart (``conventions``)."""
        out: dict[str, Any] = {
            "loss": self.loss,
            "delta": self.delta,
            "optimizer": OPTIMIZER,
            "grid": _plain(self.grid),
        }
        if form is not None:
            out["bounds"] = {p.name: [p.lower, p.upper] for p in form.params}
        out |= {
            "bootstrap": int(self.bootstrap),
            "seed": int(self.seed),
            "level": float(self.level),
            "budget": float(self.budget),
            "eval_set": self.eval_set,
            "task": self.task,
            "points": self.points,
            "max_iter": int(self.max_iter),
        }
        if self.skip_first:
            out["skip_first"] = float(self.skip_first)
        if self.auto is not None:
            out["auto"] = self.auto
        return out

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], conventions: Optional[Mapping[str, Any]] = None
    ) -> FitOptions:
        """Options from a saved law's ``options`` (and ``conventions``) objects."""
        names = {f.name for f in dataclasses.fields(cls)} - {"params", "flops", "bcrit"}
        kwargs = {k: v for k, v in record.items() if k in names}
        for key in ("params", "flops", "bcrit"):
            if conventions and conventions.get(key) is not None:
                kwargs[key] = conventions[key]
        return cls(**kwargs)

    def __getitem__(self, key: str) -> Any:
        """Read access by the saved record's keys: ``law.options["loss"]``, ``["auto"]``."""
        record = self.to_record()
        if key in record and key not in _RECORD_ONLY:
            return record[key]
        raise KeyError(key)


def _plain(grid: Optional[Mapping[str, Any]]) -> Optional[dict]:
    if grid is None:
        return None
    return {
        k: (_plain(v) if isinstance(v, Mapping) else [float(x) for x in v]) for k, v in grid.items()
    }
