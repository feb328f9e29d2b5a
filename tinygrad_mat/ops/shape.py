"""Ops that move entries without arithmetic: reshape, broadcast, transpose, indexing, stack.

All are linear, so each writes only its VJP, the adjoint (reshape back, sum back, inverse
permutation, scatter-add); its forward rule is the op itself on the tangent.
"""
import operator

import numpy as np

from .. import dispatch, fastnp, modes
from ..errors import ShapeError
from .base import (
    Composite, Linear, Op, dtype_of, is_tensor, ndim_of, normalize_axes, normalize_axis, register, shape_of,
)
from .base import array_parts, index_after_batch  # reverse mode's batches


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

    batching = "params"
    vjp_batching = "params"  # the rule of the same op on a stack: batch_params says how

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {"shape": (batch,) + params["shape"]}

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
            return fastnp.reshape(x, shape)
        except ValueError as error:
            raise ShapeError(f"reshape: cannot reshape shape {np.shape(x)} into {shape}") from error

    def vjp(self, xp, g, inputs, out, needs, shape):
        return (xp.reshape(g, inputs[0].shape),)

    lowering_limits = "not to or from a number"

    def lower_forward(self, ins, inputs, params):
        shape = tuple(params["shape"])
        if shape_of(inputs[0]) == ():
            return f"np.full({shape!r}, {ins[0]})" if shape else ins[0]
        if shape == ():
            return f"np.ascontiguousarray({ins[0]}).reshape(-1)[0]"
        return f"np.ascontiguousarray({ins[0]}).reshape({shape!r})"

