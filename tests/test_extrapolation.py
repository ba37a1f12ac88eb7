"""Extrapolation you can trust: prediction intervals that cover, fold-based form selection with
ties, fits on every evaluation point after a warm-up cut."""

import json

import numpy as np
import pandas as pd
import pytest

from scalelab import laws
from scalelab.errors import InputError
from scalelab.laws import Law, intervals, synthetic
from scalelab.laws.options import FitOptions
from scalelab.laws.select import backtest, fit_auto, select_form
from scalelab.runs import RunTable

GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5], "beta": [0.5]}
TIED_GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5]}
GRIDS = {"chinchilla": GRID, "chinchilla-tied": TIED_GRID}
N = np.geomspace(2e7, 2e9, 5)
D = np.geomspace(4e8, 4e11, 5)


def _runs(truth: Law, noise: float, seed: int) -> RunTable:
    return synthetic.simulate(truth, N=N, D=D, noise=noise, seed=seed)


def test_prediction_interval_covers_held_out_runs_at_nominal_rate():
    """Over many seeded ladders from a known law with seed noise, the nominal 95% prediction
    interval of the held-out largest size contains the truth close to 95% of the time (92.7%,
    width 7.2%, normalized calibration on held-out refits; 94.7% and 7.9% with the unnormalized
    scores, 93.3% and 7.6% with the earlier moment term, 91% without any; the issue asks for
    >= 85%, the method for 90%)."""
    truth = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
    covered, widths = [], []
    for seed in range(30):
        bt = backtest(_runs(truth, 0.01, seed), "chinchilla", split="size", folds=1, grid=GRID)
        covered += [p["covered"] for f in bt.folds for p in f.predictions]
        widths.append(bt.summary["mean_rel_width"])
    assert len(covered) == 150
    assert np.mean(covered) >= 0.9
    assert np.mean(widths) < 0.2  # not trivially wide: a few times the 1% noise


def test_prediction_interval_is_wider_than_the_parameter_interval(tmp_path):
    truth = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
    law = laws.fit(_runs(truth, 0.01, 0), "chinchilla", grid=GRID, bootstrap=20)
    assert law.scatter["sigma"] == pytest.approx(0.01, rel=0.6)
    assert law.scatter["source"].startswith("residuals")
    lo, hi = law.interval(N=7e9, D=1.4e11)
    clo, chi = law.interval(N=7e9, D=1.4e11, kind="ci")
    assert (clo, chi) == tuple(law.confidence_interval(N=7e9, D=1.4e11))
    assert lo < clo <= law.predict(N=7e9, D=1.4e11) <= chi < hi
    # vectorised, and a law without bootstrap samples still has a prediction interval
    plain = laws.fit(_runs(truth, 0.01, 0), "chinchilla", grid=GRID)
    lo2, hi2 = plain.interval(N=np.array([1e9, 7e9]), D=np.array([2e10, 1.4e11]))
    assert np.all(lo2 < hi2) and lo2.shape == (2,)
    with pytest.raises(InputError, match="kind"):
        law.interval(N=1e9, D=1e10, kind="bogus")
    path = law.save(tmp_path / "law.json")
    back = Law.load(path)
    assert back.scatter == law.scatter and back.interval(N=7e9, D=1.4e11) == [lo, hi]
    assert "NaN" not in path.read_text()


def test_reruns_measure_the_seed_noise():
    truth = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
    frames = [
        _runs(truth, 0.02, seed).data.assign(run_id=lambda f, s=seed: f["run_id"] + f"-{s}")
        for seed in range(3)
    ]
    table = RunTable.from_frame(pd.concat(frames, ignore_index=True), "reruns")
    law = laws.fit(table, "chinchilla", grid=GRID)
    assert law.scatter["sigma_reruns"] == pytest.approx(0.02, rel=0.3)
    assert law.scatter["rerun_dof"] == 50


