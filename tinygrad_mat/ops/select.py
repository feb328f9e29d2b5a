"""Selection and kinks: where, maximum, minimum, clip, max/min over axes, argmax/argmin/argsort, sort.

Conditions and masks carry no derivative. The rules build their masks with the comparison ops
(``ops/compare.py``), never from values read out, so a recorded or compiled backward pass recomputes
them. Indices (argmax, argsort) are constants computed from values. At a tie (maximum(a, a), several
entries equal to the max) the derivative is split evenly, as JAX and HIPS autograd do.
"""
import numpy as np

from ..errors import ShapeError
from .base import (
    Composite, Linear, Op, add_optional, keepdims_shape, ndim_of, normalize_axes, register, values_of,
)
from .base import axes_after_batch  # reverse mode's batches


@register
class Where(Op):
    """``x`` where ``condition`` holds, else ``y``, as ``numpy.where(condition, x, y)`` (broadcasting).

    The condition is a mask: a boolean array (a comparison such as ``t > 0`` gives one), or a Tensor
    whose nonzero entries count as true (a rule's mask); it is an operand without a derivative. Each
    branch gets the cotangent where it was chosen, zero elsewhere.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor([-1.0, 2.0])
    >>> tm.where(x > 0, x, 0.1 * x)          # leaky relu
    Tensor([-0.1,  2. ])
    """

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    name, numpy = "where", {np.where: {}}
    vjp_text = "X̄ = Z̄ ⊙ [C],  Ȳ = Z̄ ⊙ [¬C]"
    jvp_text = "Ż = where(C, Ẋ, Ẏ)"

    def prepare(self, condition, x, y):
        # A boolean array becomes a float copy the graph owns (the tensor layer converts it): the
        # caller's mask stays writeable, and editing it cannot change a gradient.
        return (condition, x, y), {}

    def forward(self, condition, x, y):
        return np.where(condition, x, y)

    def lower_forward(self, ins, inputs, params):
        return f"np.where(({ins[0]}) != 0.0, {ins[1]}, {ins[2]})"

    def vjp(self, xp, g, inputs, out, needs):
        condition = inputs[0]
        gx = xp.where(condition, g, 0.0) if needs[1] else None
        gy = xp.where(condition, 0.0, g) if needs[2] else None
        return None, gx, gy

    def jvp(self, xp, tangents, inputs, out):
        dx, dy = tangents[1:]
        if dx is None and dy is None:
            return None
        return xp.where(inputs[0], 0.0 if dx is None else dx, 0.0 if dy is None else dy)


def _tie_share(xp, a, b):
    """The share of the derivative that goes to a in max(a, b): 1 where a wins, ½ on a tie."""
    return xp.gt(a, b) + 0.5 * xp.eq(a, b)


