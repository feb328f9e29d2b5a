"""Forward mode: carry tangents through an op with its JVP rule.

A Tensor's tangents live in ``_tangents``, a dict {level: Tensor}; each ``jvp()``
call owns one level. The tangent of level k is computed in Tensor operations with
the forward ceiling at k, so those operations carry the lower (outer) levels along
(nested derivatives) and ignore level k and above (no perturbation confusion).
"""
from . import engine, modes
from .functions import as_tensor, astype, broadcast_to  # imported by the engine only after package init
from .xp import TensorNS


def propagate(op, args, out, params):
    """Give ``out`` the tangent of every level its inputs carry (below the current ceiling)."""
    Tensor = engine.Tensor
    top = modes.forward_ceiling()
    levels = set()
    for a in args:
        if isinstance(a, Tensor) and a._tangents:
            levels.update(k for k in a._tangents if k < top)
    if not levels:
        return
    out._tangents = {}
    for level in sorted(levels):  # lower levels first: a higher level's rule sees them on `out`
        tangents = tuple(
            a._tangents.get(level) if isinstance(a, Tensor) and a._tangents else None for a in args
        )
        with modes.ceiling(level):
            tangent = op.jvp(TensorNS, tangents, args, out, **params)
            if tangent is None:
                continue
            tangent = fit_tangent(tangent, out)
        out._tangents[level] = tangent
    if not out._tangents:
        out._tangents = None


def fit_tangent(tangent, like):
    """A tangent as a Tensor with the shape and dtype of the primal ``like``."""
    tangent = as_tensor(tangent, "jvp")
    if tangent.shape != like.shape:
        tangent = broadcast_to(tangent, like.shape)
    if tangent.dtype != like.dtype:
        tangent = astype(tangent, like.dtype)
    return tangent
