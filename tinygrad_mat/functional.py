"""Functional transforms: grad, value_and_grad, vjp (reverse) and jvp (forward).

Given numpy arrays or numbers at top level they return numpy arrays. Given Tensors, or called inside
another transform, they return Tensors that stay connected to the outer computation, so transforms
nest (the inner backward pass is recorded). They never read or write any Tensor's ``.grad``.

Keyword arguments of the transformed function are passed through and not differentiated;
``has_aux=True`` means f returns (output, aux) and aux is handed back beside the result, as in JAX.
While f runs, a Tensor that carries the transform's derivative refuses to become a number or a
numpy array (``float(t)``, ``t.item()``, ``t.numpy()``, ``np.asarray(t)``), which would silently
drop the derivative: a ``TracedValueError`` names the transform instead.
"""
import functools

import numpy as np

from . import engine, modes
from .errors import ShapeError
from .namespaces import NUMPY
from .ops import REGISTRY as OPS
from .tensor import Tensor, TensorNS, apply, as_tensor, gradients


def _argnums(argnums, nargs, name):
    single = isinstance(argnums, (int, np.integer))
    nums = (argnums,) if single else tuple(argnums)
    for n in nums:
        if not isinstance(n, (int, np.integer)) or not -nargs <= n < nargs:
            raise ValueError(f"{name}: argnums {argnums!r} is out of range for a function called with {nargs} arguments")
    return tuple(int(n) % nargs for n in nums), single


def _numpy_mode(values):
    """Top level with no Tensor in sight: plain numpy in, plain numpy out. (Inside tm.compile's trace,
    the call's numpy arrays reach the step wrapped as Tensors, and what the step computes from them
    are Tensors: those that carry no derivative count as numpy, and results come back as detached
    Tensors, see ``_to_numpy``.)"""
    if modes.inside_transform():
        return False
    if modes.state.tracer is not None:  # a Tensor nothing can differentiate counts as numpy in a trace
        return not any(isinstance(v, Tensor) and (v.requires_grad or v._tangents) for v in values)
    return not any(isinstance(v, Tensor) for v in values)


def _wrap_values(x):
    """A new leaf with Tensor ``x``'s values (inside tm.compile's trace, the same values as x's)."""
    handle = Tensor._wrap(x._data)
    if modes.state.tracer is not None:
        modes.state.tracer.detach(x, handle)
    return handle


def _reverse_handle(x, name):
    """A Tensor requiring grad that stands for ``x`` inside one reverse transform."""
    if isinstance(x, Tensor):
        if x.requires_grad and modes.is_grad_enabled():
            return apply(OPS["alias"], (x,))  # keeps x's outer graph connected
        handle = _wrap_values(x)
        handle._tangents = dict(x._tangents) if x._tangents else None
    else:
        handle = as_tensor(x, name)
    handle.requires_grad = True
    return handle


def function_output(value, name, requirement="needs"):
    """What f returned, as a Tensor; anything but one array is refused (a tuple of Tensors would
    otherwise turn into a constant array, and the derivative silently into zero)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, float, int)) and not isinstance(value, bool):
        return as_tensor(value, name)
    hint = "; if f also returns auxiliary data, pass has_aux=True" if isinstance(value, tuple) else ""
    raise TypeError(
        f"{name}: {requirement} f to return one array (a Tensor, numpy array or number), "
        f"got {type(value).__name__}{hint}"
    )


def function_outputs(value, name):
    """What f returned as (a list of Tensors, the container type or None): one array, or a tuple or
    list of arrays (as ``np.split`` and ``np.linalg.eigh`` give), whose derivatives come back in the
    same container, as in JAX."""
    if not isinstance(value, (tuple, list)) or not value:
        return [function_output(value, name)], None
    for i, v in enumerate(value):
        if isinstance(v, (tuple, list, dict)):
            raise TypeError(f"{name}: f returned a {type(value).__name__} whose item {i} is a {type(v).__name__}; "
                            "each output must be one array (a Tensor, numpy array or number)")
    return [function_output(v, name) for v in value], type(value)


def _rebuild(kind, items):
    """One item as it is, or the items in f's container type."""
    return items[0] if kind is None else kind(items)