class _Extremum(Op):
    """maximum / minimum of two arrays; at a tie each side gets half the derivative (JAX, autograd)."""

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    def prepare(self, a, b):
        return (a, b), {}

    def _share(self, xp, a, b):
        raise NotImplementedError

    def vjp(self, xp, g, inputs, out, needs):
        share = self._share(xp, *inputs)
        return (g * share if needs[0] else None), (g * (1.0 - share) if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        (da, db), share = tangents, self._share(xp, *inputs)
        return add_optional(None if da is None else share * da, None if db is None else (1.0 - share) * db)


@register
class Maximum(_Extremum):
    """The larger of a and b elementwise, as ``numpy.maximum``; at a tie the derivative is split evenly."""

    name, ufunc = "maximum", np.maximum
    vjp_text = "Ā = Z̄ ⊙ ([A > B] + ½[A = B]),  B̄ = Z̄ ⊙ ([B > A] + ½[A = B])"
    jvp_text = "Ż = ([A > B] + ½[A = B]) ⊙ Ȧ + ([B > A] + ½[A = B]) ⊙ Ḃ"

    def forward(self, a, b):
        return np.maximum(a, b)

    def _share(self, xp, a, b):
        return _tie_share(xp, a, b)


@register
class Minimum(_Extremum):
    """The smaller of a and b elementwise, as ``numpy.minimum``; at a tie the derivative is split evenly."""

    name, ufunc = "minimum", np.minimum
    vjp_text = "Ā = Z̄ ⊙ ([A < B] + ½[A = B]),  B̄ = Z̄ ⊙ ([B < A] + ½[A = B])"
    jvp_text = "Ż = ([A < B] + ½[A = B]) ⊙ Ȧ + ([B < A] + ½[A = B]) ⊙ Ḃ"

    def forward(self, a, b):
        return np.minimum(a, b)

    def _share(self, xp, a, b):
        return _tie_share(xp, b, a)


@register
class Clip(Composite):
    """x limited to [a_min, a_max] (either may be None), as ``numpy.clip``: minimum(maximum(x, a_min),
    a_max); at a bound the derivative is split evenly, as JAX's and autograd's."""

    name, method, numpy = "clip", "clip", {np.clip: {}}
    text = "minimum(maximum(x, a_min), a_max)"

    def compute(self, xp, x, a_min=None, a_max=None):
        if a_min is not None:
            x = xp.maximum(x, a_min)
        if a_max is not None:
            x = xp.minimum(x, a_max)
        return x


class _ExtremeReduction(Op):
    """max / min over axes; the cotangent is shared evenly among the entries that tie for the extreme."""

    reduce = None
    vjp_batching = "params"

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {**params, "axis": axes_after_batch(params["axis"], len(shapes[0]))}

    def prepare(self, x, axis=None, keepdims=False):
        return (x,), {"axis": normalize_axes(axis, ndim_of(x), self.name), "keepdims": bool(keepdims)}

    def forward(self, x, axis, keepdims):
        if x.size == 0:
            raise ShapeError(f"{self.name}: the reduction of an empty array has no {self.name}imum")
        return self.reduce(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def _share(xp, x, out, axis, keepdims):
        """1/(number of ties) where x equals the extreme of its slice, 0 elsewhere (a mask: no derivative)."""
        extreme = out if keepdims else xp.reshape(out, keepdims_shape(x.shape, axis))
        hits = xp.eq(x, extreme)
        return hits / xp.sum(hits, axis, True)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        x = inputs[0]
        if not keepdims:
            g = xp.reshape(g, keepdims_shape(x.shape, axis))
        return (g * self._share(xp, x, out, axis, keepdims),)

    def jvp(self, xp, tangents, inputs, out, axis, keepdims):
        return xp.sum(self._share(xp, inputs[0], out, axis, keepdims) * tangents[0], axis, keepdims)


@register
class Max(_ExtremeReduction):
    """The largest entry over ``axis`` (None: all), as ``numpy.max``; ties share the derivative evenly.

    >>> import tinygrad_mat as tm
    >>> tm.grad(lambda x: tm.max(x))(tm.tensor([1.0, 3.0, 3.0]).numpy())   # two tie for the max
    array([0. , 0.5, 0.5])
    """

    name, method, numpy, reduce = "max", "max", {np.max: {}}, staticmethod(np.max)
    vjp_text = "X̄ = Z̄ ⊙ [X = Z] ⊘ (number of ties), over the reduced axes"
    jvp_text = "Ż = mean of Ẋ over the entries that tie for the max"


@register
class Min(_ExtremeReduction):
    """The smallest entry over ``axis`` (None: all), as ``numpy.min``; ties share the derivative evenly."""

    name, method, numpy, reduce = "min", "min", {np.min: {}}, staticmethod(np.min)
    vjp_text = "X̄ = Z̄ ⊙ [X = Z] ⊘ (number of ties), over the reduced axes"
    jvp_text = "Ż = mean of Ẋ over the entries that tie for the min"


@register
class Amax(Composite):
    """Same as ``max`` (numpy's other name for it)."""

    name, numpy, text = "amax", {np.amax: {}}, "max(x, axis, keepdims)"

    def compute(self, xp, x, axis=None, keepdims=False):
        return xp.max(x, axis, keepdims)


@register
class Amin(Composite):
    """Same as ``min`` (numpy's other name for it)."""

    name, numpy, text = "amin", {np.amin: {}}, "min(x, axis, keepdims)"

    def compute(self, xp, x, axis=None, keepdims=False):
        return xp.min(x, axis, keepdims)


class _IndexOf(Composite):
    """Indices computed from the values: an integer numpy array, which has no derivative."""


@register
class Argmax(_IndexOf):
    """Index of the largest entry (over ``axis``), as ``numpy.argmax``: an integer array, no gradient."""

    name, method, numpy, text = "argmax", "argmax", {np.argmax: {}}, "numpy.argmax of the values"

    def compute(self, xp, x, axis=None, keepdims=False):
        return np.argmax(np.asarray(values_of(x)), axis=axis, keepdims=keepdims)


@register
class Argmin(_IndexOf):
    """Index of the smallest entry (over ``axis``), as ``numpy.argmin``: an integer array, no gradient."""

    name, method, numpy, text = "argmin", "argmin", {np.argmin: {}}, "numpy.argmin of the values"

    def compute(self, xp, x, axis=None, keepdims=False):
        return np.argmin(np.asarray(values_of(x)), axis=axis, keepdims=keepdims)


@register
class Argsort(_IndexOf):
    """Indices that sort x along ``axis`` (stably), as ``numpy.argsort``: an integer array, no gradient."""

    name, method, numpy, text = "argsort", "argsort", {np.argsort: {}}, "numpy.argsort of the values (stable)"

    def compute(self, xp, x, axis=-1):
        return np.argsort(np.asarray(values_of(x)), axis=axis, kind="stable")


@register
class Sort(Composite):
    """x sorted along ``axis`` (None: flattened), as ``numpy.sort``; the gradient goes back to where
    each entry came from (a stable sort decides among ties)."""

    name, method, numpy, text = "sort", "sort", {np.sort: {}}, "take_along_axis(x, argsort(x, axis), axis)"

    def compute(self, xp, x, axis=-1):
        if axis is None:
            x, axis = xp.reshape(x, (-1,)), 0
        order = np.argsort(np.asarray(values_of(x)), axis=axis, kind="stable")
        return xp.take_along_axis(x, order, axis)


def _nan_share(xp, a, b, share):
    """``share`` of a, and all of it where b is NaN and a is not (fmax/fmin take the other operand)."""
    return share + xp.isnan_mask(b) * (1.0 - xp.isnan_mask(a))


@register
class Fmax(_Extremum):
    """The larger of a and b elementwise, the other where one is NaN, as ``numpy.fmax``; at a tie the
    derivative is split evenly."""

    name, ufunc = "fmax", np.fmax
    vjp_text = "as maximum, and all of Z̄ to the operand that is not NaN"
    jvp_text = "as maximum, and the tangent of the operand that is not NaN"

    def forward(self, a, b):
        return np.fmax(a, b)

    def _share(self, xp, a, b):
        return _nan_share(xp, a, b, _tie_share(xp, a, b))


@register
class Fmin(_Extremum):
    """The smaller of a and b elementwise, the other where one is NaN, as ``numpy.fmin``; at a tie the
    derivative is split evenly."""

    name, ufunc = "fmin", np.fmin
    vjp_text = "as minimum, and all of Z̄ to the operand that is not NaN"
    jvp_text = "as minimum, and the tangent of the operand that is not NaN"

    def forward(self, a, b):
        return np.fmin(a, b)

    def _share(self, xp, a, b):
        return _nan_share(xp, a, b, _tie_share(xp, b, a))


@register
class NanToNum(Op):
    """x with NaN and ±inf replaced by numbers, as ``numpy.nan_to_num``: the derivative passes where x
    is finite and is 0 at the replaced entries."""

    batching = "leading"
    vjp_batching = "leading"
    name, numpy = "nan_to_num", {np.nan_to_num: {}}
    vjp_text = "X̄ = Z̄ ⊙ [X finite]"
    jvp_text = "Ż = Ẋ ⊙ [X finite]"

    def prepare(self, x, copy=True, nan=0.0, posinf=None, neginf=None):
        return (x,), {"nan": nan, "posinf": posinf, "neginf": neginf}

    def forward(self, x, nan, posinf, neginf):
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def vjp(self, xp, g, inputs, out, needs, nan, posinf, neginf):
        return (xp.where(xp.isfinite_mask(inputs[0]), g, 0.0),)

    def jvp(self, xp, tangents, inputs, out, nan, posinf, neginf):
        return xp.where(xp.isfinite_mask(inputs[0]), tangents[0], 0.0)


@register
class Select(Composite):
    """The entry of the first choice whose condition holds, else ``default``, as ``numpy.select``."""

    name, numpy, text = "select", {np.select: {}}, "where(c₁, x₁, where(c₂, x₂, … default))"

    def compute(self, xp, condlist, choicelist, default=0):
        if len(condlist) != len(choicelist):
            raise ValueError(f"select: {len(condlist)} conditions but {len(choicelist)} choices")
        if not condlist:
            raise ValueError("select: needs at least one condition and choice")
        result = default
        for condition, choice in zip(reversed(condlist), reversed(choicelist)):
            mask = np.asarray(values_of(condition))
            if mask.dtype != bool:
                raise TypeError(f"select: conditions must be boolean arrays, got dtype {mask.dtype}")
            result = xp.where(mask, choice, result)
        return result


@register
class Partition(Composite):
    """x rearranged so that the entry at each ``kth`` position is where sorting would put it, smaller
    ones before and larger ones after, as ``numpy.partition``; the gradient goes back to where each
    entry came from."""

    name, method, numpy = "partition", "partition", {np.partition: {}}
    text = "take_along_axis(x, argpartition(x, kth, axis), axis)"

    def compute(self, xp, a, kth, axis=-1, kind="introselect", order=None):
        if order is not None:
            raise TypeError("partition: order= is for structured arrays, which a Tensor is not")
        if axis is None:
            a, axis = xp.reshape(a, (-1,)), 0
        values = np.asarray(values_of(a))
        order = np.argpartition(values, kth, axis=axis, kind=kind)
        expected = np.partition(values, kth, axis=axis, kind=kind)
        if not np.array_equal(np.take_along_axis(values, order, axis), expected, equal_nan=True):
            # numpy arranged the entries otherwise: match each output entry to an input entry of equal value
            ranks = np.argsort(np.argsort(expected, axis=axis, kind="stable"), axis=axis, kind="stable")
            order = np.take_along_axis(np.argsort(values, axis=axis, kind="stable"), ranks, axis)
        return xp.take_along_axis(a, order, axis)
