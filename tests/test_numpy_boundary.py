"""Where ordinary numpy code meets a Tensor: each path gives the right derivative or a clear error.

Every test here failed before the numpy boundary was made safe: the old behaviour was a silently
zero, stale or partial derivative. Expected values are closed forms written in the test.
"""
import copy
import gc
import pickle

import numpy as np
import pytest

import tinygrad_mat as tm

A = np.array([[2.0, 1.0], [0.5, 3.0]])
X = np.array([[1.0, 2.0], [3.0, 4.0]])


# ---------------------------------------------------------------- 1. numpy functions on Tensors

NUMPY_CALLS = {
    # name: (f of a Tensor X, closed-form gradient at X)
    "np.dot": (lambda t: np.dot(A, t).sum(), lambda x: A.T @ np.ones((2, 2))),
    "np.matmul": (lambda t: np.matmul(t, A).sum(), lambda x: np.ones((2, 2)) @ A.T),
    "np.trace": (np.trace, lambda x: np.eye(2)),
    "np.linalg.trace": (np.linalg.trace, lambda x: np.eye(2)),
    "np.linalg.inv": (lambda t: np.linalg.inv(t).sum(),
                      lambda x: -np.linalg.inv(x).T @ np.ones((2, 2)) @ np.linalg.inv(x).T),
    "np.linalg.det": (np.linalg.det, lambda x: np.linalg.det(x) * np.linalg.inv(x).T),
    "np.linalg.slogdet": (lambda t: np.linalg.slogdet(t)[1], lambda x: np.linalg.inv(x).T),
    "np.linalg.solve": (lambda t: np.linalg.solve(t, np.ones(2)).sum(),
                        lambda x: -np.outer(np.linalg.inv(x).T @ np.ones(2), np.linalg.solve(x, np.ones(2)))),
    "np.linalg.norm": (np.linalg.norm, lambda x: x / np.sqrt((x * x).sum())),
    "np.where": (lambda t: np.where(t > 2.5, t * t, 0.0).sum(), lambda x: np.where(x > 2.5, 2 * x, 0.0)),
    "np.stack": (lambda t: (np.stack([t, 2 * t]) ** 2).sum(), lambda x: 2 * x + 8 * x),
    "np.concatenate": (lambda t: (np.concatenate([t, A]) ** 2).sum(), lambda x: 2 * x),
    "np.sum": (lambda t: np.sum(t * t, axis=0).sum(), lambda x: 2 * x),
    "np.mean": (lambda t: np.mean(t * t), lambda x: 2 * x / 4),
    "np.transpose": (lambda t: (np.transpose(t) * A).sum(), lambda x: A.T),
    "np.reshape": (lambda t: (np.reshape(t, (4,)) * np.arange(4.0)).sum(), lambda x: np.arange(4.0).reshape(2, 2)),
    "np.exp": (lambda t: np.exp(t).sum(), np.exp),
    "np.abs": (lambda t: np.abs(t).sum(), np.sign),
    "ndarray @ Tensor": (lambda t: (A @ t).sum(), lambda x: A.T @ np.ones((2, 2))),
}


@pytest.mark.parametrize("name", list(NUMPY_CALLS))
def test_numpy_functions_dispatch_to_the_op(name):
    f, closed_form = NUMPY_CALLS[name]
    t = tm.tensor(X, requires_grad=True)
    out = f(t)
    assert isinstance(out, tm.Tensor), f"{name} returned {type(out).__name__}: its gradient would be lost"
    np.testing.assert_allclose(tm.grad(f)(X), closed_form(X), rtol=1e-12, atol=1e-14)


def test_numpy_trace_keeps_numpys_axes():
    """np.trace sums over the first two axes (as numpy), tm.trace and np.linalg.trace over the last two."""
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(np.trace(tm.tensor(x)).numpy(), np.trace(x))
    np.testing.assert_array_equal(np.linalg.trace(tm.tensor(x)).numpy(), np.linalg.trace(x))
    np.testing.assert_array_equal(tm.trace(x).numpy(), np.linalg.trace(x))