@register
class BroadcastTo(Linear):
    """``x`` broadcast to ``shape`` as numpy does; its gradient is summed back to x's shape."""

    batching = "params"
    vjp_batching = "params"  # the rule of the same op on a stack: batch_params says how

    def batch_params(self, xp, tangents, params, shapes, batch):
        shape = params["shape"]
        (t,) = tangents
        missing = len(shape) - len(shapes[0])
        if missing:  # numpy adds the new axes on the left: put them after the batch axis
            t = xp.reshape(t, (batch,) + (1,) * missing + tuple(shapes[0]))
        return [t], {"shape": (batch,) + shape}

    name, method, numpy = "broadcast_to", "broadcast_to", {np.broadcast_to: {}}
    vjp_text = "X̄ = Z̄ summed over the broadcast axes"
    jvp_text = "Ż = broadcast_to(Ẋ, shape)"

    def prepare(self, x, shape):
        return (x,), {"shape": _shape_argument(shape, "broadcast_to")}

    def lower_forward(self, ins, inputs, params):
        return f"({ins[0]} + np.zeros({tuple(params['shape'])!r}))" if params["shape"] else ins[0]

    def is_identity(self, inputs, params):
        return shape_of(inputs[0]) == params["shape"]

    def forward(self, x, shape):
        try:
            return fastnp.broadcast_to(x, shape)
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

    batching = "params"
    vjp_batching = "params"  # the rule of the same op on a stack: batch_params says how

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {"axes": (0,) + tuple(a + 1 for a in params["axes"])}

    name, method, method_varargs = "transpose", "transpose", True
    lowering_limits = "matrices"
    lowering_is_numpy = True  # x.T: an attribute, no call
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
        return fastnp.transpose(x, axes)

    def vjp(self, xp, g, inputs, out, needs, axes):
        return (xp.transpose(g, tuple(np.argsort(axes))),)

    def lower_forward(self, ins, inputs, params):
        return f"{ins[0]}.T" if params["axes"] == (1, 0) else None  # a matrix's transpose only

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
            original, part = part, np.array(part)
            if part.dtype.kind not in "iub":
                raise TypeError(f"getitem: index arrays must be integers or booleans, not {part.dtype}")
            part.setflags(write=False)
            if modes.state.tracer is not None:  # tm.compile uses the call's own index array at replay
                modes.state.tracer.converted(original, part, "index")
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

    def batch_mode(self, inputs, params):
        index = params["index"] if isinstance(params["index"], tuple) else (params["index"],)
        arrays = sum(isinstance(part, np.ndarray) for part in index)
        # One index array keeps its place behind a leading slice; several may move (numpy's rule for
        # advanced indices separated by a slice), so those go direction by direction.
        return "params" if arrays <= 1 else None

    def batch_params(self, xp, tangents, params, shapes, batch):
        index = params["index"] if isinstance(params["index"], tuple) else (params["index"],)
        return tangents, {"index": (slice(None),) + index}

    def vjp_batch_mode(self, inputs, params):
        return self.batch_mode(inputs, params)  # the rule of getitem on a stack, as the forward rule

    name, method = "getitem", "__getitem__"
    vjp_text = "X̄ = zeros like X with Z̄ added at the index (repeated indices add up)"
    jvp_text = "Ż = Ẋ[index]"

    def prepare(self, x, index):
        return (x,), {"index": _normalise_index(index)}

    def forward(self, x, index):
        return x[index]

    def vjp(self, xp, g, inputs, out, needs, index):
        return (xp.scatter_add(g, index, inputs[0].shape),)

    lowering_limits = "a matrix at two integer vectors, x[rows, cols]"

    @staticmethod
    def _pairs(inputs, params):
        index = params["index"]
        if len(shape_of(inputs[0])) != 2 or type(index) is not tuple or len(index) != 2:
            return None
        if not all(isinstance(i, str) and getattr(i, "array", None) is not None and i.array.ndim == 1
                   and i.array.dtype.kind in "iu" for i in index) or index[0].array.shape != index[1].array.shape:
            return None
        return index

    def lower_forward(self, ins, inputs, params):
        pairs = self._pairs(inputs, params)
        return None if pairs is None else f"R.gather_pairs({ins[0]}, {pairs[0]}, {pairs[1]})"

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

    def vjp_batch_mode(self, inputs, params):
        # One index array keeps its place behind a leading slice (see getitem); several may move.
        return "params" if array_parts(params["index"]) <= 1 else None

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {"index": index_after_batch(params["index"]), "shape": (batch,) + params["shape"]}
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

    def lower_forward(self, ins, inputs, params):
        index, shape = params["index"], params["shape"]
        pairs = GetItem._pairs([np.empty(shape)], {"index": index})
        return None if pairs is None else f"R.scatter_pairs({ins[0]}, {pairs[0]}, {pairs[1]}, {shape[0]}, {shape[1]})"

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

    batching = "params"
    vjp_batching = "params"  # the rule of the same op on a stack: batch_params says how

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {"axis": params["axis"] + 1}

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

    batching = "params"
    vjp_batching = "params"  # the rule of the same op on a stack: batch_params says how

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {"axis": params["axis"] + 1}

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


# ---------------------------------------------------------------- moving axes, flipping, repeating


@register
class MoveAxis(Composite):
    """Move axes to new positions, the others keeping their order, as ``numpy.moveaxis``."""

    name, numpy, text = "moveaxis", {np.moveaxis: {}}, "transpose with the moved axes in place"

    def compute(self, xp, x, source, destination):
        n = ndim_of(x)
        source = [normalize_axis(a, n, "moveaxis") for a in np.atleast_1d(source).tolist()]
        destination = [normalize_axis(a, n, "moveaxis") for a in np.atleast_1d(destination).tolist()]
        if len(source) != len(destination) or len(set(source)) != len(source):
            raise ShapeError(f"moveaxis: source {source} and destination {destination} do not match")
        order = [i for i in range(n) if i not in source]
        for destination_axis, source_axis in sorted(zip(destination, source)):
            order.insert(destination_axis, source_axis)
        return xp.transpose(x, tuple(order))


@register
class SwapAxes(Composite):
    """Exchange two axes, as ``numpy.swapaxes``."""

    name, method, numpy, text = "swapaxes", "swapaxes", {np.swapaxes: {}}, "transpose with two axes exchanged"

    def compute(self, xp, x, axis1, axis2):
        n = ndim_of(x)
        order = list(range(n))
        a, b = normalize_axis(axis1, n, "swapaxes"), normalize_axis(axis2, n, "swapaxes")
        order[a], order[b] = order[b], order[a]
        return xp.transpose(x, tuple(order))


