"""Decompositions and matrix functions: cholesky, eigh / eigvalsh, svd / svdvals, qr, expm; and built
on them pinv, lstsq, logdet, matrix and vector norms.

A decomposition with several factors is one primitive whose output packs them along the last axis
(eigh: the eigenvalues as an extra first row over the eigenvectors; svd and qr: the flattened factors
side by side); the public function unpacks them. Symmetric input (cholesky, eigh, eigvalsh): the
function is numpy's, which reads one triangle only (the lower one; for eigh and eigvalsh the one
``UPLO`` names) and mirrors it; so do the rules: a tangent Ȧ enters as the symmetric matrix built
from that triangle, and a gradient lies in that triangle (an off-diagonal entry gets Ḡᵢⱼ + Ḡⱼᵢ of the
symmetric gradient Ḡ, the other triangle 0), as autograd does for eigh. Value, both rules and central
differences then agree in every direction. (JAX instead differentiates cholesky((A + Aᵀ)/2), whose
value differs from numpy's for a non-symmetric A; PyTorch returns numpy's value with a symmetric
gradient, which disagrees with its own function in the other triangle.)

Sources beside each rule: Murray (2016) "Differentiation of the Cholesky decomposition"; Giles (2008)
"An extended collection of matrix derivative results"; Townsend (2016) "Differentiating the singular
value decomposition"; Liao et al. (2019) "Differentiable programming tensor networks" (QR);
Higham (2005) and Al-Mohy & Higham (2009) for expm and its Fréchet derivative.
"""
import math

import numpy as np

from ..errors import ShapeError
from .base import Composite, Op, ndim_of, register, require_square, shape_of, values_of


def _sym(xp, x):
    return 0.5 * (x + x.mT)


def _triangle_mask(n, uplo):
    """The strictly lower (uplo 'L') or strictly upper ('U') triangle of an n × n matrix."""
    lower = np.tril(np.ones((n, n), dtype=bool), -1)
    return lower if uplo == "L" else lower.T


def _from_triangle(xp, x, uplo="L"):
    """The symmetric matrix numpy's symmetric routines see in x: the triangle ``uplo`` mirrored."""
    n = x.shape[-1]
    part = xp.where(_triangle_mask(n, uplo), x, 0.0)
    return part + part.mT + x * _eye(n, x.dtype)


def _onto_triangle(xp, g, uplo="L"):
    """The transpose of ``_from_triangle``: a cotangent g of the symmetric matrix, onto the triangle
    read (off the diagonal gᵢⱼ + gⱼᵢ, the diagonal gᵢᵢ, the other triangle 0)."""
    n = g.shape[-1]
    return xp.where(_triangle_mask(n, uplo), g + g.mT, 0.0) + g * _eye(n, g.dtype)


def _check_uplo(uplo, opname):
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U"):
        raise ValueError(f"{opname}: UPLO must be 'L' or 'U', got {uplo!r}")
    return uplo.upper()


def _eye(n, dtype):
    return np.eye(n, dtype=dtype)


def _diag_embed(xp, v):
    """A stack of vectors as a stack of diagonal matrices."""
    n = v.shape[-1]
    return xp.expand_dims(v, -1) * _eye(n, v.dtype)


def _diagonal(xp, m):
    n = min(m.shape[-2:])
    i = np.arange(n)
    return xp.getitem(m, (Ellipsis, i, i))


def _gaps(xp, w):
    """F[i, j] = 1 / (w_j − w_i) for i ≠ j, 0 on the diagonal (inf where two values coincide); a
    function of w, so that the rules using it have derivatives of their own."""
    n = w.shape[-1]
    eye = np.eye(n, dtype=w.dtype)
    with np.errstate(divide="ignore"):
        return 1.0 / (xp.expand_dims(w, -2) - xp.expand_dims(w, -1) + eye) - eye


def _eigenvector_term(xp, w, rotated):
    """F ⊙ rotated with F the gaps of w (``_gaps``): where two eigenvalues coincide, F is infinite, and
    the term is ±inf where ``rotated`` is not 0 there and 0 where it is (only the eigenvalues used: a
    clean gradient). Built from masks, with a finite F inside, so derivatives of this rule stay finite
    where the term is, and a compiled pass recomputes the masks."""
    n = w.shape[-1]
    eye = np.eye(n, dtype=w.dtype)
    gap = xp.expand_dims(w, -2) - xp.expand_dims(w, -1) + eye
    repeated = xp.eq(gap, 0.0)
    finite = (1.0 / xp.where(repeated, 1.0, gap) - eye) * rotated
    # the infinite entries as constants: a branch computed from rotated would leak 0 · inf = NaN
    # into the derivatives of this rule through where's unselected side
    above = xp.where(repeated * xp.gt(rotated, 0.0), np.inf, finite)
    return xp.where(repeated * xp.gt(0.0, rotated), -np.inf, above)