def split_aux(result, has_aux, name):
    """(output, aux) of f's result; aux is None without ``has_aux``."""
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"{name}: has_aux=True needs f to return a pair (output, aux), got {type(result).__name__}")
    return result[0], result[1]


def export_aux(aux, numpy_mode):
    """aux as the caller gets it: at top level with numpy in, Tensors inside become numpy arrays."""
    if not numpy_mode:
        return aux
    if isinstance(aux, Tensor):
        return np.array(aux._data)
    if isinstance(aux, (list, tuple)):
        return type(aux)(export_aux(a, True) for a in aux)
    if isinstance(aux, dict):
        return {k: export_aux(v, True) for k, v in aux.items()}
    return aux


def _to_numpy(t):
    """A result at top level: a numpy array; inside tm.compile's trace, a detached Tensor instead (a
    numpy array would be a value the replay cannot recompute)."""
    if modes.state.tracer is not None:
        return t.detach() if isinstance(t, Tensor) else as_tensor(t)
    return np.array(t._data if isinstance(t, Tensor) else t)


def _fresh(g):
    """g as the caller may keep it: g itself when it is an array the pass made (it owns its memory,
    writeable: no Tensor holds it, Tensor data is read-only), else a copy (a view, a shared array)."""
    if type(g) is np.ndarray and g.flags.owndata and g.flags.writeable and modes.state.tracer is None:
        return g
    return _to_numpy(g)


def _results(grads, handles, numpy_mode, batch=None):
    """The engine's cotangents as the caller gets them: zeros where none arrived, numpy or Tensors
    (with ``batch``, each has a leading axis of that many directions)."""
    results = []
    for g, handle in zip(grads, handles):
        if g is None:
            g = np.zeros(handle.shape if batch is None else (batch,) + handle.shape, dtype=handle.dtype)
        if numpy_mode:
            fresh = batch is not None and not any(g is r for r in results)  # one array twice: copies
            results.append(_fresh(g) if fresh else _to_numpy(g))
        else:
            results.append(g if isinstance(g, Tensor) else Tensor._wrap(np.asarray(g)))
    return results


def _name_wrapper(wrapper, kind, f, argnums):
    label = getattr(f, "__name__", "f")
    wrapper.__name__ = f"{kind}({label})"
    wrapper.__doc__ = f"{kind} of {label} with respect to argument(s) {argnums}."
    return wrapper


def value_and_grad(f, argnums=0, has_aux=False, _name="value_and_grad"):
    """A function returning (f(*args), ∂f/∂args[argnums]) for scalar-valued f; with ``has_aux``,
    ((f's output, aux), gradient).

    The gradient has the shape of its argument (denominator layout).

    >>> import numpy as np, tinygrad_mat as tm
    >>> value, g = tm.value_and_grad(lambda x: (x * x).sum())(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """

    def wrapper(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), _name)
        numpy_mode = _numpy_mode(args)
        nested = not numpy_mode
        start = engine.next_sequence_number()
        with modes.transform(_name, start) as record, modes.enable_grad():
            handles = list(args)
            for n in nums:
                handles[n] = _reverse_handle(args[n], _name)
                record.handles.add(id(handles[n]))
            out, aux = split_aux(f(*handles, **kwargs), has_aux, _name)
            out = function_output(out, _name)
        if out.size != 1:
            raise ShapeError(
                f"{_name}: f must return a scalar (one element), got shape {out.shape}; "
                "use tm.vjp for a non-scalar output"
            )
        targets = [handles[n] for n in nums]
        grads = gradients(out, targets, None, retain_graph=nested, create_graph=nested, created_after=start)
        results = _results(grads, targets, numpy_mode)
        value = _to_numpy(out) if numpy_mode else out
        if has_aux:
            value = (value, export_aux(aux, numpy_mode))
        return value, (results[0] if single else tuple(results))

    return _name_wrapper(wrapper, "value_and_grad", f, argnums)


