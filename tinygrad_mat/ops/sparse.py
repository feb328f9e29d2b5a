"""The matrix product with a scipy.sparse constant: S @ X and X @ S, differentiable in the dense X.

A sparse matrix is never a Tensor: it enters as a constant (its derivative is not computed) and stays
sparse, so a product costs O(nnz · columns) in the forward and the backward pass alike. It reaches
this op from ``S @ t``, ``t @ S``, ``np.matmul``, ``np.dot``, ``tm.matmul`` and ``tm.linear`` (an
``nn.Linear`` on sparse input); see ``tinygrad_mat.foreign`` for how. scipy is never imported here:
the matrix arrives already made.
"""
import numpy as np

from .. import modes
from ..errors import DTypeError, ShapeError
from ..foreign import is_sparse
from .base import Linear, register


def _frozen_float_csr(matrix):
    """True for a CSR matrix in float32/64 whose arrays are all read-only: no edit can reach it."""
    return (getattr(matrix, "format", None) == "csr" and matrix.dtype in (np.float32, np.float64)
            and not any(a.flags.writeable for a in (matrix.data, matrix.indices, matrix.indptr)))


def _as_float_csr(matrix, opname):
    """A CSR copy in float64 (float32 kept): the graph keeps it, so later edits of the caller's
    matrix cannot change a gradient. A CSR matrix whose arrays are read-only is kept as it is (a
    fit that multiplies one matrix many times freezes it once)."""
    if _frozen_float_csr(matrix):
        return matrix
    if getattr(matrix, "ndim", 2) != 2:
        raise ShapeError(f"{opname}: a scipy.sparse operand must be 2-D, got shape {matrix.shape}")
    dtype = matrix.dtype
    if dtype.kind == "c":
        raise DTypeError(f"{opname}: a complex scipy.sparse matrix (dtype {dtype}) is not supported")
    if dtype.kind not in "fiub":
        raise DTypeError(f"{opname}: cannot use a scipy.sparse matrix of dtype {dtype}")
    target = dtype if dtype in (np.float32, np.float64) else np.float64
    return matrix.tocsr(copy=True).astype(target, copy=False)


def product(ns, a, b, opname="matmul"):
    """``a @ b`` where one of them is a scipy.sparse matrix (the other dense), in namespace ``ns``."""
    a_sparse, b_sparse = is_sparse(a), is_sparse(b)
    if a_sparse and b_sparse:
        raise TypeError(f"{opname}: both operands are scipy.sparse matrices; multiply them with scipy (a @ b) "
                        "and use the result as a constant")
    if modes.state.tracer is not None:
        modes.state.tracer.refuse("a scipy.sparse operand", "run this step without tm.compile")
    if a_sparse:
        return ns.sparse_matmul(b, _as_float_csr(a, opname), "left")
    return ns.sparse_matmul(a, _as_float_csr(b, opname), "right")


@register
class SparseMatmul(Linear):
    """``matrix @ x`` (side "left") or ``x @ matrix`` (side "right") with ``matrix`` a 2-D scipy.sparse
    constant and ``x`` a dense vector or matrix, as numpy's matmul of a 1-D or 2-D operand.

    >>> import numpy as np, scipy.sparse as sp, tinygrad_mat as tm
    >>> S = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> w = tm.tensor([1.0, 1.0], requires_grad=True)
    >>> y = S @ w
    >>> y
    Tensor([1., 2., 3.], op=sparse_matmul)
    >>> y.sum().backward(); w.grad                  # Sᵀ 1
    Tensor([4., 2.])
    """

    name, public = "sparse_matmul", False
    vjp_text = "X̄ = Sᵀ Z̄ for Z = S X,  X̄ = Z̄ Sᵀ for Z = X S   (S scipy.sparse: a constant)"
    source = "The Matrix Cookbook, eq. 69 (matmul), with one operand constant"

    def prepare(self, x, matrix, side):
        shape = np.shape(getattr(x, "_data", x))
        if len(shape) not in (1, 2):
            raise ShapeError(f"matmul: a scipy.sparse matrix multiplies 1-D and 2-D operands, got shape {shape}")
        rows, cols = matrix.shape
        inner = shape[0] if side == "left" else shape[-1]
        expected = cols if side == "left" else rows
        if inner != expected:
            pair = (matrix.shape, shape) if side == "left" else (shape, matrix.shape)
            raise ShapeError(f"matmul: shapes {pair[0]} and {pair[1]} are not aligned ({inner} != {expected})")
        return (x,), {"matrix": matrix, "side": side}

    def forward(self, x, matrix, side):
        if side == "left":
            return np.asarray(matrix @ x)
        return np.asarray(matrix.T @ x.T).T  # x @ S = (Sᵀ xᵀ)ᵀ: scipy multiplies sparse on the left

    def vjp(self, xp, g, inputs, out, needs, matrix, side):
        return (xp.sparse_matmul(g, matrix.T, side),)
