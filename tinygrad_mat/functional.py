"""Functional transforms: grad, value_and_grad, vjp (reverse) and jvp (forward).

Given numpy arrays or numbers at top level they return numpy arrays. Given Tensors,
or called inside another transform, they return Tensors that stay connected to the
outer computation, so transforms nest (the inner backward pass is recorded). They
never read or write any Tensor's ``.grad``.
"""
import numpy as np

from . import engine, modes
from .errors import ShapeError
from .functions import as_tensor, astype
from .ops import REGISTRY as OPS
from .tensor import Tensor


def _argnums(argnums, nargs, name):
    single = isinstance(argnums, (int, np.integer))
    nums = (argnums,) if single else tuple(argnums)
    for n in nums:
        if not isinstance(n, (int, np.integer)) or not -nargs <= n < nargs:
            raise ValueError(f"{name}: argnums {argnums!r} is out of range for a function called with {nargs} arguments")
    return tuple(int(n) % nargs for n in nums), single


def _numpy_mode(values):
    """Top level with no Tensor in sight: plain numpy in, plain numpy out."""
    return modes.transform_depth() == 0 and not any(isinstance(v, Tensor) for v in values)


def _reverse_handle(x, name):
    """A Tensor requiring grad that stands for ``x`` inside one reverse transform."""
    if isinstance(x, Tensor):
        if x.requires_grad and modes.is_grad_enabled():
            return engine.apply(OPS["alias"], (x,))  # keeps x's outer graph connected
        handle = Tensor._wrap(x._data)
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
    raise TypeError(
        f"{name}: {requirement} f to return one array (a Tensor, numpy array or number), "
        f"got {type(value).__name__}"
    )


def _to_numpy(t):
    return np.array(t._data if isinstance(t, Tensor) else t)


def _gradients(grads, handles, numpy_mode):
    """The engine's cotangents as the caller gets them: zeros where none arrived, numpy or Tensors."""
    results = []
    for g, handle in zip(grads, handles):
        if g is None:
            g = np.zeros(handle.shape, dtype=handle.dtype)
        if numpy_mode:
            results.append(_to_numpy(g))
        else:
            results.append(g if isinstance(g, Tensor) else Tensor._wrap(np.asarray(g)))
    return results


def value_and_grad(f, argnums=0):
    """A function returning (f(*args), ∂f/∂args[argnums]) for scalar-valued f.

    The gradient has the shape of its argument (denominator layout).

    >>> import numpy as np, tinygrad_mat as tm
    >>> value, g = tm.value_and_grad(lambda x: (x * x).sum())(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """

    def wrapper(*args):
        nums, single = _argnums(argnums, len(args), "grad")
        numpy_mode = _numpy_mode(args)
        nested = not numpy_mode
        start = engine.next_sequence_number()
        with modes.inside_transform(), modes.enable_grad():
            handles = list(args)
            for n in nums:
                handles[n] = _reverse_handle(args[n], "grad")
            out = function_output(f(*handles), "grad")
        if out.size != 1:
            raise ShapeError(
                f"grad: f must return a scalar (one element), got shape {out.shape}; "
                "use tm.vjp for a non-scalar output"
            )
        targets = [handles[n] for n in nums]
        grads = engine.grad(out, targets, None, retain_graph=nested, create_graph=nested, created_after=start)
        results = _gradients(grads, targets, numpy_mode)
        value = _to_numpy(out) if numpy_mode else out
        return value, (results[0] if single else tuple(results))

    wrapper.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    wrapper.__doc__ = f"Value and gradient of {getattr(f, '__name__', 'f')} w.r.t. argument(s) {argnums}."
    return wrapper


def grad(f, argnums=0):
    """The gradient function of scalar-valued f: same arguments, returns ∂f/∂args[argnums].

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> tm.grad(lambda x: x @ A @ x)(np.array([1.0, 1.0]))   # (A + Aᵀ) x
    array([ 7., 13.])
    """
    value_and_grad_f = value_and_grad(f, argnums)

    def wrapper(*args):
        return value_and_grad_f(*args)[1]

    wrapper.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    wrapper.__doc__ = f"Gradient of {getattr(f, '__name__', 'f')} w.r.t. argument(s) {argnums}."
    return wrapper


def vjp(f, *primals):
    """Evaluate f at ``primals``; return (f(primals), vjp_fn), vjp_fn(ū) = (ūᵀ ∂f/∂primal for each primal).

    ``vjp_fn`` may be called many times (the graph is kept until it is garbage collected).

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> out, vjp_fn = tm.vjp(lambda x: A @ x, np.array([1.0, 1.0]))
    >>> vjp_fn(np.array([1.0, 0.0]))                          # Aᵀ ū
    (array([1., 2.]),)
    """
    numpy_mode = _numpy_mode(primals)
    nested = not numpy_mode
    start = engine.next_sequence_number()
    with modes.inside_transform(), modes.enable_grad():
        handles = [_reverse_handle(p, "vjp") for p in primals]
        out = function_output(f(*handles), "vjp")

    def vjp_fn(cotangent):
        if not numpy_mode or isinstance(cotangent, Tensor):
            cotangent = as_tensor(cotangent, "vjp")
        grads = engine.grad(out, handles, cotangent, retain_graph=True, create_graph=nested, created_after=start)
        return tuple(_gradients(grads, handles, numpy_mode))

    return (_to_numpy(out) if numpy_mode else out), vjp_fn


def _forward_handle(primal, tangent, level, index):
    """A Tensor for ``primal`` inside one jvp, carrying ``tangent`` at ``level``."""
    if isinstance(primal, Tensor) and primal.requires_grad and modes.is_grad_enabled():
        handle = engine.apply(OPS["alias"], (primal,))  # stays connected for an outer reverse pass
    elif isinstance(primal, Tensor):
        handle = Tensor._wrap(primal._data)
        handle._tangents = dict(primal._tangents) if primal._tangents else None
    else:
        handle = as_tensor(primal, "jvp")
    tangent = as_tensor(tangent, "jvp")
    if tangent.shape != handle.shape:
        raise ShapeError(f"jvp: tangent {index} has shape {tangent.shape}, but its primal has shape {handle.shape}")
    if tangent.dtype != handle.dtype:
        tangent = astype(tangent, handle.dtype)
    handle._tangents = dict(handle._tangents or {})
    handle._tangents[level] = tangent
    return handle


def jvp(f, primals, tangents):
    """Forward mode: (f(*primals), J·tangents) from one evaluation of f carrying tangents.

    ``primals`` and ``tangents`` are tuples (or lists) of the same length and shapes.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> out, tangent = tm.jvp(lambda x: A @ x, (np.array([1.0, 1.0]),), (np.array([1.0, 0.0]),))
    >>> tangent                                               # A v
    array([1., 3.])
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (or lists), e.g. jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    numpy_mode = _numpy_mode(tuple(primals) + tuple(tangents))
    level = modes.new_level()
    with modes.inside_transform():
        handles = [_forward_handle(p, t, level, i) for i, (p, t) in enumerate(zip(primals, tangents))]
        out = function_output(f(*handles), "jvp")
    tangent = out._tangents.get(level) if out._tangents else None
    if tangent is None:
        tangent = Tensor._wrap(np.zeros(out.shape, dtype=out.dtype))
    if out._tangents and level in out._tangents:
        with modes.ceiling(level):  # the caller sees the value without this jvp's tangent
            out = engine.apply(OPS["alias"], (out,))
    if numpy_mode:
        return _to_numpy(out), _to_numpy(tangent)
    return out, tangent