def _safe_inverse(xp, s):
    """1/s, and 0 where s = 0."""
    zero = xp.eq(s, 0.0)
    return xp.where(zero, 0.0, 1.0 / xp.where(zero, 1.0, s))


# ---------------------------------------------------------------- Cholesky


def _phi(xp, x):
    """The lower triangle of x with half its diagonal."""
    n = x.shape[-1]
    return xp.where(np.tril(np.ones((n, n), dtype=bool), -1), x, 0.0) + 0.5 * x * _eye(n, x.dtype)


@register
class Cholesky(Op):
    """The lower-triangular L with L Lᵀ = A for symmetric positive definite A, as
    ``numpy.linalg.cholesky``: only A's lower triangle is read (the upper one is taken as its
    mirror), so the gradient lies in the lower triangle and the upper triangle's is 0."""

    name, numpy = "cholesky", {np.linalg.cholesky: {}}
    vjp_text = ("Ā = tri(sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹)),  Φ: lower triangle, half diagonal; tri(G): Gᵢⱼ + Gⱼᵢ below "
                "the diagonal, Gᵢᵢ on it, 0 above (only A's lower triangle is read)")
    jvp_text = "L̇ = L Φ(L⁻¹ S L⁻ᵀ),  S: Ȧ's lower triangle mirrored"
    source = "Murray (2016), eqs. 8 and 10; JAX's cholesky rule"

    def forward(self, a):
        require_square("cholesky", a)
        try:
            return np.linalg.cholesky(a)
        except np.linalg.LinAlgError as error:
            raise np.linalg.LinAlgError(f"cholesky: matrix is not positive definite ({error})") from None

    def vjp(self, xp, g, inputs, out, needs):
        lt = out.mT
        x = xp.solve(lt, _phi(xp, lt @ g))          # L⁻ᵀ Φ(Lᵀ L̄)
        return (_onto_triangle(xp, _sym(xp, xp.solve(lt, x.mT).mT)),)    # … L⁻¹, symmetrised, onto the lower triangle

    def jvp(self, xp, tangents, inputs, out):
        inner = xp.solve(out, xp.solve(out, _from_triangle(xp, tangents[0])).mT).mT  # L⁻¹ Ȧ L⁻ᵀ
        return out @ _phi(xp, inner)


# ---------------------------------------------------------------- symmetric eigendecomposition


@register
class EighPacked(Op):
    """Eigenvalues (first row) over eigenvectors of a symmetric matrix (internal: see ``eigh``)."""

    name, public = "eigh_packed", False
    vjp_text = ("Ā = tri(sym(V (diag(w̄) + F ⊙ (Vᵀ V̄)) Vᵀ)),  F_ij = 1/(w_j − w_i): infinite at repeated "
                "eigenvalues (the eigenvectors are not unique there); the term is skipped when V̄ = 0; "
                "tri: onto the triangle UPLO names, as for cholesky")
    jvp_text = "ẇ = diag(Vᵀ S V),  V̇ = V (F ⊙ (Vᵀ S V)),  S: the UPLO triangle of Ȧ mirrored"
    source = "Giles (2008), sec. 3.1; JAX's eigh rule; autograd's for the triangle read"

    def prepare(self, a, UPLO="L"):
        return (a,), {"UPLO": _check_uplo(UPLO, "eigh")}

    def forward(self, a, UPLO):
        require_square("eigh", a)
        w, v = np.linalg.eigh(a, UPLO)
        return np.concatenate([w[..., None, :], v], axis=-2)

    def vjp(self, xp, g, inputs, out, needs, UPLO):
        gw, gv = g[..., 0, :], g[..., 1:, :]
        v = out[..., 1:, :]
        inner = _diag_embed(xp, gw) + _eigenvector_term(xp, out[..., 0, :], v.mT @ gv)
        return (_onto_triangle(xp, _sym(xp, v @ inner @ v.mT), UPLO),)

    def jvp(self, xp, tangents, inputs, out, UPLO):
        v = out[..., 1:, :]
        rotated = v.mT @ _from_triangle(xp, tangents[0], UPLO) @ v
        dw = _diagonal(xp, rotated)
        dv = v @ (_gaps(xp, out[..., 0, :]) * rotated)
        return xp.concatenate([xp.expand_dims(dw, -2), dv], -2)


