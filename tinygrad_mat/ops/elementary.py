"""numpy's elementary functions: trigonometric, hyperbolic, logarithms and exponentials, erf, sinc,
softplus; binary ones (arctan2, hypot, logaddexp); and the piecewise-constant ones (floor, ceil,
round, sign), whose derivative is 0.

Each unary function writes only f′ as an expression of other records' functions (``xp.cos``, ...),
so its derivatives of every order follow. Sources: the elementary derivatives in any calculus text;
softplus and log-sigmoid as in JAX (``jax.nn``).
"""
import math

import numpy as np

from .. import dispatch
from .base import Composite, Elementwise, Op, add_optional, dtype_of, register, shape_of, values_of


def _unary(name, forward, derivative, text, ufunc=None, method=None, doc=None, lowered=None):
    """Register an elementwise record Z = forward(X) with f′ = derivative(xp, x, out)."""

    class Record(Elementwise):
        __doc__ = doc or f"{name}(x) elementwise, as ``numpy.{ufunc.__name__ if ufunc else name}``."

    Record.name, Record.method, Record.ufunc, Record.derivative_text = name, method, ufunc, text
    if lowered is not None:  # numba source of f for tm.compile's numba backend (see Elementwise)
        Record.lowered = lowered
    Record.forward = lambda self, x: forward(x)
    Record.derivative = lambda self, xp, x, out: derivative(xp, x, out)
    Record.__name__ = Record.__qualname__ = "".join(part.title() for part in name.split("_"))
    return register(Record)


LN2, LN10 = math.log(2.0), math.log(10.0)

_unary("sin", np.sin, lambda xp, x, z: xp.cos(x), "cos(X)", np.sin, "sin",
       lowered="np.sin({x})")
_unary("cos", np.cos, lambda xp, x, z: -xp.sin(x), "(−sin(X))", np.cos, "cos",
       lowered="np.cos({x})")
_unary("tan", np.tan, lambda xp, x, z: 1.0 + z * z, "(1 + Z ⊙ Z)", np.tan, "tan",
       lowered="np.tan({x})")
_unary("arcsin", np.arcsin, lambda xp, x, z: 1.0 / xp.sqrt(1.0 - x * x), "(1 − X ⊙ X)^(−1/2)", np.arcsin)
_unary("arccos", np.arccos, lambda xp, x, z: -1.0 / xp.sqrt(1.0 - x * x), "(−(1 − X ⊙ X)^(−1/2))", np.arccos)
_unary("arctan", np.arctan, lambda xp, x, z: 1.0 / (1.0 + x * x), "(1 + X ⊙ X)⁻¹", np.arctan,
       lowered="np.arctan({x})")
_unary("sinh", np.sinh, lambda xp, x, z: xp.cosh(x), "cosh(X)", np.sinh, "sinh",
       lowered="np.sinh({x})")
_unary("cosh", np.cosh, lambda xp, x, z: xp.sinh(x), "sinh(X)", np.cosh, "cosh",
       lowered="np.cosh({x})")
_unary("arcsinh", np.arcsinh, lambda xp, x, z: 1.0 / xp.sqrt(x * x + 1.0), "(X ⊙ X + 1)^(−1/2)", np.arcsinh)
_unary("arccosh", np.arccosh, lambda xp, x, z: 1.0 / xp.sqrt(x * x - 1.0), "(X ⊙ X − 1)^(−1/2)", np.arccosh)
_unary("arctanh", np.arctanh, lambda xp, x, z: 1.0 / (1.0 - x * x), "(1 − X ⊙ X)⁻¹", np.arctanh)
_unary("log2", np.log2, lambda xp, x, z: 1.0 / (x * LN2), "(X ln 2)⁻¹", np.log2)
_unary("log10", np.log10, lambda xp, x, z: 1.0 / (x * LN10), "(X ln 10)⁻¹", np.log10)
_unary("log1p", np.log1p, lambda xp, x, z: 1.0 / (1.0 + x), "(1 + X)⁻¹", np.log1p,
       lowered="np.log1p({x})")
_unary("expm1", np.expm1, lambda xp, x, z: z + 1.0, "(Z + 1)", np.expm1,
       lowered="np.expm1({x})")
