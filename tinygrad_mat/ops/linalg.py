"""Matrix ops: matmul, trace, norm, inv, det (through the cofactor), slogdet, solve.

All act on the last two axes and broadcast over leading (batch) axes as ``numpy.linalg`` does.
Notation: Aᵀ transposes each matrix of a stack (``mT``).

The determinant's derivatives all come from one quantity, the cofactor matrix cof(A) = det(A) A⁻ᵀ
(the gradient of det), computed from the SVD A = U S Vᵀ so that it stays finite when A is singular:
cof(A) = det(U) det(V) U diag(∏_{j≠i} s_j) Vᵀ. Its derivative (det's second derivative) comes from the
same SVD; only third and higher derivatives of det need an invertible A.
"""
import numpy as np

from .. import fastnp
from . import sparse
from ..errors import ShapeError
from .base import (
    Bilinear, Composite, Linear, Op, add_optional, keepdims_shape, ndim_of, normalize_axes, normalize_axis,
    register, require_square, shape_of, values_of,
)
from .base import axes_after_batch  # reverse mode's batches


def _as_matrix_row(xp, v):
    return xp.reshape(v, v.shape[:-1] + (1,) + v.shape[-1:])


def _as_matrix_col(xp, v):
    return xp.reshape(v, v.shape + (1,))


def _drop_axis(xp, v, axis):
    shape = list(v.shape)
    del shape[axis]
    return xp.reshape(v, tuple(shape))


def _per_matrix(xp, scalar):
    """A scalar per matrix of a stack, shaped to broadcast against the stack."""
    return xp.reshape(scalar, scalar.shape + (1, 1))


@register
class MatMul(Bilinear):
    """Matrix product with numpy's rules: 1-D, 2-D and stacked (batch axes broadcast).

    >>> import tinygrad_mat as tm
    >>> tm.matmul(tm.tensor([[1.0, 2.0]]), tm.tensor([[3.0], [4.0]]))
    Tensor([[11.]])
    """

    def batch_mode(self, inputs, params):
        # Stacked matrices broadcast a leading batch axis once padded to the output's rank; numpy's
        # 1-D rules would not.
        return "pad" if all(np.ndim(getattr(x, "_data", x)) >= 2 for x in inputs) else None

    def vjp_batch_mode(self, inputs, params):
        # Z̄'s batch axis stays a stack axis through the rule, but for 1-D @ 1-D (Z̄ is made 1 × 1);
        # stacked matrices have a rule that makes one product of Z̄ Bᵀ when B is one matrix.
        a, b = (getattr(x, "ndim", 0) for x in inputs)  # arrays (the saved operands)
        if a >= 2 and b >= 2:
            return "rule"
        return None if a == b == 1 else "leading"

    def batched_vjp(self, xp, g, inputs, out, needs):
        """Ā = Z̄ Bᵀ, B̄ = Aᵀ Z̄ for Z̄ (batch, …, m, n) and operands of at least 2 axes; Z̄ Bᵀ as one
        matrix product (batch · … · m) × n times n × k when B is one matrix (numpy would loop over the batch)."""
        a, b = inputs
        ga = gb = None
        if needs[0]:
            if b.ndim == 2:
                rows = xp.reshape(g, (-1, g.shape[-1])) @ b.mT
                ga = xp.reshape(rows, g.shape[:-1] + (b.shape[0],))
            else:
                ga = g @ b.mT
        if needs[1]:
            gb = a.mT @ g
        return ga, gb

    name, method, dunder, ufunc, symbol = "matmul", "matmul", "matmul", np.matmul, ""
    lowering_limits = "1-D and 2-D operands"
    vjp_text = "Ā = Z̄ Bᵀ,  B̄ = Aᵀ Z̄"
    source = "The Matrix Cookbook (Petersen & Pedersen), eq. 69; note 003"

    def prepare(self, a, b):
        return (a, b), {}

    def sparse_form(self, ns, args, params):
        return sparse.product(ns, *args)

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

    def lower_forward(self, ins, inputs, params):
        kind = (len(shape_of(inputs[0])), len(shape_of(inputs[1])))
        a, b = ins
        return {(2, 2): f"R.matmul({a}, {b})", (2, 1): f"R.matvec({a}, {b})", (1, 2): f"R.vecmat({a}, {b})",
                (1, 1): f"R.dot({a}, {b})"}.get(kind)  # stacked matrices: not lowered

    def explain(self, error, arrays, params):
        a, b = (np.shape(x) for x in arrays)
        if len(a) == 0 or len(b) == 0:
            return ShapeError(f"matmul: shapes {a} and {b}: matmul needs at least 1-D operands; use * for scalars")
        k_b = b[-2] if len(b) > 1 else b[0]
        if a[-1] != k_b:
            return ShapeError(f"matmul: shapes {a} and {b} are not aligned ({a[-1]} != {k_b})")
        return ShapeError(f"matmul: shapes {a} and {b}: the batch axes {a[:-2]} and {b[:-2]} cannot be broadcast")