@register
class Eigh(Composite):
    """(eigenvalues in ascending order, eigenvectors as columns) of a symmetric matrix, as
    ``numpy.linalg.eigh``: only the triangle ``UPLO`` names ('L' lower, 'U' upper) is read, so the
    gradient lies in that triangle. Derivatives of eigenvectors are infinite at repeated eigenvalues;
    use ``eigvalsh`` (or only the eigenvalues of ``eigh``) for a clean result there."""

    name, numpy, text = "eigh", {np.linalg.eigh: {}}, "eigh_packed, unpacked into (w, V)"

    def compute(self, xp, a, UPLO="L"):
        packed = xp.eigh_packed(a, UPLO)
        return packed[..., 0, :], packed[..., 1:, :]


@register
class Eigvalsh(Op):
    """Eigenvalues (ascending) of a symmetric matrix, as ``numpy.linalg.eigvalsh``: only the triangle
    ``UPLO`` names is read; the gradient, V diag(w̄) Vᵀ put onto that triangle, is finite also at
    repeated eigenvalues."""

    name, numpy = "eigvalsh", {np.linalg.eigvalsh: {}}
    vjp_text = "Ā = tri(V diag(w̄) Vᵀ)   (onto the UPLO triangle, as for cholesky; finite at repeated eigenvalues)"
    jvp_text = "ẇ = diag(Vᵀ S V),  S: the UPLO triangle of Ȧ mirrored"
    source = "The Matrix Cookbook, eq. 67 (∂λ = vᵀ ∂A v); Giles (2008), sec. 3.1"

    def prepare(self, a, UPLO="L"):
        return (a,), {"UPLO": _check_uplo(UPLO, "eigvalsh")}

    def forward(self, a, UPLO):
        require_square("eigvalsh", a)
        return np.linalg.eigvalsh(a, UPLO)

    def _vectors(self, xp, a, uplo):
        return xp.eigh(a, uplo)[1]

    def vjp(self, xp, g, inputs, out, needs, UPLO):
        v = self._vectors(xp, inputs[0], UPLO)
        return (_onto_triangle(xp, v @ _diag_embed(xp, g) @ v.mT, UPLO),)

    def jvp(self, xp, tangents, inputs, out, UPLO):
        v = self._vectors(xp, inputs[0], UPLO)
        return _diagonal(xp, v.mT @ _from_triangle(xp, tangents[0], UPLO) @ v)


# ---------------------------------------------------------------- singular value decomposition


def _svd_sizes(shape):
    m, n = shape[-2:]
    return m, n, min(m, n)


def _unpack_svd(xp, packed, m, n, k):
    batch = packed.shape[:-1]
    u = xp.reshape(packed[..., : m * k], batch + (m, k))
    s = packed[..., m * k: m * k + k]
    vh = xp.reshape(packed[..., m * k + k:], batch + (k, n))
    return u, s, vh


def _pack_svd(xp, u, s, vh):
    return xp.concatenate([xp.reshape(u, u.shape[:-2] + (-1,)), s, xp.reshape(vh, vh.shape[:-2] + (-1,))], -1)