@register
class Flip(Composite):
    """Reverse the order of entries along ``axis`` (None: every axis), as ``numpy.flip``."""

    name, numpy, text = "flip", {np.flip: {}}, "x[..., ::-1, ...]"

    def compute(self, xp, x, axis=None):
        n = ndim_of(x)
        axes = normalize_axes(axis, n, "flip")
        axes = range(n) if axes is None else axes
        return xp.getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(n)))


@register
class FlipUD(Composite):
    """Reverse the order of rows (axis 0), as ``numpy.flipud``."""

    name, numpy, text = "flipud", {np.flipud: {}}, "flip(x, 0)"

    def compute(self, xp, m):
        if ndim_of(m) < 1:
            raise ShapeError("flipud: needs at least one axis")
        return xp.flip(m, 0)


@register
class FlipLR(Composite):
    """Reverse the order of columns (axis 1), as ``numpy.fliplr``."""

    name, numpy, text = "fliplr", {np.fliplr: {}}, "flip(x, 1)"

    def compute(self, xp, m):
        if ndim_of(m) < 2:
            raise ShapeError(f"fliplr: needs at least two axes, got shape {shape_of(m)}")
        return xp.flip(m, 1)


@register
class Rot90(Composite):
    """Rotate by 90° ``k`` times in the plane of ``axes`` (from the first axis towards the second), as
    ``numpy.rot90``."""

    name, numpy, text = "rot90", {np.rot90: {}}, "flip and swapaxes, as numpy writes it"

    def compute(self, xp, m, k=1, axes=(0, 1)):
        n = ndim_of(m)
        if len(axes) != 2 or n < 2:
            raise ShapeError(f"rot90: needs two axes of a tensor with at least two, got axes {axes} and shape {shape_of(m)}")
        a0, a1 = (normalize_axis(a, n, "rot90") for a in axes)
        if a0 == a1:
            raise ShapeError(f"rot90: the two axes must differ, got {axes}")
        k = operator.index(k) % 4
        if k == 0:
            return xp.as_result(m)
        if k == 2:
            return xp.flip(xp.flip(m, a0), a1)
        order = list(range(n))
        order[a0], order[a1] = order[a1], order[a0]
        if k == 1:
            return xp.transpose(xp.flip(m, a1), tuple(order))
        return xp.flip(xp.transpose(m, tuple(order)), a1)


@register
class RollAxis(Composite):
    """Move ``axis`` to sit before position ``start``, as ``numpy.rollaxis``."""

    name, numpy, text = "rollaxis", {np.rollaxis: {}}, "transpose with the axis moved"

    def compute(self, xp, a, axis, start=0):
        n = ndim_of(a)
        axis = normalize_axis(axis, n, "rollaxis")
        start = start + n if start < 0 else start
        if not 0 <= start <= n:
            raise ShapeError(f"rollaxis: start {start} is out of range for a tensor with {n} axes")
        if axis < start:
            start -= 1
        if axis == start:
            return xp.as_result(a)
        order = [i for i in range(n) if i != axis]
        order.insert(start, axis)
        return xp.transpose(a, tuple(order))


@register
class Take(Composite):
    """Entries at ``indices`` along ``axis`` (None: of the flattened array), as ``numpy.take``."""

    name, method, numpy, text = "take", "take", {np.take: {}}, "x[..., indices, ...] (getitem)"

    def compute(self, xp, a, indices, axis=None):
        if axis is None:
            return xp.getitem(xp.reshape(a, (-1,)), np.asarray(indices))
        axis = normalize_axis(axis, ndim_of(a), "take")
        return xp.getitem(a, (slice(None),) * axis + (np.asarray(indices),))


