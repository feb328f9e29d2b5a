"""Where numpy is slow, a numba kernel: this module alone decides which runs.

Kernels are imported on first use (``import numba`` costs about 0.2 s) and run
only where they beat numpy in ``bench/bench_kernels.py`` on this project's
machine; elsewhere the numpy path, which gives the same values, runs.
"""
import numpy as np

# sigmoid: the one-pass kernel wins below ~1k elements (numpy makes five calls) and above
# ~16k (numpy makes five passes over memory); in between numpy's SIMD exp in cache wins.
SIGMOID_NUMPY_BAND = (1024, 16384)
# logsumexp over the last axis: the kernel wins for short rows (softmax regression: few
# classes); for long rows numpy's SIMD exp wins.
LOGSUMEXP_KERNEL_MAX_COLS = 64

_kernels = None


def kernels():
    """The ``tinygrad_mat.kernels`` package, imported on first call."""
    global _kernels
    if _kernels is None:
        from . import kernels as module

        _kernels = module
    return _kernels


def _numpy_sigmoid(x):
    # e = exp(-|x|) never overflows; 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0 keep full
    # relative precision in both tails (0.5(1 + tanh(x/2)) cancels for very negative x).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def sigmoid(x):
    """Logistic function, stable for any float input."""
    low, high = SIGMOID_NUMPY_BAND
    if not low < x.size < high and x.flags.c_contiguous:
        out = np.empty_like(x)
        kernels().sigmoid(x.reshape(-1), out.reshape(-1))
        return out
    return _numpy_sigmoid(x)


def erf(x):
    """The error function, elementwise (a numba kernel: numpy has none)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    kernels().erf(flat, out)
    return out.reshape(np.shape(x))


def _numpy_erf(x):
    import math

    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def _numpy_logsumexp(x, axis, keepdims):
    peak = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # an empty reduction gives -inf
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.sum(np.exp(x - peak), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):  # log 0 = -inf for a row of -inf or an empty row
        out = np.log(total) + peak
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out


def logsumexp(x, axis, keepdims):
    """log Σ exp(x) over ``axis`` (None or a tuple of axes), stable."""
    if (
        x.ndim >= 1
        and axis == (x.ndim - 1,)
        and 0 < x.shape[-1] <= LOGSUMEXP_KERNEL_MAX_COLS
        and x.flags.c_contiguous
    ):
        rows = x.reshape(-1, x.shape[-1])
        out = np.empty(rows.shape[0], dtype=x.dtype)
        kernels().logsumexp_rows(rows, out)
        return out.reshape(x.shape[:-1] + ((1,) if keepdims else ()))
    return _numpy_logsumexp(x, axis, keepdims)


def _is_basic(index):
    """True for an index of ints, slices, None and Ellipsis only (no entry is hit twice)."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if not (part is None or part is Ellipsis or isinstance(part, (slice, int, np.integer))):
            return False
        if isinstance(part, (bool, np.bool_)):
            return False
    return True


def scatter_add(values, index, shape):
    """zeros(shape) with ``values`` added at ``index``; repeated indices add up."""
    out = np.zeros(shape, dtype=values.dtype)
    # The row kernel beat np.add.at at every size measured (16 to 4096 rows).
    if _is_basic(index):
        out[index] = values
    elif (
        isinstance(index, np.ndarray)
        and index.ndim == 1
        and index.dtype.kind in "iu"
        and len(shape) == 2
        and values.shape == (index.shape[0], shape[1])
    ):
        rows = shape[0]
        if index.size and (index.min() < -rows or index.max() >= rows):
            bad = index[(index < -rows) | (index >= rows)][0]
            raise IndexError(f"scatter_add: index {bad} is out of bounds for axis 0 with size {rows}")
        kernels().scatter_add_rows(out, index.astype(np.int64, copy=False), np.ascontiguousarray(values))
    else:
        np.add.at(out, index, values)
    return out


# Adam: the fused kernel makes one pass over p, g, m and v where numpy makes about ten.
ADAM_KERNEL_MIN_SIZE = 4096


def numpy_adam(p, g, m, v, lr, beta1, beta2, eps, bias_correction1, bias_correction2_sqrt, weight_decay, decoupled):
    """One Adam step as PyTorch's (m, v updated in place; returns the new parameters)."""
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    m += (g - m) * (1.0 - beta1)
    v *= beta2
    v += (1.0 - beta2) * g * g
    return p - (lr / bias_correction1) * m / (np.sqrt(v) / bias_correction2_sqrt + eps)


def adam(p, g, m, v, *options):
    """One Adam step on arrays of any shape: the fused kernel for large ones, numpy for small ones."""
    if p.size >= ADAM_KERNEL_MIN_SIZE and m.flags.c_contiguous and v.flags.c_contiguous:
        out = np.empty_like(p)
        kernels().adam_update(np.ascontiguousarray(p).reshape(-1), np.ascontiguousarray(g).reshape(-1),
                              m.reshape(-1), v.reshape(-1), out.reshape(-1), *options)
        return out
    return numpy_adam(p, g, m, v, *options)


def _adam_kernel(p, g, m, v):
    m, v, out = m.copy(), v.copy(), np.empty_like(p)
    kernels().adam_update(p, g, m, v, out, 0.01, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01, False)
    return np.concatenate([out, m, v])


def _adam_numpy(p, g, m, v):
    m, v = m.copy(), v.copy()
    out = numpy_adam(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01, False)
    return np.concatenate([out, m, v])


# Each kernel beside its numpy twin, as (name, kernel path, numpy path) on the same arguments: the
# tests run every pair over NaN, ±inf, empty and one-element inputs, so the two paths never disagree.
def _sigmoid_kernel(x):
    out = np.empty_like(x)
    kernels().sigmoid(x.reshape(-1), out.reshape(-1))
    return out


def _logsumexp_kernel(x):
    out = np.empty(x.shape[0], dtype=x.dtype)
    kernels().logsumexp_rows(x, out)
    return out


def _scatter_kernel(values, index, rows):
    out = np.zeros((rows, values.shape[1]), dtype=values.dtype)
    kernels().scatter_add_rows(out, index, values)
    return out


def _scatter_numpy(values, index, rows):
    out = np.zeros((rows, values.shape[1]), dtype=values.dtype)
    np.add.at(out, index, values)
    return out


TWINS = {
    "sigmoid": (_sigmoid_kernel, _numpy_sigmoid),
    "erf": (erf, _numpy_erf),
    "logsumexp_rows": (_logsumexp_kernel, lambda x: _numpy_logsumexp(x, (1,), False)),
    "scatter_add_rows": (_scatter_kernel, _scatter_numpy),
    "adam_update": (_adam_kernel, _adam_numpy),
}
