"""Published laws carry their provenance, and their constants cannot drift."""

import math

import pytest

from scalelab.laws import published

# The constants as printed in the sources (DESIGN.md §2): facts, not tuning targets.
KAPLAN = {"n": ("N_c", 8.8e13, 0.076), "d": ("D_c", 5.4e13, 0.095), "c": ("C_c", 3.1e8, 0.050)}


@pytest.mark.parametrize("which", sorted(KAPLAN))
def test_kaplan_single_variable_laws(which):
    name, constant, exponent = KAPLAN[which]
    law = published.get(f"kaplan-2020-{which}")
    assert law.provenance["published"][name] == constant
    scale = 8.64e19 if which == "c" else 1.0  # C_c is in PF-days
    x = 1e9 if which != "c" else 1e21
    var = which.upper()
    assert float(law.predict(**{var: x})) == pytest.approx(
        (constant * scale / x) ** exponent, rel=1e-12
    )
    assert (
        "arXiv:2001.08361" in law.provenance["citation"]
        and law.conventions["params"] == "non-embedding"
    )


def test_kaplan_nd_and_ns():
    nd = published.get("kaplan-2020-nd")
    assert nd.params == {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
    N, D = 1e9, 1e10
    expected = ((6.4e13 / N) ** (0.076 / 0.103) + 1.8e13 / D) ** 0.103
    assert float(nd.predict(N=N, D=D)) == pytest.approx(expected, rel=1e-12)
    ns = published.get("kaplan-2020-ns")
    assert float(ns.predict(N=N, S=1e4)) == pytest.approx(
        (6.5e13 / N) ** 0.077 + (2.1e3 / 1e4) ** 0.76, rel=1e-12
    )
    assert ns.provenance["published"]["S_c"] == 2.1e3 and "S_min" in ns.conventions["steps"]


def test_hoffmann_2022_constants_and_closed_form_by_hand():
    law = published.get("chinchilla-2022")
    assert law.params == {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    assert law.conventions["params"] == "total" and "arXiv:2203.15556" in law.provenance["citation"]
    E, A, B, al, be = 1.69, 406.4, 410.7, 0.34, 0.28
    for C in (1e21, 5.76e23):
        G = (al * A / (be * B)) ** (1 / (al + be))
        N = G * (C / 6) ** (be / (al + be))
        D = (C / 6) ** (al / (al + be)) / G
        alloc = law.optimal(C)
        assert alloc.N_opt == pytest.approx(N, rel=1e-10)
        assert alloc.D_opt == pytest.approx(D, rel=1e-10)
        assert alloc.loss == pytest.approx(E + A / N**al + B / D**be, rel=1e-10)
    assert law.exponents() == pytest.approx((0.28 / 0.62, 0.34 / 0.62))


def test_besiroglu_2024():
    law = published.get("besiroglu-2024")
    assert law.params == {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    assert "arXiv:2404.10102" in law.provenance["citation"]


def test_every_published_law_names_its_source():
    for name in published.names():
        law = published.get(name)
        assert law.provenance["citation"] and law.provenance["source"] and law.conventions
        assert all(math.isfinite(v) for v in law.params.values())


def test_copies_are_independent():
    a = published.get("chinchilla-2022")
    a.params["E"] = 0.0
    assert published.get("chinchilla-2022").params["E"] == 1.69
