"""Functional forms of scaling laws, each a small declared object.

A :class:`Form` says what a law looks like: its name, the run-table variables it reads (N, D, C,
S), its *internal* parameters (the ones the optimiser moves, in log space where that helps:
``a = log A``), their bounds and default initialisation grid, the law's formula for ``log L`` as a
function of those parameters and of the log-variables, how internal parameters map to the
published (natural) ones, and what the law can derive: the irreducible loss, and a closed-form
compute-optimal frontier where one exists.

Every prediction is made in log space, which is what the fit's residuals are measured in
(Hoffmann et al. 2022, approach 3): ``log L = LSE(a - alpha*log N, b - beta*log D, e)``.

Register a new form in a few lines::

    from scalelab.laws import forms
    forms.register(forms.lse_form(
        "my-law", "L = E + A/N^alpha + A/D^alpha", variables=("N", "D"),
        params=[forms.log_param("e", "E", -20, 5, [-1, 0, 1]),
                forms.log_param("a", "A", -30, 60, [0, 10, 20]),
                forms.exponent("alpha", grid=[0, 0.5, 1])],
        terms=[("a", "alpha", "N"), ("a", "alpha", "D"), ("e", None, None)],
    ))

Any other shape of formula can be a plain :class:`Form` with a ``log_predict`` function; without
an analytic Jacobian the fitter differentiates it numerically.

What the rest of the package needs of a form is declared on it, and read from the registry,
never from a list of names kept elsewhere: ``auto=True`` makes it a candidate of ``fit --form
auto`` (:func:`candidates`); ``family`` makes it an alternative the sensitivity analysis refits
(:func:`neighbours`); ``quick_grid`` is its start grid for quick refits (:func:`quick_grids`); a
closed-form ``frontier`` lets the report's comparison section draw it (:func:`with_frontier`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.formkit import (  # the building blocks, re-exported: forms.lse_form(...)
    Form,
    Forward,
    LogPredict,
    LogVariables,
    Param,
    Term,
    _lse,
    _numeric_jacobian,
    chinchilla_frontier,
    exponent,
    log_param,
    lse_form,
)

__all__ = [
    "ND",
    "Form",
    "Forward",
    "LogPredict",
    "LogVariables",
    "Param",
    "Term",
    "_numeric_jacobian",
    "candidates",
    "chinchilla_frontier",
    "exponent",
    "get",
    "grid_for",
    "log_param",
    "lse_form",
    "names",
    "neighbours",
    "quick_grids",
    "register",
    "registered",
    "unregister",
    "with_frontier",
]

# -- the registry ----------------------------------------------------------------------------------
_REGISTRY: dict[str, Form] = {}

LOGCOEF_BOUNDS = (-30.0, 60.0)
E_BOUNDS = (-20.0, 5.0)  # E = exp(e) in [2e-9, 148] nats: the lower bound means "E -> 0"
CHINCHILLA_EXPONENT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
CHINCHILLA_E_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)
CHINCHILLA_COEF_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)


def register(form: Form, *, replace: bool = False) -> Form:
    """Add a form to the registry (``replace=True`` to overwrite an existing name)."""
    if form.name in _REGISTRY and not replace:
        raise ValueError(f"a form named '{form.name}' is already registered")
    _REGISTRY[form.name] = form
    return form


def get(name: str) -> Form:
    """Look a form up by name; ``power`` and ``power-offset`` take their variable as ``power:N``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise InputError(f"unknown form '{name}'; known forms: {', '.join(names())}")


def unregister(name: str) -> Form:
    """Remove a form from the registry and return it."""
    if name not in _REGISTRY:
        raise InputError(f"unknown form '{name}'; known forms: {', '.join(names())}")
    return _REGISTRY.pop(name)


@contextmanager
def registered(form: Form) -> Iterator[Form]:
    """``with forms.registered(my_form):`` the form is registered inside the block only."""
    register(form)
    try:
        yield form
    finally:
        _REGISTRY.pop(form.name, None)


def names() -> list[str]:
    return sorted(_REGISTRY)


# -- what the other modules ask of the registry ----------------------------------------------------
def candidates() -> tuple[str, ...]:
    """The forms ``fit --form auto`` chooses among (``auto=True``), in the order registered."""
    return tuple(name for name, form in _REGISTRY.items() if form.auto)


def neighbours(name: str) -> tuple[str, ...]:
    """The other forms of ``name``'s family, in the order registered: the alternatives the
    sensitivity analysis refits a baseline of form ``name`` as (none for a form of no family)."""
    family = get(name).family
    if family is None:
        return ()
    return tuple(n for n, f in _REGISTRY.items() if f.family == family and n != name)