def test_selection_picks_the_true_form_beyond_the_noise():
    """Unequal exponents: the tied form and the form without a floor extrapolate worse than the
    noise, so the true form wins alone."""
    truth = Law("chinchilla", {"E": 1.7, "A": 2000.0, "B": 400.0, "alpha": 0.5, "beta": 0.25})
    choice = select_form(
        _runs(truth, 0.002, 1), ["chinchilla", "chinchilla-tied", "kaplan-nd"], grids=GRIDS
    )
    assert choice["chosen"] == choice["best"] == "chinchilla"
    assert choice["tied"] == ["chinchilla"]
    assert len(choice["scheme"]) >= 3  # several folds
    assert set(choice["table"]["chinchilla"]) == set(choice["scheme"])
    assert choice["scores"]["kaplan-nd"] > choice["scores"]["chinchilla"] + choice["noise"]["rel"]
    json.dumps(choice, allow_nan=False)


def test_selection_reports_a_tie_within_the_noise_and_can_stack():
    """Equal exponents: chinchilla and chinchilla-tied predict alike; they are reported tied."""
    truth = Law("chinchilla", {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.33, "beta": 0.33})
    runs = _runs(truth, 0.01, 2)
    choice = select_form(runs, ["chinchilla", "chinchilla-tied"], grids=GRIDS)
    assert sorted(choice["tied"]) == ["chinchilla", "chinchilla-tied"]
    assert "within the noise" in choice["decision"] and not choice["stacked"]
    law = fit_auto(runs, candidates=["chinchilla", "chinchilla-tied"], tie="stack", grid=GRIDS)
    auto = law.options.auto
    assert auto["stacked"] and set(auto["tied_params"]) == {"chinchilla", "chinchilla-tied"} - {
        law.form
    }
    x = {"N": 7e9, "D": 1.4e11}
    other = Law(next(iter(auto["tied_params"])), next(iter(auto["tied_params"].values())))
    own = law.law_form.predict(law.theta, **x)
    assert law.predict(**x) == pytest.approx(np.sqrt(own * other.predict(**x)))
    c = intervals.log_components(law, x)
    assert float(c["forms"]) > 0
    back = Law.from_dict(json.loads(json.dumps(law.to_dict())))
    assert back.predict(**x) == pytest.approx(law.predict(**x))
    with pytest.raises(InputError, match="tie"):
        select_form(runs, ["chinchilla"], tie="coin")


def _curves(truth: Law, noise: float = 0.005, seed: int = 0) -> RunTable:
    rng = np.random.default_rng(seed)
    rows = []
    for n in N:
        for d_final in D[1:]:
            for frac in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
                d = d_final * frac
                loss = float(truth.predict(N=n, D=d)) * np.exp(rng.normal(0, noise))
                rows.append({"run_id": f"{n:.3g}-{d_final:.3g}", "N": n, "D": d, "loss": loss})
    return RunTable.from_frame(pd.DataFrame(rows), "curves")


def test_all_points_after_warmup_cut():
    truth = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
    table = _curves(truth)
    final = laws.fit(table, "chinchilla", grid=GRID)
    every = laws.fit(table, "chinchilla", grid=GRID, points="all", skip_first=0.1)
    assert final.n_points == 20 and every.n_points == 20 * 5  # 5% points dropped
    assert every.options["skip_first"] == 0.1 and every.options["points"] == "all"
    assert any("first 10%" in n for n in every.data["notes"])
    # scored on the same held-out runs' final points either way
    bt_final = backtest(table, "chinchilla", split="size", folds=1, grid=GRID)
    bt_all = backtest(
        table, "chinchilla", split="size", folds=1, grid=GRID, points="all", skip_first=0.1
    )
    ids = [[p["run_id"] for p in b.folds[0].predictions] for b in (bt_final, bt_all)]
    assert ids[0] == ids[1] and len(ids[0]) == 4
    assert bt_all.options["skip_first"] == 0.1
    with pytest.raises(InputError, match="skip_first"):
        FitOptions(skip_first=1.5)


@pytest.mark.slow
def test_gadre2024_auto_prefers_the_floor_and_covers():
    from scalelab import examples

    table = examples.load("gadre2024")
    choice = select_form(table)
    assert laws.forms.get(choice["chosen"]).irreducible == "E"
    bt = backtest(table, "auto", split="size", folds=1)
    assert bt.folds[0].form == "chinchilla-tied"
