"""The optimizer base class, as PyTorch's: parameter groups with their own options, per-parameter
state, ``step`` / ``zero_grad`` / ``state_dict`` / ``load_state_dict``.

An update never writes into a parameter's array (a live graph may have saved it): the parameter is
rebound to a new array, as ``t.data = new`` does. State arrays (momentum, moments) belong to the
optimizer and are updated in place.

Every state entry is checked against its parameter (shape, dtype, type) before anything is written:
by ``load_state_dict`` (which casts state arrays to the parameter's dtype, as PyTorch does) and at the
start of every ``step``, for all parameters of all groups, so a refused step changes nothing. State is
never resized or reshaped to follow a parameter rebound to another shape.
"""
import copy
import numbers

import numpy as np

from .. import modes
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from .update import EAGER


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


def copy_state_value(value):
    """A copy of a state entry that shares no array with it (arrays, and lists or tuples of them)."""
    if isinstance(value, np.ndarray):
        return np.array(value)
    if isinstance(value, (list, tuple)):
        return type(value)(copy_state_value(v) for v in value)
    return value


def is_real(value):
    """True for a finite real number: a Python or numpy number (not a bool), or a 0-d real array."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            return False
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    return bool(np.isfinite(value))


def is_count(value):
    """True for a finite real number ≥ 0 (a step count)."""
    return is_real(value) and value >= 0


def plain_number(value):
    """A loaded number (a numpy scalar or a 0-d array, as a converted PyTorch state holds) as a
    Python int or float; anything else as it is (the checks then say what is wrong with it)."""
    if not is_real(value):
        return value
    value = value.item() if hasattr(value, "item") else value
    return int(value) if float(value).is_integer() else float(value)


def array_problem(key, value, shape, dtype):
    """Why ``value`` cannot be the state array ``key`` of a parameter of ``shape`` and ``dtype``, as
    (exception class, sentence); None when it can."""
    if type(value) is not np.ndarray:
        return TypeError, f"state {key!r} is a {type(value).__name__}, not a numpy array"
    if value.shape != shape:
        return ShapeError, f"state {key!r} has shape {value.shape}, the parameter {shape}"
    if value.dtype != dtype:
        return DTypeError, f"state {key!r} has dtype {value.dtype}, the parameter {dtype}"
    if not value.flags.writeable:
        return ValueError, f"state {key!r} is read-only (the optimizer updates it in place)"
    return None


def cast_array(key, value, dtype):
    """``value`` as a new array of ``dtype`` (PyTorch casts floating state to the parameter's dtype)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"state {key!r} holds {array.dtype} values, not real numbers")
    return np.array(array, dtype=dtype)


class Optimizer:
    """Base class: subclasses give ``defaults``, ``check(group)`` and ``update(group)``, and name
    what a parameter's state may hold (``state_arrays``, ``state_counts``, ``state_required``)."""

    needs_closure = False
    state_arrays = ()  # state entries that are arrays of the parameter's shape and dtype
    state_counts = ()  # state entries that are numbers ≥ 0 (a step count), never cast to the parameter's dtype
    state_required = ()  # entries a parameter's state must have once it has any

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

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter (to None, or to zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None if set_to_none else Tensor._wrap(np.zeros(p.shape, dtype=p.dtype))

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns the closure's loss if one is given.

        Options and state are checked for all parameters before the first one is written. Inside
        ``tm.compile`` the update is recorded into the step (``optim/update.py``)."""
        loss = None
        tracer = modes.state.tracer
        if closure is not None:
            if tracer is not None:
                tracer.refuse(f"{type(self).__name__}.step(closure)", "call step(closure) outside the compiled step")
            with modes.enable_grad():
                loss = closure()
        self.check_state("step")
        u = EAGER if tracer is None else tracer.update_context(self)
        for index, group in enumerate(self.param_groups):
            self.update(group, u, index)
        return loss

    def update(self, group, u, index):
        """Update ``group``'s parameters through the context ``u`` (``optim/update.py``): written once,
        run now or recorded into a compiled step."""
        raise NotImplementedError

    # -------------------------------------------------------------- checking state against parameters
    def _parameters(self):
        """Every parameter of every group, numbered as ``state_dict`` numbers them."""
        return [p for group in self.param_groups for p in group["params"]]

    def check_state(self, where):
        """Raise, naming the optimizer and the parameter, unless every group's options are valid and
        every parameter's state fits it (``where``: 'step' or 'load_state_dict')."""
        for group in self.param_groups:
            self._check_options(group)
        for index, p in enumerate(self._parameters()):
            entries = self.state.get(p)
            if entries:
                problem = self.state_problem(p, entries)
                if problem is not None:
                    raise self.state_error(where, index, p, problem)

    def _check_options(self, group):
        """``check(group)`` unless these very options were checked last time (a step validates only
        what changed: the option values, compared by identity first, as a tuple)."""
        options = tuple(group.items())
        checked = self.__dict__.setdefault("_checked_options", {})
        try:
            unchanged = checked.get(id(group)) == options  # a schedule's new lr is a new value
        except (TypeError, ValueError):  # arrays compared elementwise: check again
            unchanged = False
        if not unchanged:
            self.check(group)
            checked[id(group)] = options

    def state_problem(self, p, entries):
        """Why ``entries`` cannot be the state of parameter ``p``, as (exception class, sentence);
        None when they can."""
        missing = [key for key in self.state_required if key not in entries]
        if missing:
            return ValueError, f"its state lacks {missing} (it has {sorted(map(str, entries))})"
        for key, value in entries.items():
            if key in self.state_arrays:
                problem = array_problem(key, value, p.shape, p.dtype)
            elif key in self.state_counts:
                problem = None if is_count(value) else (ValueError, f"state {key!r} must be a number ≥ 0, not {value!r}")
            else:
                kept = ", ".join(self.state_counts + self.state_arrays) or "nothing"
                problem = ValueError, f"state {key!r} is not one {type(self).__name__} keeps (it keeps: {kept})"
            if problem is not None:
                return problem
        return None

    def state_error(self, where, index, p, problem):
        """The exception for parameter ``index``'s state ``problem``, saying what to do instead."""
        kind, sentence = problem
        name = type(self).__name__
        if where == "load_state_dict":
            message = f"{name}.load_state_dict: parameter {index}: {sentence}; nothing was loaded"
        else:
            message = f"{name}.step: parameter {index} (shape {p.shape}, dtype {p.dtype}): {sentence}; nothing was updated. "
            if kind in (ShapeError, DTypeError):
                message += ("Was the parameter rebound to an array of another shape or dtype after its state was "
                            "made? State is never resized or cast: ")
            message += "start this parameter afresh with opt.state.pop(p), or build a new optimizer"
        return kind(message)

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
        for p in self._parameters():
            if p in self.state:
                state[index[id(p)]] = {k: copy_state_value(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by ``state_dict``. State arrays are cast to their
        parameter's dtype (as PyTorch does; step counts stay as they are); every entry is checked
        against its parameter, and every group's options, before anything changes."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(saved["params"]) != len(own["params"]) for saved, own in zip(groups, self.param_groups)
        ):
            raise ValueError(f"{name}.load_state_dict: the saved groups do not match this optimizer's")
        params = self._parameters()
        new_state = {}
        for key, entries in state_dict["state"].items():
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral) or not 0 <= key < len(params):
                raise ValueError(f"{name}.load_state_dict: state key {key!r} is not a parameter index "
                                 f"(0 to {len(params) - 1})")
            p = params[int(key)]
            try:
                new_state[p] = {k: self.load_entry(k, v, p) for k, v in entries.items()}
            except TypeError as error:
                raise TypeError(f"{name}.load_state_dict: parameter {key}: {error}; nothing was loaded") from None
            problem = self.state_problem(p, new_state[p])
            if problem is not None:
                raise self.state_error("load_state_dict", int(key), p, problem)
        for saved, own in zip(groups, self.param_groups):
            candidate = {**own, **{k: v for k, v in saved.items() if k != "params"}}
            self.check(candidate)
        for saved, own in zip(groups, self.param_groups):
            own.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state.clear()
        self.state.update(new_state)

    def load_entry(self, key, value, p):
        """A loaded state entry as the optimizer keeps it: state arrays cast to ``p``'s dtype (a new
        array, as PyTorch casts); step counts as Python numbers (never cast to the parameter's dtype,
        as in PyTorch); anything else copied as it is."""
        if key in self.state_arrays:
            return cast_array(key, value, p.dtype)
        if key in self.state_counts:
            return plain_number(value)
        return copy_state_value(value)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} parameters, {options}")
        return "\n".join(lines + [")"])