def with_frontier() -> tuple[str, ...]:
    """The forms with a closed-form compute-optimal frontier, in the order registered."""
    return tuple(name for name, form in _REGISTRY.items() if form.frontier is not None)


def quick_grids() -> dict[str, dict[str, tuple[float, ...]]]:
    """{form name: its reduced start grid} for every form that declares one (``quick_grid``):
    the sensitivity analysis's ``--fast`` refits, as a per-form grid (:func:`grid_for`)."""
    return {name: dict(form.quick_grid) for name, form in _REGISTRY.items() if form.quick_grid}


def grid_for(grid: Optional[Mapping[str, Any]], form: Form) -> Optional[dict[str, Any]]:
    """One form's part of a grid override: ``grid`` is either per form ({form name: {parameter:
    values}}, as :func:`quick_grids` and ``fit --form auto`` take it) or per parameter
    ({parameter: values}, the axes ``form`` lacks left out). None when nothing applies."""
    if not grid:
        return None
    if set(grid) <= set(_REGISTRY):
        return dict(grid[form.name]) if grid.get(form.name) else None
    return {k: v for k, v in grid.items() if k in form.param_names} or None


def _coef(name, natural, grid=CHINCHILLA_COEF_GRID):
    return log_param(name, natural, *LOGCOEF_BOUNDS, grid)


ND = "L(N, D)"
"""The family of the laws in N and D, which give a compute-optimal allocation."""
_QUICK_COEF = (0.0, 10.0, 20.0)
_QUICK_EXPONENT = (0.5, 1.0)


def _builtin() -> None:
    """The built-in forms. The order is the registry's: ``fit --form auto`` tries its candidates
    (chinchilla, chinchilla-tied, kaplan-nd, power-offset:C, power:C) in it."""
    register(
        lse_form(
            "chinchilla",
            "L = E + A/N^alpha + B/D^beta",
            ("N", "D"),
            [
                log_param("e", "E", *E_BOUNDS, CHINCHILLA_E_GRID),
                _coef("a", "A"),
                _coef("b", "B"),
                exponent("alpha", CHINCHILLA_EXPONENT_GRID),
                exponent("beta", CHINCHILLA_EXPONENT_GRID),
            ],
            [("a", "alpha", "N"), ("b", "beta", "D"), ("e", None, None)],
            irreducible="E",
            frontier=chinchilla_frontier,
            reference="Hoffmann et al. 2022, Eq. (2) and approach 3 (§3.3, Appendix D.2)",
            auto=True,
            family=ND,
            quick_grid={  # 108 starts
                "e": (-1.0, 0.0, 1.0),
                "a": _QUICK_COEF,
                "b": _QUICK_COEF,
                "alpha": _QUICK_EXPONENT,
                "beta": _QUICK_EXPONENT,
            },
        )
    )
    register(
        lse_form(
            "chinchilla-tied",
            "L = E + A/N^alpha + B/D^alpha",
            ("N", "D"),
            [
                log_param("e", "E", *E_BOUNDS, CHINCHILLA_E_GRID),
                _coef("a", "A"),
                _coef("b", "B"),
                exponent("alpha", CHINCHILLA_EXPONENT_GRID),
            ],
            [("a", "alpha", "N"), ("b", "alpha", "D"), ("e", None, None)],
            irreducible="E",
            frontier=chinchilla_frontier,
            reference="Gadre et al. 2024, Eq. (1): Chinchilla's form with alpha = beta",
            auto=True,
            family=ND,
            quick_grid={
                "e": (-1.0, 0.0, 1.0),
                "a": _QUICK_COEF,
                "b": _QUICK_COEF,
                "alpha": _QUICK_EXPONENT,
            },
        )
    )
    register(_kaplan_ns())
    register(_kaplan_nd())
    for var in ("N", "D", "C"):
        register(
            lse_form(
                f"power-offset:{var}",
                f"L = E + A * {var}^-alpha",
                (var,),
                [
                    log_param("e", "E", *E_BOUNDS, CHINCHILLA_E_GRID),
                    _coef("a", "A"),
                    exponent("alpha", CHINCHILLA_EXPONENT_GRID),
                ],
                [("a", "alpha", var), ("e", None, None)],
                irreducible="E",
                reference="Power law with an irreducible term (Henighan et al. 2020; OpenAI 2023 "
                "for L(C))",
                auto=var == "C",
                family=f"L({var})",
            )
        )
    for var in ("N", "D", "C"):
        register(
            lse_form(
                f"power:{var}",
                f"L = A * {var}^-alpha",
                (var,),
                [
                    _coef("a", "A", (0.0, 2.0, 5.0, 10.0, 20.0)),
                    exponent("alpha", (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)),
                ],
                [("a", "alpha", var)],
                reference="Kaplan et al. 2020, Eqs. (1.1)-(1.3) (L = (X_c/X)^alpha, A = X_c^alpha)",
                auto=var == "C",
                family=f"L({var})",
            )
        )


