"""tinygrad_mat: forward- and reverse-mode automatic differentiation of matrix expressions.

>>> import tinygrad_mat as tm
>>> X = tm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> tm.det(X).backward()
>>> X.grad                       # ∂det(X)/∂X = det(X) X⁻ᵀ
Tensor([[ 4., -3.],
        [-2.,  1.]])

Layers, each importing only from those before it: errors, modes, arraylock → dispatch (numba
kernels, loaded on first use) → ops (the op records) → engine (the reverse walk; knows no op) →
namespaces, forward, numpy_protocol → tensor (Tensor, apply) → functions (the public functions),
creation, random → functional, jacobians, custom (the transforms, and your own ops). This file wires the public names together.
"""
from . import arraylock, data, linalg, metrics, nn, ops, optim, random
from .creation import *  # noqa: F401,F403  (zeros, ones, eye, arange, ...)
from .creation import __all__ as _creation_names
from .errors import CompileError, DTypeError, GraphError, RuleError, ShapeError, SingularMatrixError, TracedValueError
from .jit import Compiled, compile
from .custom import custom_jvp, custom_vjp
from .functional import grad, jvp, value_and_grad, vjp
from .functions import *  # noqa: F401,F403  (one public function per op record, and tensor())
from .functions import __all__ as _function_names
from .jacobians import hessian, hvp, jacfwd, jacobian, jacrev
from .modes import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor
from .threads import get_num_threads, num_threads, set_allocator_policy, set_num_threads
from .train import EarlyStopping, History, train
from .inspection import (
    AnomalyError, GradcheckError, check_graph, detect_anomaly, explain, gradcheck, graph, track_sites,
)

__version__ = "0.1.0"

__all__ = [
    "Tensor", *_function_names, *_creation_names, "random", "nn", "optim", "data", "linalg", "metrics",
    "train", "History", "EarlyStopping",
    "graph", "explain", "gradcheck", "check_graph", "detect_anomaly", "track_sites", "AnomalyError", "GradcheckError",
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacfwd", "jacrev", "hessian", "hvp",
    "custom_vjp", "custom_jvp",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "compile", "Compiled",
    "ShapeError", "SingularMatrixError", "GraphError", "DTypeError", "TracedValueError", "RuleError", "CompileError",
    "ops", "arraylock", "set_num_threads", "get_num_threads", "num_threads", "set_allocator_policy",
]
