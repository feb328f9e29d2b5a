"""Arrays a compiled step owns and updates in place, shown to the user as read-only views.

A parameter's data and a ``.grad`` that the step writes live in a buffer of the step's; the Tensor
holds a read-only view of it, so a replay writes nothing new (no allocation, no page fault) and what a
user holds stays immutable: before each call, a buffer somebody else also holds (the user kept
``p.data`` or ``p.grad``, a live graph saved the values, a view of it was made) is left to them and the
step moves to a fresh copy. ``sys.getrefcount`` tells: a buffer only the step and its Tensor hold has
exactly the references counted below.
"""
import sys

import numpy as np

from ..tensor import Tensor

_refs = sys.getrefcount


def _fresh(values):
    """A writable buffer holding ``values`` (a number gets a buffer of one entry) and its read-only view."""
    buffer = np.array(values, dtype=values.dtype).reshape(-1) if values.ndim == 0 else np.array(values)
    view = buffer.reshape(()) if values.ndim == 0 else buffer.view()
    view.setflags(False)
    return buffer, view


class OwnedData:
    """The values of a leaf Tensor (a parameter) in a buffer the step owns."""

    __slots__ = ("tensor", "buffer", "view")

    def __init__(self, tensor):
        self.tensor, self.buffer, self.view = tensor, None, None

    def prepare(self):
        """The writable buffer holding the Tensor's current values, the Tensor holding its view."""
        t = self.tensor
        # references: t._data, self.view and the call's argument; self.buffer, view.base and the argument
        if t._data is not self.view or _refs(self.view) != 3 or _refs(self.buffer) != 3:
            self.buffer, self.view = _fresh(t._data)
            t._data = self.view
        return self.buffer


class OwnedGrad:
    """A leaf's ``.grad`` in a buffer the step owns, wrapped by a Tensor the step owns."""

    __slots__ = ("tensor", "buffer", "view", "grad", "shape", "dtype")

    def __init__(self, tensor):
        self.tensor, self.shape, self.dtype = tensor, tensor.shape, tensor.dtype
        self.buffer = self.view = self.grad = None

    def prepare(self):
        """(the writable buffer the step writes the gradient into, the gradient's values before the
        call or None). A gradient Tensor the user kept keeps its values: the step writes a fresh one.
        (No local name may hold the gradient, its view or its buffer while the references are counted.)"""
        t = self.tensor
        mine = t._grad is self.grad
        if self.grad is None or _refs(self.grad) != 2 + mine or _refs(self.view) != 3 or _refs(self.buffer) != 3:
            self.buffer, self.view = _fresh(np.zeros(self.shape, dtype=self.dtype))
            self.grad = Tensor._wrap(self.view)
        return self.buffer, (None if t._grad is None else t._grad._data)

    def finish(self):
        self.tensor._grad = self.grad
