"""Constructors: new leaves of given shapes and values, as numpy's, each with ``requires_grad=``.

float64 by default; ``dtype=np.float32`` keeps float32 (other dtypes are refused: Tensors are float).
"""
import numpy as np

from .tensor import Tensor


def _leaf(array, dtype, requires_grad, opname):
    if dtype is None:
        dtype = np.float64 if array.dtype != np.float32 else np.float32
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{opname}: dtype must be float32 or float64, not {dtype}")
    t = Tensor._wrap(np.asarray(array, dtype=dtype))
    t.requires_grad = bool(requires_grad)
    return t


def zeros(shape, dtype=None, requires_grad=False):
    """A leaf of zeros, as ``numpy.zeros``.

    >>> import tinygrad_mat as tm
    >>> tm.zeros((2, 3), requires_grad=True).shape
    (2, 3)
    """
    return _leaf(np.zeros(shape), dtype, requires_grad, "zeros")


def ones(shape, dtype=None, requires_grad=False):
    """A leaf of ones, as ``numpy.ones``."""
    return _leaf(np.ones(shape), dtype, requires_grad, "ones")


def full(shape, fill_value, dtype=None, requires_grad=False):
    """A leaf filled with ``fill_value``, as ``numpy.full``."""
    return _leaf(np.full(shape, float(fill_value)), dtype, requires_grad, "full")


def eye(N, M=None, k=0, dtype=None, requires_grad=False):
    """The N × M identity (ones on diagonal ``k``), as ``numpy.eye``."""
    return _leaf(np.eye(N, M, k), dtype, requires_grad, "eye")


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Evenly spaced values in [start, stop), as ``numpy.arange`` (as floats).

    >>> import tinygrad_mat as tm
    >>> tm.arange(3)
    Tensor([0., 1., 2.])
    """
    values = np.arange(start, step=step) if stop is None else np.arange(start, stop, step)
    return _leaf(values, dtype, requires_grad, "arange")


def linspace(start, stop, num=50, endpoint=True, dtype=None, requires_grad=False):
    """``num`` evenly spaced values from start to stop, as ``numpy.linspace``."""
    return _leaf(np.linspace(start, stop, num, endpoint), dtype, requires_grad, "linspace")


def _like_shape(x):
    return getattr(x, "shape", None) or np.shape(x)


def _like_dtype(x, dtype):
    return dtype if dtype is not None else getattr(x, "dtype", None)


def zeros_like(x, dtype=None, requires_grad=False):
    """Zeros of x's shape (and float dtype), as ``numpy.zeros_like``."""
    return _leaf(np.zeros(_like_shape(x)), _like_dtype(x, dtype), requires_grad, "zeros_like")


def ones_like(x, dtype=None, requires_grad=False):
    """Ones of x's shape (and float dtype), as ``numpy.ones_like``."""
    return _leaf(np.ones(_like_shape(x)), _like_dtype(x, dtype), requires_grad, "ones_like")


def full_like(x, fill_value, dtype=None, requires_grad=False):
    """``fill_value`` in x's shape (and float dtype), as ``numpy.full_like``."""
    return _leaf(np.full(_like_shape(x), float(fill_value)), _like_dtype(x, dtype), requires_grad, "full_like")


__all__ = ["zeros", "ones", "full", "eye", "arange", "linspace", "zeros_like", "ones_like", "full_like"]
