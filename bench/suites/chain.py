"""The 10-op chain on n × n matrices (matmul, add, mul in turn), forward and backward, gradients of the
ten parameter matrices: numpy by hand, tinygrad_mat, PyTorch eager, HIPS autograd (bench/chain.py)."""
import importlib.util
import os
import sys

import numpy as np

NAME = "10-op chain"
SIZE = "n (n × n matrices)"
BASELINE = "numpy by hand"
IMPLEMENTATIONS = ["numpy by hand", "tinygrad_mat", "tinygrad_mat compiled", "tinygrad_mat compiled (numba)",
                   "PyTorch eager", "HIPS autograd"]

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import chain as _chain  # noqa: E402


def sizes(profile):
    return {"test": [4], "quick": [4, 64], "full": [4, 16, 64, 256]}[profile]


def variant(n):
    return ""


def x(n):
    return n


def build(n):
    x0, params = _chain.problem(n=n)
    impls = {"numpy by hand": _chain.make_numpy(x0, params), "tinygrad_mat": _chain.make_tinygrad_mat(x0, params),
             "tinygrad_mat compiled": _chain.make_tinygrad_mat_compiled(x0, params),
             "tinygrad_mat compiled (numba)": _chain.make_tinygrad_mat_numba(x0, params)}
    if importlib.util.find_spec("torch"):
        impls["PyTorch eager"] = _chain.make_torch(x0, params)
    if importlib.util.find_spec("autograd"):
        impls["HIPS autograd"] = _chain.make_autograd(x0, params)
    reference = _chain.make_numpy(x0, params)()
    return ({name: (lambda f=f: [np.asarray(g) for g in f()]) for name, f in impls.items()}, reference)
