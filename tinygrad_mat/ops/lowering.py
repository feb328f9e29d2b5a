"""Numba source for the numba backend of ``tm.compile``: the helpers records use to write their
``lower_forward`` / ``lower_vjp``, and that the backend uses for the engine's own steps.

Conventions of lowered source (float64 only; the backend refuses other dtypes):
  * a value of shape () is a Python float in numba, any other an array;
  * ``ins`` are the operands as source (variable names, or literals such as ``2.0``) and ``inputs``
    the operands the step was traced with (Tensors, floats, arrays), so a record can read shapes;
  * a cotangent has the shape the record's ``vjp`` gives (the engine sums it back to the input's
    shape with the same ``fit`` it uses eagerly); None where the input needs none;
  * an array among an op's parameters (an index) arrives as a ``Named``: the source name of a constant
    holding it, with the array itself as ``.array``;
  * ``R.<name>`` are the kernels of kernels/replay.py.
"""
import numpy as np

from .. import dispatch
from .base import keepdims_shape, reduced_count, shape_of


class Named(str):
    """An array parameter in lowered source: the name of the constant holding it (``.array``)."""

    def __new__(cls, name, array):
        named = super().__new__(cls, name)
        named.array = array
        return named


def _scatter_pairs(g, rows, cols, n, k):
    return dispatch.scatter_add(g, (rows, cols), (n, k))


class NUMPY_KERNELS:
    """``R`` when the numpy backend runs lowered source: what the records' own forward and rules call."""

    matmul = matvec = vecmat = dot = staticmethod(np.matmul)
    sigmoid_array = sigmoid_number = staticmethod(dispatch.sigmoid)
    logsumexp_rows = staticmethod(lambda x: dispatch.logsumexp(x, (1,), False))
    gather_pairs = staticmethod(lambda x, rows, cols: x[rows, cols])
    scatter_pairs = staticmethod(_scatter_pairs)


def sum_over(expr, shape, axis, keepdims):
    """Source summing ``expr`` (of ``shape``) over ``axis`` (None or a sorted tuple), as numpy.sum."""
    if shape == ():
        return expr
    axes = tuple(range(len(shape))) if axis is None else axis
    if len(axes) == len(shape) and not keepdims:
        return f"np.sum({expr})"
    code = expr
    for a in sorted(axes, reverse=True):
        code = f"np.sum({code}, axis={a})"
    target = keepdims_shape(shape, axes) if keepdims else tuple(n for i, n in enumerate(shape) if i not in axes)
    if len(axes) == len(shape):  # keepdims of a full sum: a number back into an array of ones' shape
        return f"np.full({target!r}, np.sum({expr}))"
    return f"{code}.reshape({target!r})" if keepdims else code


def fit(expr, shape, target):
    """Source summing a cotangent ``expr`` of ``shape`` back to the input's ``target`` shape (numpy's
    broadcasting run backwards: leading axes, and axes where the input has length 1)."""
    if shape == target:
        return expr
    lead = len(shape) - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(target) if n == 1 and shape[lead + i] != 1)
    if target == () or len(axes) == len(shape):
        return f"np.sum({expr})" if target == () else f"np.full({target!r}, np.sum({expr}))"
    code = sum_over(expr, shape, axes, False)
    return f"{code}.reshape({target!r})" if tuple(n for i, n in enumerate(shape) if i not in axes) != target else code


def spread(expr, in_shape, axis, keepdims, scale=None):
    """Source of a reduction's cotangent: ``expr`` (the output's cotangent) broadcast back over the
    reduced axes, times ``scale`` (a float) when given; an array of ``in_shape``."""
    if scale is not None:
        expr = f"({expr}) * {scale!r}"
    if in_shape == ():
        return expr
    axes = tuple(range(len(in_shape))) if axis is None else axis
    if len(axes) == len(in_shape):  # the output was a number (or all ones with keepdims)
        number = expr if not keepdims else f"({expr}).reshape(-1)[0]"
        return f"np.full({in_shape!r}, {number})"
    expanded = expr if keepdims else f"np.ascontiguousarray({expr}).reshape({keepdims_shape(in_shape, axes)!r})"
    return f"({expanded} + np.zeros({in_shape!r}))"


def mean_scale(in_shape, axis):
    return 1.0 / float(reduced_count(in_shape, axis))


def shapes(inputs):
    return [shape_of(x) for x in inputs]
