"""Reductions over an axis tuple (or all axes): sum, mean, logsumexp; softmax built from them.

``prepare`` normalises ``axis`` to None or a sorted tuple of non-negative ints. A reduction's VJP
first gives the cotangent back the reduced axes (as keepdims would), then broadcasts it over them.
"""
import operator

import numpy as np

from .. import dispatch, fastnp
from ..errors import ShapeError
from . import lowering
from .base import (
    Composite, Linear, Op, keepdims_shape, ndim_of, normalize_axes, reduced_count, register, shape_of, values_of,
)


def _expand(xp, g, in_shape, axis, keepdims):
    """Cotangent of a reduction, reshaped so that it broadcasts against the input."""
    if keepdims:
        return g
    return xp.reshape(g, keepdims_shape(in_shape, axis))


def _after_batch(axis, ndim):
    """Reduction axes of an input with ``ndim`` axes, for the same input behind a leading batch axis."""
    return tuple(range(1, ndim + 1)) if axis is None else tuple(a + 1 for a in axis)


class _Reduction:
    """The signature every reduction shares: (x, axis=None, keepdims=False), as numpy's."""

    may_return_a_view = False  # a reduction makes a new array

    def prepare(self, x, axis=None, keepdims=False):
        return (x,), {"axis": normalize_axes(axis, ndim_of(x), self.name), "keepdims": bool(keepdims)}


@register
class Sum(_Reduction, Linear):
    """Sum over ``axis`` (an int, a tuple, or None for all), as ``numpy.sum``.

    >>> import tinygrad_mat as tm
    >>> tm.sum(tm.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    Tensor([4., 6.])
    """

    batching = "params"
    vjp_batching = "params"

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {**params, "axis": _after_batch(params["axis"], len(shapes[0]))}

    name, method, numpy = "sum", "sum", {np.sum: {}}
    vjp_text = "X̄ = Z̄ broadcast over the summed axes"
    jvp_text = "Ż = Σ Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return fastnp.sum(x, axis, keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        shape = inputs[0].shape
        return (xp.broadcast_to(_expand(xp, g, shape, axis, keepdims), shape),)

    def lower_forward(self, ins, inputs, params):
        return lowering.sum_over(ins[0], lowering.shape_of(inputs[0]), params["axis"], params["keepdims"])

