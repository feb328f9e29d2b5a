"""``tm.linalg``: numpy.linalg's differentiable counterparts in one place, and closed-form fits written
with the differentiable ``solve``, so that a gradient flows through a fitted model (hypergradients).

>>> import numpy as np, tinygrad_mat as tm
>>> rng = np.random.default_rng(0)
>>> X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
>>> bool(np.allclose(tm.linalg.normal_equations(X, y).numpy(), np.linalg.lstsq(X, y, rcond=None)[0]))
True
"""
import numpy as np

from . import functions as F
from .ops.base import shape_of
from .functions import (  # noqa: F401  (re-exported: the numpy.linalg names)
    cholesky, det, eigh, eigvalsh, expm, inv, logabsdet, logdet, lstsq, matrix_norm, matrix_power, norm, pinv, qr,
    slogdet, solve, svd, svdvals, vector_norm,
)


def normal_equations(X, y):
    """The least-squares coefficients (XᵀX)⁻¹Xᵀy by a solve (differentiable in X and y)."""
    Xt = F.matrix_transpose(X)
    return F.solve(Xt @ X, Xt @ y)


def ridge(X, y, alpha):
    """The ridge coefficients (XᵀX + αI)⁻¹Xᵀy, differentiable in X, y and the penalty α.

    >>> import numpy as np, tinygrad_mat as tm
    >>> X, y = np.eye(3), np.ones(3)
    >>> tm.linalg.ridge(X, y, 1.0)                 # (1 + α)⁻¹ y
    Tensor([0.5, 0.5, 0.5])
    >>> float(tm.grad(lambda a: tm.linalg.ridge(X, y, a).sum())(1.0))   # d/dα 3/(1+α) = −3/(1+α)²
    -0.75
    """
    Xt = F.matrix_transpose(X)
    n = shape_of(X)[-1]
    return F.solve(Xt @ X + alpha * np.eye(n), Xt @ y)


__all__ = ["normal_equations", "ridge", "cholesky", "det", "eigh", "eigvalsh", "expm", "inv", "logabsdet", "logdet",
           "lstsq", "matrix_norm", "matrix_power", "norm", "pinv", "qr", "slogdet", "solve", "svd", "svdvals",
           "vector_norm"]
