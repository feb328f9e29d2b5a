"""Small kernels that the numba backend of ``tm.compile`` calls from the step it generates.

The generated function (tinygrad_mat/jit/numba_backend.py) is numba source written from a step's tape; it
uses numpy's functions where numba compiles them well and these where it does not: a matrix product
that stays in registers for tiny operands (numba's ``@`` calls BLAS, which costs microseconds per call
on 4 × 4 matrices), and the overflow-free sigmoid of any shape.
"""
import math

import numpy as np
from numba import njit

from .reduce import logsumexp_rows as _logsumexp_rows_into

_BLAS_ABOVE = 32_768  # m·k·n above which BLAS's gemm beats the plain loops (measured on 2-core EPYC)


@njit(cache=True)
def matmul(a, b):
    """a @ b for a (m, k) and b (k, n), any memory layout (a transpose goes to BLAS uncopied)."""
    m, k = a.shape
    n = b.shape[1]
    if m * k * n > _BLAS_ABOVE:
        return np.dot(a, b)
    out = np.zeros((m, n))
    for i in range(m):
        for p in range(k):
            a_ip = a[i, p]
            for j in range(n):
                out[i, j] += a_ip * b[p, j]
    return out


@njit(cache=True)
def matvec(a, x):
    """a @ x for a (m, k) and x (k,)."""
    m, k = a.shape
    if m * k > _BLAS_ABOVE:
        return np.dot(a, x)
    out = np.zeros(m)
    for i in range(m):
        total = 0.0
        for p in range(k):
            total += a[i, p] * x[p]
        out[i] = total
    return out


@njit(cache=True)
def vecmat(x, b):
    """x @ b for x (k,) and b (k, n)."""
    k, n = b.shape
    if k * n > _BLAS_ABOVE:
        return np.dot(x, b)
    out = np.zeros(n)
    for p in range(k):
        x_p = x[p]
        for j in range(n):
            out[j] += x_p * b[p, j]
    return out


@njit(cache=True)
def dot(x, y):
    """x @ y for two vectors of one length: a number."""
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i] * y[i]
    return total


@njit(cache=True)
def sigmoid_number(v):
    """1 / (1 + e⁻ᵛ) without overflow, as ``kernels.elementwise.sigmoid`` entry by entry."""
    e = math.exp(-abs(v))
    return (1.0 if v >= 0.0 else e) / (1.0 + e)


@njit(cache=True)
def sigmoid_array(x):
    """The sigmoid of every entry of ``x`` (any shape and layout), a new C-ordered array."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape[0])
    for i in range(flat.shape[0]):
        v = flat[i]
        e = math.exp(-abs(v))
        out[i] = (1.0 if v >= 0.0 else e) / (1.0 + e)
    return out.reshape(x.shape)


@njit(cache=True)
def logsumexp_rows(x):
    """log Σ exp over each row of a matrix, as ``kernels.reduce.logsumexp_rows`` (a new vector)."""
    out = np.empty(x.shape[0])
    _logsumexp_rows_into(np.ascontiguousarray(x), out)
    return out


@njit(cache=True)
def gather_pairs(x, rows, cols):
    """x[rows, cols] for a matrix and two integer vectors of one length (negative indices wrap)."""
    n, k = x.shape
    out = np.empty(rows.shape[0])
    for t in range(rows.shape[0]):
        i, j = rows[t], cols[t]
        out[t] = x[i + n if i < 0 else i, j + k if j < 0 else j]
    return out


@njit(cache=True)
def scatter_pairs(g, rows, cols, n, k):
    """zeros((n, k)) with g[t] added at (rows[t], cols[t]): the adjoint of ``gather_pairs``."""
    out = np.zeros((n, k))
    for t in range(rows.shape[0]):
        i, j = rows[t], cols[t]
        out[i + n if i < 0 else i, j + k if j < 0 else j] += g[t]
    return out
