"""Reverse-mode engine behaviour: accumulation, graph release, recorded backward, long chains, memory."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygrad_mat as tm


def test_gradients_accumulate_across_calls_until_reset():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0 + 3.0, 4.0 + 3.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    tm.zero_grad(x)
    assert x.grad is None


def test_a_tensor_used_twice_gets_both_contributions():
    x = tm.tensor(3.0, requires_grad=True)
    y = x * x + x  # x feeds mul twice and add once
    y.backward()
    assert x.grad.item() == 7.0


def test_diamond_graph():
    x = tm.tensor(2.0, requires_grad=True)
    a = x * 3.0
    b = tm.exp(a)
    c = a * b  # a reaches c directly and through b
    c.backward()
    expected = 3.0 * np.exp(6.0) + 6.0 * np.exp(6.0) * 3.0
    assert x.grad.item() == pytest.approx(expected, rel=1e-14)


def test_shared_gradient_arrays_are_never_mutated():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    w = tm.tensor([1.0, 1.0], requires_grad=True)
    (x + w).sum().backward()  # add hands the same cotangent array to both
    (x * 2.0).sum().backward()  # accumulation into x.grad must not leak into w.grad
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_cotangent_of_the_caller_is_copied():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0])
    (x + 0.0).backward(g)
    g[0] = 100.0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_graph_is_released_after_backward():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (tm.exp(x) * x).sum()
    y.backward()
    with pytest.raises(tm.GraphError, match="already released.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_release_frees_the_saved_arrays():
    x = tm.tensor(np.ones(1000), requires_grad=True)
    h = tm.exp(x)
    loss = (h * h).sum()
    ref = weakref.ref(h)
    del h
    assert ref() is not None  # held by the graph through loss
    loss.backward()
    gc.collect()
    assert ref() is None


def test_backward_on_a_leaf_and_on_a_constant():
    x = tm.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    with pytest.raises(tm.GraphError, match="does not require grad"):
        tm.tensor(2.0).backward()
    with tm.no_grad():
        y = x * 2
    with pytest.raises(tm.GraphError, match="does not require grad"):
        y.backward()


def test_non_scalar_backward_needs_a_cotangent_of_the_right_shape():
    x = tm.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(tm.GraphError, match=r"shape \(2, 3\).*pass a cotangent"):
        y.backward()
    with pytest.raises(tm.ShapeError, match=r"backward: cotangent has shape \(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_create_graph_gives_a_differentiable_gradient():
    x = tm.tensor(2.0, requires_grad=True)
    (x**4).backward(create_graph=True)
    g = x.grad  # 4x³ = 32, as a Tensor with a graph
    assert g.item() == 32.0 and g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == 48.0  # 12x²


def test_hundred_thousand_op_chain_has_no_recursion_limit():
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_hundred_thousand_op_chain_recorded_backward():
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + x * 1e-5
    y.backward(create_graph=True)
    assert x.grad.item() == pytest.approx(1.2, rel=1e-12)


def test_no_reference_cycles_in_a_graph():
    gc.collect()
    gc.disable()
    try:
        x = tm.tensor(np.ones(3), requires_grad=True)
        y = (tm.exp(x) @ x + tm.trace(tm.tensor(np.eye(2)) * x[0])).sum()
        ref = weakref.ref(y)
        del y
        assert ref() is None  # freed by reference counting alone: no cycle
    finally:
        gc.enable()


def test_training_loop_memory_does_not_grow():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.standard_normal(64)
    w = tm.tensor(np.zeros(5), requires_grad=True)

    def step():
        nonlocal w
        loss = ((X @ w - y) ** 2).mean()
        loss.backward()
        with tm.no_grad():
            w -= 0.1 * w.grad
        w.grad = None

    for _ in range(50):
        step()
    tracemalloc.start()
    for _ in range(200):
        step()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(2000):
        step()
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert second - first < 50_000, (first, second)


def test_two_threads_backward_into_the_same_leaf_lose_no_update():
    import sys
    import threading

    w = tm.tensor(np.ones(3), requires_grad=True)
    x = np.arange(1.0, 4.0)
    n = 1500
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to provoke a lost update
    try:
        def work():
            for _ in range(n):
                (w * x).sum().backward()

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    np.testing.assert_array_equal(w.grad.numpy(), 2 * n * x)


def test_forward_mode_and_hessians_make_no_reference_cycles():
    """Tangents never reference the Tensor that holds them: all is freed by reference counting."""
    tm.sigmoid(np.ones(300))  # load the numba kernels first: their import makes cycles of its own
    fns = [
        lambda: tm.hessian(lambda X: tm.det(X) * tm.exp(X).sum())(np.eye(3) + 0.1),
        lambda: tm.hvp(lambda x: (tm.tanh(x) ** 3).sum() * tm.norm(x), np.ones(3), np.ones(3)),
        lambda: tm.jacfwd(tm.grad(lambda x: tm.sigmoid(x).sum() * tm.logsumexp(x)))(np.ones(3)),
        lambda: tm.jvp(lambda x: tm.jvp(lambda y: x * y * y, (x,), (1.0,))[1], (2.0,), (1.0,)),
    ]
    for fn in fns:
        fn()
    gc.collect()
    gc.disable()
    try:
        for fn in fns:
            fn()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_rules_zero_symbol_still_gives_the_leaf_a_zero_gradient():
    x = tm.tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_a_complex_cotangent_is_refused():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tm.DTypeError, match="backward: a complex cotangent"):
        (x * 2.0).backward(np.array([1.0 + 1j, 0.0]))
    assert x.grad is None


def test_constants_are_converted_once_so_rules_never_see_lists_or_ints():
    """[[1, 2]] @ t used to crash under create_graph and in hessian: the rule got the raw list."""
    f = lambda t: (([[1, 2]] @ t) ** 2).sum()  # (t₀ + 2 t₁)², gradient 2 (t₀ + 2 t₁) [1, 2]
    t0 = np.array([[1.0], [3.0]])
    closed_hessian = 2 * np.array([[1.0, 2.0], [2.0, 4.0]]).reshape(2, 1, 2, 1)
    np.testing.assert_allclose(tm.hessian(f)(t0), closed_hessian, rtol=1e-14)
    t = tm.tensor(t0, requires_grad=True)
    f(t).backward(create_graph=True)
    np.testing.assert_allclose(t.grad.numpy(), 2 * 7.0 * np.array([[1.0], [2.0]]))
    _, tangent = tm.jvp(lambda t: [[1, 2]] @ t * 3, (t0,), (np.ones((2, 1)),))
    np.testing.assert_allclose(tangent, [[9.0]])
