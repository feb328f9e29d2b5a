"""Elementwise loops: one pass over memory where numpy makes several."""
import math

from numba import njit


@njit(cache=True, error_model="numpy")
def sigmoid(x, out):
    """out[i] = 1 / (1 + exp(-x[i])), without overflow for large |x| (1-D arrays)."""
    for i in range(x.shape[0]):
        v = x[i]
        if v >= 0.0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)
