"""Every op's reverse and forward rule, swept over the op table (tests/op_cases.py).

Three independent checks per case, in float64:
  * reverse mode against central differences (Jᵀu for a random u);
  * forward mode against central differences (J v for a random v);
  * forward against reverse, the dot-product test ⟨u, J v⟩ = ⟨Jᵀu, v⟩ to 1e-10;
and at second order, a recorded backward (create_graph) differentiated again
against central differences of the first-order gradient.
"""
import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.functional import _jvp
from tinygrad_mat.ops import REGISTRY

from helpers import assert_close, central_jacobian, random_inputs
from op_cases import CASES


def numpy_fn(case):
    """The case as a function of numpy arrays (runs under no_grad: no graph, no rules)."""

    def f(*arrays):
        with tm.no_grad():
            return np.asarray(case.fn(*[tm.tensor(a) for a in arrays]))

    return f


def setup(case, seed):
    rng = np.random.default_rng(seed)
    xs = random_inputs(rng, case.shapes, case.domain)
    out_shape = numpy_fn(case)(*xs).shape
    u = rng.standard_normal(out_shape)
    vs = [rng.standard_normal(x.shape) for x in xs]
    return xs, u, vs


def reverse(case, xs, u):
    ts = [tm.tensor(x, requires_grad=True) for x in xs]
    out = case.fn(*ts)
    out.backward(u)
    return [t.grad.numpy() for t in ts]


def forward(case, xs, vs):
    return tm.jvp(case.fn, tuple(xs), tuple(vs))[1]


