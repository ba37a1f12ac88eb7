"""Adding a form is one registration: form selection, the sensitivity analysis, its quick grids
and the report's comparison section all read the registry (issue 24, "say it once")."""

from __future__ import annotations

import numpy as np
import pytest

from scalelab.errors import InputError
from scalelab.laws import Law, forms, select, synthetic
from scalelab.report import comparison
from scalelab.report import sensitivity as sens

BUILTIN_CANDIDATES = ("chinchilla", "chinchilla-tied", "kaplan-nd", "power-offset:C", "power:C")


def _toy() -> forms.Form:
    """L = E + A/N^alpha + A/D^alpha: one coefficient and one exponent for both terms."""
    return forms.lse_form(
        "toy-nd",
        "L = E + A/N^alpha + A/D^alpha",
        ("N", "D"),
        [
            forms.log_param("e", "E", -20.0, 5.0, (-1.0, 0.0, 1.0)),
            forms.log_param("a", "A", -30.0, 60.0, (0.0, 5.0, 10.0, 20.0)),
            forms.exponent("alpha", (0.1, 0.5, 1.0)),
        ],
        [("a", "alpha", "N"), ("a", "alpha", "D"), ("e", None, None)],
        irreducible="E",
        frontier=lambda p: forms.chinchilla_frontier({**p, "B": p["A"]}),
        auto=True,
        family=forms.ND,
        quick_grid={"a": (5.0, 10.0), "alpha": (0.5,)},
    )


TRUTH = {"E": 1.8, "A": 400.0, "alpha": 0.3}
SIZES = np.geomspace(1e7, 1e9, 6)
TOKENS = np.geomspace(2e8, 2e11, 5)


def _table():
    return synthetic.simulate(Law("toy-nd", TRUTH), N=SIZES, D=TOKENS, noise=0.003, seed=2)


def test_a_registered_form_reaches_every_list_and_leaves_with_its_block(monkeypatch):
    assert forms.candidates() == BUILTIN_CANDIDATES == select.AUTO_CANDIDATES
    with forms.registered(_toy()) as toy:
        # fit --form auto: a candidate, after the built-in ones
        assert forms.candidates() == (*BUILTIN_CANDIDATES, "toy-nd") == select.AUTO_CANDIDATES
        # the sensitivity analysis: a neighbour of chinchilla's family, and the other way round
        assert forms.neighbours("chinchilla") == ("chinchilla-tied", "kaplan-nd", "toy-nd")
        assert forms.neighbours("toy-nd") == ("chinchilla", "chinchilla-tied", "kaplan-nd")
        table = _table()
        names = [v.name for v in sens.default_variants(table, "toy-nd") if v.group == "form"]
        assert names == ["form chinchilla", "form chinchilla-tied", "form kaplan-nd"]
        # --fast: its own quick grid, a grid override per form picks it
        assert sens.FAST_GRID["toy-nd"] == {"a": (5.0, 10.0), "alpha": (0.5,)}
        assert forms.grid_for(sens.FAST_GRID, toy) == {"a": (5.0, 10.0), "alpha": (0.5,)}
        assert forms.grid_for({"alpha": [1.0], "beta": [2.0]}, toy) == {"alpha": [1.0]}
        # the report's comparison fits it (a closed-form frontier), not the default form
        assert forms.with_frontier() == ("chinchilla", "chinchilla-tied", "toy-nd")
        asked = []

        def record(runs, by, *, form, **kwargs):
            asked.append(form)
            raise InputError("recorded")

        monkeypatch.setattr(comparison, "compare", record)
        for form in ("toy-nd", "kaplan-nd"):
            assert comparison.analyse(table, "recipe", form, bootstrap=0)[2] == "recorded"
        assert asked == ["toy-nd", "chinchilla"]
        assert toy.describe()["auto"] is True and toy.describe()["family"] == forms.ND
    # gone again: nothing leaks into the next test
    assert "toy-nd" not in forms.names() and forms.candidates() == BUILTIN_CANDIDATES
    assert forms.neighbours("chinchilla") == ("chinchilla-tied", "kaplan-nd")
    with pytest.raises(InputError, match="unknown form 'toy-nd'"):
        forms.get("toy-nd")


def test_registration_errors_and_unregister():
    with forms.registered(_toy()):
        with pytest.raises(ValueError, match="already registered"):
            forms.register(_toy())
        assert forms.unregister("toy-nd").name == "toy-nd"
        with pytest.raises(InputError, match="unknown form"):
            forms.unregister("toy-nd")
    assert "toy-nd" not in forms.names()
    with pytest.raises(InputError, match="unknown grid parameter"):  # a quick grid is checked
        forms.lse_form("bad", "L = A", ("N",), [forms.exponent("alpha", (1.0,))],
                       [("alpha", None, None)], quick_grid={"beta": (1.0,)})  # fmt: skip


def test_select_form_backtests_a_registered_form_and_finds_it_true():
    with forms.registered(_toy()):
        table = _table()
        grids = {name: forms.get(name).quick_grid for name in forms.candidates()}
        result = select.select_form(
            table, scheme=[("size", {"folds": 1})], grids={k: v for k, v in grids.items() if v}
        )
        assert result["candidates"] == [*BUILTIN_CANDIDATES, "toy-nd"]
        scores = result["scores"]
        assert set(scores) == set(result["candidates"])
        # the true form predicts the held-out size within the noise of the best form
        assert scores["toy-nd"] < 0.01
        assert scores["toy-nd"] - min(scores.values()) <= result["noise"]["rel"]
        assert "toy-nd" in result["tied"]


def test_sensitivity_refits_a_registered_neighbour_from_its_quick_grid():
    with forms.registered(_toy()):
        table = _table()
        variants = [
            v for v in sens.default_variants(table, "chinchilla") if v.group in ("baseline", "form")
        ]
        result = sens.analyse(
            table, "chinchilla", budget=1e21, grid=sens.FAST_GRID, variants=variants
        )
        rows = {r["name"]: r for r in result.rows}
        assert list(rows) == ["baseline", "form chinchilla-tied", "form kaplan-nd", "form toy-nd"]
        toy = rows["form toy-nd"]
        assert toy["status"] == "ok" and toy["form"] == "toy-nd"
        # the refit recovers the true parameters (from a 2-start grid) and its allocation
        assert toy["params"]["alpha"] == pytest.approx(TRUTH["alpha"], rel=0.05)
        assert toy["params"]["E"] == pytest.approx(TRUTH["E"], rel=0.05)
        truth = Law("toy-nd", TRUTH).optimal(1e21).tokens_per_param
        assert toy["tokens_per_param"] == pytest.approx(truth, rel=0.1)
