"""Forward mode: carry tangents through an op with its JVP rule.

A Tensor's tangents live in ``_tangents``, a dict {level: Tensor}; each ``jvp()`` call owns one
level. The tangent of level k is computed in Tensor operations (the namespace ``xp`` the tensor
layer passes in) with the forward ceiling at k, so those operations carry the lower (outer) levels
along (nested derivatives) and ignore level k and above (no perturbation confusion).

A rule that uses the op's output Z gets a twin of the output Tensor: same array, same graph node,
the lower levels' tangents, but not the tangent being computed. So the tangent's recorded graph never
references the Tensor that holds it, and tangents make no reference cycles.
"""
from . import modes
from .errors import RuleError, in_rule

_state = modes.state


def _twin(out):
    twin = object.__new__(type(out))
    twin._data = out._data
    twin.requires_grad = out.requires_grad
    twin._grad = None
    twin._node = out._node
    twin._tangents = dict(out._tangents) if out._tangents else None
    return twin


def propagate(op, inputs, out, params, xp):
    """Give ``out`` the tangent of every level its inputs carry (below the current ceiling)."""
    top = _state.ceiling
    levels = set()
    for a in inputs:
        carried = getattr(a, "_tangents", None)
        if carried:
            levels.update(k for k in carried if k < top)
    if not levels:
        return
    out._tangents = {}
    for level in sorted(levels):  # lower levels first: a higher level's rule sees them on the twin
        tangents = tuple((getattr(a, "_tangents", None) or {}).get(level) for a in inputs)
        twin = _twin(out)
        with modes.ceiling(level):
            try:
                tangent = op.jvp(xp, tangents, inputs, twin, **params)
                if tangent is not None:
                    tangent = fit_tangent(xp, tangent, out, op.name)
            except Exception as error:
                raise in_rule(op.name, "forward mode", error) from error
        if tangent is not None:
            out._tangents[level] = tangent
            for observer in _state.observers:
                observer.tangent(op, inputs, out, tangent, level)
    if not out._tangents:
        out._tangents = None


def fit_tangent(xp, tangent, like, opname):
    """A tangent as a Tensor with the shape and dtype of the primal ``like``, checked."""
    if getattr(tangent, "shape", None) is None:
        raise RuleError(f"{opname} (forward mode): the rule returned {type(tangent).__name__}, not an array")
    tangent = xp.as_tensor(tangent)
    if tangent.dtype.kind != "f":
        raise RuleError(f"{opname} (forward mode): the rule returned a tangent of dtype {tangent.dtype}")
    if tangent.shape != like.shape:
        try:
            tangent = xp.broadcast_to(tangent, like.shape)
        except ValueError as error:
            raise RuleError(
                f"{opname} (forward mode): tangent of shape {tangent.shape} does not fit the output's "
                f"shape {like.shape}"
            ) from error
    if tangent.dtype != like.dtype:
        tangent = xp.astype(tangent, like.dtype)
    return tangent
