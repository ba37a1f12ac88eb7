"""Step 2's links and the chain's interval (scalelab.tasks.links, .select, .chain): the pinned
sigmoid extrapolates where the free one does not, Gadre's epsilon is free in [0, 1], predictions
and intervals stay in [0, 1], the link is chosen by backtest, warm-up skip and smoothing, and the
chain's interval covers on synthetic ladders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalelab.errors import InputError
from scalelab.runs.table import RunTable
from scalelab.tasks import backtest, synthetic
from scalelab.tasks.chain import Chain, chain_prediction, fit_chain, step2_points
from scalelab.tasks.data import task_points
from scalelab.tasks.links import fit_link
from scalelab.tasks.select import choose_link

PINNED = {"chance": 0.25, "link": "sigmoid", "k": 4.0, "L0": 1.2}
GEXP = {"chance": 0.25, "link": "exp", "epsilon": 0.86, "k": 6.0, "gamma": 1.5}


def _points(spec, lo, hi, n=30, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    L = np.linspace(lo, hi, n)
    return L, synthetic.link_value(spec, L) + noise * rng.standard_normal(n)


def test_pinned_sigmoid_recovers_parameters_and_extrapolates_where_the_free_one_does_not():
    L, acc = _points(PINNED, 1.2, 2.5)  # the ladder: accuracy 0.26-0.62, far below the top
    pinned = fit_link("sigmoid", L, acc, 0.25)
    assert pinned.params["k"] == pytest.approx(PINNED["k"], rel=0.1)
    assert pinned.params["L0"] == pytest.approx(PINNED["L0"], abs=0.05)
    free = fit_link("sigmoid-free", L, acc, 0.25)
    far = np.array([0.3, 0.6])  # well below the ladder's losses: accuracy 0.94-0.99
    truth = synthetic.link_value(PINNED, far)
    assert np.max(np.abs(pinned.predict(far) - truth)) < 0.03
    assert free.params["ceiling"] < 0.9  # settled near the best rung's accuracy
    assert np.max(np.abs(free.predict(far) - truth)) > 0.08
    assert pinned.predict([0.0])[0] == pytest.approx(1.0)  # the ideal point, exactly


def test_olmo_link_uses_its_ideal_point():
    L, acc = _points(PINNED, 1.2, 2.5)
    fit = fit_link("olmo", L, acc, 0.25)
    assert fit.n_points == len(L) + 1
    assert -1.0 <= fit.params["a"] <= 0.0 and 0.0 <= fit.params["b"] <= 1.0
    assert fit.predict([0.0])[0] > 0.9


def test_exp_epsilon_is_free_in_zero_one():
    L, acc = _points(GEXP, 1.0, 3.0, n=60, noise=0.003)
    fit = fit_link("exp", L, acc, 0.25)
    assert fit.params["epsilon"] > 1 - 0.25  # above 1 - chance, where the old bound stopped it
    assert fit.params["epsilon"] == pytest.approx(GEXP["epsilon"], abs=0.03)
    assert fit.params["gamma"] == pytest.approx(GEXP["gamma"], rel=0.15)


class _Law:
    """A step-1 law stand-in: a fixed intermediate and a log-normal prediction interval."""

    class _Form:
        variables = ("N", "D")

    law_form, options, form = _Form(), None, "stand-in"

    def __init__(self, x, log_sd):
        self.x, self.log_sd = x, log_sd

    def predict(self, N, D):
        return np.full(np.shape(N), self.x)

    def interval(self, level, N, D):
        return [self.x * np.exp(-self.log_sd), self.x * np.exp(self.log_sd)]


def test_prediction_and_interval_are_clipped_consistently():
    L, acc = _points({**GEXP, "epsilon": 0.6}, 1.0, 3.0)  # accuracy passes 1 below L ~ 1
    fit = fit_link("exp", L, acc, 0.25, bootstrap=20)
    assert fit.predict([0.2])[0] == 1.0
    chain = Chain(_Law(0.2, 0.1), fit, None, 0.25, pd.DataFrame(), step2_sd=0.02)
    at = chain_prediction(chain, 1e9, 2e10)
    lo, hi = at["interval"]
    assert 0.0 <= lo <= at["accuracy"] <= hi <= 1.0
    assert at["accuracy"] == 1.0


def _table(spec, seed=0):
    frame = synthetic.chain_table(
        N=(1e6, 2e6, 4e6, 8e6, 1.6e7, 3.2e7), tokens_per_param=(20.0,), tasks={"t": spec},
        points=8, seed=seed, acc_noise=0.005,
    )  # fmt: skip
    return RunTable.from_frame(frame)


@pytest.mark.parametrize(
    "spec,want",
    [  # the pinned sigmoid and OLMo's (with its ideal point) are one family: either is right
        ({"chance": 0.25, "link": "sigmoid", "k": 3.0, "L0": 2.2}, ("olmo", "sigmoid")),
        ({"chance": 0.25, "link": "exp", "epsilon": 0.95, "k": 0.3, "gamma": 0.25}, ("exp",)),
    ],
)
def test_link_selection_picks_the_true_link(spec, want):
    pts = task_points(_table(spec), "t")
    two = step2_points(pts)
    choice = choose_link(two, pts, 0.25, "auto", 1.0)
    assert choice["chosen"] in want, choice["decision"]
    wrong = min(v for k, v in choice["errors"].items() if k not in want)
    assert choice["errors"][spec["link"]] < wrong / 2, choice["errors"]
    assert choice["n_heldout"] > 0 and choice["heldout_rms"] < 0.05
    assert set(choice["errors"]) == {"sigmoid", "olmo", "exp"}


def test_step2_points_skip_warm_up_and_smooth():
    frame = pd.DataFrame(
        {"run_id": "r", "N": 1e6, "D": np.arange(1.0, 11.0), "step": np.arange(10),
         "x": np.arange(10.0), "accuracy": np.arange(10.0) / 10}
    )  # fmt: skip
    out = step2_points(frame, smooth=3, skip=0.35)
    assert out["D"].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]  # D < 3.5 skipped
    assert out["x"].tolist()[:3] == [3.0, 3.5, 4.0] and out["x"].iloc[-1] == 8.0
    single = step2_points(frame.tail(1), smooth=5, skip=0.5)
    assert len(single) == 1  # a run's final point is never skipped


def test_step1_on_every_checkpoint():
    table = _table({"chance": 0.25, "link": "sigmoid", "k": 3.0, "L0": 2.2})
    pts = task_points(table, "t")
    chain = fit_chain(pts, 0.25, form="chinchilla", link="sigmoid", step1_points="all")
    assert chain.law.options.points == "all" and chain.law.options.skip_first == 0.1
    p = synthetic.STEP1
    N, D = 6.4e7, 1.28e9
    truth = p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    assert float(chain.intermediate(N, D)[0]) == pytest.approx(truth, rel=0.03)
    branched = pts.assign(branch_of=np.where(pts["run_id"] == pts["run_id"].iloc[0], "t0", None))
    law = fit_chain(branched, 0.25, form="chinchilla", link="sigmoid").law  # auto: branches
    assert law.options.points in (None, "final") and law.n_runs == pts["run_id"].nunique()
    with pytest.raises(InputError, match="step1_points"):
        fit_chain(pts, 0.25, form="chinchilla", step1_points="some")


@pytest.mark.slow
def test_chain_interval_covers_on_synthetic_ladders():
    covered = []
    for seed in range(8):
        spec = {"chance": 0.25, "link": "sigmoid", "k": 2.5 + 0.2 * seed, "L0": 2.0}
        frame = synthetic.chain_table(
            N=(1e6, 2e6, 4e6, 8e6, 1.6e7, 3.2e7), tokens_per_param=(10.0, 40.0),
            tasks={"t": spec}, points=8, seed=seed, loss_noise=0.01, acc_noise=0.01,
        )  # fmt: skip
        (bt,) = backtest(RunTable.from_frame(frame), "t", form="chinchilla", link="sigmoid")
        covered += [r["covered"] for r in bt.runs]
    assert np.mean(covered) >= 0.9, covered
