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
from .ops.base import Composite, values_of

# numpy function -> (record name, numpy's defaults that differ from the record's), from the records.
FUNCTIONS = {func: (record.name, dict(overrides)) for record in REGISTRY.values()
             for func, overrides in record.numpy.items()}
# ufuncs of primitives (the tensor layer's fast path applies those directly), then of composites.
UFUNCS = {record.ufunc: record.name for record in REGISTRY.values()
          if record.ufunc is not None and not isinstance(record, Composite)}
COMPOSITE_UFUNCS = {record.ufunc: record.name for record in REGISTRY.values()
                    if record.ufunc is not None and isinstance(record, Composite)}

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
# Functions whose result depends on shapes and dtypes only, or has no derivative (integers, booleans):
# numpy computes them on the values and the result is a numpy array.
VALUE_FUNCTIONS = {
    np.zeros_like, np.ones_like, np.full_like, np.empty_like, np.nonzero, np.argwhere, np.flatnonzero,
    np.count_nonzero, np.isnan, np.isfinite, np.isinf, np.searchsorted, np.result_type,
    np.allclose, np.isclose, np.array_equal, np.array_equiv, np.iscomplex, np.isreal, np.iscomplexobj,
    np.isrealobj,
}
# Arguments numpy passes that mean nothing here when they have numpy's default value.
_IGNORABLE = {"dtype": None, "out": None, "where": True, "order": "C", "subok": False, "casting": "same_kind"}
_RENAMED = {"newshape": "shape"}
# Arguments that change how numpy computes, never what: ignored at any value.
_NO_EFFECT = {"optimize"}

# What to write instead, for numpy functions users reach for that have no op (yet).
HINTS = {
    "unique": "np.unique(t.numpy()) (values: no derivative)",
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


def _signature(fn):
    """inspect.signature, cached; None for a C function numpy does not describe."""
    if fn not in _signatures:
        try:
            _signatures[fn] = inspect.signature(fn)
        except (TypeError, ValueError):
            _signatures[fn] = None
    return _signatures[fn]


def _named_arguments(func, args, kwargs, ours, name):
    """The call's arguments by name, bound by numpy's own signature where numpy has one (so that a
    positional argument is never taken for another of ours), numpy's first parameter renamed to ours."""
    theirs = _signature(func)
    if theirs is None or _starts_with_varargs(theirs):
        # numpy takes everything positional as one *operands (np.einsum): bind to ours as given
        return {**dict(ours.bind(*args).arguments), **kwargs}
    bound = theirs.bind(*args, **kwargs)
    arguments = dict(bound.arguments)
    first_theirs, first_ours = next(iter(theirs.parameters)), next(iter(ours.parameters))
    if first_theirs in arguments and first_theirs != first_ours:
        arguments[first_ours] = arguments.pop(first_theirs)
    return arguments


def _starts_with_varargs(signature):
    first = next(iter(signature.parameters.values()), None)
    return first is not None and first.kind is inspect.Parameter.VAR_POSITIONAL


def array_function(func, args, kwargs, ns):
    """``func(*args, **kwargs)`` with Tensors among the arguments (``Tensor.__array_function__``)."""
    shape_function = SHAPE_FUNCTIONS.get(func)
    if shape_function is not None:
        return shape_function(*args, **kwargs)
    if func in VALUE_FUNCTIONS:
        return func(*[values_of(a) for a in args], **{k: values_of(v) for k, v in kwargs.items()})
    entry = FUNCTIONS.get(func)
    name = numpy_name(func)
    if entry is None:
        raise _unsupported(name, getattr(func, "__name__", ""))
    record_name, overrides = entry
    fn = getattr(ns, record_name)
    ours = _signature(fn)
    try:
        arguments = _named_arguments(func, args, kwargs, ours, name)
    except TypeError as error:
        raise TypeError(f"{name} on a Tensor: {error}; tinygrad_mat's version is tm.{record_name}{ours}") from None
    call = {}
    for key, value in arguments.items():
        key = _RENAMED.get(key, key)
        if key in ours.parameters:
            if ours.parameters[key].kind is inspect.Parameter.VAR_POSITIONAL:
                call.setdefault("*", []).extend(value)
            else:
                call[key] = value
        elif key not in _NO_EFFECT and not (key in _IGNORABLE and _is_default(value, _IGNORABLE[key])):
            raise TypeError(
                f"{name} on a Tensor: the argument {key}={value!r} is not supported; "
                f"tinygrad_mat's version is tm.{record_name}{ours}"
            )
    for key, value in overrides.items():
        call.setdefault(key, value)
    return _call(fn, ours, call)


def _call(fn, signature, call):
    """fn with the named arguments; those before a *args go by position (einsum(subscripts, *operands))."""
    star = call.pop("*", None)
    if star is None:
        return fn(**call)
    leading = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            break
        leading.append(call.pop(parameter.name))
    return fn(*leading, *star, **call)


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
    record_name = UFUNCS.get(ufunc) or COMPOSITE_UFUNCS.get(ufunc)
    if record_name is None:
        raise _unsupported(name, ufunc.__name__)
    return getattr(ns, record_name)(*inputs)
