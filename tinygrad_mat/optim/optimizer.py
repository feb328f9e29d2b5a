"""The optimizer base class, as PyTorch's: parameter groups with their own options, per-parameter
state, ``step`` / ``zero_grad`` / ``state_dict`` / ``load_state_dict``.

An update never writes into a parameter's array (a live graph may have saved it): the parameter is
rebound to a new array, as ``t.data = new`` does. State arrays (momentum, moments) belong to the
optimizer and are updated in place.
"""
import copy

import numpy as np

from .. import modes
from ..errors import ShapeError
from ..tensor import Tensor


def rebind(p, array):
    """Give parameter ``p`` the new values ``array`` (owned by the caller, same shape and dtype)."""
    if array.dtype != p.dtype:
        array = array.astype(p.dtype)
    array.setflags(False)  # write=False
    p._data = array  # the optimizer made this array: no copy, no conversion needed


def positive(name, value, opname, allow_zero=False):
    if not np.isscalar(value) or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{opname}: {name} must be a finite number {bound}, got {value!r}")


class Optimizer:
    """Base class: subclasses give ``defaults``, ``check(group)`` and ``update(group)``."""

    needs_closure = False

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group of parameters with its own options (the others from the defaults)."""
        name = type(self).__name__
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) "
                                 f"{'does not require grad' if not p.requires_grad else 'is not a leaf'}; "
                                 "an optimizer updates leaves with requires_grad=True")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} appears in more than one group")
            seen.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.check(group)
        self.param_groups.append(group)

    def check(self, group):
        """Validate a group's options (raise before anything changes)."""

    @modes.replayed_as_call(changes_data=False)
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter (to None, or to zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None if set_to_none else Tensor._wrap(np.zeros(p.shape, dtype=p.dtype))

    @modes.replayed_as_call()
    def step(self, closure=None):
        """Update every parameter that has a gradient; returns the closure's loss if one is given."""
        loss = None
        if closure is not None:
            with modes.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self.update(group)
        return loss

    def update(self, group):
        raise NotImplementedError

    # -------------------------------------------------------------- inside tm.compile
    def lower_zero_grad(self, tape, set_to_none=True):
        """Write ``zero_grad()`` into a compiled step (``tm.compile``); False: it is replayed as a call."""
        if not set_to_none:
            return False
        for group in self.param_groups:
            for p in group["params"]:
                tape.clear_grad(p)
        return True

    def lower_step(self, tape, closure=None):
        """Write ``step()`` into a compiled step with ``tape`` (``compiler._StepWriter``), so that its
        array code joins the step's (one numba function with the numba backend); or return False,
        and the step replays the call. It may decline only before it writes anything."""
        return False

    def _known_gradients(self, tape, closure=None):
        """[(group index, group, [(p, variable of p.grad's values)])] when the tape knows every
        parameter's .grad (parameters whose .grad is None are left out, as ``step`` skips them); None
        when it does not, or when ``step`` was given a closure (it runs the model again)."""
        if closure is not None:
            return None
        plan = []
        for index, group in enumerate(self.param_groups):
            params = []
            for p in group["params"]:
                g = tape.grad(p)
                if g is None:
                    return None
                if g is not tape.NO_GRAD:
                    params.append((p, g))
            plan.append((index, group, params))
        return plan

    def _state(self, p):
        return self.state.setdefault(p, {})

    # -------------------------------------------------------------- saving and loading
    def state_dict(self):
        """{'state': {index: {name: copy}}, 'param_groups': [options with parameter indices]}."""
        index = {}
        groups = []
        for group in self.param_groups:
            options = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            options["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(options)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (np.array(v) if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by ``state_dict``; everything is checked before any change."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(saved["params"]) != len(own["params"]) for saved, own in zip(groups, self.param_groups)
        ):
            raise ValueError(f"{name}.load_state_dict: the saved groups do not match this optimizer's")
        params = [p for group in self.param_groups for p in group["params"]]
        new_state = {}
        for key, entries in state_dict["state"].items():
            p = params[int(key)]
            for k, v in entries.items():
                if isinstance(v, np.ndarray) and v.shape not in (p.shape, ()) and v.ndim != 0 and k != "H":
                    raise ShapeError(f"{name}.load_state_dict: state {k!r} of parameter {key} has shape "
                                     f"{v.shape}, the parameter {p.shape}")
            new_state[p] = {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in entries.items()}
        for saved, own in zip(groups, self.param_groups):
            candidate = {**own, **{k: v for k, v in saved.items() if k != "params"}}
            self.check(candidate)
        for saved, own in zip(groups, self.param_groups):
            own.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} parameters, {options}")
        return "\n".join(lines + [")"])