@register
class TakeAlongAxis(Composite):
    """Entries picked by an index array of x's shape along one axis, as ``numpy.take_along_axis``
    (the gradient of entries picked twice adds up)."""

    name, numpy, text = "take_along_axis", {np.take_along_axis: {}}, "getitem with an open grid and the indices"

    def compute(self, xp, arr, indices, axis):
        indices = np.asarray(indices)
        shape = shape_of(arr)
        if axis is None:
            arr, shape, axis = xp.reshape(arr, (-1,)), (int(np.prod(shape)),), 0
        axis = normalize_axis(axis, len(shape), "take_along_axis")
        if indices.ndim != len(shape):
            raise ShapeError(f"take_along_axis: indices have {indices.ndim} axes, x has {len(shape)}")
        grid = np.ogrid[tuple(slice(n) for n in shape)]
        index = tuple(indices if i == axis else grid[i] for i in range(len(shape)))
        return xp.getitem(arr, index)


def _along(xp, x, axis, positions):
    """x re-indexed along one axis (None: flattened first) by an integer array of positions."""
    if axis is None:
        return xp.getitem(xp.reshape(x, (-1,)), positions)
    return xp.getitem(x, (slice(None),) * axis + (positions,))


@register
class Roll(Composite):
    """Shift entries cyclically by ``shift`` along ``axis`` (None: flattened), as ``numpy.roll``."""

    name, numpy, text = "roll", {np.roll: {}}, "take with rolled positions"

    def compute(self, xp, a, shift, axis=None):
        shape = shape_of(a)
        if axis is None:
            return xp.reshape(_along(xp, a, None, np.roll(np.arange(int(np.prod(shape))), shift)), shape)
        shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(axis))
        for s, ax in zip(shifts, axes):
            ax = normalize_axis(int(ax), len(shape), "roll")
            a = _along(xp, a, ax, np.roll(np.arange(shape[ax]), int(s)))
        return a


@register
class Repeat(Composite):
    """Repeat each entry along ``axis`` (None: flattened), as ``numpy.repeat``; gradients add up."""

    name, method, numpy, text = "repeat", "repeat", {np.repeat: {}}, "take with repeated positions"

    def compute(self, xp, a, repeats, axis=None):
        shape = shape_of(a)
        if axis is None:
            return _along(xp, a, None, np.repeat(np.arange(int(np.prod(shape))), repeats))
        axis = normalize_axis(axis, len(shape), "repeat")
        return _along(xp, a, axis, np.repeat(np.arange(shape[axis]), repeats))


@register
class Tile(Composite):
    """x repeated ``reps`` times along each axis, as ``numpy.tile``; gradients add up."""

    name, numpy, text = "tile", {np.tile: {}}, "take with tiled positions along each axis"

    def compute(self, xp, A, reps):
        reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
        shape = shape_of(A)
        if len(reps) > len(shape):
            shape = (1,) * (len(reps) - len(shape)) + shape
            A = xp.reshape(A, shape)
        reps = (1,) * (len(shape) - len(reps)) + reps
        for axis, (n, r) in enumerate(zip(shape, reps)):
            if r != 1:
                A = _along(xp, A, axis, np.tile(np.arange(n), r))
        return A


@register
class Pad(Op):
    """x surrounded by ``constant_values`` (mode 'constant' only), as ``numpy.pad``."""

    name, numpy = "pad", {np.pad: {}}
    vjp_batching = "params"

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {**params, "widths": ((0, 0),) + params["widths"]}
    vjp_text = "X̄ = Z̄ with the padding cut off"
    jvp_text = "Ż = Ẋ padded with zeros"
    reads_inputs = False

    def prepare(self, array, pad_width, mode="constant", constant_values=0):
        if mode != "constant":
            raise ValueError(f"pad: only mode='constant' is differentiable here, not {mode!r}")
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim_of(array), 2))
        if (widths < 0).any():
            raise ShapeError(f"pad: negative pad widths {pad_width}")
        return (array,), {"widths": tuple(map(tuple, widths.tolist())), "value": float(constant_values)}

    def forward(self, x, widths, value):
        return np.pad(x, widths, mode="constant", constant_values=value)

    def vjp(self, xp, g, inputs, out, needs, widths, value):
        return (xp.getitem(g, tuple(slice(lo, n - hi) for (lo, hi), n in zip(widths, g.shape))),)

    def jvp(self, xp, tangents, inputs, out, widths, value):
        return xp.pad(tangents[0], widths, constant_values=0.0)


