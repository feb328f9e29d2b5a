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


class TracedValueError(TypeError):
    """A value taken out of a Tensor that carries a running transform's derivative (as JAX's
    ConcretizationTypeError): the derivative would silently be dropped."""


class CompileError(RuntimeError):
    """A step ``tm.compile`` cannot replay faithfully (a value read out of a traced Tensor, random
    numbers, a transform inside the step, ...): the message names what and says what to write instead."""


class RuleError(GraphError):
    """A derivative rule returned something the engine cannot use (wrong count, shape, type)."""


def in_rule(opname, direction, error):
    """The error ``error`` raised inside ``opname``'s rule, as one that names the op and the direction.

    The type is kept where it can be (a SingularMatrixError stays one); the original is the cause.
    """
    prefix = f"{opname} ({direction})"
    message = str(error)
    if message.startswith(prefix):
        return error
    if isinstance(error, np.linalg.LinAlgError):
        return SingularMatrixError(f"{prefix}: {message}")
    try:
        wrapped = type(error)(f"{prefix}: {message}")
    except Exception:  # an exception type whose constructor wants other arguments
        wrapped = RuleError(f"{prefix}: {type(error).__name__}: {message}")
    return wrapped
