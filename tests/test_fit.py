"""The fitter recovers known laws, reports uncertainty honestly, and fails loudly."""

import numpy as np
import pytest

from scalelab.errors import NumericalError
from scalelab.laws import Law, fit, optimal, synthetic

SIZES = np.geomspace(2e7, 2e9, 6)
TOKENS = np.geomspace(4e8, 4e11, 6)

TRUTHS = {
    "power:N": (Law("power:N", {"A": 11.5, "alpha": 0.076}), {"N": np.geomspace(1e6, 1e10, 12)}),
    "power-offset:D": (
        Law("power-offset:D", {"E": 1.8, "A": 400.0, "alpha": 0.3}),
        {"D": np.geomspace(1e8, 1e12, 12)},
    ),
    "power-offset:C": (
        Law("power-offset:C", {"E": 1.7, "A": 3000.0, "alpha": 0.16}),
        {"C": np.geomspace(1e17, 1e23, 12)},
    ),
    "chinchilla": (
        Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}),
        {"N": SIZES, "D": TOKENS},
    ),
    "chinchilla-tied": (
        Law("chinchilla-tied", {"E": 1.9, "A": 500.0, "B": 1500.0, "alpha": 0.33}),
        {"N": SIZES, "D": TOKENS},
    ),
    "kaplan-nd": (
        Law("kaplan-nd", {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}),
        {"N": SIZES, "D": TOKENS},
    ),
    "kaplan-ns": (
        Law("kaplan-ns", {"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76}),
        {"N": np.geomspace(1e6, 1e9, 5), "S": np.geomspace(200, 2e5, 8)},
    ),
}


@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_recovers_known_parameters_within_bootstrap_interval(name):
    truth, grid = TRUTHS[name]
    table = synthetic.simulate(truth, noise=0.003, seed=1, **grid)
    steps = {"bcrit": "none"} if name == "kaplan-ns" else {}  # the table's steps are S_min
    law = fit(table, name, bootstrap=300, seed=2, level=0.99, **steps)
    for param, true_value in truth.params.items():
        lo, hi = law.ci[param]
        assert lo <= true_value <= hi, (param, true_value, law.params[param], (lo, hi))
        assert law.params[param] == pytest.approx(true_value, rel=0.25)
    assert law.starts["converged_to_best"] >= 1
    assert law.starts["bootstrap"]["failed"] < 15
    assert not [w for w in law.warnings if "bound" in w], law.warnings


def test_noise_free_chinchilla_is_recovered_exactly_from_the_full_grid():
    truth, grid = TRUTHS["chinchilla"]
    law = fit(synthetic.simulate(truth, **grid), "chinchilla")
    for param, value in truth.params.items():
        assert law.params[param] == pytest.approx(value, rel=1e-4), param
    assert law.starts["n"] == 4500
    assert law.objective < 1e-12


def test_mse_and_huber_agree_on_clean_data():
    truth, grid = TRUTHS["chinchilla-tied"]
    table = synthetic.simulate(truth, noise=0.001, seed=3, **grid)
    huber, mse = fit(table, "chinchilla-tied"), fit(table, "chinchilla-tied", loss="mse")
    assert huber.params["alpha"] == pytest.approx(mse.params["alpha"], rel=0.05)
    assert mse.options["loss"] == "mse" and mse.options["delta"] is None


def test_closed_form_and_numeric_allocation_agree():
    truth, _ = TRUTHS["chinchilla"]
    C = np.array([1e19, 1e21, 5.76e23, 1e26])
    N_cf, D_cf = optimal.allocate(truth.law_form, truth.theta, C)
    N_num, D_num = optimal.allocate(truth.law_form, truth.theta, C, numeric=True)
    np.testing.assert_allclose(N_num, N_cf, rtol=1e-6)
    np.testing.assert_allclose(D_num, D_cf, rtol=1e-6)
    np.testing.assert_allclose(6 * N_cf * D_cf, C, rtol=1e-12)
    # and the allocation is a minimum of the loss along the budget
    for c, n in zip(C, N_cf):
        around = truth.predict(
            N=n * np.array([0.9, 1.0, 1.1]), D=c / (6 * n * np.array([0.9, 1.0, 1.1]))
        )
        assert around[1] < around[0] and around[1] < around[2]


def test_allocation_without_an_interior_optimum_is_nan_not_a_warning():
    import warnings

    truth, _ = TRUTHS["chinchilla"]
    theta = np.array(truth.theta, dtype=float)
    degenerate = np.stack([theta, theta])
    names = [p.name for p in truth.law_form.params]
    degenerate[1, names.index("alpha")] = (
        1e-300  # a vanishing N exponent: the optimum runs off to N -> inf
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        N, D = optimal.allocate(truth.law_form, degenerate, np.array([1e21]))
    assert np.isfinite(N[0, 0]) and np.isnan(N[1, 0]) and np.isnan(D[1, 0])


def test_numeric_exponents_of_kaplan_nd_are_consistent():
    truth, _ = TRUTHS["kaplan-nd"]
    a, b = truth.exponents()
    assert a + b == pytest.approx(1.0)
    N1, N2 = truth.optimal(1e21).N_opt, truth.optimal(1e21 * np.e).N_opt
    assert np.log(N2 / N1) == pytest.approx(a, rel=0.02)


def test_derived_quantities_have_intervals():
    truth, grid = TRUTHS["chinchilla"]
    law = fit(
        synthetic.simulate(truth, noise=0.005, seed=4, **grid),
        "chinchilla",
        bootstrap=200,
        budget=1e22,
    )
    a_true, b_true = truth.exponents()
    assert law.ci["a"][0] <= a_true <= law.ci["a"][1]
    tp_true = truth.optimal(1e22).tokens_per_param
    assert law.ci["tokens_per_param"][0] <= tp_true <= law.ci["tokens_per_param"][1]
    alloc = law.optimal(1e22)
    assert alloc.ci["loss"][0] <= alloc.loss <= alloc.ci["loss"][1]


def test_bootstrap_resamples_runs_not_rows():
    truth, _ = TRUTHS["kaplan-ns"]
    table = synthetic.simulate(
        truth, noise=0.003, N=np.geomspace(1e6, 1e9, 5), S=np.geomspace(200, 2e5, 8)
    )
    law = fit(table, "kaplan-ns", bootstrap=50)
    assert law.n_runs == 5 and law.n_points == 40
    assert law.starts["bootstrap"]["unit"] == "run"


def test_missing_irreducible_loss_is_flagged_on_its_bound():
    # Data from a pure power law: E is not identified and must sit on its lower bound, with a warning.
    truth = Law("power:N", {"A": 11.5, "alpha": 0.076})
    law = fit(synthetic.simulate(truth, N=np.geomspace(1e6, 1e10, 12)), "power-offset:N")
    assert any("E sits on its lower bound" in w and "irreducible" in w for w in law.warnings), (
        law.warnings
    )


def test_unidentifiable_fit_is_flagged():
    # N and D move together (D = 20 N): A/N^alpha and B/D^beta cannot be told apart.
    n = np.geomspace(1e7, 1e10, 10)
    from scalelab.runs import RunTable

    truth, _ = TRUTHS["chinchilla"]
    table = RunTable.from_frame(
        __import__("pandas").DataFrame({"N": n, "D": 20 * n, "loss": truth.predict(N=n, D=20 * n)})
    )
    law = fit(table, "chinchilla")
    assert any("near-singular Hessian" in w or "bound" in w for w in law.warnings), law.warnings


def test_too_few_points_is_a_numerical_error():
    truth, _ = TRUTHS["chinchilla"]
    table = synthetic.simulate(truth, N=[1e8, 1e9], D=[1e10, 1e11])
    with pytest.raises(NumericalError, match="too few points"):
        fit(table, "chinchilla")


def test_kaplan_ns_needs_steps():
    from scalelab.errors import InputError

    truth, grid = TRUTHS["chinchilla"]
    with pytest.raises(InputError, match="step column"):
        fit(synthetic.simulate(truth, **grid), "kaplan-ns")
