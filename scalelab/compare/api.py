"""``compare``: recipes, evaluation sets, data or shapes, compared through their scaling laws.

One call does what ``scalelab compare`` prints::

    from scalelab import compare
    result = compare.compare("runs.csv", by="recipe", shared="alpha,beta", budgets=[1e23])
    result.pairs[0].budgets[0].verdict    # "<B> better", "<A> better" (group names) or "not distinguishable"
    result.to_dict()                      # the CLI's --json

What it computes depends on the grouping:

* any column (``recipe``, ``data``, ...): a joint fit (the ``shared`` parameters in common, the
  rest per group, run-level bootstrap within groups), tests of sharing, the effective-compute
  multiplier of every pair at each budget with interval, verdict and crossover, and the decision
  accuracy across scales;
* ``eval_set``: the same runs scored on several sets: the joint fit, the tests, and the offset of
  each set from the reference in nats with its interval (Kaplan's constant offset), or the
  statement that the offset model does not hold; multipliers across evaluation sets are not
  computed (their losses are not comparable);
* ``shape``: the shape-insensitivity analysis (:mod:`scalelab.compare.shape`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from scalelab.compare import decision as decision_mod
from scalelab.compare import groups as groups_mod
from scalelab.compare import multiplier as mult
from scalelab.compare import shape as shape_mod
from scalelab.compare import sharing
from scalelab.compare.joint import (
    JointFit,
    fit_joint,
    own_fits,
    percentiles,
    resolve_shared,
)
from scalelab.errors import InputError
from scalelab.laws import forms
from scalelab.laws.options import DEFAULT_FORM, FitOptions
from scalelab.runs.table import Runs, as_table
from scalelab.units import quantity

MIN_BOOTSTRAP = 20


@dataclass
class Offsets:
    """Kaplan's claim: the groups' losses differ by a constant (everything shared but E)."""

    reference: str
    holds: Optional[bool]
    p_value: Optional[float]
    offsets: dict[str, dict]  # group -> {"offset": nats, "interval": [lo, hi]}
    verdict: str

    def to_dict(self) -> dict:
        return {
            "reference": self.reference,
            "holds": self.holds,
            "p_value": self.p_value,
            "offsets": self.offsets,
            "verdict": self.verdict,
        }


@dataclass
class Comparison:
    """What :func:`compare` found; ``to_dict()`` is the CLI's JSON."""

    by: str
    groups: list[str]
    form: str
    shared: list[str]
    source: str
    fit: Optional[JointFit] = None
    sharing: list[sharing.SharingTest] = field(default_factory=list)
    pairs: list[mult.Pair] = field(default_factory=list)
    offsets: Optional[Offsets] = None
    decision: Optional[decision_mod.DecisionAccuracy] = None
    shape: Optional[shape_mod.ShapeAnalysis] = None
    budgets: list[float] = field(default_factory=list)
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "by": self.by,
            "groups": list(self.groups),
            "form": self.form,
            "shared": list(self.shared),
            "source": self.source,
            "level": self.level,
            "budgets": list(self.budgets),
            "fit": None if self.fit is None else self.fit.to_dict(),
            "sharing": [t.to_dict() for t in self.sharing],
            "pairs": [p.to_dict() for p in self.pairs],
            "offsets": None if self.offsets is None else self.offsets.to_dict(),
            "decision": None if self.decision is None else self.decision.to_dict(),
            "shape": None if self.shape is None else self.shape.to_dict(),
            "notes": list(self.notes),
        }


def compare(
    runs: Runs,
    by: str = "recipe",
    *,
    form: str = DEFAULT_FORM,
    shared: Union[str, Sequence[str], None] = None,
    budgets: Optional[Sequence[Union[float, str]]] = None,
    reference: Optional[str] = None,
    groups: Optional[Sequence[str]] = None,
    multipliers: Optional[bool] = None,
    offsets: Optional[bool] = None,
    decision: Optional[bool] = None,
    tests: bool = True,
    options: Optional[FitOptions] = None,
    **overrides,
) -> Comparison:
    """Compare the groups of ``runs`` by column ``by`` through their scaling laws.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        by: the grouping column (``recipe``, ``eval_set``, ``dataset``, ``shape``, ...).
        form: the law's form (a registered name: ``chinchilla``, ``chinchilla-tied``,
            ``power-offset:C``, ...).
        shared: parameters common to all groups (natural names, ``"alpha,beta"``); None: none.
        budgets: budgets C (FLOPs; ``1e23`` or ``"27B"``-style text) for the multipliers;
            default: the runs' smallest and largest compute, their geometric mean, 100x and
            10,000x the largest.
        reference: group A of every pair (default: every pair of groups, in order).
        groups: the groups to compare (default: all values of the column).
        multipliers, offsets, decision: compute these parts (default: multipliers and decision
            accuracy unless ``by="eval_set"``, offsets for ``by="eval_set"``).
        tests: test the sharing hypotheses (F test and out-of-sample).
        options: fit options (:class:`~scalelab.laws.FitOptions`); keyword arguments of the same
            names replace fields. The default bootstrap here is 200 resamples.
    """
    overrides.setdefault("bootstrap", options.bootstrap if options else 200)
    opts = FitOptions.make(options, **overrides)
    table = as_table(runs)
    law_form = forms.get(form)
    if by == "shape":
        return Comparison(
            by,
            [],
            law_form.name,
            [],
            table.source,
            shape=shape_mod.analyse(table, law_form, opts),
            level=opts.level,
        )
    if set(law_form.variables) not in ({"N", "D"}, {"C"}):
        raise InputError(
            f"--form: a comparison needs a law in N and D or in C; '{law_form.name}' depends on "
            f"{', '.join(law_form.variables)}"
        )
    shared_names = resolve_shared(law_form, shared)
    eval_sets = by == "eval_set"
    multipliers = (not eval_sets) if multipliers is None else multipliers
    offsets = eval_sets if offsets is None else offsets
    decision = (not eval_sets) if decision is None else decision
    if (multipliers or offsets) and opts.bootstrap < MIN_BOOTSTRAP:
        raise InputError(
            f"--bootstrap: the multipliers' and offsets' intervals need at least {MIN_BOOTSTRAP} "
            f"resamples, got {opts.bootstrap}"
        )
    chosen = sorted(quantity(c, "--budget") for c in budgets) if budgets else []
    bad = [c for c in chosen if not c > 0]
    if bad:
        raise InputError(f"--budget: expected a positive number of FLOPs, got {bad[0]:g}")
    parts = groups_mod.split(table, by, law_form, opts, groups)
    names = [g.name for g in parts]
    if reference is not None and reference not in names:
        raise InputError(f"--reference: no group {reference!r}; groups are {names}")
    notes = []
    own = own_fits(law_form, parts, opts)
    pooled = None  # starts from the groups' own fits suffice (a pooled fit costs one more grid)
    main = fit_joint(law_form, parts, shared_names, opts, own=own, pooled=pooled)
    result = Comparison(
        by, names, law_form.name, list(main.shared), table.source, fit=main, level=opts.level
    )

    if tests or offsets:
        fits = _JointFits(law_form, parts, shared_names, opts, own, pooled, main)
        _sharing_and_offsets(result, fits, tests, offsets, reference or names[0], notes)

    if multipliers:
        _multipliers(result, law_form, parts, main, chosen, reference, opts.level)
    if decision:
        result.decision = decision_mod.decision_accuracy(law_form, parts, shared_names, opts)
    result.notes = notes + [n for g in parts for n in g.table.notes if n.startswith("left out")]
    return result


