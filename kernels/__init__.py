"""numba kernels, installed as ``tinygrad_mat.kernels``.

Pure functions on numpy arrays: ``@njit(cache=True)``, no globals, no knowledge of
Tensor or graphs. Each writes into an output array its caller allocates, so the
caller (``tinygrad_mat.dispatch``) owns all memory decisions. ``replay`` is apart: small
helpers that the code ``tm.compile(backend="numba")`` generates calls, returning new arrays.
"""
from .elementwise import erf, sigmoid
from .fused import linear_mse_vector, linear_mse_vector_parallel
from . import replay
from .optim import adam_update, adam_update_parallel, sgd_momentum_update, sgd_momentum_update_parallel
from .reduce import logsumexp_rows
from .scatter import scatter_add_rows

__all__ = ["sigmoid", "erf", "logsumexp_rows", "scatter_add_rows", "adam_update", "adam_update_parallel",
           "sgd_momentum_update", "sgd_momentum_update_parallel", "linear_mse_vector", "linear_mse_vector_parallel"]
