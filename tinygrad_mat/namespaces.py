"""The namespaces rules run in, derived from the op records: one function per record in each.

``NUMPY``: numpy arrays in, numpy arrays out: the fast path of ``backward()``. ``tensor_namespace``
builds the other one, given the tensor layer's ``apply``: Tensors in, Tensors out, every step
recorded; used when a backward pass must itself be differentiable (``create_graph=True``) and for
forward-mode tangents. Its functions are also the public ``tm.<name>`` functions.

Besides the records, each namespace has ``apply(op, inputs, params)``, ``value(x)`` (the values of x
as a constant: a mask has no derivative), ``constant(array)``, ``as_result(x)`` (x as the namespace's
array type), ``is_tensor(x)`` and ``recorded`` (True for the Tensor namespace).
"""
import inspect

import numpy as np

from . import fastnp
from .ops import REGISTRY
from .ops.base import Composite, Record


class Namespace:
    """A bag of functions with the records' public signatures (see the module docstring)."""

    def __init__(self, label):
        self.label = label

    def __repr__(self):
        return f"<namespace {self.label}>"


def _signature(record):
    """The public signature: ``prepare``'s, or ``compute``'s without its namespace argument."""
    if isinstance(record, Composite):
        sig = inspect.signature(record.compute)
        return sig.replace(parameters=list(sig.parameters.values())[1:])
    return inspect.signature(record.prepare)


def _name_it(fn, record, module):
    fn.__name__ = fn.__qualname__ = record.name
    fn.__doc__ = type(record).__doc__
    fn.__signature__ = _signature(record)
    fn.__module__ = module
    return fn


def _has_identity(record):
    return type(record).is_identity is not Record.is_identity


def _derive(record, ns, run, as_result):
    """One function for ``record`` in ``ns``: prepare, then ``run(op, inputs, params)``."""
    if isinstance(record, Composite):
        compute = record.compute

        def composite(*args, **kwargs):
            return compute(ns, *args, **kwargs)

        return composite
    prepare = record.prepare
    if _has_identity(record):
        is_identity = record.is_identity

        def primitive(*args, **kwargs):
            inputs, params = prepare(*args, **kwargs)
            if is_identity(inputs, params):
                return as_result(inputs[0])
            return run(record, inputs, params)
    else:

        def primitive(*args, **kwargs):
            inputs, params = prepare(*args, **kwargs)
            return run(record, inputs, params)

    return primitive


def _numpy_apply(op, inputs, params):
    return op.forward(*inputs, **params)


def numpy_namespace():
    ns = Namespace("numpy")
    for record in REGISTRY.values():
        if not isinstance(record, Composite) and type(record).prepare is Record.prepare:
            # one operand, no parameters (most elementwise ops): the forward itself, no prepare to run
            setattr(ns, record.name, record.forward)
            continue
        setattr(ns, record.name, _name_it(_derive(record, ns, _numpy_apply, np.asarray), record, __name__))
    ns.recorded = False
    ns.fixed_value = np.asarray  # an array's values are known (see tensor_namespace)
    ns.apply = _numpy_apply
    ns.value = np.asarray
    ns.constant = np.asarray
    ns.as_result = np.asarray
    ns.is_tensor = lambda x: False
    # Drop-in functions where the signatures agree: the hot path of backward() skips prepare (and
    # numpy's Python wrappers, see fastnp).
    ns.reshape = fastnp.reshape
    ns.broadcast_to = fastnp.broadcast_to
    ns.transpose = fastnp.transpose
    ns.sum_to = fastnp.sum_to
    ns.sum = fastnp.sum
    ns.mean = fastnp.mean
    ns.astype = lambda x, dtype: np.asarray(x).astype(dtype)
    return ns


NUMPY = numpy_namespace()


def tensor_namespace(apply, as_tensor, is_tensor, value, constant, fixed_value):
    """The Tensor-valued namespace, given the tensor layer's ``apply`` and helpers. ``fixed_value(t)``:
    t's values where they are the same on every evaluation of the graph being built (a compiled step's
    constants and what is computed from them alone), else None; a rule may branch on them."""
    ns = Namespace("tensor")
    for record in REGISTRY.values():
        setattr(ns, record.name, _name_it(_derive(record, ns, apply, as_tensor), record, "tinygrad_mat"))
    ns.recorded = True
    ns.fixed_value = fixed_value
    ns.apply = apply
    ns.value = value
    ns.constant = constant
    ns.is_tensor = is_tensor
    ns.as_tensor = ns.as_result = as_tensor
    return ns