@register
class SvdPacked(Op):
    """U, s and Vᵀ of the reduced SVD, flattened side by side (internal: see ``svd``)."""

    name, public = "svd_packed", False
    vjp_text = ("Ā = U (diag(s̄) + (J + Jᵀ) S + S (K + Kᵀ)) Vᵀ + (I − UUᵀ) Ū S⁻¹ Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ), "
                "J = F ⊙ UᵀŪ, K = F ⊙ VᵀV̄, F_ij = 1/(s_j² − s_i²): needs distinct (and, for a "
                "rectangular A, non-zero) singular values")
    jvp_text = ("ṡ = diag(P), U̇ = U (F ⊙ (P S + S Pᵀ)) + (I − UUᵀ) Ȧ V S⁻¹, "
                "V̇ = V (F ⊙ (S P + Pᵀ S)) + (I − VVᵀ) Ȧᵀ U S⁻¹, P = Uᵀ Ȧ V")
    source = "Townsend (2016), eq. 36; JAX's svd rule (the reverse rule is its transpose)"

    def forward(self, a):
        if a.ndim < 2:
            raise ShapeError(f"svd: needs a matrix (at least 2-D), got shape {a.shape}")
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.concatenate([u.reshape(u.shape[:-2] + (-1,)), s, vh.reshape(vh.shape[:-2] + (-1,))], axis=-1)

    @staticmethod
    def _parts(xp, a, out):
        m, n, k = _svd_sizes(a.shape)
        u, s, vh = _unpack_svd(xp, out, m, n, k)
        return m, n, u, s, vh, _gaps(xp, s * s), _safe_inverse(xp, s)

    def vjp(self, xp, g, inputs, out, needs):
        a = inputs[0]
        m, n, u, s, vh, f, s_inv = self._parts(xp, a, out)
        gu, gs, gvh = _unpack_svd(xp, g, m, n, min(m, n))
        v, gv = vh.mT, gvh.mT
        j, kk = f * (u.mT @ gu), f * (v.mT @ gv)
        s_mat = _diag_embed(xp, s)
        inner = _diag_embed(xp, gs) + (j + j.mT) @ s_mat + s_mat @ (kk + kk.mT)
        grad = u @ inner @ vh
        if m > n:
            grad = grad + ((gu - u @ (u.mT @ gu)) * xp.expand_dims(s_inv, -2)) @ vh
        if n > m:
            grad = grad + (u * xp.expand_dims(s_inv, -2)) @ (gv.mT - (gv.mT @ v) @ vh)
        return (grad,)

    def jvp(self, xp, tangents, inputs, out):
        a, da = inputs[0], tangents[0]
        m, n, u, s, vh, f, s_inv = self._parts(xp, a, out)
        v = vh.mT
        p = u.mT @ da @ v
        ds = _diagonal(xp, p)
        ps, sp = p * xp.expand_dims(s, -2), xp.expand_dims(s, -1) * p  # P S and S P
        du = u @ (f * (ps + ps.mT))
        dv = v @ (f * (sp + sp.mT))
        if m > n:
            dav = da @ v
            du = du + (dav - u @ (u.mT @ dav)) * xp.expand_dims(s_inv, -2)
        if n > m:
            dau = da.mT @ u
            dv = dv + (dau - v @ (vh @ dau)) * xp.expand_dims(s_inv, -2)
        return _pack_svd(xp, du, ds, dv.mT)


@register
class Svd(Composite):
    """(U, s, Vᵀ) with A = U diag(s) Vᵀ, as ``numpy.linalg.svd`` with ``full_matrices=False``
    (the full factors of a rectangular A are not unique, so not differentiable); with
    ``compute_uv=False``, the singular values (``svdvals``). Derivatives of U and V need distinct
    singular values."""

    name, numpy, text = "svd", {np.linalg.svd: {}}, "svd_packed, unpacked into (U, s, Vᵀ)"

    def compute(self, xp, a, full_matrices=True, compute_uv=True, hermitian=False):
        if not compute_uv:
            return xp.svdvals(a)
        m, n, k = _svd_sizes(shape_of(a))
        if full_matrices and m != n:
            raise ValueError("svd: full_matrices=True pads U or V with arbitrary columns, which have no "
                             "derivative; pass full_matrices=False")
        return _unpack_svd(xp, xp.svd_packed(a), m, n, k)


@register
class Svdvals(Op):
    """Singular values in descending order, as ``numpy.linalg.svdvals``: gradient U diag(s̄) Vᵀ,
    finite also at repeated singular values."""

    name = "svdvals"
    numpy = {np.linalg.svdvals: {}} if hasattr(np.linalg, "svdvals") else {}
    vjp_text = "Ā = U diag(s̄) Vᵀ"
    jvp_text = "ṡ = diag(Uᵀ Ȧ V)"
    source = "Townsend (2016), eq. 36 with Ū = V̄ = 0; The Matrix Cookbook, sec. 5.3"

    def forward(self, a):
        if a.ndim < 2:
            raise ShapeError(f"svdvals: needs a matrix (at least 2-D), got shape {a.shape}")
        return np.linalg.svd(a, compute_uv=False)

    @staticmethod
    def _factors(xp, a):
        u, _, vh = xp.svd(a, full_matrices=False)
        return u, vh

    def vjp(self, xp, g, inputs, out, needs):
        u, vh = self._factors(xp, inputs[0])
        return ((u * xp.expand_dims(g, -2)) @ vh,)

    def jvp(self, xp, tangents, inputs, out):
        u, vh = self._factors(xp, inputs[0])
        return _diagonal(xp, u.mT @ tangents[0] @ vh.mT)


