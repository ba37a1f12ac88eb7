"""Scaling laws: forms, fitting, compute-optimal allocation, IsoFLOP analysis, published laws.

This layer never imports torch: fitting a user's table starts fast and needs no GPU stack.

    >>> from scalelab import laws
    >>> law = laws.fit("runs.csv", form="chinchilla", bootstrap=1000)   # doctest: +SKIP
    >>> law.params, law.ci, law.predict(N=1e9, D=2e10), law.optimal(1e23)  # doctest: +SKIP
"""

from scalelab.laws import forms
from scalelab.laws.conventions import Conventions
from scalelab.laws.fit import CHINCHILLA_BUDGET, fit
from scalelab.laws.law import Allocation, Law

__all__ = ["Allocation", "CHINCHILLA_BUDGET", "Conventions", "Law", "fit", "forms"]
