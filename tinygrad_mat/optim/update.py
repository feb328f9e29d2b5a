"""Where an optimizer's update reads and writes: the one place that differs between running it now and
recording it into a compiled step.

An optimizer writes its update once (``Optimizer.update(group, u, index)``) with numpy operators and
the context ``u``. Run now, ``u`` is ``EAGER``: parameters and gradients are numpy arrays, state
entries are updated in place, options are numbers. Inside ``tm.compile``'s trace, the tracer gives a
context whose values are Tensors, so every operation of the update is an equation of the step's tape
and every write an effect (``tinygrad_mat.jit``); the same code, so the replay computes what the eager
step computes.
"""
import math

import numpy as np


class Eager:
    """The update on numpy arrays, now."""

    fused = True  # the fused numba kernels may run (dispatch.adam, dispatch.sgd_momentum)

    @staticmethod
    def param(p):
        return p._data

    @staticmethod
    def grad(p):
        return p.grad._data

    @staticmethod
    def option(optimizer, index, key, dynamic=False):
        return optimizer.param_groups[index][key]

    @staticmethod
    def state(optimizer, p, key):
        """The entry, or None when the parameter has no such state yet."""
        entries = optimizer.state.get(p)
        return None if entries is None else entries.get(key)

    @staticmethod
    def set_state(optimizer, p, key, value):
        """An array entry is updated in place (whoever holds it sees the update, as in PyTorch); a new
        one, or a number, is stored."""
        entries = optimizer.state.setdefault(p, {})
        current = entries.get(key)
        if key in optimizer.state_arrays:  # numpy gives a 0-d parameter's arithmetic as a scalar
            value = np.asarray(value)
        if isinstance(value, np.ndarray):
            if isinstance(current, np.ndarray) and current.shape == value.shape:
                current[...] = value
            else:
                entries[key] = np.array(value, dtype=p.dtype)
        else:
            entries[key] = value

    @staticmethod
    def set_param(p, value):
        value = np.asarray(value)  # a 0-d parameter's arithmetic gives a numpy scalar
        array = value if value.dtype == p.dtype else value.astype(p.dtype)
        if array.base is not None or not array.flags.owndata:
            array = array.copy()
        array.setflags(False)  # write=False: a live graph may save it
        p._data = array

    @staticmethod
    def zeros(p):
        return np.zeros(p.shape, dtype=p.dtype)

    @staticmethod
    def sqrt(x):
        return math.sqrt(x) if isinstance(x, (int, float)) else np.sqrt(x)


EAGER = Eager()
