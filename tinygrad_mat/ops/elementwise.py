"""Elementwise ops: arithmetic with numpy broadcasting, and unary functions.

A unary elementwise op writes only its derivative f′ (``derivative``); its VJP
Z̄ ⊙ f′(X) and JVP f′(X) ⊙ Ẋ follow from ``Elementwise``.
"""
import numpy as np

from .. import dispatch
from .base import Op, add_optional, register


@register
class Add(Op):
    name = "add"
    vjp_text = "Ā = Z̄,  B̄ = Z̄"
    jvp_text = "Ż = Ȧ + Ḃ"

    def forward(self, a, b):
        return a + b

    def vjp(self, xp, g, inputs, out, needs):
        return g, g

    def jvp(self, xp, tangents, inputs, out):
        return add_optional(*tangents)


@register
class Sub(Op):
    name = "sub"
    vjp_text = "Ā = Z̄,  B̄ = −Z̄"
    jvp_text = "Ż = Ȧ − Ḃ"

    def forward(self, a, b):
        return a - b

    def vjp(self, xp, g, inputs, out, needs):
        return g, (-g if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        da, db = tangents
        if db is None:
            return da
        return -db if da is None else da - db


@register
class Mul(Op):
    name = "mul"
    vjp_text = "Ā = Z̄ ⊙ B,  B̄ = Z̄ ⊙ A"
    jvp_text = "Ż = Ȧ ⊙ B + A ⊙ Ḃ"

    def forward(self, a, b):
        return a * b

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        return (g * b if needs[0] else None), (g * a if needs[1] else None)

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        return add_optional(None if da is None else da * b, None if db is None else a * db)


@register
class Div(Op):
    name = "div"
    vjp_text = "Ā = Z̄ ⊘ B,  B̄ = −Z̄ ⊙ Z ⊘ B"
    jvp_text = "Ż = (Ȧ − Z ⊙ Ḃ) ⊘ B"

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
class Neg(Op):
    name = "neg"
    vjp_text = "X̄ = −Z̄"
    jvp_text = "Ż = −Ẋ"

    def forward(self, x):
        return -x

    def vjp(self, xp, g, inputs, out, needs):
        return (-g,)

    def jvp(self, xp, tangents, inputs, out):
        return -tangents[0]


@register
class Pow(Op):
    """X ** Y for a tensor base, a tensor exponent, or both (aˣ: the notes' d(aˣ)/dx = aˣ ln a)."""

    name = "pow"
    vjp_text = "X̄ = Z̄ ⊙ Y ⊙ X^(Y−1),  Ȳ = Z̄ ⊙ Z ⊙ ln X"
    jvp_text = "Ż = Y ⊙ X^(Y−1) ⊙ Ẋ + Z ⊙ ln X ⊙ Ẏ"

    def forward(self, x, y):
        return x**y

    @staticmethod
    def _d_base(x, y):
        # Y ⊙ X^(Y−1); a constant exponent 0 has derivative 0 (also at X = 0).
        if isinstance(y, float) and y == 0.0:
            return None
        return y * x ** (y - 1.0)

    @staticmethod
    def _d_exponent(xp, x, out):
        # Z ⊙ ln X, taken as 0 where X = 0 (there Z = 0 for Y > 0).
        x_zero = xp.value(x) == 0
        if not x_zero.any():
            return out * xp.log(x)
        return out * (xp.log(x + x_zero) * (~x_zero))

    def vjp(self, xp, g, inputs, out, needs):
        x, y = inputs
        gx = gy = None
        if needs[0]:
            d = self._d_base(x, y)
            gx = None if d is None else g * d
        if needs[1]:
            gy = g * self._d_exponent(xp, x, out)
        return gx, gy

    def jvp(self, xp, tangents, inputs, out):
        (dx, dy), (x, y) = tangents, inputs
        term_x = term_y = None
        if dx is not None:
            d = self._d_base(x, y)
            term_x = None if d is None else d * dx
        if dy is not None:
            term_y = self._d_exponent(xp, x, out) * dy
        return add_optional(term_x, term_y)


@register
class Alias(Op):
    """The identity: gives a transform its own handle on a value that lives in an outer graph."""

    name = "alias"
    vjp_text = "X̄ = Z̄"
    jvp_text = "Ż = Ẋ"

    def forward(self, x):
        return x

    def vjp(self, xp, g, inputs, out, needs):
        return (g,)

    def jvp(self, xp, tangents, inputs, out):
        return tangents[0]


@register
class Cast(Op):
    name = "cast"
    vjp_text = "X̄ = Z̄ (in X's dtype)"
    jvp_text = "Ż = Ẋ (in Z's dtype)"

    def forward(self, x, dtype):
        return x.astype(dtype)

    def vjp(self, xp, g, inputs, out, needs, dtype):
        return (xp.astype(g, inputs[0].dtype),)

    def jvp(self, xp, tangents, inputs, out, dtype):
        return xp.astype(tangents[0], dtype)


class Elementwise(Op):
    """Z = f(X) entry by entry. Subclasses give ``forward`` and ``derivative`` (f′ at X)."""

    def derivative(self, xp, x, out):
        raise NotImplementedError

    def vjp(self, xp, g, inputs, out, needs):
        return (g * self.derivative(xp, inputs[0], out),)

    def jvp(self, xp, tangents, inputs, out):
        return tangents[0] * self.derivative(xp, inputs[0], out)


@register
class Exp(Elementwise):
    name = "exp"
    vjp_text = "X̄ = Z̄ ⊙ Z"
    jvp_text = "Ż = Z ⊙ Ẋ"

    def forward(self, x):
        return np.exp(x)

    def derivative(self, xp, x, out):
        return out


@register
class Log(Elementwise):
    name = "log"
    vjp_text = "X̄ = Z̄ ⊘ X"
    jvp_text = "Ż = Ẋ ⊘ X"

    def forward(self, x):
        return np.log(x)

    def vjp(self, xp, g, inputs, out, needs):
        return (g / inputs[0],)

    def jvp(self, xp, tangents, inputs, out):
        return tangents[0] / inputs[0]


@register
class Sqrt(Elementwise):
    name = "sqrt"
    vjp_text = "X̄ = Z̄ ⊘ (2Z)"
    jvp_text = "Ż = Ẋ ⊘ (2Z)"

    def forward(self, x):
        return np.sqrt(x)

    def vjp(self, xp, g, inputs, out, needs):
        return (g / (2.0 * out),)

    def jvp(self, xp, tangents, inputs, out):
        return tangents[0] / (2.0 * out)


@register
class Tanh(Elementwise):
    name = "tanh"
    vjp_text = "X̄ = Z̄ ⊙ (1 − Z ⊙ Z)"
    jvp_text = "Ż = (1 − Z ⊙ Z) ⊙ Ẋ"

    def forward(self, x):
        return np.tanh(x)

    def derivative(self, xp, x, out):
        return 1.0 - out * out


@register
class Sigmoid(Elementwise):
    name = "sigmoid"
    vjp_text = "X̄ = Z̄ ⊙ Z ⊙ (1 − Z)"
    jvp_text = "Ż = Z ⊙ (1 − Z) ⊙ Ẋ"

    def forward(self, x):
        return dispatch.sigmoid(x)

    def derivative(self, xp, x, out):
        return out * (1.0 - out)


@register
class Relu(Elementwise):
    name = "relu"
    vjp_text = "X̄ = Z̄ ⊙ [X > 0]"
    jvp_text = "Ż = [X > 0] ⊙ Ẋ"

    def forward(self, x):
        return np.maximum(x, 0.0)

    def derivative(self, xp, x, out):
        x = xp.value(x)
        return (x > 0).astype(x.dtype)


@register
class Abs(Elementwise):
    name = "abs"
    vjp_text = "X̄ = Z̄ ⊙ sign(X)"
    jvp_text = "Ż = sign(X) ⊙ Ẋ"

    def forward(self, x):
        return np.abs(x)

    def derivative(self, xp, x, out):
        return np.sign(xp.value(x))
