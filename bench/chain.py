"""The 10-op chain on 4×4 matrices (matmul, add, mul in turn), forward and backward, written four ways.

Each ``make_*`` returns a function that runs one full step (forward, backward, gradients of the ten
parameter matrices) so that the benchmarks time the same work side by side.
"""
import os

import numpy as np

N_OPS = 10
KINDS = ("matmul", "add", "mul")


def problem(seed=0, n=4):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((n, n)) * 0.5 for _ in range(N_OPS)]
    return rng.standard_normal((n, n)), params


def make_numpy(x0, params):
    """Forward and backward written by hand in numpy: the floor an autodiff framework is measured against."""

    def step():
        h, inputs = x0, []
        for i, w in enumerate(params):
            inputs.append(h)
            kind = KINDS[i % 3]
            h = h @ w if kind == "matmul" else (h + w if kind == "add" else h * w)
        g = np.ones_like(h)
        grads = [None] * N_OPS
        for i in range(N_OPS - 1, -1, -1):
            kind, h_in, w = KINDS[i % 3], inputs[i], params[i]
            if kind == "matmul":
                grads[i] = h_in.T @ g
                g = g @ w.T
            elif kind == "add":
                grads[i] = g
            else:
                grads[i] = g * h_in
                g = g * w
        return grads

    return step


def _eager_step(x, ws, seed):
    """One step in a PyTorch-style eager framework: build the chain, backward, collect, reset."""

    def step():
        h = x
        for i, w in enumerate(ws):
            kind = KINDS[i % 3]
            h = h @ w if kind == "matmul" else (h + w if kind == "add" else h * w)
        h.backward(seed)
        grads = [w.grad for w in ws]
        for w in ws:
            w.grad = None
        return grads

    return step


def make_tinygrad_mat(x0, params):
    import tinygrad_mat as tm

    return _eager_step(tm.tensor(x0), [tm.tensor(w, requires_grad=True) for w in params], np.ones_like(x0))


def make_tinygrad_mat_compiled(x0, params):
    """The same eager step under tm.compile: traced on the first call, replayed after."""
    import tinygrad_mat as tm

    return tm.compile(make_tinygrad_mat(x0, params))


def make_tinygrad_mat_numba(x0, params):
    """The same eager step under tm.compile(backend="numba"): forward and backward in one numba function."""
    import tinygrad_mat as tm

    return tm.compile(make_tinygrad_mat(x0, params), backend="numba")


def make_torch(x0, params):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))  # bench/run.py --threads
    x = torch.tensor(x0)
    return _eager_step(x, [torch.tensor(w, requires_grad=True) for w in params], torch.ones_like(x))


def make_autograd(x0, params):
    """HIPS autograd: the functional form, gradient w.r.t. all ten matrices."""
    import autograd
    import autograd.numpy as anp

    def loss(ws):
        h = x0
        for i, w in enumerate(ws):
            kind = KINDS[i % 3]
            h = anp.dot(h, w) if kind == "matmul" else (h + w if kind == "add" else h * w)
        return anp.sum(h)

    grad = autograd.grad(loss)
    return lambda: grad(params)