# ---------------------------------------------------------------- QR


@register
class QrPacked(Op):
    """Q and R of the reduced QR of a tall matrix, flattened side by side (internal: see ``qr``)."""

    name, public = "qr_packed", False
    vjp_text = "Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ,  M = R R̄ᵀ − Q̄ᵀ Q,  copyltu(M) = tril(M) + tril(M, −1)ᵀ"
    jvp_text = "C = Qᵀ Ȧ R⁻¹, Ω = tril(C, −1) − tril(C, −1)ᵀ: Q̇ = Q (Ω − C) + Ȧ R⁻¹, Ṙ = (C − Ω) R"
    source = "Liao et al. (2019), eq. 9; JAX's qr rule"

    def forward(self, a):
        m, n = a.shape[-2:]
        if m < n:
            raise ShapeError(f"qr: the derivative needs a tall or square matrix (m ≥ n), got shape {a.shape}")
        q, r = np.linalg.qr(a, mode="reduced")
        return np.concatenate([q.reshape(q.shape[:-2] + (-1,)), r.reshape(r.shape[:-2] + (-1,))], axis=-1)

    @staticmethod
    def _unpack(xp, packed, m, n):
        batch = packed.shape[:-1]
        return xp.reshape(packed[..., : m * n], batch + (m, n)), xp.reshape(packed[..., m * n:], batch + (n, n))

    def vjp(self, xp, g, inputs, out, needs):
        m, n = inputs[0].shape[-2:]
        q, r = self._unpack(xp, out, m, n)
        gq, gr = self._unpack(xp, g, m, n)
        mm = r @ gr.mT - gq.mT @ q
        copied = xp.tril(mm) + xp.tril(mm, -1).mT
        return (xp.solve(r, (gq + q @ copied).mT).mT,)  # (…) R⁻ᵀ

    def jvp(self, xp, tangents, inputs, out):
        m, n = inputs[0].shape[-2:]
        q, r = self._unpack(xp, out, m, n)
        y = xp.solve(r.mT, tangents[0].mT).mT  # Ȧ R⁻¹
        c = q.mT @ y
        lower = xp.tril(c, -1)
        omega = lower - lower.mT
        dq = q @ (omega - c) + y
        dr = (c - omega) @ r
        return xp.concatenate([xp.reshape(dq, dq.shape[:-2] + (-1,)), xp.reshape(dr, dr.shape[:-2] + (-1,))], -1)


@register
class Qr(Composite):
    """(Q, R) of the reduced QR decomposition A = Q R, as ``numpy.linalg.qr`` (mode 'reduced');
    differentiable for m ≥ n."""

    name, numpy, text = "qr", {np.linalg.qr: {}}, "qr_packed, unpacked into (Q, R)"

    def compute(self, xp, a, mode="reduced"):
        if mode != "reduced":
            raise ValueError(f"qr: only mode='reduced' is differentiable, not {mode!r}")
        m, n = shape_of(a)[-2:]
        return QrPacked._unpack(xp, xp.qr_packed(a), m, n)


# ---------------------------------------------------------------- built on the decompositions


@register
class Pinv(Composite):
    """The Moore–Penrose pseudo-inverse, as ``numpy.linalg.pinv``: at full rank (AᵀA)⁻¹Aᵀ or
    Aᵀ(AAᵀ)⁻¹ by a solve, smooth; below full rank through the SVD (needs distinct singular values)."""

    name, numpy, text = "pinv", {np.linalg.pinv: {}}, "solve of the normal equations at full rank, else the SVD"

    def compute(self, xp, a, rcond=None):
        values = np.asarray(values_of(a))
        m, n = values.shape[-2:]
        s = np.linalg.svd(values, compute_uv=False)
        cutoff = (np.finfo(values.dtype).eps * max(m, n) if rcond is None else rcond) * s[..., :1]
        if np.all(s[..., -1:] > cutoff):
            if m >= n:
                return xp.solve(a.mT @ a, a.mT)
            return xp.solve(a @ a.mT, a).mT
        u, s_t, vh = xp.svd(a, full_matrices=False)
        s_inv = xp.where(xp.value(s_t) > cutoff, 1.0 / xp.where(xp.value(s_t) > cutoff, s_t, 1.0), 0.0)
        return (vh.mT * xp.expand_dims(s_inv, -2)) @ u.mT


