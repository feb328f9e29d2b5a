"""Comparisons as ops: masks of 1.0 and 0.0 in the operands' float dtype, with no derivative.

Rules that need a mask (relu's X > 0, max's ties, pow's Y = 0, where's branches) build it with these
instead of reading values, so a mask is a computation of its own: a recorded backward pass holds it
as an op, and ``tm.compile`` replays it on each call's values instead of baking the traced call's
mask in. The public comparisons (``t > 0``) still give numpy boolean arrays (values, no derivative).
"""
import numpy as np

from .base import Op, register


class _Mask(Op):
    """f(A, B) ∈ {0.0, 1.0} elementwise (broadcasting); piecewise constant, so every derivative is 0."""

    public = False
    reads_inputs = False
    batching = "pad"
    vjp_text = "0 (a mask: piecewise constant)"
    jvp_text = "0"
    compare = None

    symbol = None  # the Python comparison, for the numba backend

    def prepare(self, a, b=0.0):
        return (a, b), {}

    def lower_forward(self, ins, inputs, params):
        return None if self.symbol is None else f"(({ins[0]}) {self.symbol} ({ins[1]})) * 1.0"

    def forward(self, a, b):
        dtype = np.result_type(getattr(a, "dtype", np.float64), getattr(b, "dtype", np.float64))
        return self.compare(a, b).astype(dtype if dtype.kind == "f" else np.float64)

    def vjp(self, xp, g, inputs, out, needs):
        return (None,) * len(inputs)

    def jvp(self, xp, tangents, inputs, out):
        return None


@register
class Greater(_Mask):
    """[A > B]."""

    name, compare, symbol = "gt", staticmethod(np.greater), ">"


@register
class GreaterEqual(_Mask):
    """[A ≥ B]."""

    name, compare, symbol = "ge", staticmethod(np.greater_equal), ">="


@register
class Equal(_Mask):
    """[A = B]."""

    name, compare, symbol = "eq", staticmethod(np.equal), "=="


@register
class NotEqual(_Mask):
    """[A ≠ B]."""

    name, compare, symbol = "ne", staticmethod(np.not_equal), "!="


@register
class IsFinite(_Mask):
    """[X finite] (neither NaN nor ±inf)."""

    name = "isfinite_mask"

    def prepare(self, x):
        return (x,), {}

    def forward(self, x):
        return np.isfinite(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)

    def lower_forward(self, ins, inputs, params):
        return f"np.isfinite({ins[0]}) * 1.0"


@register
class IsNan(_Mask):
    """[X is NaN]."""

    name = "isnan_mask"

    def prepare(self, x):
        return (x,), {}

    def forward(self, x):
        return np.isnan(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)

    def lower_forward(self, ins, inputs, params):
        return f"np.isnan({ins[0]}) * 1.0"
