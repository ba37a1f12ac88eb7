"""Prediction intervals that hold the form's own extrapolation error: the misspecification term
measured by held-out refits (scalelab.laws.misspec)."""

import copy
import json

import numpy as np

from scalelab import laws
from scalelab.laws import Law, intervals, misspec, synthetic

N = np.geomspace(2e7, 2e9, 5)
D = np.geomspace(4e8, 4e11, 5)
GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5], "beta": [0.5]}
TIED_GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5]}
# unequal exponents: the tied form (one exponent) is wrong, and more so the further it goes
TRUTH = Law("chinchilla", {"E": 1.7, "A": 2000.0, "B": 400.0, "alpha": 0.5, "beta": 0.25})


def _held_out_largest(seed: int):
    runs = synthetic.simulate(TRUTH, N=N, D=D, noise=0.005, seed=seed)
    d = runs.data
    fit_runs = runs.with_data(d[d["N"] < N[-1]], "all but the largest size")
    held = d[d["N"] == N[-1]]
    return fit_runs, {"N": held["N"].to_numpy(), "D": held["D"].to_numpy()}, held["loss"]


def _without_term(law: Law) -> Law:
    bare = copy.deepcopy(law)
    bare.scatter["misspecification"] = None
    return bare


def test_misspecified_form_gets_a_wider_interval_that_covers():
    """The tied form fitted to runs of a law with unequal exponents: its held-out refits show
    errors beyond the run scatter (tau > 0), the prediction interval widens accordingly and covers
    the held-out largest size, which the interval without the term (parameters + scatter) misses.
    The true form, fitted to the same runs, measures (almost) no misspecification."""
    covered, covered_bare, taus, true_taus = [], [], [], []
    for seed in range(5):
        fit_runs, X, truth = _held_out_largest(seed)
        law = laws.fit(fit_runs, "chinchilla-tied", grid=TIED_GRID)
        mis = law.scatter["misspecification"]
        taus.append(mis["tau"])
        assert mis["n_heldout"] >= 10 and {f["fold"] for f in mis["folds"]} >= {
            "1 largest size(s)",
            "C > max/10",
        }
        lo, hi = law.interval(**X)
        blo, bhi = _without_term(law).interval(**X)
        assert np.all(lo < blo) and np.all(hi > bhi)  # strictly wider where tau > 0
        covered += list((lo <= truth) & (truth <= hi))
        covered_bare += list((blo <= truth) & (truth <= bhi))
        if seed < 2:
            right = laws.fit(fit_runs, "chinchilla", grid=GRID)
            true_taus.append(right.scatter["misspecification"]["tau"])
    assert min(taus) > 0
    assert np.mean(covered) >= 0.9
    assert np.mean(covered_bare) < 0.75  # the term is what makes it cover
    assert all(t < m / 2 for t, m in zip(true_taus, taus, strict=False))  # same runs


def test_term_grows_with_distance_and_round_trips(tmp_path):
    fit_runs, _, _ = _held_out_largest(0)
    law = laws.fit(fit_runs, "chinchilla-tied", grid=TIED_GRID)
    tau = law.scatter["misspecification"]["tau"]
    near = intervals.log_components(law, {"N": 5e8, "D": 1e11})["misspecification"]
    far = intervals.log_components(law, {"N": N[3] * 100, "D": D[-1]})["misspecification"]
    # inside the fitted range the term is tau; two decades beyond N (and N*D) it is 3 tau
    assert float(near) == tau and abs(float(far) - 3.0 * tau) < 1e-12
    back = Law.load(law.save(tmp_path / "law.json"))
    assert back.interval(N=5e10, D=4e12) == law.interval(N=5e10, D=4e12)
    json.dumps(law.to_dict(), allow_nan=False)


def test_distance_is_decades_beyond_the_fitted_range():
    top = {"N": np.log(1e9), "D": np.log(1e11), "N*D": np.log(1e9 * 1e11)}
    d = misspec.distance({"N": np.log([1e8, 1e10, 1e9]), "D": np.log([1e10, 1e11, 1e13])}, top)
    assert np.allclose(d, [0.0, 1.0, 2.0])
