"""Reductions over an axis tuple (or all axes): sum, mean, logsumexp.

``axis`` reaches these ops already normalised by ``functions``: None or a sorted
tuple of non-negative ints. A reduction's VJP first gives the cotangent back the
reduced axes (as keepdims would), then broadcasts it over them.
"""
import math

import numpy as np

from .. import dispatch
from .base import Op, keepdims_shape, register


def _expand(xp, g, in_shape, axis, keepdims):
    """Cotangent of a reduction, reshaped so that it broadcasts against the input."""
    if keepdims:
        return g
    return xp.reshape(g, keepdims_shape(in_shape, axis))


def _count(in_shape, axis):
    if axis is None:
        return math.prod(in_shape)
    return math.prod(in_shape[i] for i in axis)


@register
class Sum(Op):
    name = "sum"
    vjp_text = "X̄ = Z̄ broadcast over the summed axes"
    jvp_text = "Ż = Σ Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return np.sum(x, axis=axis, keepdims=keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        shape = inputs[0].shape
        return (xp.broadcast_to(_expand(xp, g, shape, axis, keepdims), shape),)

    def jvp(self, xp, tangents, inputs, out, axis, keepdims):
        return xp.sum(tangents[0], axis, keepdims)


@register
class Mean(Op):
    name = "mean"
    vjp_text = "X̄ = Z̄ / n broadcast over the n averaged entries"
    jvp_text = "Ż = mean of Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return np.mean(x, axis=axis, keepdims=keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        shape = inputs[0].shape
        scaled = _expand(xp, g, shape, axis, keepdims) / float(_count(shape, axis))
        return (xp.broadcast_to(scaled, shape),)

    def jvp(self, xp, tangents, inputs, out, axis, keepdims):
        return xp.mean(tangents[0], axis, keepdims)


@register
class LogSumExp(Op):
    name = "logsumexp"
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
