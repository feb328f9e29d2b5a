"""The two namespaces a rule runs in.

``NumpyNS``: numpy arrays in, numpy arrays out: the fast path of ``backward()``.
``TensorNS``: Tensors in, Tensors out, every step recorded: used when the backward
pass must itself be differentiable (``create_graph=True``) and for forward-mode
tangents. A rule calls the same names in both, so one rule serves both paths.

``value`` and ``cofactor`` are the two places where the namespaces differ in more
than types: ``value`` gives a constant (a mask has zero derivative), and the numpy
cofactor also handles a singular matrix, where det·A⁻ᵀ has no inverse to use.
"""
import numpy as np

from . import dispatch


def _numpy_sum_to(x, shape):
    """Sum ``x`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum shape {x.shape} to {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    return np.sum(x, axis=axes, keepdims=True).reshape(shape) if axes else x.reshape(shape)


def _numpy_cofactor(a):
    """det(A) A⁻ᵀ (the transposed adjugate), well defined also for a singular A."""
    try:
        return np.linalg.det(a)[..., None, None] * np.linalg.inv(a).swapaxes(-1, -2)
    except np.linalg.LinAlgError:
        # A = U S Vᵀ gives cof(A) = det(U) det(V) U diag(∏_{j≠i} s_j) Vᵀ, finite at rank n−1.
        u, s, vt = np.linalg.svd(a)
        n = s.shape[-1]
        ones = np.ones(s.shape[:-1] + (1,), dtype=s.dtype)
        before = np.cumprod(np.concatenate([ones, s[..., : n - 1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = before * after
        sign = np.linalg.det(u) * np.linalg.det(vt)
        return sign[..., None, None] * (u * others[..., None, :]) @ vt


class NumpyNS:
    @staticmethod
    def value(x):
        return np.asarray(x)

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    tanh = staticmethod(np.tanh)
    inv = staticmethod(np.linalg.inv)
    solve = staticmethod(np.linalg.solve)
    det = staticmethod(np.linalg.det)
    cofactor = staticmethod(_numpy_cofactor)
    sum_to = staticmethod(_numpy_sum_to)
    scatter_add = staticmethod(dispatch.scatter_add)
    reshape = staticmethod(np.reshape)
    broadcast_to = staticmethod(np.broadcast_to)
    transpose = staticmethod(np.transpose)
    stack = staticmethod(np.stack)
    concatenate = staticmethod(np.concatenate)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def trace(x):
        return np.trace(x, axis1=-2, axis2=-1)

    @staticmethod
    def astype(x, dtype):
        return np.asarray(x).astype(dtype)


class TensorNS:
    """Filled in by ``tinygrad_mat.functions`` (which builds on this module's users)."""
