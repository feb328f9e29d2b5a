"""pytest-benchmark: each numba kernel against the numpy code it replaces, by size.

The dispatch thresholds in tinygrad_mat/dispatch.py come from this file:

    python -m pytest bench/bench_kernels.py --benchmark-only --benchmark-json=bench/kernels.json
    python bench/report.py bench/kernels.json

Compile time is kept out: every kernel runs once before it is timed.
"""
import numpy as np
import pytest

from tinygrad_mat import dispatch
from tinygrad_mat.kernels import logsumexp_rows, scatter_add_rows, sigmoid

SIZES = [256, 1024, 4096, 16384, 262144]
rng = np.random.default_rng(0)


def _sigmoid_kernel(x):
    out = np.empty_like(x)
    sigmoid(x, out)
    return out


@pytest.mark.parametrize("impl", ["numpy", "numba"])
@pytest.mark.parametrize("n", SIZES)
def test_sigmoid(benchmark, impl, n):
    x = rng.standard_normal(n)
    fn = dispatch._numpy_sigmoid if impl == "numpy" else _sigmoid_kernel
    fn(x)
    benchmark.group = f"sigmoid n={n}"
    benchmark(fn, x)


def _logsumexp_kernel(x):
    out = np.empty(x.shape[0])
    logsumexp_rows(x, out)
    return out


@pytest.mark.parametrize("impl", ["numpy", "numba"])
@pytest.mark.parametrize("n", SIZES)
def test_logsumexp_rows(benchmark, impl, n):
    x = rng.standard_normal((n // 16, 16))  # softmax regression: many rows, few classes
    fn = (lambda x: dispatch._numpy_logsumexp(x, (1,), False)) if impl == "numpy" else _logsumexp_kernel
    fn(x)
    benchmark.group = f"logsumexp rows of 16, n={n}"
    benchmark(fn, x)


def _scatter_numpy(out, index, values):
    np.add.at(out, index, values)


@pytest.mark.parametrize("impl", ["numpy", "numba"])
@pytest.mark.parametrize("rows", [16, 64, 256, 4096])
def test_scatter_add_rows(benchmark, impl, rows):
    index = rng.integers(0, 50, size=rows)
    values = rng.standard_normal((rows, 8))
    fn = _scatter_numpy if impl == "numpy" else scatter_add_rows
    fn(np.zeros((50, 8)), index, values)
    benchmark.group = f"scatter-add rows={rows}"
    benchmark(lambda: fn(np.zeros((50, 8)), index, values))