@dataclass
class _JointFits:
    """What every joint fit of a comparison shares: the form, the groups, the options, the groups'
    own fits and the main (``shared``) fit."""

    law_form: Any
    parts: list
    shared_names: tuple
    opts: FitOptions
    own: Any
    pooled: Any
    main: JointFit

    def fit(self, hyp, **kw) -> JointFit:
        return fit_joint(
            self.law_form, self.parts, hyp, self.opts, own=self.own, pooled=self.pooled, **kw
        )


def _sharing_and_offsets(result, jf: _JointFits, tests: bool, offsets: bool, reference: str, notes):
    """Fit each sharing hypothesis; test them (``tests``) and read the eval sets' offsets from
    the ``offset`` fit (``offsets``), into ``result``."""
    law_form, main, shared_names = jf.law_form, jf.main, jf.shared_names
    free = main if not shared_names else jf.fit((), bootstrap=0)
    hyps = sharing.hypotheses(law_form, shared_names)
    fits = {}
    for name, hyp in hyps.items():
        if hyp == shared_names:
            fits[name] = main
        elif name == "offset" and offsets:
            fits[name] = jf.fit(hyp)
        elif tests:
            fits[name] = jf.fit(hyp, bootstrap=0)
    if tests:
        result.sharing = sharing.run_tests(
            law_form, jf.parts, jf.opts, free, fits, jf.own, jf.pooled
        )
    if offsets:
        if "offset" not in fits:
            notes.append(f"offsets: form '{law_form.name}' has no irreducible term")
        else:
            test = next((t for t in result.sharing if t.hypothesis == "offset"), None)
            if test is None:
                df, _, p, _ = sharing.f_test(fits["offset"], free)
                supported = None if p is None else p >= sharing.SIGNIFICANCE
            else:
                p, supported = test.p_value, test.supported
            result.offsets = _offsets(
                fits["offset"], law_form, reference, p, supported, jf.opts.level
            )


def _multipliers(result, law_form, parts, main: JointFit, chosen, reference, level) -> None:
    """The effective-compute multiplier of each pair of groups at each budget, into ``result``."""
    names = [g.name for g in parts]
    all_C = np.concatenate([g.X["C"] for g in parts])
    result.budgets = chosen or mult.default_budgets(all_C)
    pairs = (
        [(reference, b) for b in names if b != reference]
        if reference
        else [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    )
    result.pairs = [
        mult.compare_pair(main, law_form, a, b, result.budgets, level) for a, b in pairs
    ]


def _offsets(fit: JointFit, form, reference: str, p, supported, level) -> Offsets:
    e = form.irreducible
    ref = fit.laws[reference]
    out = {}
    for g, law in fit.laws.items():
        if g == reference:
            continue
        d = law.params[e] - ref.params[e]
        samples = fit.group_samples(g)
        ref_samples = fit.group_samples(reference)
        interval = None
        if samples is not None:
            diff = form.natural(samples)[e] - form.natural(ref_samples)[e]
            interval = percentiles(diff, level)
        out[g] = {"offset": float(d), "interval": interval}
    if supported is None:
        verdict = "the constant-offset model could not be tested (too few points)"
    elif supported:
        verdict = (
            f"constant offset holds (p = {p:.3g}): "
            + ", ".join(
                f"{g} {v['offset']:+.4f} nats"
                + (f" [{v['interval'][0]:+.4f}, {v['interval'][1]:+.4f}]" if v["interval"] else "")
                for g, v in out.items()
            )
            + f" relative to {reference}"
        )
    else:
        verdict = (
            f"the constant-offset claim does not hold here (p = {p:.3g}): the groups differ by "
            "more than an offset in loss"
        )
    return Offsets(reference, supported, p, out, verdict)