_unary("exp2", np.exp2, lambda xp, x, z: z * LN2, "Z ln 2", np.exp2)
_unary("square", np.square, lambda xp, x, z: 2.0 * x, "2X", np.square,
       lowered="np.square({x})")
_unary("reciprocal", np.reciprocal, lambda xp, x, z: -(z * z), "(−Z ⊙ Z)", np.reciprocal,
       lowered="np.reciprocal({x})")
_unary("cbrt", np.cbrt, lambda xp, x, z: 1.0 / (3.0 * z * z), "(3 Z ⊙ Z)⁻¹", np.cbrt)
_unary("erf", dispatch.erf, lambda xp, x, z: (2.0 / math.sqrt(math.pi)) * xp.exp(-(x * x)), "(2/√π) exp(−X ⊙ X)",
       doc="The error function erf(x) = (2/√π) ∫₀ˣ exp(−t²) dt, elementwise (a numba kernel).")
_unary("softplus", lambda x: np.logaddexp(0.0, x), lambda xp, x, z: xp.sigmoid(x), "σ(X)",
       doc="log(1 + eˣ) elementwise, without overflow (``jax.nn.softplus``).",
       lowered="np.logaddexp(0.0, {x})")
_unary("log_sigmoid", lambda x: -np.logaddexp(0.0, -x), lambda xp, x, z: xp.sigmoid(-x), "σ(−X)",
       doc="log σ(x) = −softplus(−x) elementwise, stable at ±1000 (``jax.nn.log_sigmoid``).",
       lowered="-np.logaddexp(0.0, -{x})")


@register
class Sinc(Elementwise):
    """The normalised sinc, sin(πx)/(πx) with sinc(0) = 1, as ``numpy.sinc``.

    Near 0 the derivative is its Taylor series −(π²/3)x + (π⁴/30)x³ − (π⁶/840)x⁵, so that every
    order of derivative is right at 0 too (the quotient form is 0/0 there).
    """

    name, numpy = "sinc", {np.sinc: {}}
    derivative_text = "(cos(πX) − Z) ⊘ X   (its Taylor series near 0)"
    SERIES_BELOW = 1e-3

    def forward(self, x):
        return np.sinc(x)

    def derivative(self, xp, x, out):
        near = xp.gt(self.SERIES_BELOW, xp.abs(x))
        pi = math.pi
        series = x * (-(pi**2) / 3.0 + x * x * (pi**4 / 30.0 - x * x * (pi**6 / 840.0)))
        safe = xp.where(near, 1.0, x)  # keeps the quotient finite where it is not used
        quotient = (xp.cos(pi * safe) - xp.sinc(safe)) / safe
        return xp.where(near, series, quotient)


class _PiecewiseConstant(Op):
    """Z = f(X) constant between jumps: derivative 0 wherever it exists (and taken as 0 at jumps)."""

    batching = "leading"
    vjp_batching = "leading"

    vjp_text = "X̄ = 0"
    jvp_text = "Ż = 0"

    def vjp(self, xp, g, inputs, out, needs, **params):
        return (None,)

    def jvp(self, xp, tangents, inputs, out, **params):
        return None


@register
class Floor(_PiecewiseConstant):
    """The largest integer ≤ x, elementwise (as float); its derivative is 0."""

    name, ufunc, method = "floor", np.floor, "floor"

    def forward(self, x):
        return np.floor(x)


@register
class Ceil(_PiecewiseConstant):
    """The smallest integer ≥ x, elementwise (as float); its derivative is 0."""

    name, ufunc, method = "ceil", np.ceil, "ceil"

    def forward(self, x):
        return np.ceil(x)


@register
class Round(_PiecewiseConstant):
    """x rounded to ``decimals`` places (halves to even), as ``numpy.round``; its derivative is 0."""

    name, method = "round", "round"
    numpy = {np.round: {}, np.around: {}}

    def prepare(self, x, decimals=0):
        return (x,), {"decimals": int(decimals)}

    def forward(self, x, decimals):
        return np.round(x, decimals)


@register
class Rint(_PiecewiseConstant):
    """x rounded to the nearest integer (halves to even), as ``numpy.rint``; its derivative is 0."""

    name, ufunc = "rint", np.rint

    def forward(self, x):
        return np.rint(x)


