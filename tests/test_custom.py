"""tm.custom_vjp and tm.custom_jvp: the user's rule is the one that runs, in every transform.

Rules that deliberately differ from the true derivative prove which rule ran; correct rules are
checked against closed forms at first and second order.
"""
import numpy as np
import pytest

import tinygrad_mat as tm

x = np.array([1.0, 2.0])
y = np.array([3.0, 4.0])


def make_mul():
    @tm.custom_vjp
    def mul(a, b):
        return a * b

    def fwd(a, b):
        return a * b, (a, b)

    def bwd(residuals, g):
        a, b = residuals
        return g * b, g * a

    mul.defvjp(fwd, bwd)
    return mul


def test_custom_vjp_in_reverse_forward_and_second_order():
    mul = make_mul()
    gx, gy = tm.grad(lambda a, b: (mul(a, b) ** 2).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, 2 * x * y * y)
    np.testing.assert_allclose(gy, 2 * x * x * y)
    np.testing.assert_allclose(tm.jvp(lambda a: mul(a, y), (x,), (np.ones(2),))[1], y)  # through fwd
    H = tm.hessian(lambda a, b: (mul(a, b) ** 2).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(H[0][0], np.diag(2 * y * y))
    np.testing.assert_allclose(H[0][1], np.diag(4 * x * y))
    np.testing.assert_allclose(H[1][1], np.diag(2 * x * x))
    t = tm.tensor(x, requires_grad=True)
    (mul(t, t) ** 2).sum().backward(create_graph=True)  # d/dx x⁴ = 4x³, then Σ 12x² via grad of grad
    first = t.grad
    np.testing.assert_allclose(first.numpy(), 4 * x**3)
    t.grad = None
    first.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 12 * x**2)
    assert mul(tm.tensor(x, requires_grad=True), y).op == "mul"  # the op is named after the function


def test_the_custom_backward_rule_is_the_one_used():
    @tm.custom_vjp
    def clip_gradient(a):
        return a

    clip_gradient.defvjp(lambda a: (a, None), lambda residuals, g: (tm.clip(g, -1.0, 1.0),))
    np.testing.assert_allclose(tm.grad(lambda a: (5.0 * clip_gradient(a)).sum())(x), [1.0, 1.0])
    t = tm.tensor(x, requires_grad=True)
    (5.0 * clip_gradient(t)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [1.0, 1.0])


def test_custom_jvp_rule_runs_forward_and_is_transposed_for_reverse():
    @tm.custom_jvp
    def scaled_identity(a):
        return a

    @scaled_identity.defjvp
    def rule(primals, tangents):  # deliberately 2x the true derivative: proves this rule runs
        return scaled_identity(*primals), 2.0 * tangents[0]

    np.testing.assert_allclose(tm.jvp(scaled_identity, (x,), (np.ones(2),))[1], [2.0, 2.0])
    np.testing.assert_allclose(tm.grad(lambda a: scaled_identity(a).sum())(x), [2.0, 2.0])

    @tm.custom_jvp
    def cube(a):
        return a**3

    @cube.defjvp
    def cube_jvp(primals, tangents):
        (a,), (t,) = primals, tangents
        return cube(a), 3.0 * a * a * t

    np.testing.assert_allclose(tm.grad(lambda a: cube(a).sum())(x), 3 * x**2)
    np.testing.assert_allclose(tm.hessian(lambda a: cube(a).sum())(x), np.diag(6 * x))
    np.testing.assert_allclose(tm.jacfwd(cube)(x), np.diag(3 * x**2))
    np.testing.assert_allclose(tm.jacrev(cube)(x), np.diag(3 * x**2))


def test_custom_ops_say_what_is_missing():
    @tm.custom_vjp
    def f(a):
        return a

    with pytest.raises(TypeError, match=r"f: custom_vjp needs its rules: call f\.defvjp"):
        f(x)
    f.defvjp(lambda a: (a, None), lambda residuals, g: g)  # not a tuple
    with pytest.raises(TypeError, match=r"f \(custom_vjp bwd\): must return a tuple of 1 cotangents"):
        tm.grad(lambda a: f(a).sum())(x)

    @tm.custom_jvp
    def h(a):
        return a

    with pytest.raises(TypeError, match="h: custom_jvp needs its rule"):
        h(x)
