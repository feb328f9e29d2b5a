"""What a compiled step reads from and writes to outside itself, and the checks that a replay still
applies: a Tensor's data or gradient, an optimizer's state entry or option.

A binding reads its current value on every call (so ``p.data = new`` between calls is seen) and
checks, before a replay, that what the trace assumed still holds (shape, dtype, a gradient present or
not, a state entry present or not). Writing is the replay's job (``replay.py``): it updates arrays the
compiled step owns in place, or rebinds.
"""
import numpy as np

from ..tensor import Tensor


class Binding:
    label = "?"
    arg_index = None  # the position of the call's argument it belongs to: the replay writes that object

    def guard(self):
        """(Python expression that must hold for a replay, {placeholder: object}), or None."""
        return None

    def __str__(self):
        return self.label


class Data(Binding):
    """A leaf Tensor's values (a parameter, or a constant Tensor the step closes over)."""

    def __init__(self, tensor, label):
        self.tensor, self.label = tensor, f"{label}.data"
        self.shape, self.dtype, self.requires_grad = tensor.shape, tensor.dtype, tensor.requires_grad

    def read(self):
        return self.tensor._data

    owner = None  # the OwnedData keeping these values, if a backend does: its view passes at once

    def guard(self):
        check = (f"{{t}}._data.shape == {self.shape!r} and {{t}}._data.dtype == {{d}} and "
                 f"{{t}}.requires_grad is {self.requires_grad} and {{t}}._node is None")
        objects = {"t": self.tensor, "d": self.dtype}
        if self.owner is not None:  # still the view of the step's own buffer: shape and dtype hold
            check = f"({{t}}._data is {{o}}.view and {{t}}.requires_grad is {self.requires_grad}) or ({check})"
            objects["o"] = self.owner
        return check, objects


class Grad(Binding):
    """A leaf's ``.grad``. Read by the step, it must be present with the leaf's shape and dtype; only
    written (``guarded`` False), it may be anything before the call."""

    def __init__(self, tensor, label, guarded=True):
        self.tensor, self.label = tensor, f"{label}.grad"
        self.present = tensor._grad is not None
        self.shape, self.dtype = tensor.shape, tensor.dtype
        self.guarded = guarded

    def read(self):
        return self.tensor._grad._data

    def guard(self):
        if not self.guarded:
            return None
        if not self.present:
            return "{t}._grad is None", {"t": self.tensor}
        return (f"{{t}}._grad is not None and {{t}}._grad._data.shape == {self.shape!r} and "
                "{t}._grad._data.dtype == {d}"), {"t": self.tensor, "d": self.dtype}


class State(Binding):
    """An optimizer's state entry of a parameter: an array updated in place, or a number (a step count)."""

    def __init__(self, optimizer, param, key, label):
        self.optimizer, self.param, self.key = optimizer, param, key
        self.label = f"{type(optimizer).__name__}.state[{label}][{key!r}]"
        value = optimizer.state[param][key]
        self.is_array = isinstance(value, np.ndarray)
        self.shape = value.shape if self.is_array else None
        self.dtype = value.dtype if self.is_array else np.dtype(np.float64)

    def read(self):
        value = self.optimizer.state[self.param][self.key]
        return value if self.is_array else np.asarray(value, dtype=np.float64)

    def guard(self):
        entry = f"{{o}}.state.get({{p}}, _EMPTY).get({self.key!r})"
        if not self.is_array:
            return f"_is_count({entry})", {"o": self.optimizer, "p": self.param}
        return (f"_fits({entry}, {self.shape!r}, {{d}})"), {"o": self.optimizer, "p": self.param, "d": self.dtype}


class NewState(Binding):
    """A state entry a traced first step makes: an array of the parameter's shape and dtype, or a number."""

    def __init__(self, optimizer, param, key, label):
        self.optimizer, self.param, self.key = optimizer, param, key
        self.label = f"{type(optimizer).__name__}.state[{label}][{key!r}]"
        self.is_array = key not in optimizer.state_counts
        self.var = None

    def guard(self):
        return None


class Option(Binding):
    """An option of an optimizer's parameter group read on every call (the learning rate, which a
    schedule changes)."""

    def __init__(self, optimizer, index, key):
        self.optimizer, self.index, self.key = optimizer, index, key
        self.label = f"{type(optimizer).__name__}.param_groups[{index}][{key!r}]"
        self.shape, self.dtype = (), np.dtype(np.float64)

    def read(self):
        return np.asarray(self.optimizer.param_groups[self.index][self.key], dtype=np.float64)

    def guard(self):
        return None


def as_tensor(value):
    """A read value as the Tensor the traced step computes with."""
    return Tensor._wrap(np.array(value))