@pytest.mark.parametrize("call, name", [
    (lambda t: np.convolve(t[0], t[1]), "np.convolve"),
    (lambda t: np.gcd(t, t), "np.gcd"),
    (lambda t: np.fft.fft(t), "np.fft.fft"),
    (lambda t: np.linalg.eigvals(t), "np.linalg.eigvals"),
    (lambda t: np.allclose(t, 1.0), "np.allclose"),
    (lambda t: np.add.reduce(t), "np.add.reduce"),
    (lambda t: np.exp(t, out=np.empty((2, 2))), "np.exp"),
    (lambda t: np.sum(t, dtype=np.float32), "np.sum"),
])
def test_numpy_functions_without_an_op_raise_naming_the_function(call, name):
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        call(tm.tensor(X, requires_grad=True))


def test_numpy_hint_names_the_spelling_to_use():
    with pytest.raises(TypeError, match=r"write np\.allclose\(t\.numpy\(\), other\)"):
        np.allclose(tm.tensor(X), 1.0)


def test_shape_queries_and_explicit_values_still_work():
    t = tm.tensor(X, requires_grad=True)
    assert (np.shape(t), np.ndim(t), np.size(t)) == ((2, 2), 2, 4)
    np.testing.assert_array_equal(np.asarray(t), X)
    np.testing.assert_array_equal(t.numpy(), X)


# ---------------------------------------------------------------- 2. values out of a traced computation

CONVERSIONS = {
    "float()": lambda t: float(t.sum()),
    "item()": lambda t: t.sum().item(),
    "numpy()": lambda t: t.numpy().sum(),
    "np.asarray()": lambda t: np.asarray(t).sum(),
    "tolist()": lambda t: sum(sum(row) for row in t.tolist()),
}
TRANSFORMS = {
    "grad": lambda f: tm.grad(lambda x: f(x) * x.sum()),
    "value_and_grad": lambda f: tm.value_and_grad(lambda x: f(x) * x.sum()),
    "vjp": lambda f: lambda x: tm.vjp(lambda x: f(x) * x, x),
    "jvp": lambda f: lambda x: tm.jvp(lambda x: f(x) * x, (x,), (np.ones_like(x),)),
    "jacobian": lambda f: tm.jacobian(lambda x: f(x) * x),
    "jacrev": lambda f: tm.jacrev(lambda x: f(x) * x),
    "hessian": lambda f: tm.hessian(lambda x: f(x) * x.sum()),
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_taking_a_value_out_of_a_traced_tensor_names_the_transform(conversion, transform):
    wrapped = TRANSFORMS[transform](CONVERSIONS[conversion])
    with pytest.raises(tm.TracedValueError, match=rf"{conversion.replace('(', '[(]').replace(')', '[)]')} "
                                                  rf"of a Tensor that carries the derivative of tm\.{transform}"):
        wrapped(X.copy())


def test_values_that_carry_no_derivative_of_the_transform_may_be_taken():
    w = tm.tensor([1.0, 2.0], requires_grad=True)  # an outer parameter, not the transform's input

    def f(x):
        scale = float((w * w).sum())          # does not depend on x
        constant = x.detach().numpy().sum()   # explicitly a constant
        return (x * scale).sum() + constant

    np.testing.assert_array_equal(tm.grad(f)(np.ones(2)), [5.0, 5.0])
    assert float(tm.tensor(3.0, requires_grad=True)) == 3.0  # outside any transform


def test_comparisons_inside_a_transform_are_masks_not_errors():
    f = lambda x: tm.where(x > 0, x * x, -x).sum()
    np.testing.assert_array_equal(tm.grad(f)(np.array([-1.0, 2.0])), [-1.0, 4.0])


# ---------------------------------------------------------------- 3. Tensors inside lists


def test_a_list_of_tensors_is_stacked_differentiably():
    x = tm.tensor(2.0, requires_grad=True)
    v = tm.tensor([x, x * x, 3.0])
    assert v.requires_grad and v.shape == (3,)
    (v * np.array([1.0, 1.0, 1.0])).sum().backward()
    assert x.grad.item() == 1.0 + 2 * 2.0  # d(x + x² + 3)/dx


def test_nested_lists_and_operators_with_lists():
    f = lambda x: tm.tensor([[x, 1.0], [2.0, x * x]]).sum()
    assert float(tm.grad(f)(3.0)) == 1.0 + 6.0
    x = tm.tensor(2.0, requires_grad=True)
    (x + [x, 2 * x]).sum().backward()  # (x + x) + (x + 2x)
    assert x.grad.item() == 5.0
    assert float(tm.grad(lambda x: (tm.tensor([[1.0, 2.0]]) @ tm.stack([x, x])).sum())(1.0)) == 3.0


def test_tensor_of_a_tensor_is_a_detached_copy():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = tm.tensor(x * 3)
    assert y.is_leaf and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0])
    with pytest.raises(ValueError, match="requires_grad=True makes a new leaf"):
        tm.tensor([x, x], requires_grad=True)
    with pytest.raises(TypeError, match="tm.tensor"):
        tm.Tensor([x, x])


