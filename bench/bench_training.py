"""pytest-benchmark: the training stack's overhead, and Adam over a million parameters against PyTorch.

    python -m pytest bench/bench_training.py --benchmark-only --benchmark-json=training.json
    python bench/report.py training.json

1. One logistic-regression step on 32 × 10 data (forward, backward, SGD update), written with raw Tensors
   and with tm.nn.Linear + tm.nn.functional + tm.optim.SGD: the same parameters after the same steps.
2. One Adam step over 1,000,000 float64 parameters: tm.optim.Adam (a fused numba kernel), the same update
   in numpy, and PyTorch's Adam with fused=True and foreach=True (1 thread) when installed.
"""
import importlib.util

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import dispatch
from tinygrad_mat.nn import functional as F

rng = np.random.default_rng(0)
X, Y = rng.standard_normal((32, 10)), (rng.random(32) > 0.5).astype(float)


def raw_step_factory():
    w, b = tm.zeros(10, requires_grad=True), tm.zeros((), requires_grad=True)

    def step():
        z = X @ w + b
        loss = (tm.softplus(z) - Y * z).mean()
        loss.backward()
        with tm.no_grad():
            w.data = w.data - 0.1 * w.grad.data
            b.data = b.data - 0.1 * b.grad.data
        w.grad = b.grad = None
        return w, b

    return step


def nn_step_factory():
    model = tm.nn.Linear(10, 1)
    model.load_state_dict({"weight": np.zeros((1, 10)), "bias": np.zeros(1)})
    opt = tm.optim.SGD(model.parameters(), lr=0.1)
    y_column = Y[:, None]

    def step():
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(X), y_column).backward()
        opt.step()
        return model.weight, model.bias

    return step


@pytest.mark.parametrize("how", ["raw_tensors", "nn_optim"])
def test_logistic_step(benchmark, how):
    ours, reference = (raw_step_factory() if how == "raw_tensors" else nn_step_factory()), raw_step_factory()
    for _ in range(5):
        w, b = ours()
        w_ref, b_ref = reference()
    np.testing.assert_allclose(np.ravel(w.numpy()), w_ref.numpy(), rtol=1e-12)  # the same work
    benchmark.group = "logistic step, 32x10, forward+backward+SGD"
    benchmark.pedantic(ours, rounds=300, iterations=20, warmup_rounds=20)


N = 1_000_000


def adam_problem():
    return rng.standard_normal(N), rng.standard_normal(N)


@pytest.mark.parametrize("how", ["numpy", "tinygrad_mat", "torch_fused", "torch_foreach"])
def test_adam_million_parameters(benchmark, how):
    p0, g0 = adam_problem()
    if how.startswith("torch"):
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is an optional peer (pip install torch==2.13.0)")
        import torch

        torch.set_num_threads(1)
        p = torch.tensor(p0, requires_grad=True)
        p.grad = torch.tensor(g0)
        opt = torch.optim.Adam([p], lr=1e-3, **({"fused": True} if how == "torch_fused" else {"foreach": True}))
        step = opt.step
    elif how == "tinygrad_mat":
        p = tm.tensor(p0, requires_grad=True)
        p.grad = tm.tensor(g0)
        step = tm.optim.Adam([p], lr=1e-3).step
    else:
        m, v, t = np.zeros(N), np.zeros(N), [0]

        def step():
            t[0] += 1
            return dispatch.numpy_adam(p0, g0, m, v, 1e-3, 0.9, 0.999, 1e-8, 1 - 0.9 ** t[0],
                                       np.sqrt(1 - 0.999 ** t[0]), 0.0, False)
    step()
    benchmark.group = "Adam step, 1e6 float64 parameters"
    benchmark.pedantic(step, rounds=30, iterations=3, warmup_rounds=3)