@register
class Mean(_Reduction, Linear):
    """Mean over ``axis`` (an int, a tuple, or None for all), as ``numpy.mean``."""

    batching = "params"
    vjp_batching = "params"

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {**params, "axis": _after_batch(params["axis"], len(shapes[0]))}

    name, method, numpy = "mean", "mean", {np.mean: {}}
    vjp_text = "X̄ = Z̄ / n broadcast over the n averaged entries"
    jvp_text = "Ż = mean of Ẋ over the same axes"

    def forward(self, x, axis, keepdims):
        return fastnp.mean(x, axis, keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        shape = inputs[0].shape
        scaled = _expand(xp, g, shape, axis, keepdims) / float(reduced_count(shape, axis))
        return (xp.broadcast_to(scaled, shape),)

    def lower_forward(self, ins, inputs, params):
        shape = lowering.shape_of(inputs[0])
        total = lowering.sum_over(ins[0], shape, params["axis"], params["keepdims"])
        return f"{total} / {float(reduced_count(shape, params['axis']))!r}"

@register
class LogSumExp(_Reduction, Op):
    """log Σ exp(x) over ``axis``, computed without overflow; −inf for an empty reduction.

    >>> import tinygrad_mat as tm
    >>> print(f"{tm.logsumexp(tm.tensor([1000.0, 1000.0])).item() - 1000.0:.10f}")   # ln 2
    0.6931471806
    """

    name, method = "logsumexp", "logsumexp"
    vjp_batching = "params"

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {**params, "axis": _after_batch(params["axis"], len(shapes[0]))}
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

    lowering_limits = "rows of a matrix"

    def lower_forward(self, ins, inputs, params):
        shape = lowering.shape_of(inputs[0])
        if len(shape) != 2 or params["axis"] != (1,):
            return None
        rows = f"R.logsumexp_rows({ins[0]})"
        return f"{rows}.reshape(({shape[0]}, 1))" if params["keepdims"] else rows

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


def _to_last(xp, x, axis):
    """x with the axes of ``axis`` (None: all) moved to the end and merged into one: (x', undo)."""
    shape = tuple(x.shape)
    axes = tuple(range(len(shape))) if axis is None else axis
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    order = kept + axes
    moved = xp.transpose(x, order) if order != tuple(range(len(shape))) else x
    merged = xp.reshape(moved, tuple(shape[i] for i in kept) + (-1,) if shape else (1,))
    inverse = tuple(np.argsort(order))

    def undo(y):
        y = xp.reshape(y, tuple(shape[i] for i in order))
        return xp.transpose(y, inverse) if order != tuple(range(len(shape))) else y

    return merged, undo


def exclusive_products(xp, x, axis):
    """∏ over ``axis`` of x leaving out each entry in turn, shaped like x: exact where x has zeros.

    On arrays, prefix and suffix products; recorded (Tensors), the same as a product over an n × n
    arrangement, so that its own derivatives follow from prod's rule.
    """
    rows, undo = _to_last(xp, x, axis)
    n = rows.shape[-1]
    if not xp.is_tensor(rows):
        ones = np.ones(rows.shape[:-1] + (1,), dtype=rows.dtype)
        before = np.cumprod(np.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, rows[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        return undo(before * after)
    left_out = np.eye(n, dtype=bool)  # row i of the arrangement: x with x_i replaced by 1
    arranged = xp.where(left_out, 1.0, xp.expand_dims(rows, -2))
    return undo(xp.prod(arranged, -1))


@register
class Prod(_Reduction, Op):
    """Product over ``axis`` (None: all), as ``numpy.prod``; its gradient is exact where x has zeros
    (products of the other entries, never a division by x)."""

    name, method, numpy = "prod", "prod", {np.prod: {}}
    vjp_batching = "params"

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {**params, "axis": _after_batch(params["axis"], len(shapes[0]))}
    vjp_text = "X̄ᵢ = Z̄ ∏_{j≠i} Xⱼ over the reduced axes (no division: exact at zeros)"
    jvp_text = "Ż = Σᵢ Ẋᵢ ∏_{j≠i} Xⱼ"

    def forward(self, x, axis, keepdims):
        return np.prod(x, axis=axis, keepdims=keepdims)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        x = inputs[0]
        return (_expand(xp, g, x.shape, axis, keepdims) * exclusive_products(xp, x, axis),)

    def jvp(self, xp, tangents, inputs, out, axis, keepdims):
        return xp.sum(exclusive_products(xp, inputs[0], axis) * tangents[0], axis, keepdims)


@register
class Var(Composite):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom, as ``numpy.var``."""

    name, method, numpy = "var", "var", {np.var: {}}
    text = "sum((x − mean(x))², axis) / (n − ddof)"

    def compute(self, xp, x, axis=None, ddof=0, keepdims=False):
        axes = normalize_axes(axis, ndim_of(x), "var")
        n = reduced_count(shape_of(x), axes)
        if n - ddof <= 0:
            raise ValueError(f"var: ddof={ddof} leaves no degrees of freedom for {n} entries")
        centred = xp.sub(x, xp.mean(x, axes, keepdims=True))
        return xp.sum(centred * centred, axes, keepdims) / float(n - ddof)


@register
class Std(Composite):
    """Standard deviation over ``axis`` with ``ddof``, as ``numpy.std``. Where the deviation is 0 its
    derivative is taken as 0: exact along a length-1 axis (std is constantly 0 there), and at equal
    entries, a kink like |x| at 0, the subgradient 0 (as PyTorch; JAX gives nan there)."""

    name, method, numpy = "std", "std", {np.std: {}}
    text = "sqrt_flat_at_zero(var(x, axis, ddof)): derivative 0 where var = 0"

    def compute(self, xp, x, axis=None, ddof=0, keepdims=False):
        return xp.sqrt_flat_at_zero(xp.var(x, axis, ddof, keepdims))


def _scan_axis(x, axis, opname):
    return normalize_axes(axis, ndim_of(x), opname)[0]


@register
class CumSum(Linear):
    """Running sum along ``axis`` (None: over the flattened array), as ``numpy.cumsum``."""

    batching = "params"

    def vjp_batch_mode(self, inputs, params):
        # Over the flattened array the rule's result is flat: only a vector's is its own shape.
        return "params" if params["axis"] is not None or np.ndim(inputs[0]) <= 1 else None

    def batch_params(self, xp, tangents, params, shapes, batch):
        if params["axis"] is None:  # over the flattened array: flatten each direction
            return [xp.reshape(tangents[0], (batch, -1))], {"axis": 1}
        return tangents, {"axis": params["axis"] + 1}

    name, method, numpy = "cumsum", "cumsum", {np.cumsum: {}}
    vjp_text = "X̄ = reversed running sum of Z̄ along the axis"
    jvp_text = "Ż = cumsum(Ẋ)"

    def prepare(self, x, axis=None):
        if axis is None:
            return (x,), {"axis": None}
        return (x,), {"axis": _scan_axis(x, axis, "cumsum")}

    def forward(self, x, axis):
        return np.cumsum(x, axis=axis)

    def vjp(self, xp, g, inputs, out, needs, axis):
        shape = inputs[0].shape
        along = 0 if axis is None else axis
        flip = (slice(None),) * along + (slice(None, None, -1),)
        total = xp.getitem(xp.cumsum(xp.getitem(g, flip), along), flip)
        return (xp.reshape(total, shape) if axis is None else total,)


@register
class CumProd(Composite):
    """Running product along ``axis`` (None: flattened), as ``numpy.cumprod``; exact where x has zeros:
    entry k is the product of row k of a lower-triangular arrangement of x (n² memory along the axis)."""

    name, method, numpy = "cumprod", "cumprod", {np.cumprod: {}}
    text = "prod over a lower-triangular arrangement of x (1 above the diagonal)"

    def compute(self, xp, x, axis=None):
        if axis is None:
            x, axis = xp.reshape(x, (-1,)), 0
        axis = _scan_axis(x, axis, "cumprod")
        last = xp.moveaxis(x, axis, -1)
        n = last.shape[-1]
        arranged = xp.where(np.tril(np.ones((n, n), dtype=bool)), xp.expand_dims(last, -2), 1.0)
        return xp.moveaxis(xp.prod(arranged, -1), -1, axis)


# ---------------------------------------------------------------- differences


def _along(axis, ndim, index):
    """An index that takes ``index`` (a slice or int) along ``axis`` and everything elsewhere."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


@register
class Diff(Composite):
    """The ``n``-th forward difference along ``axis``, a[i + 1] − a[i] repeated, as ``numpy.diff``
    (with ``prepend`` / ``append`` joined on first)."""

    name, numpy, text = "diff", {np.diff: {}}, "x[1:] − x[:-1] along the axis, n times"

    def compute(self, xp, a, n=1, axis=-1, prepend=None, append=None):
        ndim = ndim_of(a)
        if ndim == 0:
            raise ShapeError("diff: needs at least one axis")
        if operator.index(n) < 0:
            raise ValueError(f"diff: the order n must be non-negative, got {n}")
        axis = normalize_axes(axis, ndim, "diff")[0]
        if prepend is not None or append is not None:
            a = xp.concatenate([p for p in (self._edge(xp, prepend, a, axis), a, self._edge(xp, append, a, axis))
                                if p is not None], axis)
        for _ in range(operator.index(n)):
            a = xp.sub(xp.getitem(a, _along(axis, ndim, slice(1, None))), xp.getitem(a, _along(axis, ndim, slice(None, -1))))
        return a

    @staticmethod
    def _edge(xp, values, a, axis):
        """``values`` as numpy's diff joins them: a number becomes a slab of length 1 along the axis."""
        if values is None:
            return None
        if ndim_of(values) == 0:
            shape = list(shape_of(a))
            shape[axis] = 1
            return xp.broadcast_to(values, tuple(shape))
        return values


@register
class Gradient(Composite):
    """The derivative estimated from samples, as ``numpy.gradient``: central differences inside,
    one-sided ones (first or second order, ``edge_order``) at the ends, along each axis asked (one
    array for one axis, a tuple for several). ``varargs``: the sample spacing, one number, or one per
    axis (coordinate arrays are not supported)."""

    name, numpy = "gradient", {np.gradient: {}}
    text = "(f[i+1] − f[i−1]) / 2h inside, one-sided differences at the ends, per axis"

    def compute(self, xp, f, *varargs, axis=None, edge_order=1):
        ndim = ndim_of(f)
        axes = tuple(range(ndim)) if axis is None else normalize_axes(axis, ndim, "gradient")
        if axis is not None and not isinstance(axis, (int, np.integer)):
            axes = tuple(operator.index(a) % ndim for a in axis)  # numpy keeps the order given
        if edge_order not in (1, 2):
            raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order}")
        spacings = self._spacings(varargs, len(axes))
        results = [self._along_axis(xp, f, ax, h, edge_order, ndim) for ax, h in zip(axes, spacings)]
        return results[0] if len(results) == 1 else tuple(results)

    @staticmethod
    def _spacings(varargs, count):
        if len(varargs) == 0:
            spacings = [1.0] * count
        elif len(varargs) == 1 and np.ndim(values_of(varargs[0])) == 0:
            spacings = [varargs[0]] * count
        elif len(varargs) == count:
            spacings = list(varargs)
        else:
            raise TypeError(f"gradient: give one spacing or one per axis ({count}), got {len(varargs)}")
        if any(np.ndim(values_of(h)) != 0 for h in spacings):
            raise TypeError("gradient: coordinate arrays (uneven spacing) are not supported; give the spacing "
                            "as a number per axis")
        return [float(values_of(h)) for h in spacings]

    @staticmethod
    def _along_axis(xp, f, axis, h, edge_order, ndim):
        n = shape_of(f)[axis]
        if n < edge_order + 1:
            raise ValueError(f"gradient: axis {axis} has {n} samples; edge_order={edge_order} needs at least "
                             f"{edge_order + 1}")

        def at(index):
            return xp.getitem(f, _along(axis, ndim, index))

        inside = xp.sub(at(slice(2, None)), at(slice(None, -2))) / (2.0 * h)
        if edge_order == 1:
            first = xp.sub(at(slice(1, 2)), at(slice(0, 1))) / h
            last = xp.sub(at(slice(-1, None)), at(slice(-2, -1))) / h
        else:
            first = (-3.0 * at(slice(0, 1)) + 4.0 * at(slice(1, 2)) - at(slice(2, 3))) / (2.0 * h)
            last = (3.0 * at(slice(-1, None)) - 4.0 * at(slice(-2, -1)) + at(slice(-3, -2))) / (2.0 * h)
        return xp.concatenate([first, inside, last], axis)
