"""Matrix ops: matmul, trace, norm, inv, det, slogdet, solve.

All act on the last two axes and broadcast over leading (batch) axes as
``numpy.linalg`` does. Notation: Aᵀ transposes each matrix of a stack (``mT``).
"""
import numpy as np

from ..errors import ShapeError
from .base import Op, add_optional, keepdims_shape, register, require_square


def _as_matrix_row(xp, v):
    return xp.reshape(v, v.shape[:-1] + (1,) + v.shape[-1:])


def _as_matrix_col(xp, v):
    return xp.reshape(v, v.shape + (1,))


def _drop_axis(xp, v, axis):
    shape = list(v.shape)
    del shape[axis]
    return xp.reshape(v, tuple(shape))


@register
class MatMul(Op):
    name = "matmul"
    vjp_text = "Ā = Z̄ Bᵀ,  B̄ = Aᵀ Z̄"
    jvp_text = "Ż = Ȧ B + A Ḃ"

    def forward(self, a, b):
        return a @ b

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        # numpy's 1-D rules: a vector a is a row (1×k), a vector b a column (k×1).
        a_vec, b_vec = a.ndim == 1, b.ndim == 1
        if a_vec:
            a = _as_matrix_row(xp, a)
            g = _as_matrix_row(xp, g) if not b_vec else xp.reshape(g, (1, 1))
        if b_vec:
            b = _as_matrix_col(xp, b)
            if not a_vec:
                g = _as_matrix_col(xp, g)
        ga = gb = None
        if needs[0]:
            ga = g @ b.mT
            if a_vec:
                ga = _drop_axis(xp, ga, -2) if ga.ndim > 2 else xp.reshape(ga, ga.shape[-1:])
        if needs[1]:
            gb = a.mT @ g
            if b_vec:
                gb = _drop_axis(xp, gb, -1) if gb.ndim > 2 else xp.reshape(gb, gb.shape[-2:-1])
        return ga, gb

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        return add_optional(None if da is None else da @ b, None if db is None else a @ db)

    def explain(self, error, arrays, params):
        a, b = (np.shape(x) for x in arrays)
        if len(a) == 0 or len(b) == 0:
            return ShapeError(f"matmul: shapes {a} and {b}: matmul needs at least 1-D operands; use * for scalars")
        k_b = b[-2] if len(b) > 1 else b[0]
        if a[-1] != k_b:
            return ShapeError(f"matmul: shapes {a} and {b} are not aligned ({a[-1]} != {k_b})")
        return ShapeError(f"matmul: shapes {a} and {b}: the batch axes {a[:-2]} and {b[:-2]} cannot be broadcast")


@register
class Trace(Op):
    name = "trace"
    vjp_text = "X̄ = Z̄ I"
    jvp_text = "Ż = tr(Ẋ)"

    def forward(self, x):
        if x.ndim < 2:
            raise ShapeError(f"trace: needs a matrix (at least 2-D), got shape {x.shape}")
        return np.trace(x, axis1=-2, axis2=-1)

    def vjp(self, xp, g, inputs, out, needs):
        m, n = inputs[0].shape[-2:]
        return (xp.reshape(g, g.shape + (1, 1)) * np.eye(m, n, dtype=inputs[0].dtype),)

    def jvp(self, xp, tangents, inputs, out):
        return xp.trace(tangents[0])


@register
class Norm(Op):
    """Euclidean norm of the entries over ``axis`` (all: the Frobenius norm of a matrix)."""

    name = "norm"
    vjp_text = "X̄ = Z̄ X / ‖X‖   (0 where ‖X‖ = 0)"
    jvp_text = "Ż = ⟨X, Ẋ⟩ / ‖X‖"

    def forward(self, x, axis, keepdims):
        if axis is None and not keepdims:
            flat = x.reshape(-1)
            return np.sqrt(np.dot(flat, flat))
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))

    @staticmethod
    def _safe(xp, out, x, axis, keepdims):
        # The norm, reshaped to broadcast against X, with 1 in place of 0: there X = 0 and
        # the (sub)gradient 0 is taken, as PyTorch and JAX do.
        if not keepdims:
            out = xp.reshape(out, keepdims_shape(x.shape, axis))
        return out + (xp.value(out) == 0)

    def vjp(self, xp, g, inputs, out, needs, axis, keepdims):
        x = inputs[0]
        if not keepdims:
            g = xp.reshape(g, keepdims_shape(x.shape, axis))
        return (g * x / self._safe(xp, out, x, axis, keepdims),)

    def jvp(self, xp, tangents, inputs, out, axis, keepdims):
        x = inputs[0]
        ratio = x / self._safe(xp, out, x, axis, keepdims)
        return xp.sum(ratio * tangents[0], axis, keepdims)


