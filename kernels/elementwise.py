"""Elementwise loops: one pass over memory where numpy makes several."""
import math

from numba import njit


@njit(cache=True, error_model="numpy")
def sigmoid(x, out):
    """out[i] = 1 / (1 + exp(-x[i])), without overflow and with full precision in both tails (1-D).

    exp(-|x|) ≤ 1 never overflows; selecting the numerator instead of branching keeps the loop
    free of jumps, which measured 1.3–2× faster than the branchy form.
    """
    for i in range(x.shape[0]):
        v = x[i]
        e = math.exp(-abs(v))
        out[i] = (1.0 if v >= 0.0 else e) / (1.0 + e)


@njit(cache=True)
def erf(x, out):
    """out[i] = erf(x[i]) (1-D); numpy has no erf, and SciPy is not a dependency."""
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])