def grad(f, argnums=0, has_aux=False, _name="grad"):
    """The gradient function of scalar-valued f: same arguments, returns ∂f/∂args[argnums] (with
    ``has_aux``: (gradient, aux)). Keyword arguments are passed to f and not differentiated.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> tm.grad(lambda x: x @ A @ x)(np.array([1.0, 1.0]))   # (A + Aᵀ) x
    array([ 7., 13.])
    >>> tm.grad(lambda x, scale: scale * (x * x).sum())(np.array([1.0, 2.0]), scale=3.0)
    array([ 6., 12.])
    """
    value_and_grad_f = value_and_grad(f, argnums, has_aux, _name)

    def wrapper(*args, **kwargs):
        value, g = value_and_grad_f(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return _name_wrapper(wrapper, "grad", f, argnums)


def vjp(f, *primals, has_aux=False, _name="vjp", **kwargs):
    """Evaluate f at ``primals``; return (f(primals), vjp_fn), vjp_fn(ū) = (ūᵀ ∂f/∂primal for each
    primal); with ``has_aux``, (f's output, vjp_fn, aux). Keyword arguments go to f.

    ``vjp_fn`` may be called many times (the graph is kept until it is garbage collected).

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> out, vjp_fn = tm.vjp(lambda x: A @ x, np.array([1.0, 1.0]))
    >>> vjp_fn(np.array([1.0, 0.0]))                          # Aᵀ ū
    (array([1., 2.]),)
    """
    pullback = Pullback(f, primals, has_aux, _name, kwargs)

    def vjp_fn(cotangent):
        return pullback(cotangent)

    value = _rebuild(pullback.kind, [_to_numpy(o) if pullback.numpy_mode else o for o in pullback.outs])
    if has_aux:
        return value, vjp_fn, export_aux(pullback.aux, pullback.numpy_mode)
    return value, vjp_fn


# A batched pass holds cotangents of (directions × the largest array of the graph) entries: above this
# many, the directions go through in chunks (2²² float64 entries are 32 MiB).
CHUNK_ENTRIES = 2**22


# The identity batches kept: making one costs a good part of a small pass (eye(1024) takes 0.8 ms,
# jacrev of a 32 × 32 matrix function 4 ms); at most 4, of at most 8 MiB each.
IDENTITY_BYTES = 2**23


@functools.lru_cache(maxsize=4)
def _cached_identity(size, dtype):
    identity = np.eye(size, dtype=dtype)
    identity.setflags(write=False)  # shared by every call: no rule writes into a cotangent
    return identity


def _identity(size, dtype):
    """The size × size identity: jacrev's batch of cotangents (kept when small)."""
    dtype = np.dtype(dtype)
    if size * size * dtype.itemsize <= IDENTITY_BYTES:
        return _cached_identity(size, dtype)
    return np.eye(size, dtype=dtype)


class Pullback:
    """f evaluated once on reverse handles for ``primals`` (one recorded graph), and cotangents pulled
    back through it: one at a time (``vjp``'s vjp_fn), or many in one batched pass (``jacrev``).

    Several outputs are packed into one flat Tensor of all their entries, which carries the cotangents
    back at once. Nested (Tensors in, or inside another transform), the backward passes are recorded.
    """

    def __init__(self, f, primals, has_aux, name, kwargs):
        self.name = name
        self.numpy_mode = _numpy_mode(primals)
        self.start = engine.next_sequence_number()
        with modes.transform(name, self.start) as record, modes.enable_grad():
            self.handles = [_reverse_handle(p, name) for p in primals]
            record.handles.update(id(h) for h in self.handles)
            out, self.aux = split_aux(f(*self.handles, **kwargs), has_aux, name)
            self.outs, self.kind = function_outputs(out, name)
            self.packed = (self.outs[0] if self.kind is None
                           else TensorNS.concatenate([TensorNS.reshape(o, (-1,)) for o in self.outs]))

    def __call__(self, cotangent):
        """(ūᵀ ∂f/∂primal for each primal) for one cotangent ū shaped like f's output."""
        if self.kind is not None:
            cotangent = _packed_cotangent(cotangent, self.outs, self.kind, self.numpy_mode, self.name)
        elif not self.numpy_mode or isinstance(cotangent, Tensor):
            cotangent = as_tensor(cotangent, self.name)
        grads = gradients(self.packed, self.handles, cotangent, retain_graph=True,
                          create_graph=not self.numpy_mode, created_after=self.start)
        return tuple(_results(grads, self.handles, self.numpy_mode))

    def batched(self, seed, retain_graph=True):
        """For a batch of cotangents of the packed output, ``seed`` of shape (B, *packed shape) (a
        numpy array), each primal's cotangents (B, *its shape) from one batched reverse pass."""
        nested = not self.numpy_mode
        traced = modes.state.tracer is not None  # tm.compile: the pass runs as ops the tracer sees
        batch, packed = seed.shape[0], self.packed
        seed = np.asarray(seed, dtype=packed.dtype)
        if nested or traced:
            seed = Tensor._wrap(seed)
        if not packed.requires_grad:
            reached = {}
        elif packed._node is None:  # f returned a handle itself
            reached = {id(packed): [packed, seed, packed._data]}
        else:
            reached = engine.propagate(packed, seed, TensorNS if nested or traced else NUMPY, self.handles,
                                       retain_graph or nested, nested, self.start, batch=batch, traced=traced)
        grads = [reached[id(h)][1] if id(h) in reached else None for h in self.handles]
        return _results(grads, self.handles, self.numpy_mode, batch)

    def rows(self):
        """The Jacobian of the packed output with respect to each primal, (size of the output, *primal's
        shape): the identity pushed back as one batch of cotangents, in chunks of directions when the
        batch would hold more than ``CHUNK_ENTRIES`` entries per array."""
        size, shape, dtype = self.packed.size, self.packed.shape, self.packed.dtype
        chunk = max(1, CHUNK_ENTRIES // max(1, engine.largest_array(self.packed, self.start)))
        if chunk >= size:
            return self.batched(_identity(size, dtype).reshape((size,) + shape), retain_graph=False)
        pieces = []
        for lo in range(0, size, chunk):
            hi = min(size, lo + chunk)
            seed = np.zeros((hi - lo, size), dtype=dtype)
            seed[np.arange(hi - lo), np.arange(lo, hi)] = 1.0
            pieces.append(self.batched(seed.reshape((hi - lo,) + shape), retain_graph=hi < size))
        if len(pieces) == 1:
            return pieces[0]
        join = np.concatenate if self.numpy_mode else TensorNS.concatenate
        return [join([piece[i] for piece in pieces]) for i in range(len(self.handles))]


def _packed_cotangent(cotangent, outs, kind, numpy_mode, name):
    """The cotangents of several outputs (a container like f's) as one flat cotangent."""
    if not isinstance(cotangent, (tuple, list)) or len(cotangent) != len(outs):
        raise TypeError(f"{name}: f returned a {kind.__name__} of {len(outs)} arrays, so the cotangent must be "
                        f"a tuple or list of {len(outs)} arrays, got {type(cotangent).__name__}")
    pieces = []
    for i, (c, o) in enumerate(zip(cotangent, outs)):
        if np.shape(c._data if isinstance(c, Tensor) else c) != o.shape:
            raise ShapeError(f"{name}: cotangent {i} has shape {np.shape(c)}, but output {i} has shape {o.shape}")
        pieces.append(c)
    if numpy_mode and not any(isinstance(c, Tensor) for c in pieces):
        return np.concatenate([np.ravel(np.asarray(c, dtype=o.dtype)) for c, o in zip(pieces, outs)])
    return TensorNS.concatenate([TensorNS.reshape(as_tensor(c, name), (-1,)) for c in pieces])


def _forward_handle(primal, tangent, level, index, name, batch=None, arrays=False):
    """A Tensor for ``primal`` inside one jvp, carrying ``tangent`` at ``level`` (with ``batch``, a
    leading axis of that many directions; with ``arrays``, as a plain numpy array)."""
    if isinstance(primal, Tensor) and primal.requires_grad and modes.is_grad_enabled():
        handle = apply(OPS["alias"], (primal,))  # stays connected for an outer reverse pass
    elif isinstance(primal, Tensor):
        handle = _wrap_values(primal)
        handle._tangents = dict(primal._tangents) if primal._tangents else None
    else:
        handle = as_tensor(primal, name)
    expected = handle.shape if batch is None else (batch,) + handle.shape
    if arrays:
        tangent = np.array(tangent._data if isinstance(tangent, Tensor) else tangent, dtype=handle.dtype)
        tangent.setflags(False)
    else:
        tangent = as_tensor(tangent, name)
        if tangent.dtype != handle.dtype and tangent.shape == expected:
            tangent = TensorNS.astype(tangent, handle.dtype)
    if tangent.shape != expected:
        raise ShapeError(f"{name}: tangent {index} has shape {tangent.shape}, but its primal has shape {handle.shape}"
                         + (f" (with a batch of {batch} directions: {expected})" if batch is not None else ""))
    handle._tangents = dict(handle._tangents or {})
    handle._tangents[level] = tangent
    return handle


def jvp(f, primals, tangents, has_aux=False, _name="jvp", **kwargs):
    """Forward mode: (f(*primals), J·tangents) from one evaluation of f carrying tangents; with
    ``has_aux``, (f's output, J·tangents, aux). Keyword arguments go to f.

    ``primals`` and ``tangents`` are tuples (or lists) of the same length and shapes.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> out, tangent = tm.jvp(lambda x: A @ x, (np.array([1.0, 1.0]),), (np.array([1.0, 0.0]),))
    >>> tangent                                               # A v
    array([1., 3.])
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{_name}: primals and tangents must be tuples (or lists), e.g. jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"{_name}: {len(primals)} primals but {len(tangents)} tangents")
    return _jvp(f, primals, tangents, has_aux, _name, kwargs)


def _jvp(f, primals, tangents, has_aux, name, kwargs, batch=None):
    """``jvp``; with ``batch``, each tangent has a leading axis of that many directions, pushed through
    f in one pass, and the output tangent has it too (jacfwd)."""
    numpy_mode = _numpy_mode(tuple(primals) + tuple(tangents))
    # Plain-array tangents are safe only where nothing can differentiate them again: numpy in (so
    # numpy out) and no transform around this one. Inside, nested transforms make their own levels.
    arrays = numpy_mode and modes.state.tracer is None  # tm.compile sees Tensor ops only
    level = modes.new_level()
    state = modes.state
    saved = (state.transforms, state.ceiling, state.levels)
    # Set by hand rather than with three context managers (this is on every jvp's path): the
    # transform record (traced-value checks), the ceiling lifted to infinity (a jvp started inside a
    # forward rule, a custom op's, would otherwise run under that rule's ceiling, below its own new
    # level, and its tangent would silently be dropped), and how this level carries its tangents.
    state.transforms = saved[0] + (modes.ActiveTransform(name, engine.next_sequence_number(), level),)
    state.ceiling = modes.INFINITE_LEVEL
    if batch is not None or arrays:
        state.levels = {**saved[2], level: modes.LevelSpec(batch, arrays)}
    try:
        handles = [_forward_handle(p, t, level, i, name, batch, arrays)
                   for i, (p, t) in enumerate(zip(primals, tangents))]
        out, aux = split_aux(f(*handles, **kwargs), has_aux, name)
        outs, kind = function_outputs(out, name)
    finally:
        state.transforms, state.ceiling, state.levels = saved
    pairs = [_output_and_tangent(o, level, batch, numpy_mode) for o in outs]
    out = _rebuild(kind, [o for o, _ in pairs])
    tangent = _rebuild(kind, [t for _, t in pairs])
    if has_aux:
        return out, tangent, export_aux(aux, numpy_mode)
    return out, tangent


def _output_and_tangent(out, level, batch, numpy_mode):
    """One output of a jvp and its tangent at ``level``, as the caller gets them."""
    tangent = out._tangents.get(level) if out._tangents else None
    expected = out.shape if batch is None else (batch,) + out.shape
    if tangent is None:
        tangent = np.zeros(expected, dtype=out.dtype)
    if not numpy_mode and out._tangents and level in out._tangents:
        with modes.ceiling(level):  # the caller sees the value without this jvp's tangent
            out = apply(OPS["alias"], (out,))
    if numpy_mode:
        out = _to_numpy(out)
        tangent = _to_numpy(tangent)
    elif not isinstance(tangent, Tensor):
        tangent = Tensor._wrap(np.array(tangent))
    return out, tangent
