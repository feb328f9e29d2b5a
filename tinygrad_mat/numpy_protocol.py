"""numpy functions and ufuncs called on Tensors: the op if there is one, otherwise a clear error.

Without this, ``np.trace(t)`` or ``np.linalg.inv(t)`` would turn the Tensor into a plain array and
the derivative would silently be zero. numpy hands such calls to ``Tensor.__array_function__`` and
``Tensor.__array_ufunc__``, which come here:
  * a numpy function or ufunc that a record declares (``numpy = {...}``, ``ufunc = ...``) runs that
    record's function: differentiable, returns a Tensor;
  * comparisons and predicates (``t > 0``, ``np.isfinite(t)``) give boolean numpy arrays, which
    have no derivative to lose; ``np.shape``, ``np.ndim``, ``np.size`` answer as for arrays;
  * anything else raises TypeError naming the function and what to write instead.
"""
import inspect

import numpy as np

from .ops import REGISTRY, numpy_name
from .ops.base import values_of

# numpy function -> (record name, numpy's defaults that differ from the record's), from the records.
FUNCTIONS = {func: (record.name, dict(overrides)) for record in REGISTRY.values()
             for func, overrides in record.numpy.items()}
UFUNCS = {record.ufunc: record.name for record in REGISTRY.values() if record.ufunc is not None}

# Results with no derivative at all: booleans.
VALUE_UFUNCS = {
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.isnan, np.isinf, np.isfinite, np.signbit, np.logical_and, np.logical_or, np.logical_xor,
    np.logical_not,
}
SHAPE_FUNCTIONS = {
    np.shape: lambda a: tuple(a.shape),
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
}
# Arguments numpy passes that mean nothing here when they have numpy's default value.
_IGNORABLE = {"dtype": None, "out": None, "where": True, "order": "C", "subok": False, "casting": "same_kind"}
_RENAMED = {"newshape": "shape"}

# What to write instead, for numpy functions users reach for that have no op (yet).
HINTS = {
    "clip": "tm.where(x < lo, lo, tm.where(x > hi, hi, x))",
    "maximum": "tm.where(a >= b, a, b)",
    "minimum": "tm.where(a <= b, a, b)",
    "max": "tm.logsumexp for a smooth maximum, or index with np.argmax(t.detach().numpy())",
    "min": "index with np.argmin(t.detach().numpy())",
    "square": "t * t or t ** 2",
    "reciprocal": "1 / t",
    "log1p": "tm.log(1 + t)",
    "expm1": "tm.exp(t) - 1",
    "outer": "a[:, None] * b[None, :]",
    "inner": "tm.sum(a * b, axis=-1)",
    "vdot": "tm.sum(a * b)",
    "array_equal": "np.array_equal(t.numpy(), other)",
    "allclose": "np.allclose(t.numpy(), other)",
    "isclose": "np.isclose(t.numpy(), other)",
    "copy": "t.detach() for a constant copy, or t itself (Tensors are immutable)",
}


def _unsupported(name, short):
    hint = HINTS.get(short)
    instead = f"write {hint}" if hint else "use the tinygrad_mat functions (tm.*; tm.ops.rule_table() lists them)"
    return TypeError(
        f"{name} on a Tensor: tinygrad_mat has no differentiable version of it, and numpy would compute "
        f"it on plain values, losing the derivative; {instead}, or take the values explicitly with "
        "t.numpy() or np.asarray(t) where no derivative is wanted"
    )


_signatures = {}


def array_function(func, args, kwargs, ns):
    """``func(*args, **kwargs)`` with Tensors among the arguments (``Tensor.__array_function__``)."""
    shape_function = SHAPE_FUNCTIONS.get(func)
    if shape_function is not None:
        return shape_function(*args, **kwargs)
    entry = FUNCTIONS.get(func)
    name = numpy_name(func)
    if entry is None:
        raise _unsupported(name, getattr(func, "__name__", ""))
    record_name, overrides = entry
    fn = getattr(ns, record_name)
    kwargs = {_RENAMED.get(k, k): v for k, v in kwargs.items()
              if not (k in _IGNORABLE and _is_default(v, _IGNORABLE[k]))}
    signature = _signatures.get(record_name)
    if signature is None:
        signature = _signatures[record_name] = inspect.signature(fn)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"{name} on a Tensor: {error}; tinygrad_mat's version is tm.{record_name}{signature}"
        ) from None
    for key, value in overrides.items():
        bound.arguments.setdefault(key, value)
    return fn(*bound.args, **bound.kwargs)


def _is_default(value, default):
    try:
        return value is default or bool(value == default)
    except Exception:
        return False


def array_ufunc(ufunc, method, inputs, kwargs, ns):
    """``ufunc(*inputs)`` with Tensors among the inputs (``Tensor.__array_ufunc__``)."""
    name = f"np.{ufunc.__name__}"
    if method != "__call__":
        raise TypeError(
            f"{name}.{method} on a Tensor is not differentiable; use the tm functions "
            "(tm.sum for np.add.reduce, tm.scatter_add for np.add.at, broadcasting for .outer)"
        )
    if kwargs:
        key = next(iter(kwargs))
        raise TypeError(
            f"{name} on a Tensor: the argument {key}= is not supported (a Tensor's array is never "
            f"written in place); write y = {name}(...) and rebind y"
        )
    if ufunc in VALUE_UFUNCS:
        return ufunc(*[values_of(x) for x in inputs])
    if ufunc is np.positive:
        return inputs[0]
    record_name = UFUNCS.get(ufunc)
    if record_name is None:
        raise _unsupported(name, ufunc.__name__)
    return getattr(ns, record_name)(*inputs)
