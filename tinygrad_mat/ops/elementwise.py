"""Elementwise ops: arithmetic with numpy broadcasting, casts, and unary functions.

A unary function writes only f′ (``Elementwise``); add, sub, neg, alias and astype are linear and
write only their transpose; mul is bilinear. div and pow write both rules.
"""
import numpy as np

from .. import dispatch
from ..errors import DTypeError
from .base import Bilinear, Binary, Composite, Elementwise, Linear, Op, add_optional, register, shape_of, values_of


@register
class Add(Binary, Linear):
    """a + b with numpy broadcasting.

    >>> import tinygrad_mat as tm
    >>> tm.add(tm.tensor([1.0, 2.0]), 1.0)
    Tensor([2., 3.])
    """

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    name, dunder, ufunc = "add", "add", np.add
    lowered = "{a} + {b}"
    vjp_text = "Ā = Z̄,  B̄ = Z̄"
    jvp_text = "Ż = Ȧ + Ḃ"

    def prepare(self, a, b):
        return (a, b), {}

    def forward(self, a, b):
        return a + b

    def vjp(self, xp, g, inputs, out, needs):
        return g, g

    def jvp(self, xp, tangents, inputs, out):
        return add_optional(*tangents)  # cheaper than the generic linear rule: no zeros needed


@register
class Sub(Binary, Linear):
    """a − b with numpy broadcasting."""

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    name, dunder, ufunc = "sub", "sub", np.subtract
    lowered = "{a} - {b}"
    vjp_text = "Ā = Z̄,  B̄ = −Z̄"
    jvp_text = "Ż = Ȧ − Ḃ"

    def prepare(self, a, b):
        return (a, b), {}

    def forward(self, a, b):
        return a - b

    def vjp(self, xp, g, inputs, out, needs):
        return g, (-g if needs[1] else None)


@register
class Mul(Binary, Bilinear):
    """a ⊙ b (elementwise product) with numpy broadcasting."""

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    name, dunder, ufunc, symbol = "mul", "mul", np.multiply, "⊙"
    lowered = "{a} * {b}"
    vjp_text = "Ā = Z̄ ⊙ B,  B̄ = Z̄ ⊙ A"

    def prepare(self, a, b):
        return (a, b), {}

    def forward(self, a, b):
        return a * b

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        return (g * b if needs[0] else None), (g * a if needs[1] else None)


