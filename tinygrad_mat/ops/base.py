"""What every primitive op provides, and the registry of all ops.

An op is one record: ``forward`` on numpy arrays, ``vjp`` (reverse rule), ``jvp``
(forward rule), and both rules as text in matrix notation. The rules are written
against a namespace ``xp`` (see ``tinygrad_mat.xp``): the engine passes numpy arrays
and ``NumpyNS`` on the fast path, and Tensors and ``TensorNS`` when the backward
pass is itself recorded (``create_graph=True``) or carries forward-mode tangents.

Conventions of the rules (stated once, here):
  * a gradient has the shape of its input and dL = tr(Ḡᵀ dX) (denominator layout);
  * ``g`` is the cotangent Z̄ of the output Z; a rule may return a cotangent with
    the output's broadcast shape: the engine sums it back to the input's shape;
  * ``needs[i]`` says whether input i wants a cotangent; a rule returns None for
    the others (None is the zero symbol, never a materialised array);
  * in ``jvp`` a tangent of None is zero.
"""
import numpy as np

from ..errors import ShapeError, SingularMatrixError

REGISTRY = {}


def register(op_class):
    """Class decorator: instantiate the op once and list it in ``REGISTRY`` by name."""
    op = op_class()
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name!r} registered twice")
    REGISTRY[op.name] = op
    return op


def shapes_of(arrays):
    return " and ".join(str(np.shape(a)) for a in arrays)


class Op:
    name = "op"
    vjp_text = ""
    jvp_text = ""

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def vjp(self, xp, g, inputs, out, needs, **params):
        raise NotImplementedError

    def jvp(self, xp, tangents, inputs, out, **params):
        raise NotImplementedError

    def explain(self, error, arrays, params):
        """Turn a numpy error raised by ``forward`` into one that names this op and the shapes."""
        message = str(error)
        if isinstance(error, (ShapeError, SingularMatrixError)):
            return error
        if isinstance(error, np.linalg.LinAlgError):
            if "ingular" in message:
                return SingularMatrixError(f"{self.name}: matrix is singular (shape {np.shape(arrays[0])})")
            return ShapeError(f"{self.name}: {message} (shapes {shapes_of(arrays)})")
        if "broadcast" in message:
            return ShapeError(f"{self.name}: shapes {shapes_of(arrays)} cannot be broadcast together")
        if isinstance(error, IndexError):
            return IndexError(f"{self.name}: {message} (shape {np.shape(arrays[0])})")
        if isinstance(error, TypeError):
            return TypeError(f"{self.name}: {message}")
        return ShapeError(f"{self.name}: {message} (shapes {shapes_of(arrays)})")

    def __repr__(self):
        return f"<op {self.name}: {self.vjp_text}; {self.jvp_text}>"


def add_optional(a, b):
    """a + b where None stands for zero."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def require_square(name, x):
    if x.ndim < 2:
        raise ShapeError(f"{name}: needs a matrix (at least 2-D), got shape {x.shape}")
    if x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{name}: needs square matrices in the last two axes, got shape {x.shape}")


def keepdims_shape(in_shape, axis):
    """The shape a reduction over ``axis`` (a tuple or None) gives with keepdims=True."""
    if axis is None:
        return (1,) * len(in_shape)
    return tuple(1 if i in axis else n for i, n in enumerate(in_shape))