@register
class Lstsq(Composite):
    """Least squares, as ``numpy.linalg.lstsq``: (x, residuals, rank, singular values); x, the
    residuals and the singular values are differentiable (x = pinv(a) b)."""

    name, numpy, text = "lstsq", {np.linalg.lstsq: {}}, "x = pinv(a) @ b; residuals ‖a x − b‖² per column"

    def compute(self, xp, a, b, rcond=None):
        values = np.asarray(values_of(a))
        m, n = values.shape[-2:]
        x = xp.pinv(a, rcond) @ b
        rank = int(np.linalg.matrix_rank(values))
        if rank == n and m > n:
            r = a @ x - b
            residuals = xp.sum(r * r, 0)
            if residuals.ndim == 0:
                residuals = xp.reshape(residuals, (1,))
        else:
            residuals = xp.as_result(np.zeros((0,), dtype=values.dtype))
        return x, residuals, rank, xp.svdvals(a)


@register
class Logdet(Composite):
    """log det A of a symmetric positive definite A (or each in a stack), through the Cholesky factor
    of (A + Aᵀ)/2: 2 Σ log Lᵢᵢ; its gradient is A⁻¹ (symmetric: both triangles count, as in
    ∂ log det A/∂A = A⁻ᵀ)."""

    name, text = "logdet", "2 Σ log diag(cholesky((A + Aᵀ)/2))"

    def compute(self, xp, a):
        return 2.0 * xp.sum(xp.log(xp.diagonal(xp.cholesky(0.5 * (a + xp.swapaxes(a, -1, -2))), 0, -2, -1)), -1)


# ---------------------------------------------------------------- matrix exponential

_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def numpy_expm(a):
    """e^A by scaling and squaring with the [13/13] Padé approximant (Higham 2005), batched."""
    norm = np.max(np.sum(np.abs(a), axis=-2), axis=-1)
    steps = int(max(0, math.ceil(math.log2(max(float(np.max(norm, initial=0.0)), 1e-300) / _THETA13))))
    a = a / 2.0**steps
    b = _PADE13
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    result = np.linalg.solve(v - u, v + u)
    for _ in range(steps):
        result = result @ result
    return result


def _frechet(xp, a, e):
    """L(A, E), the derivative of e^A in direction E: the top-right block of e^[[A, E], [0, A]]."""
    n = a.shape[-1]
    zeros = np.zeros(a.shape, dtype=a.dtype) if e.shape == a.shape else np.zeros(np.broadcast_shapes(a.shape, e.shape))
    a_full = xp.broadcast_to(a, zeros.shape) if a.shape != zeros.shape else a
    e_full = xp.broadcast_to(e, zeros.shape) if e.shape != zeros.shape else e
    block = xp.concatenate([xp.concatenate([a_full, e_full], -1), xp.concatenate([zeros, a_full], -1)], -2)
    return xp.getitem(xp.expm(block), (Ellipsis, slice(0, n), slice(n, 2 * n)))


@register
class Expm(Op):
    """The matrix exponential e^A = Σ Aᵏ/k! (scaling and squaring with a Padé approximant, as
    ``scipy.linalg.expm``); derivatives through its Fréchet derivative."""

    name = "expm"
    vjp_text = "Ā = L(Aᵀ, Z̄): the Fréchet derivative at Aᵀ, the top-right block of e^[[Aᵀ, Z̄], [0, Aᵀ]]"
    jvp_text = "Ż = L(A, Ȧ), the top-right block of e^[[A, Ȧ], [0, A]]"
    source = "Higham (2005); Al-Mohy & Higham (2009), the block form of the Fréchet derivative"

    def forward(self, a):
        require_square("expm", a)
        return numpy_expm(a)

    def vjp(self, xp, g, inputs, out, needs):
        return (_frechet(xp, inputs[0].mT, g),)

    def jvp(self, xp, tangents, inputs, out):
        return _frechet(xp, inputs[0], tangents[0])


# ---------------------------------------------------------------- norms of every order


