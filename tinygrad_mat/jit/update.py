"""An optimizer's update recorded into a compiled step: the context its ``update`` runs with while a
step is traced (see ``optim/update.py`` for the eager one; the update code is the same).

Values are Tensors, so each operation of the update is an equation; the learning rate is read on
every call (a schedule changes it), the other options are guarded; state entries and parameters are
read through bindings and written as effects. The eager state is updated too: the traced call is an
ordinary step.
"""
import math

import numpy as np

from ..optim.update import EAGER
from ..tensor import Tensor, TensorNS


def _restorer(optimizer, p, key):
    """Puts an optimizer's state entry back as it is now (or takes it away if it is not there)."""
    entries = optimizer.state.get(p)
    had_entries = entries is not None
    present = had_entries and key in entries
    saved = None if not present else (np.array(entries[key]) if isinstance(entries[key], np.ndarray) else entries[key])

    def restore():
        if not present:
            if had_entries:
                optimizer.state.get(p, {}).pop(key, None)
            else:
                optimizer.state.pop(p, None)
            return
        current = optimizer.state.setdefault(p, {}).get(key)
        if isinstance(saved, np.ndarray) and isinstance(current, np.ndarray) and current.shape == saved.shape:
            current[...] = saved  # whoever holds the array sees it restored, as it saw it updated
        else:
            optimizer.state[p][key] = saved

    return restore


class TracedUpdate:
    fused = False  # the equations themselves are the update (a backend may fuse them)

    def __init__(self, tracer):
        self.tracer = tracer

    def _tensor(self, value, var):
        t = Tensor._wrap(np.array(value, dtype=np.float64) if not isinstance(value, np.ndarray) else np.array(value))
        self.tracer.var_of[id(t)] = var
        self.tracer.alive.append(t)
        return t

    def param(self, p):
        self.tracer.pin(p)
        return p

    def grad(self, p):
        return p.grad

    def option(self, optimizer, index, key, dynamic=False):
        value = optimizer.param_groups[index][key]
        if dynamic and np.isscalar(value):
            return self._tensor(value, self.tracer.option(optimizer, index, key, True))
        return self.tracer.option(optimizer, index, key, False)

    def state(self, optimizer, p, key):
        entries = optimizer.state.get(p)
        value = None if entries is None else entries.get(key)
        self.tracer.guard(f"({key!r} in {{o}}.state.get({{p}}, ())) is {value is not None}", o=optimizer, p=p)
        if value is None:
            return None
        return self._tensor(value, self.tracer.state(optimizer, p, key))

    def set_state(self, optimizer, p, key, value):
        self.tracer.remember(("state", id(optimizer), id(p), key), _restorer(optimizer, p, key))
        self.tracer.assign_state(optimizer, p, key, value)
        if isinstance(value, Tensor):
            value = value._data if value.ndim else value._data.item()
        if key in optimizer.state_counts and float(value).is_integer():
            value = int(value)  # a step count stays an int, as eagerly
        EAGER.set_state(optimizer, p, key, value)

    def set_param(self, p, value):
        p.data = value  # the tensor layer reports the rebinding to the tracer

    def zeros(self, p):
        return self.tracer.constant_tensor(np.zeros(p.shape, dtype=p.dtype))

    def sqrt(self, x):
        return TensorNS.sqrt(x) if isinstance(x, Tensor) else math.sqrt(x)
