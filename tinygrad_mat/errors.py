"""The exceptions tinygrad_mat raises. Each message names the operation and what was wrong."""
import numpy as np


class ShapeError(ValueError):
    """Operands whose shapes the operation cannot combine (raised when the op is built)."""


class SingularMatrixError(np.linalg.LinAlgError):
    """A singular matrix where the operation needs an invertible one (inv, solve, ...)."""


class GraphError(RuntimeError):
    """Misuse of the recorded graph: backward through a released graph, a missing cotangent, ..."""


class DTypeError(TypeError):
    """Input of a type or dtype tinygrad_mat does not differentiate (complex, object, strings)."""
