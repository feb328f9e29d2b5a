"""tinygrad_mat: forward- and reverse-mode automatic differentiation of matrix expressions.

>>> import tinygrad_mat as tm
>>> X = tm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> tm.det(X).backward()
>>> X.grad                       # ∂det(X)/∂X = det(X) X⁻ᵀ
Tensor([[ 4., -3.],
        [-2.,  1.]])
"""
from . import ops
from .errors import DTypeError, GraphError, ShapeError, SingularMatrixError
from .functional import grad, jvp, value_and_grad, vjp
from .functions import (
    abs, add, as_tensor, astype, broadcast_to, det, div, exp, getitem, inv, log, log_softmax,
    logsumexp, matmul, matrix_transpose, mean, mul, neg, norm, pow, relu, reshape, scatter_add,
    sigmoid, slogdet, softmax, solve, sqrt, stack, concatenate, sub, sum, sum_to, tanh, tensor, trace,
    transpose,
    zero_grad,
)
from .jacobians import hessian, hvp, jacfwd, jacobian, jacrev
from .modes import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor

__version__ = "0.1.0"