@register
class Inv(Op):
    name = "inv"
    vjp_text = "Ā = −Zᵀ Z̄ Zᵀ   (Z = A⁻¹)"
    jvp_text = "Ż = −Z Ȧ Z"

    def forward(self, a):
        require_square("inv", a)
        return np.linalg.inv(a)

    def vjp(self, xp, g, inputs, out, needs):
        out_t = out.mT
        return (-(out_t @ g @ out_t),)

    def jvp(self, xp, tangents, inputs, out):
        return -(out @ tangents[0] @ out)


@register
class Det(Op):
    name = "det"
    vjp_text = "Ā = Z̄ cof(A) = Z̄ det(A) A⁻ᵀ"
    jvp_text = "Ż = tr(cof(A)ᵀ Ȧ) = det(A) tr(A⁻¹ Ȧ)"

    def forward(self, a):
        require_square("det", a)
        return np.linalg.det(a)

    def vjp(self, xp, g, inputs, out, needs):
        return (xp.reshape(g, g.shape + (1, 1)) * xp.cofactor(inputs[0]),)

    def jvp(self, xp, tangents, inputs, out):
        return xp.sum(xp.cofactor(inputs[0]) * tangents[0], (inputs[0].ndim - 2, inputs[0].ndim - 1), False)


@register
class LogAbsDet(Op):
    """log|det A|: the differentiable half of ``slogdet``."""

    name = "slogdet"
    vjp_text = "Ā = Z̄ A⁻ᵀ"
    jvp_text = "Ż = tr(A⁻¹ Ȧ)"

    def forward(self, a):
        require_square("slogdet", a)
        return np.linalg.slogdet(a)[1]

    def vjp(self, xp, g, inputs, out, needs):
        return (xp.reshape(g, g.shape + (1, 1)) * xp.inv(inputs[0]).mT,)

    def jvp(self, xp, tangents, inputs, out):
        a = inputs[0]
        return xp.sum(xp.inv(a).mT * tangents[0], (a.ndim - 2, a.ndim - 1), False)


@register
class Solve(Op):
    """X = A⁻¹B. As in numpy 2, a 1-D B is one vector; otherwise B is a stack of matrices."""

    name = "solve"
    vjp_text = "B̄ = A⁻ᵀ Z̄,  Ā = −B̄ Zᵀ"
    jvp_text = "Ż = A⁻¹ (Ḃ − Ȧ Z)"

    def forward(self, a, b):
        require_square("solve", a)
        if b.ndim == 0:
            raise ShapeError(f"solve: B must be a vector or a matrix, got a scalar (A has shape {a.shape})")
        rows = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if rows != a.shape[-1]:
            raise ShapeError(
                f"solve: A has shape {a.shape} but B has shape {b.shape}; B needs {a.shape[-1]} rows"
            )
        return np.linalg.solve(a, b)

    def vjp(self, xp, g, inputs, out, needs):
        a, b = inputs
        vector = b.ndim == 1
        if vector:
            g, out = _as_matrix_col(xp, g), _as_matrix_col(xp, out)
        gb = xp.solve(a.mT, g)
        ga = -(gb @ out.mT) if needs[0] else None
        if not needs[1]:
            gb = None
        elif vector:
            gb = _drop_axis(xp, gb, -1)
        return ga, gb

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        vector = b.ndim == 1
        if vector:
            out = _as_matrix_col(xp, out)
            db = None if db is None else _as_matrix_col(xp, db)
        rhs = add_optional(db, None if da is None else -(da @ out))
        dz = xp.solve(a, rhs)
        return _drop_axis(xp, dz, -1) if vector else dz