# ---------------------------------------------------------------- 4. comparisons


def test_comparisons_are_elementwise_boolean_arrays():
    t, u = tm.tensor([0.0, 1.0, 2.0], requires_grad=True), tm.tensor([1.0, 1.0, 1.0])
    cases = [
        (t == 1.0, [False, True, False]), (t == u, [False, True, False]), (t != u, [True, False, True]),
        (t > 0, [False, True, True]), (t >= 1, [False, True, True]), (t < u, [True, False, False]),
        (t <= np.array([0.0, 0.0, 5.0]), [True, False, True]), (np.ones(3) < t, [False, False, True]),
    ]
    for got, expected in cases:
        assert type(got) is np.ndarray and got.dtype == bool
        np.testing.assert_array_equal(got, expected)
    assert (tm.tensor(2.0) > 1) is not False and bool(tm.tensor(2.0) > 1)
    assert not (t == None) and (t != None)  # noqa: E711  (identity, as PyTorch)


def test_tensors_hash_by_identity():
    t, u = tm.tensor([1.0, 2.0]), tm.tensor([1.0, 2.0])
    table = {t: "t", u: "u"}
    assert table[t] == "t" and table[u] == "u" and len({t, u, t}) == 2


# ---------------------------------------------------------------- 5. numpy arrays used as constants


BIG = tm.arraylock.COPY_AT_MOST + 1  # rows: above this size a constant is locked rather than copied


def test_a_large_array_a_live_graph_uses_is_locked_until_released():
    X = np.arange(2.0 * BIG).reshape(BIG, 2)
    w = tm.tensor([1.0, 1.0], requires_grad=True)
    loss = ((X @ w) ** 2).sum()
    with pytest.raises(ValueError, match="read-only"):
        X[0, 0] = 100.0  # would silently change w's gradient
    assert tm.is_locked(X)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * X.T @ (X @ np.ones(2)))
    X[0, 0] = 100.0  # released with the graph: writeable again
    loss = ((X @ w) ** 2).sum()
    del loss
    gc.collect()
    assert X.flags.writeable and not tm.is_locked(X)


def test_a_small_array_is_copied_so_editing_it_changes_nothing():
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = tm.tensor([1.0, 1.0], requires_grad=True)
    loss = ((X @ w) ** 2).sum()
    X[0, 0] = 100.0  # after the forward pass, before backward: the graph kept a copy
    loss.backward()
    original = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(w.grad.numpy(), 2 * original.T @ (original @ np.ones(2)))
    assert X.flags.writeable and not tm.is_locked(X)


def test_locking_covers_the_base_of_a_view_and_nested_graphs():
    base = np.ones((BIG, 3))
    view = base[:, :2]
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    first = (view @ w).sum()
    second = (view @ w).sum()
    with pytest.raises(ValueError, match="read-only"):
        base[0, 0] = 5.0
    first.backward()
    assert not base.flags.writeable  # the second graph still holds it
    second.backward()
    assert base.flags.writeable and view.flags.writeable


def test_an_array_that_was_read_only_stays_read_only():
    X = np.ones((BIG, 2))
    X.flags.writeable = False
    w = tm.tensor(np.ones(2), requires_grad=True)
    (X @ w).sum().backward()
    assert not X.flags.writeable