@register
class Trace(Linear):
    """Sum of the diagonal (``offset`` above it) of each matrix; by default over the last two axes
    as ``numpy.linalg.trace`` (``np.trace`` on a Tensor keeps numpy's first two axes).

    >>> import tinygrad_mat as tm
    >>> tm.trace(tm.tensor([[1.0, 2.0], [3.0, 4.0]])).item()
    5.0
    """

    batching = "params"
    vjp_batching = "params"

    def batch_params(self, xp, tangents, params, shapes, batch):
        return tangents, {**params, "axis1": params["axis1"] + 1, "axis2": params["axis2"] + 1}

    name, method = "trace", "trace"
    numpy = {np.trace: {"axis1": 0, "axis2": 1}, np.linalg.trace: {}}
    vjp_text = "X̄ = Z̄ I   (the identity on the traced diagonal)"
    jvp_text = "Ż = tr(Ẋ)"
    source = "note 003 (∂ tr(AB)/∂A = Bᵀ with B = I)"

    def prepare(self, x, offset=0, axis1=-2, axis2=-1):
        n = ndim_of(x)
        if n < 2:
            raise ShapeError(f"trace: needs a matrix (at least 2-D), got shape {shape_of(x)}")
        axis1, axis2 = normalize_axis(axis1, n, "trace"), normalize_axis(axis2, n, "trace")
        if axis1 == axis2:
            raise ShapeError(f"trace: axis1 and axis2 are both {axis1}")
        return (x,), {"offset": int(offset), "axis1": axis1, "axis2": axis2}

    def forward(self, x, offset, axis1, axis2):
        return np.trace(x, offset=offset, axis1=axis1, axis2=axis2)

    def vjp(self, xp, g, inputs, out, needs, offset, axis1, axis2):
        shape = inputs[0].shape
        eye = np.eye(shape[axis1], shape[axis2], k=offset, dtype=inputs[0].dtype)  # rows: axis1
        if axis1 > axis2:
            eye = eye.T
        plane = [1] * len(shape)
        plane[axis1], plane[axis2] = shape[axis1], shape[axis2]
        spread = [n for n in g.shape]
        for axis in sorted((axis1, axis2)):
            spread.insert(axis, 1)
        return (xp.reshape(g, tuple(spread)) * eye.reshape(plane),)


