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


# ---------------------------------------------------------------- every kernel against its numpy twin

def _edge_arrays():
    """1-D float inputs with NaN, ±inf, empty and one element, in float64 and float32."""
    values = [np.array([]), np.array([1.5]), np.array([np.nan]), np.array([np.inf]), np.array([-np.inf]),
              np.array([np.nan, 1.0, -np.inf, np.inf, 0.0, -800.0, 800.0])]
    return [v.astype(dtype) for v in values for dtype in (np.float64, np.float32)]


def _edge_rows():
    rows = [[np.nan, 1.0], [np.nan, np.inf], [np.inf, 1.0], [-np.inf, -np.inf], [np.inf, np.inf],
            [np.inf, -np.inf], [1.0, 2.0], [-np.inf, 0.0], [np.nan, np.nan]]
    return [np.array(rows), np.zeros((3, 0)), np.zeros((0, 4)), np.array([[7.0]]), np.array([[np.nan]])]


EDGE_INPUTS = {
    "sigmoid": [(x,) for x in _edge_arrays()],
    "erf": [(x,) for x in _edge_arrays()],
    "logsumexp_rows": [(x,) for x in _edge_rows()],
    "adam_update": [
        tuple(np.array(v) for v in zip(*[(p, g, m, abs(v)) for p, g, m, v in
                                        [(1.0, 0.5, 0.1, 0.2), (np.nan, 1.0, 0.0, 0.0), (np.inf, -1.0, 0.0, 1.0),
                                         (0.0, np.inf, 0.0, 0.0), (2.0, 0.0, 0.0, 0.0)]])),
        (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)),
        (np.array([1.5]), np.array([-2.0]), np.array([0.3]), np.array([0.7])),
    ],
    "sgd_momentum_update": [
        tuple(np.array(v) for v in zip(*[(1.0, 0.5, 0.1), (np.nan, 1.0, 0.0), (np.inf, -1.0, 2.0),
                                        (0.0, np.inf, 0.0), (2.0, 0.0, -np.inf)])),
        (np.zeros(0), np.zeros(0), np.zeros(0)),
        (np.array([1.5]), np.array([-2.0]), np.array([0.3])),
    ],
    "scatter_add_rows": [
        (np.array([[np.nan, 1.0], [np.inf, -np.inf]]), np.array([0, 0]), 2),
        (np.zeros((0, 3)), np.zeros(0, dtype=np.int64), 2),
        (np.array([[1.0, np.inf]]), np.array([-1]), 3),
        (np.ones((1, 1)), np.array([0]), 1),
    ],
}
EDGE_INPUTS["linear_mse_vector"] = [
    (np.array([[1.0, 2.0], [np.nan, 0.5], [3.0, -1.0]]), np.array([[0.5], [2.0]]), np.array([0.25]),
     np.array([[1.0], [0.0], [2.0]])),
    (np.array([[np.inf, 1.0]]), np.array([[1.0], [1.0]]), np.array([0.0]), np.array([[0.0]])),
    (np.zeros((0, 3)), np.ones((3, 1)), np.array([1.0]), np.zeros((0, 1))),
    (np.array([[2.0]]), np.array([[3.0]]), np.array([-1.0]), np.array([[4.0]])),
    (np.arange(20.0).reshape(10, 2), np.array([[0.5], [-0.25]]), np.array([0.1]), np.linspace(0, 1, 10)[:, None]),
]
EDGE_INPUTS["linear_mse_vector_parallel"] = EDGE_INPUTS["linear_mse_vector"]
EDGE_INPUTS["adam_update_parallel"] = EDGE_INPUTS["adam_update"]
EDGE_INPUTS["sgd_momentum_update_parallel"] = EDGE_INPUTS["sgd_momentum_update"]


def test_every_kernel_has_a_numpy_twin_and_edge_cases():
    import tinygrad_mat.kernels as kernels

    assert set(kernels.__all__) == set(dispatch.TWINS) == set(EDGE_INPUTS)


