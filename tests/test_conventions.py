"""The documented conventions at kinks and edge points, in reverse, forward and second order.

Breaking a convention (relu′(0) = 1, sign(0) = 1, a NaN norm gradient at 0, a NaN from x⁰ at 0)
fails here. The expected values are the conventions themselves, written out.
"""
import numpy as np
import pytest

import tinygrad_mat as tm


def all_modes(f, x):
    """f′ at x in reverse mode, by backward(), and in forward mode (f is elementwise here)."""
    x = np.asarray(x, dtype=float)
    reverse = tm.grad(lambda t: f(t).sum())(x)
    t = tm.tensor(x, requires_grad=True)
    f(t).sum().backward()
    forward = tm.jvp(f, (x,), (np.ones_like(x),))[1]
    return reverse, t.grad.numpy(), forward


KINKS = {
    # name: (f, points, f′ there by convention)
    "relu at 0 is 0": (tm.relu, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
    "abs at 0 is 0": (tm.abs, [-1.0, 0.0, 2.0], [-1.0, 0.0, 1.0]),
    "where: the chosen branch": (lambda x: tm.where(x > 0, x, 3.0 * x), [-1.0, 0.0, 2.0], [3.0, 3.0, 1.0]),
    "sqrt at 0 is inf": (tm.sqrt, [0.0, 4.0], [np.inf, 0.25]),
}


@pytest.mark.parametrize("name", list(KINKS))
def test_derivative_at_kinks_in_every_mode(name):
    f, points, expected = KINKS[name]
    with np.errstate(divide="ignore"):
        for got in all_modes(f, points):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape, axis", [((3,), None), ((2, 3), None), ((2, 3), 1), ((2, 2, 2), (1, 2))])
def test_norm_gradient_at_zero_is_zero(shape, axis):
    x = np.zeros(shape)
    x_mixed = x.copy()
    x_mixed.reshape(-1)[-1] = 3.0  # one slice zero, another not (when reducing over an axis)
    for point in (x, x_mixed):
        g = tm.grad(lambda t: tm.norm(t, axis=axis).sum())(point)
        assert np.isfinite(g).all()
        norms = np.sqrt((point**2).sum(axis=axis, keepdims=True))
        np.testing.assert_array_equal(g, np.where(norms == 0, 0.0, point / np.where(norms == 0, 1, norms)))
        tangent = tm.jvp(lambda t: tm.norm(t, axis=axis), (point,), (np.ones(shape),))[1]
        assert np.isfinite(tangent).all()


@pytest.mark.parametrize("exponent", [0, 0.0, np.array([0.0, 0.0])])
def test_zero_exponent_has_zero_derivative_also_at_zero(exponent):
    """x⁰ ≡ 1: derivative 0 everywhere, including x = 0, in reverse, forward and second order."""
    f = lambda x: x**exponent
    points = np.array([0.0, 2.0])
    for got in all_modes(f, points):
        np.testing.assert_array_equal(got, [0.0, 0.0])
    np.testing.assert_array_equal(tm.hessian(lambda x: (x**exponent).sum())(points), np.zeros((2, 2)))


def test_tensor_exponent_zero_keeps_its_mixed_derivative():
    """∂²(xʸ)/∂x∂y = x^(y−1)(1 + y ln x): at y = 0, x = 2 it is 1/2, not a dropped zero."""
    f = lambda x, y: (x**y).sum()
    x, y = np.array([2.0]), np.array([0.0])
    mixed = tm.jacobian(tm.grad(f, argnums=0), argnums=1)(x, y)
    np.testing.assert_allclose(mixed, [[0.5]], rtol=1e-14)
    # and at x = 0, y = 0 the x-derivative is 0, not NaN, in both modes
    for got in (tm.grad(f)(np.array([0.0]), y), tm.jvp(lambda x: x**y, (np.array([0.0]),), (np.ones(1),))[1]):
        np.testing.assert_array_equal(got, [0.0])


def test_integer_powers_have_the_closed_form_derivative_in_every_mode():
    points = np.array([0.0, -1.5, 2.0])
    for n in range(0, 5):
        expected = n * points ** (n - 1) if n > 0 else np.zeros(3)
        for got in all_modes(lambda x, n=n: x**n, points):
            np.testing.assert_allclose(got, expected, rtol=1e-15)
