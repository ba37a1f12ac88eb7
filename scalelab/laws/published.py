"""Published scaling laws as ready :class:`~scalelab.laws.law.Law` objects, with provenance.

Each law records its citation, the table or equation its constants come from, the constants as
printed there, and its conventions (which N, which FLOP count, which loss). The constants are facts
to test against, not tuning targets; ``tests/test_published.py`` pins them.

    >>> from scalelab.laws import published
    >>> law = published.get("chinchilla-2022")
    >>> round(float(law.predict(N=70e9, D=1.4e12)), 3)
    1.937
"""

from __future__ import annotations

import os
from pathlib import Path

from scalelab.errors import InputError
from scalelab.laws.law import Law

PF_DAY = 1e15 * 86400.0
"""FLOPs in one petaflop/s-day (Kaplan et al. express compute in PF-days)."""

KAPLAN = "Kaplan et al. 2020, Scaling Laws for Neural Language Models, arXiv:2001.08361"
HOFFMANN = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556"
BESIROGLU = "Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt, arXiv:2404.10102"
KAPLAN_CONVENTIONS = {
    "params": "non-embedding",
    "flops": "C = 6 N D (non-embedding N; attention term neglected)",
    "loss": "nats/token on WebText2 test, 1024-token context",
}
HOFFMANN_CONVENTIONS = {
    "params": "total",
    "flops": "C = 6 N D (total N)",
    "loss": "nats/token on MassiveText (Chinchilla's training distribution)",
}


def _kaplan_power(
    var: str,
    constant: float,
    exponent: float,
    source: str,
    constant_name: str,
    unit: str,
    scale: float = 1.0,
) -> Law:
    # L = (X_c / X)^alpha = A X^-alpha with A = X_c^alpha (X_c converted to base units by
    # ``scale``).
    return Law(
        form=f"power:{var}",
        params={"A": (constant * scale) ** exponent, "alpha": exponent},
        conventions=KAPLAN_CONVENTIONS,
        provenance={
            "citation": KAPLAN,
            "source": source,
            "published": {constant_name: constant, f"alpha_{var if var != 'C' else 'C'}": exponent},
            "units": unit,
            "formula": f"L = ({constant_name}/{var})^alpha",
        },
    )


def _laws() -> dict[str, Law]:
    return {
        "kaplan-2020-n": _kaplan_power(
            "N", 8.8e13, 0.076, "Eq. (1.1) and Table 5", "N_c", "N in non-embedding parameters"
        ),
        "kaplan-2020-d": _kaplan_power(
            "D", 5.4e13, 0.095, "Eq. (1.2) and Table 5", "D_c", "D in tokens"
        ),
        "kaplan-2020-c": _kaplan_power(
            "C",
            3.1e8,
            0.050,
            "Eq. (1.3) and Table 5",
            "C_c",
            "C_c published in PF-days (1 PF-day = 8.64e19 FLOPs); C here in FLOPs",
            scale=PF_DAY,
        ),
        "kaplan-2020-nd": Law(
            form="kaplan-nd",
            params={"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
            conventions=KAPLAN_CONVENTIONS,
            provenance={
                "citation": KAPLAN,
                "source": "Eq. (1.5) and Table 2",
                "published": {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
                "formula": "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
            },
        ),
        "kaplan-2020-ns": Law(
            form="kaplan-ns",
            params={"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76},
            conventions=KAPLAN_CONVENTIONS
            | {
                "bcrit": "kaplan-2020",
                "steps": "S is S_min, steps at the critical batch size: S_min = S/(1 + B_crit/B), "
                "B_crit(L) = 2e8/L^(1/0.21) tokens (Eq. 5.3)",
            },
            provenance={
                "citation": KAPLAN,
                "source": "Eq. (1.6) and Table 3",
                "published": {"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76},
                "formula": "L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S",
            },
        ),
        "chinchilla-2022": Law(
            form="chinchilla",
            params={"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
            conventions=HOFFMANN_CONVENTIONS,
            provenance={
                "citation": HOFFMANN,
                "source": "§3.3 (approach 3: parametric fit, Huber delta=1e-3, L-BFGS)",
                "published": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
                "formula": "L = E + A/N^alpha + B/D^beta",
                "note": "Besiroglu et al. 2024 find these values inconsistent with the paper's "
                "own data (an optimiser stopped early); see besiroglu-2024",
            },
        ),
        "besiroglu-2024": Law(
            form="chinchilla",
            params={"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
            conventions=HOFFMANN_CONVENTIONS,
            provenance={
                "citation": BESIROGLU,
                "source": "Table 1 (refit of approach 3 on data read off Hoffmann et al. Fig. 4)",
                "published": {
                    "E": 1.8172,
                    "A": 482.01,
                    "B": 2085.43,
                    "alpha": 0.3478,
                    "beta": 0.3658,
                },
                "formula": "L = E + A/N^alpha + B/D^beta",
            },
        ),
    }


_LAWS = _laws()
ALIASES = {
    "chinchilla": "chinchilla-2022",
    "hoffmann-2022": "chinchilla-2022",
    "kaplan-2020": "kaplan-2020-nd",
}


def names() -> list[str]:
    return sorted(_LAWS)


def get(name: str) -> Law:
    """A fresh copy of a published law by name (``chinchilla-2022``, ``kaplan-2020-n``, ...)."""
    key = ALIASES.get(name, name)
    if key not in _LAWS:
        raise InputError(f"unknown published law '{name}'; published laws: {', '.join(names())}")
    return Law.from_dict(_LAWS[key].to_dict())


def resolve(spec: str | os.PathLike) -> Law:
    """A law from a saved JSON file (a path that exists, or any name ending in ``.json``), or a
    published law by name: what every ``--law`` option accepts."""
    if Path(spec).exists() or str(spec).endswith(".json"):
        return Law.load(spec)
    return get(str(spec))