@register
class Sign(_PiecewiseConstant):
    """−1, 0 or 1 by the sign of x, elementwise; its derivative is 0 (also at 0)."""

    name, ufunc, method = "sign", np.sign, "sign"

    def forward(self, x):
        return np.sign(x)


class _Binary(Op):

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    def prepare(self, a, b):
        return (a, b), {}


@register
class Arctan2(_Binary):
    """The angle of the point (x, y), arctan(y / x) in the right quadrant, as ``numpy.arctan2(y, x)``."""

    name, ufunc = "arctan2", np.arctan2
    vjp_text = "Ȳ = Z̄ ⊙ X ⊘ (X² + Y²),  X̄ = −Z̄ ⊙ Y ⊘ (X² + Y²)"
    jvp_text = "Ż = (X ⊙ Ẏ − Y ⊙ Ẋ) ⊘ (X² + Y²)"

    def forward(self, y, x):
        return np.arctan2(y, x)

    def vjp(self, xp, g, inputs, out, needs):
        y, x = inputs
        scale = g / (x * x + y * y)
        return (scale * x if needs[0] else None), (-(scale * y) if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        (dy, dx), (y, x) = tangents, inputs
        numerator = add_optional(None if dy is None else x * dy, None if dx is None else -(y * dx))
        return numerator / (x * x + y * y)


@register
class Hypot(_Binary):
    """√(a² + b²) elementwise, without overflow, as ``numpy.hypot``; its gradient at (0, 0) is 0."""

    name, ufunc = "hypot", np.hypot
    vjp_text = "Ā = Z̄ ⊙ A ⊘ Z,  B̄ = Z̄ ⊙ B ⊘ Z   (0 where Z = 0)"
    jvp_text = "Ż = (A ⊙ Ȧ + B ⊙ Ḃ) ⊘ Z"

    def forward(self, a, b):
        return np.hypot(a, b)

    @staticmethod
    def _safe(xp, out):
        return out + xp.eq(out, 0.0)

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        scale = g / self._safe(xp, out)
        return (scale * a if needs[0] else None), (scale * b if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        return add_optional(None if da is None else a * da, None if db is None else b * db) / self._safe(xp, out)


@register
class LogAddExp(_Binary):
    """log(eᵃ + eᵇ) elementwise, without overflow, as ``numpy.logaddexp``."""

    name, ufunc = "logaddexp", np.logaddexp
    vjp_text = "Ā = Z̄ ⊙ exp(A − Z),  B̄ = Z̄ ⊙ exp(B − Z)"
    jvp_text = "Ż = exp(A − Z) ⊙ Ȧ + exp(B − Z) ⊙ Ḃ"

    def forward(self, a, b):
        return np.logaddexp(a, b)

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        return (g * xp.exp(a - out) if needs[0] else None), (g * xp.exp(b - out) if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        return add_optional(None if da is None else xp.exp(a - out) * da, None if db is None else xp.exp(b - out) * db)


@register
class Mod(_Binary):
    """a mod b with the sign of b (Python's %), as ``numpy.mod`` / ``numpy.remainder``: a − ⌊a/b⌋ b."""

    name, ufunc, dunder = "mod", np.remainder, "mod"
    vjp_text = "Ā = Z̄,  B̄ = −Z̄ ⊙ ⌊A ⊘ B⌋"
    jvp_text = "Ż = Ȧ − ⌊A ⊘ B⌋ ⊙ Ḃ"

    def forward(self, a, b):
        return np.mod(a, b)

    def _quotient(self, xp, a, b):
        return xp.floor(a / b)  # piecewise constant: its derivative is 0

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        return (g if needs[0] else None), (-(g * self._quotient(xp, a, b)) if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        return add_optional(da, None if db is None else -(self._quotient(xp, a, b) * db))


@register
class Fmod(Mod):
    """a mod b with the sign of a (C's fmod), as ``numpy.fmod``: a − trunc(a/b) b."""

    name, ufunc, dunder = "fmod", np.fmod, None
    vjp_text = "Ā = Z̄,  B̄ = −Z̄ ⊙ trunc(A ⊘ B)"
    jvp_text = "Ż = Ȧ − trunc(A ⊘ B) ⊙ Ḃ"

    def forward(self, a, b):
        return np.fmod(a, b)

    def _quotient(self, xp, a, b):
        q = a / b
        return xp.sign(q) * xp.floor(xp.abs(q))  # trunc, piecewise constant


@register
class Remainder(Composite):
    """Same as ``mod`` (numpy's other name for it, ``numpy.remainder``)."""

    name, text = "remainder", "mod(a, b)"

    def compute(self, xp, a, b):
        return xp.mod(a, b)


# ---------------------------------------------------------------- numpy's other spellings


def _scaling(name, ufunc, factor, factor_text, doc):
    """Register a composite Z = factor · X reached as ``ufunc`` (angles in degrees and radians)."""

    class Record(Composite):
        __doc__ = doc

        def compute(self, xp, x):
            return xp.mul(x, factor)

    Record.name, Record.ufunc, Record.text = name, ufunc, f"x · {factor_text}"
    Record.__name__ = Record.__qualname__ = name.title()
    return register(Record)


_scaling("deg2rad", np.deg2rad, math.pi / 180.0, "π/180", "Degrees to radians, as ``numpy.deg2rad``.")
_scaling("radians", np.radians, math.pi / 180.0, "π/180", "Degrees to radians, as ``numpy.radians``.")
_scaling("rad2deg", np.rad2deg, 180.0 / math.pi, "180/π", "Radians to degrees, as ``numpy.rad2deg``.")
_scaling("degrees", np.degrees, 180.0 / math.pi, "180/π", "Radians to degrees, as ``numpy.degrees``.")


@register
class Fabs(Composite):
    """|x| of real x, as ``numpy.fabs`` (the same as ``abs``)."""

    name, ufunc, text = "fabs", np.fabs, "abs(x)"

    def compute(self, xp, x):
        return xp.abs(x)


@register
class Logaddexp2(Composite):
    """log₂(2ᵃ + 2ᵇ) elementwise, as ``numpy.logaddexp2``, without overflow."""

    name, ufunc, text = "logaddexp2", np.logaddexp2, "logaddexp(a ln 2, b ln 2) / ln 2"

    def compute(self, xp, a, b):
        return xp.logaddexp(xp.mul(a, LN2), xp.mul(b, LN2)) / LN2


# The complex-number functions, on real Tensors (complex input is refused when a Tensor is made):
# the real part and the conjugate are x itself, the imaginary part 0 and the angle 0 or π (constants).


@register
class Real(Composite):
    """The real part of a real Tensor: x itself, as ``numpy.real``."""

    name, numpy, text = "real", {np.real: {}}, "x (a Tensor is real)"

    def compute(self, xp, val):
        return xp.as_result(val)


@register
class RealIfClose(Composite):
    """x itself for a real Tensor, as ``numpy.real_if_close``."""

    name, numpy, text = "real_if_close", {np.real_if_close: {}}, "x (a Tensor is real)"

    def compute(self, xp, a, tol=100):
        return xp.as_result(a)


@register
class Conjugate(Composite):
    """The complex conjugate of a real Tensor: x itself, as ``numpy.conjugate`` (``numpy.conj``)."""

    name, ufunc, text = "conjugate", np.conjugate, "x (a Tensor is real)"

    def compute(self, xp, x):
        return xp.as_result(x)


@register
class Imag(Composite):
    """The imaginary part of a real Tensor: zeros (a constant), as ``numpy.imag``."""

    name, numpy, text = "imag", {np.imag: {}}, "zeros of x's shape (a constant)"

    def compute(self, xp, val):
        return xp.as_result(np.zeros(shape_of(val), dtype=dtype_of(val)))


@register
class Angle(Composite):
    """The angle of a real Tensor: 0 for x ≥ 0, π (180 with ``deg``) for x < 0, a constant, as
    ``numpy.angle``."""

    name, numpy, text = "angle", {np.angle: {}}, "numpy.angle of the values (a constant)"

    def compute(self, xp, z, deg=False):
        return xp.as_result(np.angle(np.asarray(values_of(z)), deg=deg))