@register
class VectorNorm(Composite):
    """The vector ``ord``-norm over ``axis`` (None: all entries), as ``numpy.linalg.vector_norm``:
    any real ord, inf (max |x|), −inf (min |x|), 0 (count of non-zeros, no gradient)."""

    name, text = "vector_norm", "(Σ |x|^ord)^(1/ord); max/min |x| for ±inf; the Euclidean op for ord 2"
    numpy = {np.linalg.vector_norm: {}} if hasattr(np.linalg, "vector_norm") else {}

    def compute(self, xp, x, axis=None, keepdims=False, ord=2):
        if ord == 2:
            return xp.euclidean_norm(x, axis, keepdims)
        magnitude = xp.abs(x)
        if ord == math.inf:
            return xp.max(magnitude, axis, keepdims)
        if ord == -math.inf:
            return xp.min(magnitude, axis, keepdims)
        if ord == 0:
            return xp.as_result(np.sum(np.asarray(values_of(x)) != 0, axis=axis, keepdims=keepdims).astype(float))
        if ord == 1:
            return xp.sum(magnitude, axis, keepdims)
        return xp.sum(magnitude**ord, axis, keepdims) ** (1.0 / ord)


@register
class MatrixNorm(Composite):
    """The matrix ``ord``-norm of each matrix (last two axes), as ``numpy.linalg.matrix_norm``: 'fro',
    'nuc' (Σ singular values), 2 / −2 (largest / smallest singular value), 1 / −1 (max / min column
    sum of |x|), inf / −inf (max / min row sum)."""

    name, text = "matrix_norm", "Frobenius, or from singular values, or from column or row sums of |x|"
    numpy = {np.linalg.matrix_norm: {}} if hasattr(np.linalg, "matrix_norm") else {}

    def compute(self, xp, x, keepdims=False, ord="fro"):
        if ndim_of(x) < 2:
            raise ShapeError(f"matrix_norm: needs a matrix, got shape {shape_of(x)}")
        n = ndim_of(x)
        if ord in ("fro", None):
            out = xp.euclidean_norm(x, (n - 2, n - 1), False)
        elif ord == "nuc":
            out = xp.sum(xp.svdvals(x), -1)
        elif ord in (2, -2):
            s = xp.svdvals(x)
            out = xp.max(s, -1) if ord == 2 else xp.min(s, -1)
        elif ord in (1, -1, math.inf, -math.inf):
            sums = xp.sum(xp.abs(x), -2 if abs(ord) == 1 else -1)
            out = xp.max(sums, -1) if ord > 0 else xp.min(sums, -1)
        else:
            raise ValueError(f"matrix_norm: ord={ord!r} is not a matrix norm order")
        return xp.reshape(out, out.shape + (1, 1)) if keepdims else out


@register
class NormOf(Composite):
    """The matrix or vector norm, as ``numpy.linalg.norm(x, ord, axis, keepdims)``: with ``ord`` None
    the Euclidean (Frobenius) norm of all entries or along ``axis``; other orders as ``vector_norm``
    (one axis) and ``matrix_norm`` (two axes). Its gradient at 0 is taken as 0.

    >>> import tinygrad_mat as tm
    >>> tm.norm(tm.tensor([3.0, 4.0])).item()
    5.0
    """

    name, method, numpy = "norm", "norm", {np.linalg.norm: {}}
    text = "euclidean_norm for ord None; vector_norm or matrix_norm otherwise"

    def compute(self, xp, x, ord=None, axis=None, keepdims=False):
        n = ndim_of(x)
        if ord is None or (ord == "fro" and (axis is None or np.ndim(axis) == 1 and len(axis) == 2)):
            return xp.euclidean_norm(x, axis, keepdims)
        axes = (axis,) if np.ndim(axis) == 0 and axis is not None else axis
        if axes is None:
            axes = tuple(range(n))
        if len(axes) == 1:
            return xp.vector_norm(x, axes[0], keepdims, ord)
        if len(axes) == 2:
            moved = xp.moveaxis(x, tuple(axes), (-2, -1))
            out = xp.matrix_norm(moved, False, ord)
            if keepdims:
                shape = list(shape_of(x))
                for a in axes:
                    shape[a % n] = 1
                out = xp.reshape(out, tuple(shape))
            return out
        raise ValueError(f"norm: ord={ord!r} needs one or two axes, got {n}")
