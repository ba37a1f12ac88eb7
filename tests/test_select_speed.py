"""``fit --form auto``'s fold fits score point predictions only: they make no misspecification
refits (scalelab.laws.misspec.skipped), and the chosen law, its choice and its interval are the
same as when every fold fit made them."""

import contextlib

import numpy as np
import pandas as pd

from scalelab.laws import Law, misspec, select
from scalelab.runs import RunTable

TRUTH = Law("chinchilla", {"E": 1.7, "A": 2000.0, "B": 400.0, "alpha": 0.5, "beta": 0.25})
GRIDS = {
    "chinchilla": {"e": [0.5], "a": [7.0], "b": [6.0], "alpha": [0.5], "beta": [0.5]},
    "chinchilla-tied": {"e": [0.5], "a": [7.0], "b": [6.0], "alpha": [0.5]},
}
CANDIDATES = ["chinchilla", "chinchilla-tied"]


def _ladder(seed: int = 0) -> RunTable:
    rng = np.random.default_rng(seed)
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(2e7, 2e9, 6), np.geomspace(4e8, 4e11, 5)))
    loss = TRUTH.predict(N=n, D=d) * np.exp(rng.normal(0.0, 0.005, n.size))
    frame = pd.DataFrame({"run_id": [f"r{i}" for i in range(n.size)], "N": n, "D": d, "loss": loss})
    return RunTable.from_frame(frame, "synthetic")


def _fit(table):
    before = dict(misspec.CALLS)
    law = select.fit_auto(table, candidates=CANDIDATES, grid=GRIDS, schedule_aware=False)
    return law, {k: misspec.CALLS[k] - before[k] for k in before}


def test_fold_fits_skip_the_misspecification_refits_and_the_interval_is_unchanged(monkeypatch):
    table = _ladder()
    law, calls = _fit(table)
    # one set of held-out refits: the final law's; every fold fit and tied fit skipped them
    assert calls["heldout"] == 1
    assert calls["skipped"] >= 2 * len(select.FOLDS)
    assert law.scatter["misspecification"]["method"] == "calibrated"

    # as before the skipping: every fold fit makes its refits; nothing else changes
    monkeypatch.setattr(misspec, "skipped", contextlib.nullcontext)
    old, old_calls = _fit(table)
    assert old_calls["skipped"] == 0
    assert old_calls["heldout"] == calls["heldout"] + calls["skipped"]
    assert law.params == old.params
    assert law.scatter == old.scatter
    assert law.options.auto == old.options.auto
    N, D = np.array([2e10, 8e10]), np.array([4e11, 2e12])
    assert np.array_equal(law.interval(N=N, D=D), old.interval(N=N, D=D))
    assert np.array_equal(law.predict(N=N, D=D), old.predict(N=N, D=D))


def test_step2_value_and_jacobian_together_are_the_same_numbers():
    from scalelab.tasks import links

    rng = np.random.default_rng(0)
    L = np.linspace(0.2, 3.0, 40)
    for link in links.LINKS:
        theta = rng.normal(0.0, 1.0, (7, len(links.PARAMS[link])))
        acc, jac = links.raw_and_jacobian(link, theta, L, 0.25, 0.9)
        assert np.array_equal(acc, links.raw(link, theta, L, 0.25, 0.9), equal_nan=True)
        assert np.array_equal(jac, links.jacobian(link, theta, L, 0.25, 0.9), equal_nan=True)