@register
class Div(Binary, Op):
    """a ⊘ b (elementwise quotient) with numpy broadcasting."""

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    name, dunder, ufunc = "div", "truediv", np.true_divide
    lowered = "{a} / {b}"
    vjp_text = "Ā = Z̄ ⊘ B,  B̄ = −Z̄ ⊙ Z ⊘ B"
    jvp_text = "Ż = (Ȧ − Z ⊙ Ḃ) ⊘ B"

    def prepare(self, a, b):
        return (a, b), {}

    def forward(self, a, b):
        return a / b

    def vjp(self, xp, g, inputs, out, needs):
        g_over_b = g / inputs[1]
        return (g_over_b if needs[0] else None), (-(g_over_b * out) if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        da, db = tangents
        numerator = add_optional(da, None if db is None else -(out * db))
        return numerator / inputs[1]


@register
class Neg(Linear):
    """−x."""

    batching = "leading"
    vjp_batching = "leading"

    name, dunder, ufunc = "neg", "neg", np.negative
    vjp_text = "X̄ = −Z̄"
    jvp_text = "Ż = −Ẋ"

    def forward(self, x):
        return -x

    def lower_forward(self, ins, inputs, params):
        return f"-{ins[0]}"

    def vjp(self, xp, g, inputs, out, needs):
        return (-g,)


_ONE = object()  # Pow's derivative in x for the exponent 1: the cotangent passes as it is


@register
class Pow(Op):
    """x ** y elementwise; either may be a constant (x ** 3, 2 ** x) or both Tensors.

    The notes' d(aˣ)/dx = aˣ ln a. A zero exponent (constant or not) has derivative 0 in x
    everywhere, also at x = 0, in every mode.

    >>> import tinygrad_mat as tm
    >>> tm.grad(lambda x: 2.0 ** x)(3.0)     # d(aˣ)/dx = aˣ ln a
    array(5.54517744)
    """

    batching = "pad"  # broadcasting: a batch of tangents, padded to the output's rank
    vjp_batching = "leading"  # Z̄ has the output's full rank: the rule broadcasts its batch axis

    name, dunder, ufunc = "pow", "pow", np.power
    lowering_limits = "a number exponent"
    vjp_text = "X̄ = Z̄ ⊙ Y ⊙ X^(Y−1),  Ȳ = Z̄ ⊙ Z ⊙ ln X   (0 where Y = 0, resp. X = 0)"
    jvp_text = "Ż = Y ⊙ X^(Y−1) ⊙ Ẋ + Z ⊙ ln X ⊙ Ẏ"
    source = "note 002 (aˣ); the zero-exponent convention is JAX's"

    def prepare(self, x, y):
        return (x, y), {}

    def forward(self, x, y):
        return x**y

    @staticmethod
    def _d_base(xp, x, y):
        """Y ⊙ X^(Y−1), and 0 where X = Y = 0 (not 0 · X^(−1) = NaN). A Python number exponent (x ** 2)
        needs no mask; an array one gets it from comparison ops, never from values read out, so a
        recorded or compiled pass recomputes it for new values."""
        if type(y) is float:  # x ** 2 and x ** 1 (a square, a norm squared): no power computed
            if y == 0.0 or y == 1.0:
                return None if y == 0.0 else _ONE
            return 2.0 * x if y == 2.0 else y * x ** (y - 1.0)
        both_zero = xp.eq(y, 0.0) * xp.eq(x, 0.0)
        # A safe exponent there keeps every branch finite, so no NaN leaks into derivatives of this
        # rule (the masked branch would otherwise get 0 · inf).
        safe_y = xp.where(both_zero, 1.0, y)
        return xp.where(both_zero, 0.0, safe_y * x ** (safe_y - 1.0))

    @staticmethod
    def _d_exponent(xp, x, out):
        """Z ⊙ ln X, taken as 0 where X = 0 (there Z = 0 for Y > 0)."""
        x_zero = xp.eq(x, 0.0)
        return xp.where(x_zero, 0.0, out * xp.log(xp.where(x_zero, 1.0, x)))

    def vjp(self, xp, g, inputs, out, needs):
        x, y = inputs
        gx = gy = None
        if needs[0]:
            d = self._d_base(xp, x, y)
            gx = None if d is None else (g if d is _ONE else g * d)
        if needs[1]:
            gy = g * self._d_exponent(xp, x, out)
        return gx, gy

    def lower_forward(self, ins, inputs, params):
        if type(inputs[1]) is float or (shape_of(inputs[0]) == () and shape_of(inputs[1]) == ()):
            return f"{ins[0]} ** {ins[1]}"
        return f"np.power({ins[0]}, {ins[1]})"

    def jvp(self, xp, tangents, inputs, out):
        (dx, dy), (x, y) = tangents, inputs
        term_x = term_y = None
        if dx is not None:
            d = self._d_base(xp, x, y)
            term_x = None if d is None else (dx if d is _ONE else d * dx)
        if dy is not None:
            term_y = self._d_exponent(xp, x, out) * dy
        return add_optional(term_x, term_y)


@register
class Alias(Linear):
    """The identity: gives a transform its own handle on a value that lives in an outer graph."""

    batching = "leading"
    vjp_batching = "leading"

    name, public = "alias", False
    vjp_text = "X̄ = Z̄"
    jvp_text = "Ż = Ẋ"

    def forward(self, x):
        return x

    def vjp(self, xp, g, inputs, out, needs):
        return (g,)

    def lower_forward(self, ins, inputs, params):
        return ins[0]

@register
class CastFloat(Linear):
    """x cast to float32 or float64; the gradient is cast back to x's dtype (internal: see ``astype``)."""

    batching = "leading"
    vjp_batching = "leading"

    name, public = "cast_float", False
    vjp_text = "X̄ = Z̄ (in X's dtype)"
    jvp_text = "Ż = Ẋ (in Z's dtype)"

    def prepare(self, x, dtype):
        return (x,), {"dtype": np.dtype(dtype)}

    def is_identity(self, inputs, params):
        return getattr(inputs[0], "dtype", None) == params["dtype"]

    def forward(self, x, dtype):
        return x.astype(dtype)

    def lower_forward(self, ins, inputs, params):
        return ins[0] if params["dtype"] == np.float64 else None

    def vjp(self, xp, g, inputs, out, needs, dtype):
        return (xp.astype(g, inputs[0].dtype),)


@register
class AsType(Composite):
    """x cast to ``dtype``, as ``ndarray.astype``. To float32 or float64: a Tensor, differentiable (the
    gradient is cast back to x's dtype). To an integer or boolean dtype: the values as a numpy array
    of that dtype, as numpy users write ``idx = x.astype(int)``; it has no derivative (the cast is
    piecewise constant: its derivative is 0 wherever it exists), as JAX's integer tracers and
    PyTorch's ``.long()``.

    >>> import tinygrad_mat as tm
    >>> tm.tensor([1.7, -0.5]).astype(int)      # truncated towards 0, as numpy
    array([1, 0])
    """

    name, method = "astype", "astype"
    text = "cast_float for float32 and float64; the values as a numpy array for integer and boolean dtypes"

    def compute(self, xp, x, dtype):
        try:
            dtype = np.dtype(dtype)
        except TypeError as error:
            raise DTypeError(f"astype: {dtype!r} is not a dtype") from error
        if dtype in (np.float32, np.float64):
            return xp.cast_float(x, dtype)
        if dtype.kind in "biu":
            return np.asarray(values_of(x)).astype(dtype)
        raise DTypeError(f"astype: a Tensor casts to float32 or float64 (differentiable) or to an integer or bool "
                         f"dtype (values, no derivative), not {dtype}")


# ---------------------------------------------------------------- unary functions (f′ only)


@register
class Exp(Elementwise):
    """eˣ elementwise."""

    name, method, ufunc = "exp", "exp", np.exp
    lowered = "np.exp({x})"
    derivative_text = "Z"

    def forward(self, x):
        return np.exp(x)

    def derivative(self, xp, x, out):
        return out


@register
class Log(Elementwise):
    """Natural logarithm elementwise."""

    name, method, ufunc = "log", "log", np.log
    lowered = "np.log({x})"
    derivative_text = "X⁻¹"

    def forward(self, x):
        return np.log(x)

    def derivative(self, xp, x, out):
        return 1.0 / x


@register
class Sqrt(Elementwise):
    """Square root elementwise."""

    name, method, ufunc = "sqrt", "sqrt", np.sqrt
    lowered = "np.sqrt({x})"
    derivative_text = "(2Z)⁻¹"

    def forward(self, x):
        return np.sqrt(x)

    def derivative(self, xp, x, out):
        return 0.5 / out


@register
class SqrtFlatAtZero(Elementwise):
    """√x with derivative 0 where x = 0 (internal: std, which is constant 0 along a length-1 axis and
    has a kink where all entries are equal; 0 is its subgradient there)."""

    name, public = "sqrt_flat_at_zero", False
    derivative_text = "(2Z)⁻¹, 0 where Z = 0"
    lowered = "np.sqrt({x})"

    def forward(self, x):
        return np.sqrt(x)

    def derivative(self, xp, x, out):
        positive = xp.gt(out, 0.0)
        return xp.where(positive, 0.5 / xp.where(positive, out, 1.0), 0.0)


@register
class Tanh(Elementwise):
    """Hyperbolic tangent elementwise."""

    name, method, ufunc = "tanh", "tanh", np.tanh
    lowered = "np.tanh({x})"
    derivative_text = "(1 − Z ⊙ Z)"

    def forward(self, x):
        return np.tanh(x)

    def derivative(self, xp, x, out):
        return 1.0 - out * out


@register
class Sigmoid(Elementwise):
    """Logistic function 1 / (1 + e⁻ˣ) elementwise, stable for large |x|.

    >>> import tinygrad_mat as tm
    >>> tm.sigmoid(tm.tensor([0.0, 800.0, -800.0]))
    Tensor([0.5, 1. , 0. ])
    """

    name, method = "sigmoid", "sigmoid"
    lowered = "{sigmoid}({x})"
    derivative_text = "Z ⊙ (1 − Z)"

    def forward(self, x):
        return dispatch.sigmoid(x)

    def derivative(self, xp, x, out):
        return out * (1.0 - out)


@register
class Relu(Elementwise):
    """max(x, 0) elementwise; its derivative at 0 is taken as 0 (as PyTorch and JAX)."""

    name, method = "relu", "relu"
    lowered = "np.maximum({x}, 0.0)"
    derivative_text = "[X > 0]"

    def forward(self, x):
        return np.maximum(x, 0.0)

    def derivative(self, xp, x, out):
        return xp.gt(x, 0.0)


@register
class Abs(Elementwise):
    """|x| elementwise; its derivative at 0 is taken as 0 (sign(0) = 0, as PyTorch and JAX)."""

    name, method, dunder, ufunc = "abs", "abs", "abs", np.absolute
    lowered = "np.abs({x})"
    derivative_text = "sign(X)"

    def forward(self, x):
        return np.abs(x)

    def derivative(self, xp, x, out):
        return xp.sign(x)
