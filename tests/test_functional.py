"""grad, value_and_grad, vjp and jvp: types in and out, isolation from .grad, forward mode's mechanics."""
import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import engine

from helpers import assert_close, central_jacobian

A = np.array([[2.0, 1.0, 0.0], [0.5, 3.0, 1.0]])


def f(x):
    return tm.tanh(A @ x) @ (A @ x)


def f_numpy(x):
    return np.tanh(A @ x) @ (A @ x)


def test_grad_numpy_in_numpy_out():
    x = np.array([0.3, -0.2, 0.5])
    g = tm.grad(f)(x)
    assert type(g) is np.ndarray and g.shape == (3,) and g.flags.writeable
    assert_close(g, central_jacobian(f_numpy, [x])[0], rtol=1e-7)


def test_value_and_grad_argnums():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    h = lambda x, y: (x * y * y).sum()
    value, (gx, gy) = tm.value_and_grad(h, argnums=(0, 1))(x, y)
    assert float(value) == pytest.approx((x * y * y).sum())
    assert_close(gx, y * y)
    assert_close(gy, 2 * x * y)
    assert_close(tm.grad(h, argnums=-1)(x, y), 2 * x * y)


def test_grad_of_an_unused_argument_is_zero():
    assert_close(tm.grad(lambda x, y: (x * 2).sum(), argnums=1)(np.ones(2), np.ones(3)), np.zeros(3))
    assert_close(tm.grad(lambda x: 5.0)(np.ones(2)), np.zeros(2))


def test_functional_forms_never_touch_dot_grad():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    x = tm.tensor([3.0, 4.0], requires_grad=True)
    g = tm.grad(lambda x: (w * x).sum())(x)
    assert isinstance(g, tm.Tensor)
    np.testing.assert_array_equal(g.numpy(), [1.0, 2.0])
    out, vjp_fn = tm.vjp(lambda x: w * x, x)
    vjp_fn(np.ones(2))
    assert w.grad is None and x.grad is None


def test_tensor_inputs_give_tensors_connected_to_the_outer_graph():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    g = tm.grad(lambda x: (x**3).sum())(x)  # 3x²
    g.sum().backward()  # d/dx Σ3x² = 6x
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


def test_vjp_can_be_called_many_times():
    x = np.array([0.1, 0.2, 0.3])
    out, vjp_fn = tm.vjp(lambda x: tm.exp(A @ x), x)
    assert_close(out, np.exp(A @ x))
    J = central_jacobian(lambda x: np.exp(A @ x), [x])
    for u in (np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.5, -2.0])):
        (g,) = vjp_fn(u)
        assert_close(g, J.T @ u, rtol=1e-7)


def test_jvp_numpy_in_numpy_out_and_checks():
    x, v = np.array([0.3, -0.2, 0.5]), np.array([1.0, 0.0, -1.0])
    out, tangent = tm.jvp(f, (x,), (v,))
    assert type(out) is np.ndarray and type(tangent) is np.ndarray
    assert_close(tangent, central_jacobian(f_numpy, [x])[0] @ v, rtol=1e-7)
    with pytest.raises(tm.ShapeError, match=r"jvp: tangent 0 has shape \(2,\).*\(3,\)"):
        tm.jvp(f, (x,), (np.ones(2),))
    with pytest.raises(TypeError, match="tuples"):
        tm.jvp(f, x, v)


def test_jvp_runs_f_once_and_never_runs_reverse_mode(monkeypatch):
    calls = []

    def counted(x):
        calls.append(1)
        return f(x)

    def no_reverse(*args, **kwargs):
        raise AssertionError("reverse mode was used")

    monkeypatch.setattr(engine, "propagate", no_reverse)
    tm.jvp(counted, (np.array([0.3, -0.2, 0.5]),), (np.ones(3),))
    assert len(calls) == 1


def test_jvp_of_a_function_that_ignores_its_input():
    out, tangent = tm.jvp(lambda x: tm.tensor([1.0, 2.0]), (np.ones(3),), (np.ones(3),))
    np.testing.assert_array_equal(tangent, [0.0, 0.0])


def test_grad_errors():
    with pytest.raises(tm.ShapeError, match=r"grad: f must return a scalar .*\(2,\)"):
        tm.grad(lambda x: x * 2)(np.ones(2))
    with pytest.raises(ValueError, match="argnums 2 is out of range"):
        tm.grad(lambda x, y: x, argnums=2)(1.0, 2.0)


