"""The batched L-BFGS: rows are independent problems, bounds hold, minima match scipy."""

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from scalelab.laws import lbfgs

SHIFT = np.array(
    [[1.0, 1.0], [2.0, 4.0], [-1.0, 1.0], [0.5, 0.25]]
)  # one Rosenbrock minimum per row


def rosenbrock(x, rows):
    c = SHIFT[rows]
    a, b = x[:, 0] - c[:, 0] + 1.0, x[:, 1] - c[:, 1] + 1.0
    f = (1 - a) ** 2 + 100 * (b - a**2) ** 2
    g = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], axis=1)
    return f, g


def test_rows_converge_to_their_own_minima():
    x0 = np.array([[-1.2, 1.0], [0.0, 0.0], [3.0, -2.0], [0.0, 3.0]])
    res = lbfgs.minimize(rosenbrock, x0, np.full(2, -10.0), np.full(2, 10.0))
    np.testing.assert_allclose(res.x, SHIFT, atol=1e-6)
    assert res.converged.all()


def test_a_row_alone_equals_the_row_in_a_batch():
    x0 = np.array([[-1.2, 1.0], [0.0, 0.0], [3.0, -2.0], [0.0, 3.0]])
    batch = lbfgs.minimize(rosenbrock, x0, np.full(2, -10.0), np.full(2, 10.0))
    for k in range(len(x0)):
        alone = lbfgs.minimize(
            lambda x, rows, k=k: rosenbrock(x, rows + k),
            x0[k : k + 1],
            np.full(2, -10.0),
            np.full(2, 10.0),
        )
        np.testing.assert_array_equal(alone.x[0], batch.x[k])
        assert alone.n_iter[0] == batch.n_iter[k]


def test_bounds_are_respected_and_match_scipy():
    lower, upper = np.array([-10.0, -10.0]), np.array([0.5, 10.0])  # the minimum (1, 1) is cut off
    res = lbfgs.minimize(rosenbrock, np.array([[-1.2, 1.0]]), lower, upper)
    assert np.all(res.x >= lower) and np.all(res.x <= upper)
    ref = scipy_minimize(
        lambda x: rosenbrock(x[None], np.array([0]))[0][0],
        [-1.2, 1.0],
        jac=lambda x: rosenbrock(x[None], np.array([0]))[1][0],
        method="L-BFGS-B",
        bounds=list(zip(lower, upper)),
    )
    np.testing.assert_allclose(res.x[0], ref.x, atol=1e-5)
    assert res.fun[0] <= ref.fun + 1e-12


def test_non_finite_start_is_reported_not_hidden():
    def f(x, rows):
        value, grad = rosenbrock(x, rows)
        value = np.where(x[:, 0] > 5, np.nan, value)
        return value, grad

    res = lbfgs.minimize(f, np.array([[6.0, 0.0], [0.0, 0.0]]), np.full(2, -10.0), np.full(2, 10.0))
    assert res.status[0] == lbfgs.NOT_FINITE and not res.converged[0]
    assert res.converged[1]


def test_clip_is_np_clip_bit_for_bit():
    # the line search and the Huber slope clip with np.clip's ufunc directly (no wrapper): the
    # same numbers, signed zeros and NaN included (np.minimum(np.maximum(...)) turns -0.0 into 0.0)
    x = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, -5.0, 5.0, 0.5, 1e-320])
    lower, upper = np.zeros_like(x), np.r_[np.full(4, 1.0), np.full(5, 2.0)]
    for lo, hi in ((lower, upper), (0.0, 1.0), (-1e-3, 1e-3)):
        a, b = lbfgs.clip(x, lo, hi), np.clip(x, lo, hi)
        assert a.tobytes() == b.tobytes()


def test_einsum_is_np_einsum_bit_for_bit():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(37, 5)), rng.normal(size=(37, 5)) * 1e3
    for x, y in ((a, b), (a[:, ::2], b[:, ::2]), (a[::3], b[::3])):
        assert lbfgs.einsum("kp,kp->k", x, y).tobytes() == np.einsum("kp,kp->k", x, y).tobytes()