@pytest.mark.parametrize("name", sorted(dispatch.TWINS))
def test_kernel_and_numpy_twin_agree_on_nan_inf_empty_and_one_element(name):
    kernel, twin = dispatch.TWINS[name]
    for args in EDGE_INPUTS[name]:
        with np.errstate(all="ignore"):
            expected = twin(*args)
        got = kernel(*args)
        assert got.shape == expected.shape and got.dtype == expected.dtype, (name, args)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{name} NaN on {args}")
        finite = ~np.isnan(expected)
        # Bit for bit where the kernel mirrors numpy's operations (the optimizer updates, no fastmath).
        rtol = 0.0 if "update" in name else 1e-12 if "linear_mse" in name else 1e-6
        np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, err_msg=f"{name} on {args}")


def test_scatter_add_out_of_range_raises_and_writes_nothing():
    out = np.zeros((3, 2))
    with pytest.raises(IndexError, match="out of range"):
        scatter_add_rows(out, np.array([0, 3]), np.ones((2, 2)))
    np.testing.assert_array_equal(out, 0.0)
    for index in (np.array([0, 3]), np.array([-4, 0])):
        with pytest.raises(IndexError, match="scatter_add: index .* out of bounds"):
            tm.scatter_add(np.ones((2, 2)), index, (3, 2))
    with pytest.raises(IndexError, match="scatter_add"):
        tm.scatter_add(np.ones(2), [0, 5], (3,))
    with pytest.raises(tm.ShapeError, match=r"scatter_add: values have shape \(2, 3\)"):
        tm.scatter_add(np.ones((2, 3)), np.array([0, 1]), (3, 2))


def test_kernels_under_numba_boundscheck(tmp_path):
    """The kernel tests again with numba's bounds checking on (and a fresh cache), in a subprocess."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    here = os.path.dirname(__file__)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(here, "test_kernels.py"),
         "-k", "not boundscheck"],
        env=env, capture_output=True, text=True, cwd=here,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# ---------------------------------------------------------------- threads


def test_thread_counts_are_set_and_restored_and_bad_counts_change_nothing():
    import numba

    before = tm.get_num_threads()
    with tm.num_threads(1):
        assert tm.get_num_threads() == {"blas": 1, "kernels": 1}
    assert tm.get_num_threads() == {**before, "kernels": numba.get_num_threads()}
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="set_num_threads: the number of threads must be an int"):
            tm.set_num_threads(bad)
    too_many = numba.config.NUMBA_NUM_THREADS + 1
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        tm.set_num_threads(too_many)
    assert tm.get_num_threads()["blas"] == before["blas"]  # refused before anything changed


def test_the_numba_backend_helpers_equal_numpy():
    """kernels/replay.py: the products in both branches (loops, BLAS), any layout, and the sigmoid in
    both tails (the numba backend's sweep checks them again through every lowered rule)."""
    from tinygrad_mat.kernels import replay

    rng = np.random.default_rng(0)
    for m, k, n in [(1, 1, 1), (4, 4, 4), (3, 5, 2), (40, 40, 40)]:  # 40³ > the BLAS threshold
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        np.testing.assert_allclose(replay.matmul(a, b), a @ b, rtol=1e-12, atol=1e-13)
        at = np.asfortranarray(a)  # another layout, and a transposed view
        np.testing.assert_allclose(replay.matmul(b.T, a.T), b.T @ a.T, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(replay.matmul(at, b), a @ b, rtol=1e-12, atol=1e-13)
        x, y = rng.standard_normal(k), rng.standard_normal(m)
        np.testing.assert_allclose(replay.matvec(a, x), a @ x, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(replay.vecmat(y, a), y @ a, rtol=1e-12, atol=1e-13)
        assert replay.dot(x, x) == pytest.approx(x @ x, rel=1e-12)
    x = np.array([[-800.0, -30.0, 0.0], [1e-3, 30.0, 800.0]])
    np.testing.assert_allclose(replay.sigmoid_array(x), dispatch._numpy_sigmoid(x), rtol=1e-15)
    np.testing.assert_allclose(replay.sigmoid_array(x.T), dispatch._numpy_sigmoid(x.T), rtol=1e-15)
    assert replay.sigmoid_number(-800.0) == dispatch._numpy_sigmoid(np.array(-800.0))