@register
class EuclideanNorm(Op):
    """The Euclidean norm of all entries (Frobenius for a matrix) or along ``axis`` (internal: the
    primitive behind ``tm.norm`` with ord None, 2 for vectors or 'fro')."""

    name, public = "euclidean_norm", False
    vjp_batching = "params"

    def batch_params(self, xp, operands, params, shapes, batch):
        return operands, {**params, "axis": axes_after_batch(params["axis"], len(shapes[0]))}
    vjp_text = "X̄ = Z̄ X / ‖X‖   (0 where ‖X‖ = 0)"
    jvp_text = "Ż = ⟨X, Ẋ⟩ / ‖X‖"
    source = "The Matrix Cookbook, eq. 129 (∂‖x‖₂/∂x = x/‖x‖₂)"

    def prepare(self, x, axis=None, keepdims=False):
        return (x,), {"axis": normalize_axes(axis, ndim_of(x), "norm"), "keepdims": bool(keepdims)}

    def forward(self, x, axis, keepdims):
        if axis is None and not keepdims:
            flat = x.reshape(-1)
            return np.sqrt(np.dot(flat, flat))
        return np.sqrt(fastnp.sum(x * x, axis, keepdims))

    @staticmethod
    def _safe(xp, out, x, axis, keepdims):
        # The norm, reshaped to broadcast against X, with 1 in place of 0: there X = 0 and the
        # (sub)gradient 0 is taken, as PyTorch and JAX do.
        if not keepdims:
            out = xp.reshape(out, keepdims_shape(x.shape, axis))
        return out + xp.eq(out, 0.0)

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
    """Inverse of a square matrix (or of each in a stack); a singular one raises.

    >>> import tinygrad_mat as tm
    >>> tm.inv(tm.tensor([[2.0, 0.0], [0.0, 4.0]]))
    Tensor([[0.5 , 0.  ],
            [0.  , 0.25]])
    """

    batching = "leading"

    vjp_batching = "leading"  # matrix functions of the last two axes: Z̄'s batch axis is one more stack axis
    name, method, numpy = "inv", "inv", {np.linalg.inv: {}}
    vjp_text = "Ā = −Zᵀ Z̄ Zᵀ   (Z = A⁻¹)"
    jvp_text = "Ż = −Z Ȧ Z"
    source = "The Matrix Cookbook, eq. 59; Giles (2008), sec. 2.2.1"

    def forward(self, a):
        require_square("inv", a)
        return np.linalg.inv(a)

    def vjp(self, xp, g, inputs, out, needs):
        out_t = out.mT
        return (-(out_t @ g @ out_t),)

    def jvp(self, xp, tangents, inputs, out):
        return -(out @ tangents[0] @ out)


# ---------------------------------------------------------------- the determinant and its cofactor


def _svd(a):
    """A = U diag(s) Vh, and det(U) det(Vh) (±1 per matrix)."""
    u, s, vh = np.linalg.svd(a)
    return u, s, vh, np.linalg.det(u) * np.linalg.det(vh)


def _exclusive_products(s):
    """p[..., i] = ∏_{j≠i} s[..., j] without division (finite when some s_j are 0)."""
    ones = np.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return before * after


def _pair_products(s):
    """π[..., i, j] = ∏_{l∉{i,j}} s_l for i ≠ j, and 0 on the diagonal."""
    n = s.shape[-1]
    rows = np.array(np.broadcast_to(s[..., None, :], s.shape + (n,)))  # row i: s with s_i set to 1
    diagonal = np.arange(n)
    rows[..., diagonal, diagonal] = 1.0
    pi = _exclusive_products(rows)
    pi[..., diagonal, diagonal] = 0.0
    return pi


def numpy_cofactor(a):
    """cof(A) = det(A) A⁻ᵀ = det(U) det(Vh) U diag(∏_{j≠i} s_j) Vh, finite for any square A."""
    u, s, vh, sign = _svd(a)
    return sign[..., None, None] * (u * _exclusive_products(s)[..., None, :]) @ vh


def numpy_cofactor_derivative(a, e):
    """D cof(A)[E], det's second derivative applied to E, finite for any square A.

    With A = U S Vᵀ and E′ = Uᵀ E V, A + E = U (S + E′) Vᵀ, so D cof(A)[E] = det(U) det(V) U R Vᵀ with
    R the derivative of cof at the diagonal S: R_ii = Σ_{k≠i} π_ik E′_kk, R_ij = −π_ij E′_ji (i ≠ j),
    π_ij = ∏_{l∉{i,j}} s_l. The map E ↦ D cof(A)[E] is self-adjoint (det's Hessian is symmetric).
    """
    u, s, vh, sign = _svd(a)
    e_rot = _times(u.swapaxes(-1, -2) @ e, vh.swapaxes(-1, -2))
    pi = _pair_products(s)
    diagonal = np.diagonal(e_rot, axis1=-2, axis2=-1)
    r = np.multiply(-pi, e_rot.swapaxes(-1, -2), order="C")  # row-major: the products below are faster
    n = s.shape[-1]
    if pi.ndim == 2:  # π is symmetric: (π d)ᵢ = (d π)ᵢ, one product for a stack of E
        r[..., np.arange(n), np.arange(n)] = _times(diagonal, pi)
    else:
        r[..., np.arange(n), np.arange(n)] = (pi @ diagonal[..., None])[..., 0]
    return sign[..., None, None] * _times(u @ r, vh)