def _calls_with_user_arrays():
    """(name, user arrays, f(w) using them): masks, index arrays and large constants of every kind."""
    big = np.linspace(-1.0, 1.0, 2 * BIG).reshape(BIG, 2)
    mask = np.arange(2 * BIG).reshape(BIG, 2) % 3 == 0
    rows = np.arange(BIG) % 7
    distinct = np.arange(7) * 3
    grid = np.zeros((BIG, 2), dtype=np.int64)
    values = np.ones((BIG, 2))
    return [
        ("where mask", [mask, big], lambda w: tm.where(mask, big * w, 0.0)),
        ("np.where mask", [mask], lambda w: np.where(mask, w * w, w)),
        ("index array", [rows], lambda w: (w * big)[rows]),
        ("take", [rows], lambda w: tm.take(w * big, rows, axis=0)),
        ("take_along_axis", [grid], lambda w: tm.take_along_axis(w * big, grid, axis=1)),
        ("matmul", [big], lambda w: big @ w),
        ("mul", [big], lambda w: big * w),
        ("linear", [big], lambda w: tm.linear(big, tm.reshape(w, (1, 2)))),
        ("scatter_add", [rows, values], lambda w: tm.scatter_add(values * w, rows, (7, 2))),
        ("index_update", [distinct, values], lambda w: tm.index_update(big * w, distinct, values[:7] * w)),
    ]


@pytest.mark.parametrize("case", range(len(_calls_with_user_arrays())),
                         ids=[name for name, _, _ in _calls_with_user_arrays()])
def test_user_arrays_are_given_back(case):
    """No array of the user's stays read-only after the graph that saved it is gone, and none is
    made read-only when no graph is recorded (tm.where once locked its mask for good)."""
    name, arrays, f = _calls_with_user_arrays()[case]
    w = tm.tensor([0.5, -2.0], requires_grad=True)
    with tm.no_grad():
        f(w)
    assert all(a.flags.writeable for a in arrays), f"{name}: locked although no graph was recorded"
    f(w).sum().backward()
    assert all(a.flags.writeable for a in arrays), f"{name}: still locked after backward()"
    out = f(w)  # a graph dropped without backward
    del out
    gc.collect()
    assert all(a.flags.writeable for a in arrays), f"{name}: still locked after the graph was dropped"


def test_editing_a_where_mask_after_the_forward_pass_changes_no_gradient():
    mask = np.array([True, False, True])
    x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = tm.where(mask, x, 0.0).sum()
    mask[:] = False
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 1.0])


def test_a_tensor_never_aliases_a_callers_array():
    X = np.arange(6.0).reshape(2, 3)
    t = tm.transpose(X)  # a view in numpy
    X[0, 0] = 100.0
    assert t.numpy()[0, 0] == 0.0


# ---------------------------------------------------------------- 7. copies


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))],
                         ids=["copy", "deepcopy", "pickle"])
def test_copies_of_a_leaf_are_read_only_leaves(copier):
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    c = copier(w)
    assert c is not w and c.is_leaf and c.requires_grad
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(c.grad.numpy(), [2.0, 4.0])
    assert not c.numpy().flags.writeable and not c.grad.numpy().flags.writeable
    (c * 3.0).sum().backward()  # the copy accumulates on its own
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy, pickle.dumps], ids=["copy", "deepcopy", "pickle"])
def test_copying_a_non_leaf_is_refused(copier):
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tm.GraphError, match=r"output of mul.*t\.detach\(\)"):
        copier(w * 2.0)


# ---------------------------------------------------------------- 8. .grad is checked


def test_grad_assignment_is_checked():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="grad: assign None or a Tensor"):
        w.grad = np.zeros(2)
    with pytest.raises(ValueError, match=r"grad: a gradient of shape \(3,\)"):
        w.grad = tm.tensor(np.zeros(3))
    with pytest.raises(ValueError, match="dtype float32 does not fit"):
        w.grad = tm.tensor(np.zeros(2, dtype=np.float32))
    w.grad = tm.tensor([0.5, 0.5])
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.5, 4.5])


def test_replacing_data_with_another_shape_is_checked():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(ValueError, match="set t.grad = None first"):
        w.data = np.zeros(3)
    w.grad = None
    loss = (w * w).sum()
    w.data = np.zeros(3)  # allowed now; but the graph's gradient no longer fits
    with pytest.raises(tm.GraphError, match=r"leaf of shape \(3,\).*replaced after the forward pass"):
        loss.backward()
    assert w.grad is None


def test_an_error_in_accumulation_leaves_no_gradient_half_updated():
    a = tm.tensor([1.0], requires_grad=True)
    b = tm.tensor([1.0, 2.0], requires_grad=True)
    loss = (a * 3.0).sum() + (b * b).sum()
    b.data = np.zeros(5)
    with pytest.raises(tm.GraphError):
        loss.backward()
    assert a.grad is None and b.grad is None