@register
class IndexUpdate(Linear):
    """A copy of x with x[index] replaced by values (broadcast), differentiable in both: the functional
    form of ``x[index] = values`` (JAX's ``x.at[index].set(values)``). An index that hits an entry
    twice is refused: which write wins would decide the gradient.

    >>> import tinygrad_mat as tm
    >>> tm.index_update(tm.zeros(4), [1, 3], tm.tensor([5.0, 6.0]))
    Tensor([0., 5., 0., 6.])
    """

    name = "index_update"

    def vjp_batch_mode(self, inputs, params):
        # One index array keeps its place behind a leading slice (see getitem); several may move.
        return "params" if array_parts(params["index"]) <= 1 else None

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {"index": index_after_batch(params["index"])}
    vjp_text = "X̄ = Z̄ with 0 at the index,  V̄ = Z̄[index] summed back to V's shape"
    jvp_text = "Ż = index_update(Ẋ, index, V̇)"

    def prepare(self, x, index, values):
        index = _normalise_index(index)
        shape = shape_of(x)
        target = _indexed_shape(shape, index, "index_update")
        try:
            np.broadcast_shapes(shape_of(values), target)
        except ValueError:
            raise ShapeError(f"index_update: values of shape {shape_of(values)} do not fit x{shape}[index] "
                             f"of shape {target}") from None
        if not _is_basic_index(index):
            hits = np.zeros(shape, dtype=np.int64)
            np.add.at(hits, index, 1)
            if hits.max(initial=0) > 1:
                raise ValueError("index_update: the index hits some entries more than once")
        return (x, values), {"index": index}

    def forward(self, x, values, index):
        out = np.array(x, copy=True)
        out[index] = values
        return out

    def vjp(self, xp, g, inputs, out, needs, index):
        gx = xp.index_update(g, index, 0.0) if needs[0] else None
        gv = xp.getitem(g, index) if needs[1] else None
        return gx, gv


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


# ---------------------------------------------------------------- splitting and joining