def test_every_registered_op_is_swept():
    assert set(REGISTRY) <= {case.op for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_values_match_an_independent_numpy_reference(case):
    xs = random_inputs(np.random.default_rng(5), case.shapes, case.domain)
    expected = np.asarray(case.ref(*xs), dtype=np.float64)
    got = np.asarray(case.fn(*[tm.tensor(x) for x in xs]).numpy(), dtype=np.float64)
    assert got.shape == expected.shape, case.id
    assert_close(got, expected, rtol=case.tol.get("rtol", 1e-12), atol=case.tol.get("atol", 1e-12), what=case.id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reverse_rule_matches_central_differences(case):
    xs, u, _ = setup(case, 0)
    h = case.tol.get("h", 1e-6)
    jac = central_jacobian(numpy_fn(case), xs, h=h)
    expected = jac.T @ u.reshape(-1)
    got = np.concatenate([g.reshape(-1) for g in reverse(case, xs, u)])
    assert_close(got, expected, rtol=case.tol.get("rtol", 1e-6), atol=case.tol.get("atol", 1e-7), what=case.id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_rule_matches_central_differences(case):
    xs, _, vs = setup(case, 1)
    h = case.tol.get("h", 1e-6)
    jac = central_jacobian(numpy_fn(case), xs, h=h)
    expected = jac @ np.concatenate([v.reshape(-1) for v in vs])
    got = forward(case, xs, vs)
    assert got.shape == numpy_fn(case)(*xs).shape
    assert_close(got.reshape(-1), expected, rtol=case.tol.get("rtol", 1e-6), atol=case.tol.get("atol", 1e-7), what=case.id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_and_reverse_agree_dot_product(case):
    for seed in range(3):
        xs, u, vs = setup(case, 10 + seed)
        jv = forward(case, xs, vs)
        jtu = reverse(case, xs, u)
        lhs = float(np.sum(u * jv))
        rhs = float(sum(np.sum(g * v) for g, v in zip(jtu, vs)))
        tolerance = case.tol.get("dot", 1e-10)
        assert abs(lhs - rhs) <= tolerance * max(1.0, abs(lhs), abs(rhs)), (case.id, lhs, rhs)


@pytest.mark.parametrize("case", [c for c in CASES if c.second_order], ids=lambda c: c.id)
def test_recorded_backward_differentiates_again(case):
    """d/dx ⟨Jᵀu, w⟩ through create_graph=True equals central differences of the numpy gradient."""
    rng = np.random.default_rng(3)
    xs, u, _ = setup(case, 3)
    ws = [rng.standard_normal(x.shape) for x in xs]

    def inner(*arrays):  # ⟨Jᵀu, w⟩ as a plain function of the inputs, from first-order reverse mode
        grads = reverse(case, arrays, u)
        return sum(np.sum(g * w) for g, w in zip(grads, ws))

    expected = central_jacobian(inner, xs, h=1e-5).reshape(-1)

    ts = [tm.tensor(x, requires_grad=True) for x in xs]
    out = case.fn(*ts)
    out.backward(u, create_graph=True)
    grads = [t.grad for t in ts]
    assert all(isinstance(g, tm.Tensor) for g in grads)
    for t in ts:
        t.grad = None
    total = sum((g * w).sum() for g, w in zip(grads, ws))
    if not total.requires_grad:  # the first derivative does not depend on x (a linear op)
        got = np.zeros_like(expected)
    else:
        total.backward()
        got = np.concatenate([
            (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)).reshape(-1) for t in ts
        ])
    assert_close(got, expected, rtol=1e-5, atol=1e-6, what=case.id)


@pytest.mark.parametrize("case", [c for c in CASES if c.second_order], ids=lambda c: c.id)
def test_hessian_matches_central_differences_of_the_gradient(case):
    """hessian (forward mode over the reverse-mode gradient) of ⟨u, f(x, ...)⟩ in the first input."""
    xs, u, _ = setup(case, 4)
    rest = xs[1:]

    def scalar(x, *others):
        return (case.fn(x, *others) * u).sum()

    def gradient(x):  # first order in numpy, from the reverse rule
        return reverse(case, [x] + rest, u)[0]

    expected = central_jacobian(gradient, [xs[0]], h=1e-5)
    got = tm.hessian(scalar)(xs[0], *rest).reshape(xs[0].size, xs[0].size)
    assert_close(got, expected, rtol=1e-5, atol=1e-6, what=case.id)


# ---------------------------------------------------------------- forward mode: batches and kinds of tangents


def _single_directions(case, xs, directions):
    """J v for each set of directions, one jvp each (plain arrays: the top-level fast path)."""
    return np.stack([forward(case, xs, [d[b] for d in directions]) for b in range(directions[0].shape[0])])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_batched_tangents_equal_one_direction_at_a_time(case):
    """Three directions pushed through in one pass (as jacfwd and hessian do) give what three jvps
    give, whether the op handles the batch itself (Record.batching) or the engine loops; with plain
    array tangents and with Tensor tangents."""
    rng = np.random.default_rng(21)
    xs = random_inputs(rng, case.shapes, case.domain)
    directions = [rng.standard_normal((3,) + x.shape) for x in xs]
    expected = _single_directions(case, xs, directions)
    arrays = _jvp(case.fn, tuple(xs), tuple(directions), False, "jvp", {}, batch=3)[1]
    assert arrays.shape == expected.shape, case.id
    assert_close(arrays, expected, rtol=1e-12, atol=1e-12, what=case.id + " (arrays)")
    tensors = _jvp(case.fn, tuple(tm.tensor(x) for x in xs), tuple(tm.tensor(d) for d in directions), False, "jvp",
                   {}, batch=3)[1]
    assert isinstance(tensors, tm.Tensor)
    assert_close(tensors.numpy(), expected, rtol=1e-12, atol=1e-12, what=case.id + " (Tensors)")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_tensor_tangents_equal_array_tangents(case):
    """The same jvp with Tensor primals (tangents carried as Tensors, the general path) and with numpy
    primals (tangents carried as plain arrays)."""
    xs, _, vs = setup(case, 22)
    arrays = forward(case, xs, vs)
    out, tensors = tm.jvp(case.fn, tuple(tm.tensor(x) for x in xs), tuple(tm.tensor(v) for v in vs))
    assert isinstance(tensors, tm.Tensor) and isinstance(out, tm.Tensor)
    assert_close(tensors.numpy(), arrays, rtol=1e-12, atol=1e-12, what=case.id)
