"""Binary ops on shapes Hypothesis draws: every broadcast pattern sums its gradient back correctly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tinygrad_mat as tm

from helpers import assert_close, central_jacobian

OPS = {
    "add": (lambda a, b: a + b, False),
    "sub": (lambda a, b: a - b, False),
    "mul": (lambda a, b: a * b, False),
    "div": (lambda a, b: a / b, True),
    "pow": (lambda a, b: a**b, True),
}


@pytest.mark.parametrize("name", list(OPS))
@settings(max_examples=25, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), seed=st.integers(0, 2**16))
def test_binary_op_gradients_under_broadcasting(name, shapes, seed):
    fn, positive = OPS[name]
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    a = rng.uniform(0.5, 2.0, a_shape) if positive else rng.standard_normal(a_shape)
    b = rng.uniform(0.5, 2.0, b_shape) if positive else rng.standard_normal(b_shape)
    ta, tb = tm.tensor(a, requires_grad=True), tm.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    assert out.shape == shapes.result_shape
    u = rng.standard_normal(out.shape)
    out.backward(u)
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape

    jac = central_jacobian(lambda a, b: fn(a, b), [a, b])
    expected = jac.T @ u.reshape(-1)
    got = np.concatenate([ta.grad.numpy().reshape(-1), tb.grad.numpy().reshape(-1)])
    assert_close(got, expected, rtol=1e-6, atol=1e-7, what=f"{name} {a_shape} {b_shape}")

    va, vb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    _, tangent = tm.jvp(fn, (a, b), (va, vb))
    assert_close(tangent.reshape(-1), jac @ np.concatenate([va.reshape(-1), vb.reshape(-1)]), rtol=1e-6, atol=1e-7)
