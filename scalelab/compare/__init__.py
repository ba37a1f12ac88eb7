"""Recipe comparison through scaling laws (layer 3, above ``laws``; never imports torch).

    >>> from scalelab import compare
    >>> result = compare.compare("runs.csv", by="recipe", shared="alpha,beta")  # doctest: +SKIP
    >>> result.pairs[0].budgets[0].multiplier, result.pairs[0].budgets[0].verdict  # doctest: +SKIP

Modules: ``groups`` (split a run table by a column, check each group), ``joint`` (joint fits with
shared parameters, bootstrap within groups), ``sharing`` (shared against free: F test and
out-of-sample), ``multiplier`` (the effective-compute multiplier k(C), its interval, verdict and
crossover), ``decision`` (decision accuracy across scales), ``shape`` (shape insensitivity), and
``api`` (:func:`compare`, :class:`Comparison`). See docs/compare.md.
"""

from scalelab.compare.api import Comparison, Offsets, compare
from scalelab.compare.decision import DecisionAccuracy, decision_accuracy
from scalelab.compare.joint import JointFit, ParamMap, fit_joint
from scalelab.compare.multiplier import AtBudget, Pair, multiplier_samples
from scalelab.compare.shape import ShapeAnalysis
from scalelab.compare.sharing import SharingTest

__all__ = [
    "AtBudget",
    "Comparison",
    "DecisionAccuracy",
    "JointFit",
    "Offsets",
    "Pair",
    "ParamMap",
    "ShapeAnalysis",
    "SharingTest",
    "compare",
    "decision_accuracy",
    "fit_joint",
    "multiplier_samples",
]
