"""Scaling laws: forms, fitting, compute-optimal allocation, IsoFLOP analysis, published laws.

This layer never imports torch: fitting a user's table starts fast and needs no GPU stack.

    >>> from scalelab import laws
    >>> law = laws.fit("runs.csv", form="chinchilla", bootstrap=1000)   # doctest: +SKIP
    >>> law.params, law.ci, law.predict(N=1e9, D=2e10), law.optimal(1e23)  # doctest: +SKIP

Modules, bottom to top: ``forms``, ``conventions``, ``objective``, ``lbfgs``, ``optimal``,
``options`` (:class:`FitOptions`), ``law`` (:class:`Law`), ``fit`` (one named form), ``backtest``,
``select`` (:func:`fit`, ``form="auto"``), and beside them ``isoflop``, ``published``,
``synthetic``.

Its names are imported on first use (:mod:`scalelab.lazy`): ``import scalelab.laws.options`` (as
``scalelab fit --help`` does) loads neither pandas nor numpy; ``laws.fit`` loads the fitting stack.
"""

from typing import TYPE_CHECKING

from scalelab.lazy import exports

if TYPE_CHECKING:  # the names below, for static tools; at run time __getattr__ imports them
    from scalelab.laws import forms
    from scalelab.laws.conventions import Conventions
    from scalelab.laws.fit import fit_form
    from scalelab.laws.law import Allocation, Law
    from scalelab.laws.options import CHINCHILLA_BUDGET, FitOptions
    from scalelab.laws.select import fit, select_form

__all__ = [
    "Allocation",
    "CHINCHILLA_BUDGET",
    "Conventions",
    "FitOptions",
    "Law",
    "fit",
    "fit_form",
    "forms",
    "select_form",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "Allocation": "scalelab.laws.law",
        "CHINCHILLA_BUDGET": "scalelab.laws.options",
        "Conventions": "scalelab.laws.conventions",
        "FitOptions": "scalelab.laws.options",
        "Law": "scalelab.laws.law",
        "fit": "scalelab.laws.select",
        "fit_form": "scalelab.laws.fit",
        "select_form": "scalelab.laws.select",
    },
)
