"""Form library: analytic gradients agree with finite differences; users can register forms."""

import numpy as np
import pytest

from scalelab.laws import fit, forms, synthetic
from scalelab.laws.forms import _numeric_jacobian
from scalelab.laws.law import Law


@pytest.mark.parametrize("name", forms.names())
def test_pullback_matches_numeric_jacobian(name):
    form = forms.get(name)
    rng = np.random.default_rng(0)
    grid = form.grid()
    theta = grid[rng.choice(len(grid), 7, replace=False)] + 0.05 * rng.standard_normal(
        (7, len(form.params))
    )
    theta = np.clip(theta, form.lower + 1e-3, form.upper)
    logx = {v: np.log(rng.uniform(1e6, 1e10, 30)) for v in form.variables}
    y, pullback = form.log_loss_and_pullback(theta, logx)
    y_ref, jac = _numeric_jacobian(form.log_predict, theta, logx)
    np.testing.assert_allclose(y, y_ref)
    v = rng.standard_normal(y.shape)
    np.testing.assert_allclose(pullback(v), np.einsum("kn,knp->kp", v, jac), rtol=1e-5, atol=1e-6)


def test_natural_internal_round_trip():
    form = forms.get("chinchilla")
    p = {"E": 1.7, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}
    back = form.natural(form.internal(p))
    assert {k: pytest.approx(float(v)) for k, v in back.items()} == p


def test_chinchilla_grid_is_the_published_one():
    grid = forms.get("chinchilla").grid()
    assert grid.shape == (4500, 5)  # 5 e x 6 a x 6 b x 5 alpha x 5 beta
    assert set(grid[:, 3]) == {0.0, 0.5, 1.0, 1.5, 2.0} and set(grid[:, 1]) == {
        0.0,
        5.0,
        10.0,
        15.0,
        20.0,
        25.0,
    }


def test_register_a_new_form_and_fit_it():
    name = "test-shared-coef"
    form = forms.lse_form(
        name,
        "L = E + A/N^alpha + A/D^alpha",
        ("N", "D"),
        [
            forms.log_param("e", "E", -20, 5, [-1, 0, 1]),
            forms.log_param("a", "A", -30, 60, [0, 5, 10]),
            forms.exponent("alpha", [0.2, 0.5, 1.0]),
        ],
        [("a", "alpha", "N"), ("a", "alpha", "D"), ("e", None, None)],
        irreducible="E",
    )
    forms.register(form, replace=True)
    truth = Law(name, {"E": 1.8, "A": 300.0, "alpha": 0.3})
    table = synthetic.simulate(
        truth, N=np.geomspace(1e7, 1e9, 5), D=np.geomspace(1e9, 1e11, 5), noise=0.002
    )
    law = fit(table, name)
    assert law.params["alpha"] == pytest.approx(0.3, rel=0.05)
    assert law.params["E"] == pytest.approx(1.8, rel=0.05)
    with pytest.raises(ValueError):
        forms.register(form)


def test_unknown_form_is_an_input_error():
    from scalelab.errors import InputError

    with pytest.raises(InputError, match="unknown form 'nope'"):
        forms.get("nope")
