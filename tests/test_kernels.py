"""Each numba kernel against its plain-numpy reference, and the dispatcher on both sides of its thresholds."""
import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import dispatch
from tinygrad_mat.kernels import logsumexp_rows, scatter_add_rows, sigmoid

rng = np.random.default_rng(7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_kernel(dtype):
    x = np.concatenate([rng.standard_normal(1000) * 10, [0.0, 800.0, -800.0, np.inf, -np.inf]]).astype(dtype)
    out = np.empty_like(x)
    sigmoid(x, out)
    with np.errstate(over="ignore"):
        reference = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(out, reference, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-300)
    assert not np.isnan(out).any()


def test_logsumexp_rows_kernel():
    x = rng.standard_normal((50, 37)) * 30
    x[3] = -np.inf
    x[4, 5] = np.inf
    out = np.empty(50)
    logsumexp_rows(x, out)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        peak = x.max(axis=1, keepdims=True)
        reference = np.log(np.exp(x - np.where(np.isfinite(peak), peak, 0)).sum(axis=1)) + np.where(
            np.isfinite(peak), peak, 0
        ).ravel()
    assert out[3] == -np.inf and out[4] == np.inf
    mask = np.ones(50, bool)
    mask[[3, 4]] = False
    np.testing.assert_allclose(out[mask], reference[mask], rtol=1e-13)


def test_scatter_add_rows_kernel():
    index = rng.integers(-10, 10, size=200)
    values = rng.standard_normal((200, 3))
    out = np.zeros((10, 3))
    scatter_add_rows(out, index, values)
    reference = np.zeros((10, 3))
    np.add.at(reference, index, values)
    np.testing.assert_allclose(out, reference, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("n", [10, dispatch.SIGMOID_NUMPY_BAND[0] + 10, dispatch.SIGMOID_NUMPY_BAND[1] + 10])
def test_sigmoid_dispatch_same_values_either_side(n):
    x = rng.standard_normal(n) * 5
    np.testing.assert_allclose(tm.sigmoid(x).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-13)


@pytest.mark.parametrize("shape", [(3, 4), (5, dispatch.LOGSUMEXP_KERNEL_MAX_COLS + 1), (0, 3)])
def test_logsumexp_dispatch_same_values_either_side(shape):
    x = rng.standard_normal(shape)
    expected = np.log(np.exp(x).sum(axis=-1)) if x.size else np.zeros(shape[:-1])
    np.testing.assert_allclose(tm.logsumexp(x, axis=-1).numpy(), expected, rtol=1e-13)
    np.testing.assert_allclose(tm.logsumexp(x, axis=1, keepdims=True).numpy(), expected[:, None], rtol=1e-13)


def test_getitem_gradient_uses_the_scatter_kernel_for_many_rows():
    table = tm.tensor(rng.standard_normal((20, 4)), requires_grad=True)
    index = rng.integers(0, 20, size=256)
    table[index].sum().backward()
    counts = np.bincount(index, minlength=20).astype(float)
    np.testing.assert_array_equal(table.grad.numpy(), np.repeat(counts[:, None], 4, axis=1))
