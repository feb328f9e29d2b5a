"""Ops that move entries without arithmetic: reshape, broadcast, transpose, indexing, stack.

All are linear, so each writes only its VJP, the adjoint (reshape back, sum back, inverse
permutation, scatter-add); its forward rule is the op itself on the tangent.
"""
import operator

import numpy as np

from .. import dispatch
from ..errors import ShapeError
from .base import Composite, Linear, is_tensor, ndim_of, normalize_axes, normalize_axis, register, shape_of


def _shape_argument(shape, opname):
    if isinstance(shape, (int, np.integer)):
        return (operator.index(shape),)
    try:
        return tuple(operator.index(n) for n in shape)
    except TypeError as error:
        raise ShapeError(f"{opname}: shape must be an int or a tuple of ints, got {shape!r}") from error


@register
class Reshape(Linear):
    """Same values in a new shape (one entry may be -1), as ``numpy.reshape`` (row-major)."""

    name, method, method_varargs = "reshape", "reshape", True
    numpy = {np.reshape: {}}
    vjp_text = "X̄ = reshape(Z̄, shape of X)"
    jvp_text = "Ż = reshape(Ẋ, shape of Z)"

    def prepare(self, x, shape):
        return (x,), {"shape": _shape_argument(shape, "reshape")}

    def is_identity(self, inputs, params):
        return shape_of(inputs[0]) == params["shape"]

    def forward(self, x, shape):
        try:
            return np.reshape(x, shape)
        except ValueError as error:
            raise ShapeError(f"reshape: cannot reshape shape {np.shape(x)} into {shape}") from error

    def vjp(self, xp, g, inputs, out, needs, shape):
        return (xp.reshape(g, inputs[0].shape),)