def _kaplan_ns() -> Form:
    """Kaplan et al. 2020, Eq. (1.6) / (5.6): L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S.

    log L = LSE(alpha_N (n_c - log N), alpha_S (s_c - log S)), n_c = log N_c, s_c = log S_c. S is
    S_min, the steps at the critical batch size: the ``bcrit`` convention turns a run's steps into
    S_min = S/(1 + B_crit(L)/B) (:mod:`scalelab.laws.batch`).
    """
    params = (
        log_param("n_c", "N_c", -10.0, 120.0, (10.0, 20.0, 30.0, 40.0)),
        log_param("s_c", "S_c", -20.0, 60.0, (0.0, 5.0, 10.0)),
        exponent("alpha_N", (0.05, 0.1, 0.3, 0.6), lower=1e-4),
        exponent("alpha_S", (0.1, 0.4, 0.8, 1.5), lower=1e-4),
    )

    def forward(theta, logx):
        n_c, s_c, a_n, a_s = (theta[:, i, None] for i in range(4))
        dn = n_c - np.atleast_2d(logx["N"])
        ds = s_c - np.atleast_2d(logx["S"])
        z, (w1, w2) = _lse([a_n * dn, a_s * ds])

        def pullback(v):
            return np.stack(
                [
                    (v * w1).sum(1) * a_n[:, 0],
                    (v * w2).sum(1) * a_s[:, 0],
                    (v * w1 * dn).sum(1),
                    (v * w2 * ds).sum(1),
                ],
                axis=1,
            )

        return z, pullback

    def log_predict(theta, logx):
        return forward(theta, logx)[0]

    return Form(
        "kaplan-ns",
        "L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S, S_min = S/(1 + B_crit(L)/B)",
        ("N", "S"),
        params,
        log_predict,
        forward,
        points="all",
        reference="Kaplan et al. 2020, Eq. (1.6) / (5.6); S_min as Eq. (5.4), B_crit(L) as "
        "Eq. (5.3)",
    )


def _kaplan_nd() -> Form:
    """Kaplan et al. 2020, Eq. (1.5): L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.

    log L = alpha_D * LSE(r (n_c - log N), d_c - log D), r = alpha_N/alpha_D, n_c = log N_c.
    """
    params = (
        log_param("n_c", "N_c", -10.0, 80.0, (10.0, 20.0, 30.0, 40.0)),
        log_param("d_c", "D_c", -10.0, 80.0, (10.0, 20.0, 30.0, 40.0)),
        exponent("alpha_N", (0.05, 0.1, 0.2, 0.4), lower=1e-4),
        exponent("alpha_D", (0.05, 0.1, 0.2, 0.4), lower=1e-4),
    )

    def forward(theta, logx):
        n_c, d_c, a_n, a_d = (theta[:, i, None] for i in range(4))
        r = a_n / a_d
        dn = n_c - np.atleast_2d(logx["N"])
        u1 = r * dn
        z, (w1, w2) = _lse([u1, d_c - np.atleast_2d(logx["D"])])

        def pullback(v):
            return np.stack(
                [
                    (v * w1).sum(1) * a_n[:, 0],
                    (v * w2).sum(1) * a_d[:, 0],
                    (v * w1 * dn).sum(1),
                    (v * (z - w1 * u1)).sum(1),
                ],
                axis=1,
            )

        return a_d * z, pullback

    def log_predict(theta, logx):
        return forward(theta, logx)[0]

    return Form(
        "kaplan-nd",
        "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
        ("N", "D"),
        params,
        log_predict,
        forward,
        reference="Kaplan et al. 2020, Eq. (1.5) / (4.1); over-fitting governed by "
        "N^(alpha_N/alpha_D)/D",
        auto=True,
        family=ND,
        quick_grid={  # 16 starts
            "n_c": (20.0, 40.0),
            "d_c": (20.0, 40.0),
            "alpha_N": (0.1, 0.4),
            "alpha_D": (0.1, 0.4),
        },
    )


_builtin()
