"""Reductions over an axis tuple (or all axes): sum, mean, logsumexp; softmax built from them.

``prepare`` normalises ``axis`` to None or a sorted tuple of non-negative ints. A reduction's VJP
first gives the cotangent back the reduced axes (as keepdims would), then broadcasts it over them.
"""
from .. import dispatch
from .base import Composite, Linear, Op, keepdims_shape, ndim_of, normalize_axes, reduced_count, register

import numpy as np


def _expand(xp, g, in_shape, axis, keepdims):
    """Cotangent of a reduction, reshaped so that it broadcasts against the input."""
    if keepdims:
        return g
    return xp.reshape(g, keepdims_shape(in_shape, axis))


class _Reduction:
    """The signature every reduction shares: (x, axis=None, keepdims=False), as numpy's."""

    def prepare(self, x, axis=None, keepdims=False):
        return (x,), {"axis": normalize_axes(axis, ndim_of(x), self.name), "keepdims": bool(keepdims)}


@register
class Sum(_Reduction, Linear):
    """Sum over ``axis`` (an int, a tuple, or None for all), as ``numpy.sum``.

    >>> import tinygrad_mat as tm
    >>> tm.sum(tm.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    Tensor([4., 6.])
    """

    name, method, numpy = "sum", "sum", {np.sum: {}}
    vjp_text = "X̄ = Z̄ broadcast over the summed axes"
    jvp_text = "Ż = Σ Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return np.sum(x, axis=axis, keepdims=keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        shape = inputs[0].shape
        return (xp.broadcast_to(_expand(xp, g, shape, axis, keepdims), shape),)


@register
class Mean(_Reduction, Linear):
    """Mean over ``axis`` (an int, a tuple, or None for all), as ``numpy.mean``."""

    name, method, numpy = "mean", "mean", {np.mean: {}}
    vjp_text = "X̄ = Z̄ / n broadcast over the n averaged entries"
    jvp_text = "Ż = mean of Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return np.mean(x, axis=axis, keepdims=keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        shape = inputs[0].shape
        scaled = _expand(xp, g, shape, axis, keepdims) / float(reduced_count(shape, axis))
        return (xp.broadcast_to(scaled, shape),)


@register
class LogSumExp(_Reduction, Op):
    """log Σ exp(x) over ``axis``, computed without overflow; −inf for an empty reduction.

    >>> import tinygrad_mat as tm
    >>> round(tm.logsumexp(tm.tensor([1000.0, 1000.0])).item() - 1000.0, 10)   # ln 2
    0.6931471806
    """

    name, method = "logsumexp", "logsumexp"
    vjp_text = "X̄ = Z̄ ⊙ softmax(X) = Z̄ ⊙ exp(X − Z)"
    jvp_text = "Ż = Σ softmax(X) ⊙ Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return dispatch.logsumexp(x, axis, keepdims)

    @staticmethod
    def _softmax(xp, x, out, axis, keepdims):
        return xp.exp(x - _expand(xp, out, x.shape, axis, keepdims))

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        x = inputs[0]
        return (_expand(xp, g, x.shape, axis, keepdims) * self._softmax(xp, x, out, axis, keepdims),)

    def jvp(self, xp, tangents, inputs, out, axis, keepdims):
        x = inputs[0]
        return xp.sum(self._softmax(xp, x, out, axis, keepdims) * tangents[0], axis, keepdims)


@register
class LogSoftmax(Composite):
    """x − logsumexp(x) along ``axis``: log-probabilities, stable."""

    name, method = "log_softmax", "log_softmax"
    text = "x − logsumexp(x, axis, keepdims=True)"

    def compute(self, xp, x, axis=-1):
        return xp.sub(x, xp.logsumexp(x, axis, keepdims=True))


@register
class Softmax(Composite):
    """exp(x) normalised to sum to 1 along ``axis``."""

    name, method = "softmax", "softmax"
    text = "exp(log_softmax(x, axis))"

    def compute(self, xp, x, axis=-1):
        return xp.exp(xp.log_softmax(x, axis))
