"""The Tensor API: construction, dtypes, conversions, mixing with numpy, repr, no_grad."""
import threading

import numpy as np
import pytest

import tinygrad_mat as tm


def test_default_dtype_and_conversions():
    assert tm.tensor([1, 2]).dtype == np.float64
    assert tm.tensor(True).dtype == np.float64
    assert tm.tensor(3).item() == 3.0
    assert tm.tensor(np.arange(3, dtype=np.int32)).dtype == np.float64
    assert tm.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert tm.tensor(np.ones(2, dtype=np.float16)).dtype == np.float64


@pytest.mark.parametrize("bad", [1 + 2j, np.ones(2, dtype=complex), ["a", "b"], {"a": 1}])
def test_refuses_what_it_cannot_differentiate(bad):
    with pytest.raises(tm.DTypeError, match="tensor"):
        tm.tensor(bad)


def test_complex_operand_is_refused_by_the_op():
    with pytest.raises(tm.DTypeError, match="add: complex"):
        tm.tensor([1.0]) + np.array([1j])


def test_attributes():
    t = tm.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (t.shape, t.ndim, t.size, t.dtype) == ((2, 3), 2, 6, np.float64)
    assert t.T.shape == (3, 2)
    assert t.requires_grad and t.grad is None and t.is_leaf
    assert np.array_equal(np.asarray(t), np.arange(6.0).reshape(2, 3))
    assert np.array_equal(t.numpy(), t.data)
    assert tm.tensor([[2.5]]).item() == 2.5
    d = t.detach()
    assert not d.requires_grad and d.is_leaf and np.array_equal(d.numpy(), t.numpy())
    assert np.asarray((t * 2).sum().backward() or t.grad).shape == (2, 3)


def test_float32_is_kept_through_ops_and_gradients():
    x = tm.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    y = (x * 3.0 + 1.0) @ x
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_precision_gradient_comes_back_in_the_input_dtype():
    x = tm.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    w = tm.tensor(np.ones(3), requires_grad=True)
    (x * w).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_numpy_operands_on_either_side():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = tm.tensor(A, requires_grad=True)
    for result in (A + t, t + A, A - t, A * t, A / t, A @ t, t @ A, 2.0 ** t, t**2, 1 - t, np.float64(2.0) * t):
        assert isinstance(result, tm.Tensor) and result.requires_grad
    (A @ t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), A.T @ np.ones((2, 2)))
    assert isinstance(np.exp(t), tm.Tensor) and isinstance(np.ones(2) @ t, tm.Tensor)


def test_repr_shows_values_and_the_op():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "Tensor([1., 2.], requires_grad=True)"
    assert "op=mul" in repr(x * x)
    assert "dtype=float32" in repr(tm.tensor(np.ones(1, dtype=np.float32)))


def test_no_grad_records_nothing_and_is_thread_local():
    x = tm.tensor(1.0, requires_grad=True)
    with tm.no_grad():
        assert not tm.is_grad_enabled()
        y = x * 2
        seen = []
        thread = threading.Thread(target=lambda: seen.append(tm.is_grad_enabled()))
        thread.start()
        thread.join()
        with tm.enable_grad():
            z = x * 2
    assert tm.is_grad_enabled() and seen == [True]
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.op == "mul"


def test_data_is_read_only_so_a_saved_array_cannot_be_corrupted():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 10.0
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(x)[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_rebinding_data_after_forward_keeps_the_saved_values():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    x.data = np.array([100.0, 100.0])  # the graph saved the old array
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_rebinding_data_is_detected_by_a_recorded_backward():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    x.data = np.array([5.0, 5.0])
    with pytest.raises(tm.GraphError, match="mul .backward.*replaced"):
        y.backward(create_graph=True)


def test_inplace_update_under_no_grad_leaves_a_live_graph_correct():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with tm.no_grad():
        w -= 0.5 * tm.tensor([1.0, 1.0])
    np.testing.assert_array_equal(w.numpy(), [0.5, 1.5])
    loss.backward()  # the graph saw w = [1, 2]
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    assert w.requires_grad and w.is_leaf


def test_inplace_update_outside_no_grad_is_refused():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tm.GraphError, match="no_grad"):
        w -= 1.0
    y = w * 2
    with tm.no_grad(), pytest.raises(tm.GraphError, match="output of mul"):
        y += 1.0


def test_indexing_forms():
    x = tm.tensor(np.arange(12.0).reshape(3, 4))
    assert x[1].shape == (4,)
    assert x[:, 2].shape == (3,)
    assert x[[0, 2]].shape == (2, 4)
    assert x[x.numpy() > 5].shape == (6,)
    assert x[None, ..., 1].shape == (1, 3)
    with pytest.raises(TypeError, match="getitem"):
        x[tm.tensor([0])]
    with pytest.raises(IndexError, match="getitem"):
        x[5]


def test_iteration_and_len():
    x = tm.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert len(x) == 2
    rows = list(x)
    assert all(isinstance(r, tm.Tensor) for r in rows) and rows[1].numpy().tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="ambiguous"):
        bool(x)


def test_every_tensor_the_library_hands_out_is_read_only():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(create_graph=True)
    g_tensor = tm.grad(lambda x: (x * 0.0).sum() + 1.0)(tm.tensor([1.0]))  # zero gradient
    _, tangent = tm.jvp(lambda x: tm.tensor([1.0]), (tm.tensor([1.0]),), (tm.tensor([1.0]),))  # zero tangent
    for t in (y, x.grad, g_tensor, tangent, tm.slogdet(np.eye(2))[0]):
        assert not t.numpy().flags.writeable, t
