"""IsoFLOP approaches recover the exponents of a known law."""

import numpy as np
import pytest

from scalelab.errors import NumericalError
from scalelab.laws import Law, isoflop, synthetic
from scalelab.runs import RunTable

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
BUDGETS = np.geomspace(1e18, 1e22, 9)


def profiles(noise=0.002, seed=0):
    a, _ = TRUTH.exponents()
    rows = []
    for c in BUDGETS:
        n_opt = TRUTH.optimal(c).N_opt
        rows.append(
            synthetic.simulate(
                TRUTH,
                isoflop=[c],
                N=n_opt * np.geomspace(1 / 8, 8, 9),
                noise=noise,
                seed=seed + len(rows),
            ).data
        )
    import pandas as pd

    frame = pd.concat(rows, ignore_index=True)
    frame["run_id"] = [f"r{i}" for i in range(len(frame))]
    return RunTable.from_frame(frame)


def test_approach_2_recovers_exponents():
    a_true, b_true = TRUTH.exponents()
    result = isoflop.isoflop_profiles(profiles(), bootstrap=300)
    assert result.a == pytest.approx(a_true, abs=0.02)
    assert result.b == pytest.approx(b_true, abs=0.02)
    assert result.ci["a"][0] <= a_true <= result.ci["a"][1]
    assert len(result.budgets) == len(BUDGETS)
    for b in result.budgets:
        assert b["N_opt"] == pytest.approx(TRUTH.optimal(b["C"]).N_opt, rel=0.15)


def test_approach_1_envelope_tracks_the_frontier():
    a_true, _ = TRUTH.exponents()
    result = isoflop.envelope(profiles(), bootstrap=100)
    assert result.a == pytest.approx(a_true, abs=0.08)


def test_budgets_group_within_relative_tolerance():
    C = np.array([1e18, 1e18 * (1 + 5e-7), 2e18, 2e18 * (1 - 1e-9), 4e18])
    assert list(isoflop.group_budgets(C)) == [0, 0, 1, 1, 2]
    assert len(set(isoflop.group_budgets(C, rtol=1e-9))) == 4


def test_unbracketed_minimum_is_dropped_with_a_warning():
    table = profiles()
    data = table.data
    # keep only the small half of the sizes at the largest budget: its minimum lies beyond them
    big = data["C"] > BUDGETS[-1] * 0.99
    n_opt = TRUTH.optimal(BUDGETS[-1]).N_opt
    data = data[~big | (data["N"] < n_opt / 2)]
    result = isoflop.isoflop_profiles(RunTable.from_frame(data), bootstrap=0)
    assert len(result.budgets) == len(BUDGETS) - 1
    assert any("not bracketed" in w for w in result.warnings)


def test_too_few_budgets_is_a_numerical_error():
    data = profiles().data
    one = data[data["C"] < BUDGETS[0] * 1.01]
    with pytest.raises(NumericalError, match="usable budget"):
        isoflop.isoflop_profiles(RunTable.from_frame(one), bootstrap=0)
