"""Forward mode: carry tangents through an op with its JVP rule.

A Tensor's tangents live in ``_tangents``, a dict {level: tangent}; each ``jvp()`` call owns one
level. The tangent of level k is computed in Tensor operations (the namespace ``xp`` the tensor
layer passes in) with the forward ceiling at k, so those operations carry the lower (outer) levels
along (nested derivatives) and ignore level k and above (no perturbation confusion).

A rule that uses the op's output Z gets a twin of the output Tensor: same array, same graph node,
the lower levels' tangents, but not the tangent being computed. So the tangent's recorded graph never
references the Tensor that holds it, and tangents make no reference cycles.

Two kinds of levels are faster (``modes.LevelSpec``):
  * a batched level: each tangent has a leading axis of B directions, and one rule call serves them
    all where the op declares how (``Record.batching``); elsewhere the rule runs per direction;
  * an array level: the tangents are plain numpy arrays and the rules run in the numpy namespace,
    with no Tensor made. ``jvp`` uses it only where nothing can differentiate the tangents again.
"""
import numpy as np

from . import modes
from .errors import RuleError, in_rule
from .namespaces import NUMPY

_state = modes.state


def _twin(out):
    twin = object.__new__(type(out))
    twin._data = out._data
    twin.requires_grad = out.requires_grad
    twin._grad = None
    twin._node = out._node
    twin._tangents = dict(out._tangents) if out._tangents else None
    if _state.tracer is not None:  # tm.compile: the twin holds the output's values
        _state.tracer.detach(out, twin)
    return twin


def propagate(op, inputs, out, params, xp):
    """Give ``out`` the tangent of every level its inputs carry (below the current ceiling)."""
    top = _state.ceiling
    # Only the levels of jvps still running: a finished level's tangents stay on the Tensors it saw
    # (a graph may have saved them), but nothing may carry them on (a batched one no longer fits).
    running = [record.level for record in _state.transforms]
    levels = []
    for a in inputs:
        carried = getattr(a, "_tangents", None)
        if carried:
            for k in carried:
                if k < top and k not in levels and k in running:
                    levels.append(k)
    if not levels:
        return
    if len(levels) > 1:
        levels.sort()  # lower levels first: a higher level's rule sees them on the twin
    specs = _state.levels
    out._tangents = {}
    for level in levels:
        tangents = []
        for a in inputs:
            carried = getattr(a, "_tangents", None)
            tangents.append(carried.get(level) if carried else None)
        tangents = tuple(tangents)
        spec = specs.get(level) if specs else None
        batch = None if spec is None else spec.batch
        try:
            if spec is not None and spec.arrays:
                values = tuple([getattr(a, "_data", a) for a in inputs])
                tangent = _rule(op, NUMPY, tangents, values, out._data, params, batch)
                if tangent is not None:
                    tangent = fit_array(tangent, out._data, op.name, batch)
            else:
                previous = _state.ceiling
                _state.ceiling = level
                try:
                    tangent = _rule(op, xp, tangents, inputs, _twin(out), params, batch)
                    if tangent is not None:
                        tangent = fit_tangent(xp, tangent, out, op.name, batch)
                finally:
                    _state.ceiling = previous
        except Exception as error:
            raise in_rule(op.name, "forward mode", error) from error
        if tangent is not None:
            out._tangents[level] = tangent
            if _state.observers:
                for observer in _state.observers:
                    observer.tangent(op, inputs, out, tangent, level)
    if not out._tangents:
        out._tangents = None


