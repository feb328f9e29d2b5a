"""pytest-benchmark: what protecting a numpy constant costs in a training step (how ``X @ w`` keeps X).

A least-squares step, forward and backward, with X passed as a numpy array, each protection forced:
  * ``unprotected``: X is read-only and locking is forced, so there is nothing to do (the floor);
  * ``lock``: X is writeable and locking is forced: locked by the graph, unlocked on release;
  * ``copy``: copying is forced: the graph keeps a copy of X.
tinygrad_mat copies constants of up to ``arraylock.COPY_AT_MOST`` elements and locks larger ones.

    python -m pytest bench/bench_constants.py --benchmark-only --benchmark-json=constants.json
    python bench/report.py constants.json
"""
import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import arraylock

SIZES = {"100000x100": (100_000, 100), "32x10": (32, 10)}


def make_step(X, y, how):
    w = tm.tensor(np.zeros(X.shape[1]), requires_grad=True)

    def step():
        loss = ((X @ w - y) ** 2).mean()
        loss.backward()
        w.grad = None
        return loss

    return step


@pytest.mark.parametrize("how", ["unprotected", "lock", "copy"])
@pytest.mark.parametrize("size", list(SIZES))
def test_least_squares_step_with_a_numpy_constant(benchmark, monkeypatch, size, how):
    n, d = SIZES[size]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    if how == "unprotected":
        X.flags.writeable = False
    monkeypatch.setattr(arraylock, "COPY_AT_MOST", X.size if how == "copy" else -1)
    step = make_step(X, y, how)
    step()
    assert X.flags.writeable == (how != "unprotected")  # released after backward
    benchmark.group = f"least-squares step, X {size} as a numpy constant"
    rounds = 30 if n > 1000 else 2000
    benchmark.pedantic(step, rounds=rounds, iterations=1, warmup_rounds=3)
