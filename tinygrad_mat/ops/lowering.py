"""Numba source for the numba backend of ``tm.compile``: the helpers records use to write their
``lower_forward`` (each primitive's forward, once; the backward pass is made of the same primitives).

Conventions of lowered source (float64 only; the backend refuses other dtypes):
  * a value of shape () is a Python float in numba, any other an array;
  * ``ins`` are the operands as source (variable names, or literals such as ``2.0``) and ``inputs``
    the operands the step was traced with (Tensors, floats, arrays), so a record can read shapes;
  * an array among an op's parameters (an index) arrives as a ``Named``: the source name of a constant
    holding it, with the array itself as ``.array``;
  * ``R.<name>`` are the kernels of kernels/replay.py.
"""
import numpy as np

from .base import keepdims_shape, reduced_count, shape_of


class Named(str):
    """An array parameter in lowered source: the name of the constant holding it (``.array``)."""

    def __new__(cls, name, array):
        named = super().__new__(cls, name)
        named.array = array
        return named


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


def shapes(inputs):
    return [shape_of(x) for x in inputs]
