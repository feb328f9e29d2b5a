"""Ops that move entries without arithmetic: reshape, broadcast, transpose, indexing.

All are linear, so each VJP is the adjoint (reshape back, sum back, inverse
permutation, scatter-add) and each JVP is the op itself applied to the tangent.
"""
import numpy as np

from .. import dispatch
from .base import Op, register


@register
class Reshape(Op):
    name = "reshape"
    vjp_text = "X̄ = reshape(Z̄, shape of X)"
    jvp_text = "Ż = reshape(Ẋ, shape of Z)"

    def forward(self, x, shape):
        return np.reshape(x, shape)

    def vjp(self, xp, g, inputs, out, needs, shape):
        return (xp.reshape(g, inputs[0].shape),)

    def jvp(self, xp, tangents, inputs, out, shape):
        return xp.reshape(tangents[0], out.shape)

    def explain(self, error, arrays, params):
        from ..errors import ShapeError

        return ShapeError(f"reshape: cannot reshape shape {np.shape(arrays[0])} into {params['shape']}")


@register
class BroadcastTo(Op):
    name = "broadcast_to"
    vjp_text = "X̄ = Z̄ summed over the broadcast axes"
    jvp_text = "Ż = broadcast_to(Ẋ, shape)"

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def vjp(self, xp, g, inputs, out, needs, shape):
        return (xp.sum_to(g, inputs[0].shape),)

    def jvp(self, xp, tangents, inputs, out, shape):
        return xp.broadcast_to(tangents[0], shape)

    def explain(self, error, arrays, params):
        from ..errors import ShapeError

        return ShapeError(f"broadcast_to: cannot broadcast shape {np.shape(arrays[0])} to {params['shape']}")


@register
class Transpose(Op):
    name = "transpose"
    vjp_text = "X̄ = Z̄ with the axes permuted back (for a matrix: X̄ = Z̄ᵀ)"
    jvp_text = "Ż = Ẋ with the axes permuted (for a matrix: Ż = Ẋᵀ)"

    def forward(self, x, axes):
        return np.transpose(x, axes)

    def vjp(self, xp, g, inputs, out, needs, axes):
        return (xp.transpose(g, tuple(np.argsort(axes))),)

    def jvp(self, xp, tangents, inputs, out, axes):
        return xp.transpose(tangents[0], axes)


@register
class GetItem(Op):
    name = "getitem"
    vjp_text = "X̄ = zeros like X with Z̄ added at the index (repeated indices add up)"
    jvp_text = "Ż = Ẋ[index]"

    def forward(self, x, index):
        return x[index]

    def vjp(self, xp, g, inputs, out, needs, index):
        return (xp.scatter_add(g, index, inputs[0].shape),)

    def jvp(self, xp, tangents, inputs, out, index):
        return tangents[0][index]


@register
class ScatterAdd(Op):
    """The adjoint of indexing; it is an op so that a recorded backward of getitem is differentiable."""

    name = "scatter_add"
    vjp_text = "Ḡ = Z̄[index]"
    jvp_text = "Ż = scatter_add(Ġ, index)"

    def forward(self, g, index, shape):
        return dispatch.scatter_add(g, index, shape)

    def vjp(self, xp, g, inputs, out, needs, index, shape):
        return (g[index],)

    def jvp(self, xp, tangents, inputs, out, index, shape):
        return xp.scatter_add(tangents[0], index, shape)


def _zeros_where_missing(tangents, inputs):
    """Tangents with None (zero) replaced by zero arrays: stacking needs every piece."""
    return [np.zeros(np.shape(x)) if t is None else t for t, x in zip(tangents, inputs)]


@register
class Stack(Op):
    name = "stack"
    vjp_text = "X̄ᵢ = Z̄ at position i of the new axis"
    jvp_text = "Ż = stack(Ẋ₁, …, Ẋₙ)"

    def forward(self, *arrays, axis):
        return np.stack(arrays, axis=axis)

    def vjp(self, xp, g, inputs, out, needs, axis):
        lead = (slice(None),) * axis
        return tuple(g[lead + (i,)] if need else None for i, need in enumerate(needs))

    def jvp(self, xp, tangents, inputs, out, axis):
        return xp.stack(_zeros_where_missing(tangents, inputs), axis)


@register
class Concatenate(Op):
    name = "concatenate"
    vjp_text = "X̄ᵢ = the slice of Z̄ where Xᵢ sits along the axis"
    jvp_text = "Ż = concatenate(Ẋ₁, …, Ẋₙ)"

    def forward(self, *arrays, axis):
        return np.concatenate(arrays, axis=axis)

    def vjp(self, xp, g, inputs, out, needs, axis):
        lead = (slice(None),) * axis
        pieces, start = [], 0
        for x, need in zip(inputs, needs):
            stop = start + np.shape(x)[axis]
            pieces.append(g[lead + (slice(start, stop),)] if need else None)
            start = stop
        return tuple(pieces)

    def jvp(self, xp, tangents, inputs, out, axis):
        return xp.concatenate(_zeros_where_missing(tangents, inputs), axis)