@register
class BroadcastTo(Linear):
    """``x`` broadcast to ``shape`` as numpy does; its gradient is summed back to x's shape."""

    name, method, numpy = "broadcast_to", "broadcast_to", {np.broadcast_to: {}}
    vjp_text = "X̄ = Z̄ summed over the broadcast axes"
    jvp_text = "Ż = broadcast_to(Ẋ, shape)"

    def prepare(self, x, shape):
        return (x,), {"shape": _shape_argument(shape, "broadcast_to")}

    def is_identity(self, inputs, params):
        return shape_of(inputs[0]) == params["shape"]

    def forward(self, x, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError as error:
            raise ShapeError(f"broadcast_to: cannot broadcast shape {np.shape(x)} to {shape}") from error

    def vjp(self, xp, g, inputs, out, needs, shape):
        return (xp.sum_to(g, inputs[0].shape),)


@register
class Transpose(Linear):
    """Permute the axes (None: reverse them), as ``numpy.transpose``; a matrix's transpose.

    >>> import tinygrad_mat as tm
    >>> tm.transpose(tm.tensor([[1.0, 2.0]])).shape
    (2, 1)
    """

    name, method, method_varargs = "transpose", "transpose", True
    numpy = {np.transpose: {}}
    vjp_text = "X̄ = Z̄ with the axes permuted back (for a matrix: X̄ = Z̄ᵀ)"
    jvp_text = "Ż = Ẋ with the axes permuted (for a matrix: Ż = Ẋᵀ)"

    def prepare(self, x, axes=None):
        n = ndim_of(x)
        if axes is None or axes == ():
            axes = tuple(range(n - 1, -1, -1))
        else:
            axes = tuple(operator.index(a) % n if -n <= a < n else a for a in axes)
            if sorted(axes) != list(range(n)):
                raise ShapeError(
                    f"transpose: axes {axes} are not a permutation of the {n} axes of shape {shape_of(x)}"
                )
        return (x,), {"axes": axes}

    def is_identity(self, inputs, params):
        return params["axes"] == tuple(range(len(params["axes"])))

    def forward(self, x, axes):
        return np.transpose(x, axes)

    def vjp(self, xp, g, inputs, out, needs, axes):
        return (xp.transpose(g, tuple(np.argsort(axes))),)


@register
class MatrixTranspose(Composite):
    """Swap the last two axes: the transpose of every matrix in a stack (``x.mT``)."""

    name = "matrix_transpose"
    numpy = {getattr(np, "matrix_transpose", np.linalg.matrix_transpose): {}, np.linalg.matrix_transpose: {}}
    text = "transpose with the last two axes swapped"

    def compute(self, xp, x):
        n = ndim_of(x)
        if n < 2:
            raise ShapeError(f"matrix_transpose: needs at least 2 axes, got shape {shape_of(x)}")
        return xp.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


@register
class Ravel(Composite):
    """The values as a 1-D tensor, row-major, as ``numpy.ravel`` (also ``x.flatten()``)."""

    name, method, numpy = "ravel", ("ravel", "flatten"), {np.ravel: {}}
    text = "reshape(x, (-1,))"

    def compute(self, xp, x):
        return xp.reshape(x, (-1,))


@register
class Squeeze(Composite):
    """Drop axes of length one (all of them, or those in ``axis``), as ``numpy.squeeze``."""

    name, method, numpy = "squeeze", "squeeze", {np.squeeze: {}}
    text = "reshape without the length-1 axes"

    def compute(self, xp, x, axis=None):
        shape = shape_of(x)
        axes = normalize_axes(axis, len(shape), "squeeze")
        if axes is None:
            axes = tuple(i for i, n in enumerate(shape) if n == 1)
        for a in axes:
            if shape[a] != 1:
                raise ShapeError(f"squeeze: axis {a} has length {shape[a]}, not 1 (shape {shape})")
        return xp.reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


@register
class ExpandDims(Composite):
    """Insert axes of length one at ``axis`` (an int or a tuple), as ``numpy.expand_dims``."""

    name, numpy = "expand_dims", {np.expand_dims: {}}
    text = "reshape with new length-1 axes"

    def compute(self, xp, x, axis):
        shape = shape_of(x)
        axes = normalize_axes(axis, len(shape) + (1 if isinstance(axis, (int, np.integer)) else len(axis)),
                              "expand_dims")
        new_shape = list(shape)
        for a in axes:
            new_shape.insert(a, 1)
        return xp.reshape(x, tuple(new_shape))


def _normalise_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for part in parts:
        if is_tensor(part):
            raise TypeError("getitem: index with a numpy integer or boolean array, not a Tensor (Tensors are float)")
        if isinstance(part, (list, np.ndarray)):
            part = np.array(part)
            if part.dtype.kind not in "iub":
                raise TypeError(f"getitem: index arrays must be integers or booleans, not {part.dtype}")
            part.setflags(write=False)
        out.append(part)
    return tuple(out) if isinstance(index, tuple) else out[0]


def _indexed_shape(shape, index, opname):
    """The shape of zeros(shape)[index], checked as numpy checks it, without allocating zeros(shape)."""
    try:
        return np.broadcast_to(np.empty((), dtype=bool), shape)[index].shape
    except IndexError as error:
        raise IndexError(f"{opname}: {error} (shape {shape})") from error


@register
class GetItem(Linear):
    """``x[index]`` for ints, slices, None, Ellipsis, integer and boolean arrays.

    The gradient scatters back; where an integer index repeats, contributions add.

    >>> import tinygrad_mat as tm
    >>> tm.grad(lambda x: tm.sum(x[[0, 0, 2]]))(tm.tensor([1.0, 2.0, 3.0]).numpy())
    array([2., 0., 1.])
    """

    name, method = "getitem", "__getitem__"
    vjp_text = "X̄ = zeros like X with Z̄ added at the index (repeated indices add up)"
    jvp_text = "Ż = Ẋ[index]"

    def prepare(self, x, index):
        return (x,), {"index": _normalise_index(index)}

    def forward(self, x, index):
        return x[index]

    def vjp(self, xp, g, inputs, out, needs, index):
        return (xp.scatter_add(g, index, inputs[0].shape),)


@register
class ScatterAdd(Linear):
    """zeros(shape) with ``values`` added at ``index`` (the adjoint of ``getitem``); repeated indices
    add up. ``values`` must have the shape of ``zeros(shape)[index]``; an index out of range raises
    IndexError, as numpy does.

    >>> import tinygrad_mat as tm
    >>> tm.scatter_add(tm.tensor([1.0, 2.0, 3.0]), [0, 2, 0], (3,))
    Tensor([4., 0., 2.])
    """

    name = "scatter_add"
    vjp_text = "Ḡ = Z̄[index]"
    jvp_text = "Ż = scatter_add(Ġ, index)"

    def prepare(self, values, index, shape):
        index = _normalise_index(index)
        shape = _shape_argument(shape, "scatter_add")
        expected = _indexed_shape(shape, index, "scatter_add")
        if shape_of(values) != expected:
            raise ShapeError(
                f"scatter_add: values have shape {shape_of(values)}, but zeros{shape}[index] has shape {expected}"
            )
        return (values,), {"index": index, "shape": shape}

    def forward(self, g, index, shape):
        return dispatch.scatter_add(g, index, shape)

    def vjp(self, xp, g, inputs, out, needs, index, shape):
        return (xp.getitem(g, index),)


@register
class Stack(Linear):
    """Join same-shape Tensors (or numbers, arrays) along a new axis, as ``numpy.stack``.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor(3.0)
    >>> tm.stack([x, x**2])                      # the notes' f(x) = [x, x²]
    Tensor([3., 9.])
    """

    name, numpy = "stack", {np.stack: {}}
    vjp_text = "X̄ᵢ = Z̄ at position i of the new axis"
    jvp_text = "Ż = stack(Ẋ₁, …, Ẋₙ)"

    def prepare(self, arrays, axis=0):
        arrays = tuple(arrays)
        if not arrays:
            raise ShapeError("stack: needs at least one array")
        return arrays, {"axis": normalize_axis(axis, ndim_of(arrays[0]) + 1, "stack")}

    def forward(self, *arrays, axis):
        return np.stack(arrays, axis=axis)

    def vjp(self, xp, g, inputs, out, needs, axis):
        lead = (slice(None),) * axis
        return tuple(g[lead + (i,)] if need else None for i, need in enumerate(needs))


@register
class Concatenate(Linear):
    """Join Tensors (or arrays) along an existing axis, as ``numpy.concatenate``."""

    name, numpy = "concatenate", {np.concatenate: {}}
    vjp_text = "X̄ᵢ = the slice of Z̄ where Xᵢ sits along the axis"
    jvp_text = "Ż = concatenate(Ẋ₁, …, Ẋₙ)"

    def prepare(self, arrays, axis=0):
        arrays = tuple(arrays)
        if not arrays:
            raise ShapeError("concatenate: needs at least one array")
        ndim = ndim_of(arrays[0])
        if ndim == 0:
            raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated; use stack")
        return arrays, {"axis": normalize_axis(axis, ndim, "concatenate")}

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


@register
class SumTo(Composite):
    """Sum ``x`` over the axes broadcasting added or stretched, giving ``shape`` (unbroadcast)."""

    name = "sum_to"
    text = "sum over the broadcast axes, then reshape"

    def compute(self, xp, x, shape):
        shape = _shape_argument(shape, "sum_to")
        x_shape = shape_of(x)
        if x_shape == shape:
            return x
        lead = len(x_shape) - len(shape)
        if lead < 0:
            raise ShapeError(f"sum_to: cannot sum shape {x_shape} to the larger {shape}")
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and x_shape[lead + i] != 1
        )
        if any(n != 1 and x_shape[lead + i] != n for i, n in enumerate(shape)):
            raise ShapeError(f"sum_to: cannot sum shape {x_shape} to {shape}")
        summed = xp.sum(x, axes, keepdims=True) if axes else x
        return xp.reshape(summed, shape)