def _times(x, m):
    """x @ m; for a stack x (a batch of cotangents) times one matrix m, as one matrix product (numpy's
    matmul would loop over the stack)."""
    if x.ndim > 2 and m.ndim == 2:
        return (x.reshape(-1, x.shape[-1]) @ m).reshape(x.shape[:-1] + m.shape[-1:])
    return x @ m


def _third_derivative(xp, a, e, f):
    """∇_G D³det(A)[E, F, G], for invertible A (B = A⁻¹, d = det A):
    d [(tr(BE) tr(BF) − tr(BEBF)) Bᵀ − tr(BE) (BFB)ᵀ − tr(BF) (BEB)ᵀ + (BEBFB + BFBEB)ᵀ]."""
    b = xp.inv(a)
    d = _per_matrix(xp, xp.det(a))
    be, bf = b @ e, b @ f
    tr_be, tr_bf = _per_matrix(xp, xp.trace(be)), _per_matrix(xp, xp.trace(bf))
    tr_bebf = _per_matrix(xp, xp.trace(be @ bf))
    inner = (tr_be * tr_bf - tr_bebf) * b - tr_be * (bf @ b) - tr_bf * (be @ b) + be @ bf @ b + bf @ be @ b
    return d * inner.mT


@register
class Det(Op):
    """Determinant of a square matrix (or of each in a stack); its gradient is the cofactor matrix,
    finite also where A is singular, in every mode.

    >>> import tinygrad_mat as tm
    >>> print(f"{tm.det(tm.tensor([[1.0, 2.0], [3.0, 4.0]])).item():.12f}")
    -2.000000000000
    """

    batching = "leading"

    vjp_batching = "leading"  # matrix functions of the last two axes: Z̄'s batch axis is one more stack axis
    name, method, numpy = "det", "det", {np.linalg.det: {}}
    vjp_text = "Ā = Z̄ cof(A)   (cof(A) = det(A) A⁻ᵀ, from the SVD: finite at singular A)"
    jvp_text = "Ż = ⟨cof(A), Ȧ⟩ = det(A) tr(A⁻¹ Ȧ)"
    source = "note 003 (N12); The Matrix Cookbook, eq. 49; Giles (2008), sec. 2.2.2"

    def forward(self, a):
        require_square("det", a)
        return np.linalg.det(a)

    def vjp(self, xp, g, inputs, out, needs):
        return (_per_matrix(xp, g) * xp.cofactor(inputs[0]),)

    def jvp(self, xp, tangents, inputs, out):
        a = inputs[0]
        return xp.sum(xp.cofactor(a) * tangents[0], (-2, -1))  # the last two axes: a batch may lead


@register
class Cofactor(Op):
    """The cofactor matrix cof(A) = det(A) A⁻ᵀ (the gradient of det), computed from the SVD so that
    it is finite for any square A, singular or not.

    >>> import tinygrad_mat as tm
    >>> tm.cofactor(tm.tensor([[1.0, 2.0], [2.0, 4.0]])).numpy().round(12) + 0.0   # [[d, −c], [−b, a]]
    array([[ 4., -2.],
           [-2.,  1.]])
    """

    batching = "leading"  # D cof(A)[Ė] takes a stack of E behind one A

    vjp_batching = "leading"  # matrix functions of the last two axes: Z̄'s batch axis is one more stack axis
    name = "cofactor"
    vjp_text = "Ā = D cof(A)[Z̄]   (det's Hessian applied to Z̄; self-adjoint)"
    jvp_text = "Ż = D cof(A)[Ȧ]"
    source = "Giles (2008), sec. 2.2.2; the SVD form as in JAX's _cofactor_solve, here for any rank"

    def forward(self, a):
        require_square("cofactor", a)
        return numpy_cofactor(a)

    def vjp(self, xp, g, inputs, out, needs):
        return (xp.cofactor_derivative(inputs[0], g),)

    def jvp(self, xp, tangents, inputs, out):
        return xp.cofactor_derivative(inputs[0], tangents[0])