def test_grad_works_under_no_grad():
    with tm.no_grad():
        assert_close(tm.grad(lambda x: (x * x).sum())(np.array([1.0, 2.0])), [2.0, 4.0])


def test_nested_grad_and_perturbation_confusion():
    # d/dx [x · d/dy (x + y)] at x = 1, y = 1 is 1 (not 2) in reverse and in forward mode.
    inner_rev = lambda x: x * tm.grad(lambda y: x + y)(1.0)
    assert float(tm.grad(inner_rev)(1.0)) == 1.0
    inner_fwd = lambda x: x * tm.jvp(lambda y: x + y, (1.0,), (1.0,))[1]
    assert float(tm.jvp(inner_fwd, (1.0,), (1.0,))[1]) == 1.0
    # x⁴ at 2: 32, 48, 48 by nesting grad
    f4 = lambda x: x**4
    assert float(tm.grad(f4)(2.0)) == 32.0
    assert float(tm.grad(tm.grad(f4))(2.0)) == 48.0
    assert float(tm.grad(tm.grad(tm.grad(f4)))(2.0)) == 48.0


def test_keyword_arguments_pass_through_undifferentiated():
    f = lambda x, scale=1.0, shift=0.0: (scale * x * x).sum() + shift
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(tm.grad(f)(x, scale=3.0, shift=5.0), [6.0, 12.0])
    value, g = tm.value_and_grad(f)(x, scale=3.0, shift=5.0)
    assert float(value) == 20.0
    assert float(tm.jvp(f, (x,), (np.ones(2),), scale=3.0)[1]) == 18.0
    np.testing.assert_array_equal(tm.vjp(lambda x, a: a * x, x, a=2.0)[1](np.ones(2))[0], [2.0, 2.0])
    np.testing.assert_array_equal(tm.hessian(f)(x, scale=3.0), 6 * np.eye(2))
    np.testing.assert_array_equal(tm.jacobian(lambda x, a: a * x)(x, a=4.0), 4 * np.eye(2))
    np.testing.assert_array_equal(tm.hvp(f, x, np.ones(2), scale=2.0), [4.0, 4.0])


def test_has_aux_returns_the_auxiliary_output_beside_the_derivative():
    def f(x):
        loss = (x * x).sum()
        return loss, {"prediction": x * 2, "count": 3}

    x = np.array([1.0, 2.0])
    g, aux = tm.grad(f, has_aux=True)(x)
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert type(aux["prediction"]) is np.ndarray and aux["count"] == 3
    np.testing.assert_array_equal(aux["prediction"], [2.0, 4.0])
    (value, aux), g = tm.value_and_grad(f, has_aux=True)(x)
    assert float(value) == 5.0
    out, tangent, aux = tm.jvp(f, (x,), (np.ones(2),), has_aux=True)
    assert float(tangent) == 6.0 and aux["count"] == 3
    out, vjp_fn, aux = tm.vjp(f, x, has_aux=True)
    np.testing.assert_array_equal(vjp_fn(1.0)[0], [2.0, 4.0])
    J, aux = tm.jacobian(lambda x: (x * x, x.sum()), has_aux=True)(x)
    np.testing.assert_array_equal(J, np.diag([2.0, 4.0]))
    H, aux = tm.hessian(f, has_aux=True)(x)
    np.testing.assert_array_equal(H, 2 * np.eye(2))
    with pytest.raises(TypeError, match="has_aux=True needs f to return a pair"):
        tm.grad(lambda x: (x * x).sum(), has_aux=True)(x)
    with pytest.raises(TypeError, match="pass has_aux=True"):
        tm.grad(f)(x)


def test_set_grad_enabled_as_a_call_and_as_a_context_manager():
    x = tm.tensor(1.0, requires_grad=True)
    try:
        tm.set_grad_enabled(False)
        assert not tm.is_grad_enabled() and not (x * 2).requires_grad
        tm.set_grad_enabled(True)
        assert tm.is_grad_enabled() and (x * 2).requires_grad
        with tm.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert (x * 2).requires_grad
        with tm.no_grad():
            with tm.set_grad_enabled(True):
                assert (x * 2).requires_grad
            assert not tm.is_grad_enabled()

        @tm.no_grad()
        def predict(t):
            return t * 2

        assert not predict(x).requires_grad and tm.is_grad_enabled()
    finally:
        tm.set_grad_enabled(True)
