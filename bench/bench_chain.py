"""pytest-benchmark: the 10-op chain, hand-written numpy vs tinygrad_mat vs peers (when installed).

    python -m pytest bench/bench_chain.py --benchmark-only --benchmark-json=bench/chain.json
    python bench/report.py bench/chain.json
"""
import importlib.util

import numpy as np
import pytest

import chain

IMPLEMENTATIONS = {
    "numpy_by_hand": (chain.make_numpy, None),
    "tinygrad_mat": (chain.make_tinygrad_mat, "tinygrad_mat"),
    "torch_eager": (chain.make_torch, "torch"),
    "hips_autograd": (chain.make_autograd, "autograd"),
}


@pytest.mark.parametrize("name", list(IMPLEMENTATIONS))
def test_chain_step(benchmark, name):
    make, module = IMPLEMENTATIONS[name]
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is an optional peer and is not installed")
    x0, params = chain.problem()
    step = make(x0, params)
    reference = chain.make_numpy(x0, params)()
    for got, expected in zip(step(), reference):  # same work: same gradients
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-12)
    benchmark.group = "10-op chain, 4x4, forward+backward"
    benchmark.extra_info["ops"] = chain.N_OPS
    benchmark.pedantic(step, rounds=300, iterations=20, warmup_rounds=20)