@register
class CofactorDerivative(Op):
    """D cof(A)[E]: the second derivative of det at A applied to E (internal: det's second-order rules).

    Linear in E and self-adjoint; its derivative in A (det's third derivative) needs A invertible.
    """

    vjp_batching = "leading"  # matrix functions of the last two axes: Z̄'s batch axis is one more stack axis
    name, public = "cofactor_derivative", False
    vjp_text = "Ē = D cof(A)[Z̄],  Ā = ∇ D³det(A)[E, Z̄, ·]   (the latter needs A invertible)"
    jvp_text = "Ż = D cof(A)[Ė] + ∇ D³det(A)[E, Ȧ, ·]"
    source = "derived here from A = U S Vᵀ; D³det from Giles (2008), sec. 2.2.2, differentiated twice"

    def prepare(self, a, e):
        return (a, e), {}

    def forward(self, a, e):
        require_square("cofactor_derivative", a)
        return numpy_cofactor_derivative(a, e)

    def vjp(self, xp, g, inputs, out, needs):
        a, e = inputs
        ga = _third_derivative(xp, a, e, g) if needs[0] else None
        ge = xp.cofactor_derivative(a, g) if needs[1] else None
        return ga, ge

    def jvp(self, xp, tangents, inputs, out):
        (da, de), (a, e) = tangents, inputs
        return add_optional(
            None if de is None else xp.cofactor_derivative(a, de),
            None if da is None else _third_derivative(xp, a, e, da),
        )


@register
class LogAbsDet(Op):
    """log|det A| of a square matrix (or of each in a stack): the differentiable half of ``slogdet``."""

    batching = "leading"

    vjp_batching = "leading"  # matrix functions of the last two axes: Z̄'s batch axis is one more stack axis
    name = "logabsdet"
    vjp_text = "Ā = Z̄ A⁻ᵀ   (by a solve with Aᵀ)"
    jvp_text = "Ż = tr(A⁻¹ Ȧ)   (by a solve with A)"
    source = "The Matrix Cookbook, eq. 57; Giles (2008), sec. 2.2.2"

    def forward(self, a):
        require_square("slogdet", a)
        return np.linalg.slogdet(a)[1]

    def vjp(self, xp, g, inputs, out, needs):
        a = inputs[0]
        return (xp.solve(a.mT, _per_matrix(xp, g) * np.eye(a.shape[-1], dtype=a.dtype)),)

    def jvp(self, xp, tangents, inputs, out):
        return xp.trace(xp.solve(inputs[0], tangents[0]))


@register
class Slogdet(Composite):
    """(sign, log|det a|) as ``numpy.linalg.slogdet``; the log is differentiable, the sign constant.

    >>> import tinygrad_mat as tm
    >>> sign, logabs = tm.slogdet(tm.tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> print(sign.item(), f"{logabs.item():.11f}")
    -1.0 0.69314718056
    """

    name, method, numpy = "slogdet", "slogdet", {np.linalg.slogdet: {}}
    text = "(sign from numpy, logabsdet(a)): the log's rules are Z̄ A⁻ᵀ and tr(A⁻¹ Ȧ), by solves"

    def compute(self, xp, a):
        logabs = xp.logabsdet(a)
        values = np.asarray(values_of(a))
        sign = np.asarray(np.linalg.slogdet(values)[0], dtype=values.dtype)
        return xp.constant(sign), logabs


@register
class Solve(Op):
    """X with a X = b, without forming a⁻¹. As numpy 2: 1-D b is one vector, else a stack of matrices.

    >>> import tinygrad_mat as tm
    >>> tm.solve(tm.tensor([[2.0, 0.0], [0.0, 4.0]]), tm.tensor([2.0, 2.0]))
    Tensor([1. , 0.5])
    """

    vjp_batching = "leading"  # matrix functions of the last two axes: Z̄'s batch axis is one more stack axis
    name, numpy = "solve", {np.linalg.solve: {}}
    vjp_text = "B̄ = A⁻ᵀ Z̄,  Ā = −B̄ Zᵀ"
    jvp_text = "Ż = A⁻¹ (Ḃ − Ȧ Z)"
    source = "Giles (2008), sec. 2.3.1"

    def prepare(self, a, b):
        return (a, b), {}

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