def _split_points(n, indices_or_sections, even, opname):
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{opname}: the number of sections must be positive")
        if even and n % sections:
            raise ValueError(f"{opname}: {n} entries do not split into {sections} equal sections; use array_split")
        sizes = [n // sections + (1 if i < n % sections else 0) for i in range(sections)]
        return list(np.cumsum([0] + sizes))
    return [0] + [int(i) for i in indices_or_sections] + [n]


class _Split(Composite):
    even = True
    default_axis = 0
    text = "a list of slices along the axis (getitem)"

    def compute(self, xp, ary, indices_or_sections, axis=None):
        shape = shape_of(ary)
        if axis is None:
            axis = self.default_axis if len(shape) > 1 or self.default_axis == 0 else 0
        axis = normalize_axis(axis, len(shape), self.name)
        points = _split_points(shape[axis], indices_or_sections, self.even, self.name)
        lead = (slice(None),) * axis
        return [xp.getitem(ary, lead + (slice(lo, hi),)) for lo, hi in zip(points[:-1], points[1:])]


@register
class Split(_Split):
    """Split into a list of Tensors along ``axis`` (equal sections or at indices), as ``numpy.split``."""

    name, numpy = "split", {np.split: {}}


@register
class ArraySplit(_Split):
    """As ``split``, but sections may differ in size by one, as ``numpy.array_split``."""

    name, numpy, even = "array_split", {np.array_split: {}}, False


@register
class HSplit(_Split):
    """Split along axis 1 (axis 0 for a vector), as ``numpy.hsplit``."""

    name, numpy, default_axis = "hsplit", {np.hsplit: {}}, 1

    def compute(self, xp, ary, indices_or_sections):
        return _Split.compute(self, xp, ary, indices_or_sections, 1 if ndim_of(ary) > 1 else 0)


@register
class VSplit(_Split):
    """Split along axis 0, as ``numpy.vsplit``."""

    name, numpy = "vsplit", {np.vsplit: {}}

    def compute(self, xp, ary, indices_or_sections):
        return _Split.compute(self, xp, ary, indices_or_sections, 0)


class _AtLeast(Composite):
    """The inputs viewed with at least ``ndim`` axes, as numpy's atleast_Nd (one input: one array)."""

    ndim = 1
    text = "reshape with length-1 axes added"

    def lift(self, xp, x):
        shape = shape_of(x)
        if len(shape) >= self.ndim:
            return xp.as_result(x)
        if self.ndim == 3 and len(shape) == 2:
            return xp.reshape(x, shape + (1,))
        if self.ndim == 3:
            return xp.reshape(x, (1,) + (shape or (1,)) + (1,))
        return xp.reshape(x, (1,) * (self.ndim - len(shape)) + shape)

    def compute(self, xp, *arys):
        lifted = [self.lift(xp, a) for a in arys]
        return lifted[0] if len(lifted) == 1 else lifted


@register
class AtLeast1d(_AtLeast):
    """Inputs with at least one axis, as ``numpy.atleast_1d``."""

    name, numpy, ndim = "atleast_1d", {np.atleast_1d: {}}, 1


@register
class AtLeast2d(_AtLeast):
    """Inputs with at least two axes, as ``numpy.atleast_2d``."""

    name, numpy, ndim = "atleast_2d", {np.atleast_2d: {}}, 2


@register
class AtLeast3d(_AtLeast):
    """Inputs with at least three axes, as ``numpy.atleast_3d``."""

    name, numpy, ndim = "atleast_3d", {np.atleast_3d: {}}, 3


@register
class VStack(Composite):
    """Stack along axis 0 (vectors as rows), as ``numpy.vstack``."""

    name, numpy, text = "vstack", {np.vstack: {}}, "concatenate(atleast_2d(...), axis=0)"

    def compute(self, xp, tup):
        return xp.concatenate([xp.atleast_2d(t) for t in tup], 0)


@register
class HStack(Composite):
    """Stack along axis 1 (vectors end to end), as ``numpy.hstack``."""

    name, numpy, text = "hstack", {np.hstack: {}}, "concatenate(atleast_1d(...), axis=1, or 0 for vectors)"

    def compute(self, xp, tup):
        pieces = [xp.atleast_1d(t) for t in tup]
        return xp.concatenate(pieces, 0 if pieces[0].ndim == 1 else 1)


@register
class DStack(Composite):
    """Stack along axis 2, as ``numpy.dstack``."""

    name, numpy, text = "dstack", {np.dstack: {}}, "concatenate(atleast_3d(...), axis=2)"

    def compute(self, xp, tup):
        return xp.concatenate([xp.atleast_3d(t) for t in tup], 2)


@register
class ColumnStack(Composite):
    """Stack vectors as columns (matrices as they are) along axis 1, as ``numpy.column_stack``."""

    name, numpy, text = "column_stack", {np.column_stack: {}}, "concatenate(vectors as columns, axis=1)"

    def compute(self, xp, tup):
        columns = [xp.reshape(t, (-1, 1)) if ndim_of(t) < 2 else xp.as_result(t) for t in tup]
        return xp.concatenate(columns, 1)


@register
class DSplit(_Split):
    """Split along axis 2, as ``numpy.dsplit``."""

    name, numpy = "dsplit", {np.dsplit: {}}

    def compute(self, xp, ary, indices_or_sections):
        if ndim_of(ary) < 3:
            raise ShapeError(f"dsplit: needs at least 3 axes, got shape {shape_of(ary)}")
        return _Split.compute(self, xp, ary, indices_or_sections, 2)


@register
class Append(Composite):
    """``values`` appended to ``arr`` along ``axis`` (None: both flattened), as ``numpy.append``."""

    name, numpy, text = "append", {np.append: {}}, "concatenate((arr, values), axis), flattened for axis None"

    def compute(self, xp, arr, values, axis=None):
        if axis is None:
            return xp.concatenate([xp.reshape(arr, (-1,)), xp.reshape(values, (-1,))], 0)
        return xp.concatenate([arr, values], axis)


@register
class LinspaceBetween(Composite):
    """``np.linspace`` with Tensor end points: start (1 − tᵢ) + stop tᵢ, tᵢ = i / (num − 1) (or i / num
    without the end point), so both ends are exact and each entry is differentiable in both."""

    name, public, numpy = "linspace_between", False, {np.linspace: {}}
    text = "start (1 − t) + stop t along a new axis, t = 0 … 1"

    def compute(self, xp, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, device=None):
        num = operator.index(num)
        if num < 0:
            raise ValueError(f"linspace: the number of samples must be non-negative, got {num}")
        divisions = num - 1 if endpoint else num
        shape = np.broadcast_shapes(shape_of(start), shape_of(stop))
        t = np.arange(num, dtype=np.float64) / (divisions if divisions > 0 else 1)
        t = t.reshape((num,) + (1,) * len(shape))
        y = xp.add(xp.mul(start, 1.0 - t), xp.mul(stop, t))
        if axis != 0:
            y = xp.moveaxis(y, 0, axis)
        if dtype is not None:
            y = xp.astype(y, dtype)
        if not retstep:
            return y
        step = xp.sub(stop, start) / divisions if divisions > 0 else xp.mul(xp.sub(stop, start), np.nan)
        return y, step


# ---------------------------------------------------------------- diagonals and triangles


@register
class Diagonal(Composite):
    """The ``offset`` diagonal of the (axis1, axis2) planes, appended as the last axis, as
    ``numpy.diagonal``."""

    name, method, numpy, text = "diagonal", "diagonal", {np.diagonal: {}}, "getitem of the diagonal's positions"

    def compute(self, xp, a, offset=0, axis1=0, axis2=1):
        n = ndim_of(a)
        axis1, axis2 = normalize_axis(axis1, n, "diagonal"), normalize_axis(axis2, n, "diagonal")
        if axis1 == axis2:
            raise ShapeError("diagonal: axis1 and axis2 cannot be the same")
        moved = xp.moveaxis(a, (axis1, axis2), (-2, -1))
        rows, cols = moved.shape[-2:]
        i = np.arange(max(0, -offset), min(rows, cols - offset)) if rows and cols else np.arange(0)
        return xp.getitem(moved, (Ellipsis, i, i + offset))


@register
class Diag(Composite):
    """numpy.diag: of a vector, the square matrix with it on diagonal ``k``; of a matrix, its diagonal k."""

    name, numpy, text = "diag", {np.diag: {}}, "index_update of zeros (vector) or diagonal (matrix)"

    def compute(self, xp, v, k=0):
        n = ndim_of(v)
        if n == 2:
            return xp.diagonal(v, k)
        if n != 1:
            raise ShapeError(f"diag: needs a vector or a matrix, got shape {shape_of(v)}")
        size = shape_of(v)[0] + abs(k)
        i = np.arange(shape_of(v)[0])
        rows, cols = (i, i + k) if k >= 0 else (i - k, i)
        return xp.index_update(np.zeros((size, size), dtype=dtype_of(v)), (rows, cols), v)


@register
class Tril(Composite):
    """The lower triangle (on and below diagonal ``k``) of each matrix, zeros above, as ``numpy.tril``."""

    name, numpy, text = "tril", {np.tril: {}}, "where(lower-triangular mask, x, 0)"

    def compute(self, xp, m, k=0):
        rows, cols = shape_of(m)[-2:]
        return xp.where(np.tril(np.ones((rows, cols), dtype=bool), k), m, 0.0)


@register
class Triu(Composite):
    """The upper triangle (on and above diagonal ``k``) of each matrix, zeros below, as ``numpy.triu``."""

    name, numpy, text = "triu", {np.triu: {}}, "where(upper-triangular mask, x, 0)"

    def compute(self, xp, m, k=0):
        rows, cols = shape_of(m)[-2:]
        return xp.where(np.triu(np.ones((rows, cols), dtype=bool), k), m, 0.0)