def _rule(op, xp, tangents, inputs, out, params, batch):
    """The op's forward rule; for a batch of directions, in the way the op declares it handles one."""
    if batch is None:
        return op.jvp(xp, tangents, inputs, out, **params)
    mode = op.batch_mode(inputs, params)
    if mode == "leading":
        return op.jvp(xp, tangents, inputs, out, **params)
    if mode == "pad":
        rank = np.ndim(getattr(out, "_data", out))
        return op.jvp(xp, tuple(None if t is None else _pad(xp, t, rank) for t in tangents), inputs, out, **params)
    if mode == "params":  # a linear op: the op itself on the tangents, its axes moved past the batch
        shapes = [np.shape(getattr(x, "_data", x)) for x in inputs]
        dtype = getattr(out, "dtype", np.float64)
        filled = [xp.as_result(np.zeros((batch,) + s, dtype)) if t is None else t for t, s in zip(tangents, shapes)]
        filled, batched_params = op.batch_params(xp, filled, params, shapes, batch)
        return xp.apply(op, tuple(filled), batched_params)
    # No batched form: one rule call per direction, the results stacked.
    shape = np.shape(getattr(out, "_data", out))
    dtype = getattr(out, "dtype", np.float64)
    pieces = []
    for b in range(batch):
        piece = op.jvp(xp, tuple(None if t is None else t[b] for t in tangents), inputs, out, **params)
        if piece is None:
            piece = xp.as_result(np.zeros(shape, dtype))
        elif np.shape(getattr(piece, "_data", piece)) != shape:
            piece = xp.broadcast_to(piece, shape)
        pieces.append(piece)
    return xp.stack(pieces)


def _pad(xp, tangent, rank):
    """A batched tangent (B, *shape) as (B, 1, …, 1, *shape) with ``rank`` axes after the batch, so that
    it broadcasts against the primal operands as the unbatched one would."""
    shape = np.shape(getattr(tangent, "_data", tangent))
    missing = rank + 1 - len(shape)
    if missing <= 0:
        return tangent
    return xp.reshape(tangent, shape[:1] + (1,) * missing + shape[1:])


def _expected(like_shape, batch):
    return like_shape if batch is None else (batch,) + tuple(like_shape)


def fit_tangent(xp, tangent, like, opname, batch=None):
    """A tangent as a Tensor with the shape (after the batch axis) and dtype of the primal ``like``."""
    if getattr(tangent, "shape", None) is None:
        raise RuleError(f"{opname} (forward mode): the rule returned {type(tangent).__name__}, not an array")
    tangent = xp.as_tensor(tangent)
    if tangent.dtype.kind != "f":
        raise RuleError(f"{opname} (forward mode): the rule returned a tangent of dtype {tangent.dtype}")
    expected = _expected(like.shape, batch)
    if tangent.shape != expected:
        try:
            tangent = xp.broadcast_to(tangent, expected)
        except ValueError as error:
            raise RuleError(
                f"{opname} (forward mode): tangent of shape {tangent.shape} does not fit the output's "
                f"shape {expected}"
            ) from error
    if tangent.dtype != like.dtype:
        tangent = xp.astype(tangent, like.dtype)
    return tangent


def fit_array(tangent, like, opname, batch=None):
    """A tangent of an array level: a float array with the shape (after the batch axis) and dtype of
    the primal array ``like``. (A rule may hand back a Tensor: a custom rule written with tm functions.)"""
    if batch is None and type(tangent) is np.ndarray and tangent.shape == like.shape and tangent.dtype is like.dtype:
        return tangent  # the common case, checked first
    tangent = getattr(tangent, "_data", tangent)
    if getattr(tangent, "shape", None) is None:
        if isinstance(tangent, (float, int)):
            tangent = np.asarray(tangent, dtype=like.dtype)
        else:
            raise RuleError(f"{opname} (forward mode): the rule returned {type(tangent).__name__}, not an array")
    tangent = np.asarray(tangent)
    if tangent.dtype.kind != "f":
        raise RuleError(f"{opname} (forward mode): the rule returned a tangent of dtype {tangent.dtype}")
    expected = _expected(like.shape, batch)
    if tangent.shape != expected:
        try:
            tangent = np.broadcast_to(tangent, expected)
        except ValueError as error:
            raise RuleError(
                f"{opname} (forward mode): tangent of shape {tangent.shape} does not fit the output's "
                f"shape {expected}"
            ) from error
    if tangent.dtype != like.dtype:
        tangent = tangent.astype(like.dtype)
    return tangent
