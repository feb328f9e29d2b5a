"""``tm.compile``: trace a training step once, then replay it as straight-line code.

The first call for given argument shapes and dtypes runs the step eagerly with a tracer watching
(``modes.state.tracer``, and the observer seam every op and rule already reports to). The tracer
writes the step as a tape: each op's ``forward``, each rule run by ``backward()`` (the very rules the
engine ran, in its order, with its zero symbols, sums and fits), each accumulation into ``.grad``,
and the step's effects: ``opt.zero_grad()`` / ``opt.step()`` (written out when the optimizer can,
``Optimizer.lower_step``, else replayed as calls, as ``scheduler.step()`` is), in-place updates under
``no_grad()`` and ``.grad`` / ``.data`` assignments. From the tape it writes a Python function
(``Compiled.source``) that later calls run: numpy arrays only, no Tensor, no node, no heap. Ops whose
records give their forward and rule as source (``lower_forward`` / ``lower_vjp``) run as numpy
expressions; ``mse_loss(X @ W + b, Y)`` on a large X is fused (``compile_fusion``); with
``backend="numba"`` each run of array code is one generated numba function (``compile_numba``). The
results (``.grad`` of every leaf, updated parameters, the optimizer's state, the returned value) are
those of the eager step, to rounding.

What a replay cannot see is refused or guarded while tracing, never baked in silently:

* a value read out of a Tensor in the step (``float(t)``, ``t.item()``, ``t.numpy()``, ``t > 0``,
  ``if t:``...) is a ``CompileError`` naming the read, unless the Tensor is an argument or a leaf not
  yet updated by the step: then its values become a guard, checked on every call, and a call with
  other values is traced again (as is a call with other shapes, dtypes or Python scalars);
* random numbers, transforms (``tm.grad``, ``tm.jvp``...), ``create_graph``, hooks, a Tensor with a
  graph made outside the step: ``CompileError``.

Python control flow on values of other objects and side effects other than the ones above (a
global counter, a list append) run only when the step is traced, as in ``jax.jit``.
"""
import builtins
import functools
import math
import operator
import warnings

import numpy as np

from . import compile_fusion, compile_numba, modes, observe
from .engine import _fit
from .errors import CompileError
from .namespaces import NUMPY
from .compile_numba import DEFER, READ
from .ops.lowering import NUMPY_KERNELS, Named, fit
from .tensor import Tensor, _accumulate, _accumulate_lock, _new, _ones

_state = modes.state


class Unlowered:
    """A line of array code that the numba backend cannot write: ``op``'s ``what`` has no lowering."""

    def __init__(self, op, what):
        self.op, self.what = op, what

    def __str__(self):
        return f"{self.op} ({self.what})"
_MAX_TRACES = 16  # traces of one compiled step before a warning says why it keeps tracing
_TRACES_PER_KEY = 8  # traces kept for one set of shapes (they differ in the values they guard on)


# ---------------------------------------------------------------- arguments: flattened, keyed


def _flatten(obj, leaves, key):
    """Append the Tensors and arrays of ``obj`` (nested lists, tuples, dicts) to ``leaves`` and what a
    trace depends on (structure, shapes, dtypes, Python scalars) to ``key``."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        key.append(("T", obj.shape, obj.dtype.str, obj.requires_grad))
    elif type(obj) is np.ndarray:
        leaves.append(obj)
        key.append(("A", obj.shape, obj.dtype.str))
    elif type(obj) in (list, tuple):
        key.append((type(obj), len(obj)))
        for item in obj:
            _flatten(item, leaves, key)
    elif type(obj) is dict:
        key.append((dict, tuple(obj)))
        for item in obj.values():
            _flatten(item, leaves, key)
    elif obj is None or isinstance(obj, (bool, int, float, complex, str, np.generic)):
        key.append((type(obj), obj))  # a Python scalar is part of the trace (1 and 1.0 differ in type)
    else:
        key.append(("object", id(obj)))  # by identity (a model, an optimizer): kept alive by the trace


def _rebuild(obj, leaves):
    """``obj`` with its Tensors and arrays replaced, in order, by ``leaves`` (an iterator)."""
    if isinstance(obj, Tensor) or type(obj) is np.ndarray:
        return next(leaves)
    if type(obj) in (list, tuple):
        return type(obj)(_rebuild(item, leaves) for item in obj)
    if type(obj) is dict:
        return {k: _rebuild(v, leaves) for k, v in obj.items()}
    return obj


def _is_float_array(a):
    return type(a) is np.ndarray and a.dtype.char in "fd"


# ---------------------------------------------------------------- helpers the replay calls


def _owned(array):
    """``array``, or a copy when it is a view (of an argument, or of an array the replay reuses)."""
    return array if array.base is None else array.copy()


def _wrap(array):
    """A result Tensor around a replayed array."""
    return Tensor._wrap(array if type(array) is np.ndarray and array.base is None else np.array(array))


def _accumulate_all(entries):
    """Add each cotangent into its leaf's ``.grad`` exactly as ``backward()`` does (``tensor._accumulate``
    without hooks, which a compiled step refuses): every check, then every write, under its lock."""
    with _accumulate_lock:
        for leaf, g, seen in entries:
            data = leaf._data
            if data is not seen and (g.shape != data.shape or g.dtype != data.dtype):
                break
        else:
            _write_grads(entries)
            return
    _accumulate([[leaf, g, seen]], False)  # the leaf's data changed shape: backward()'s own error


def _write_grads(entries):
    for leaf, g, _ in entries:
        current = leaf._grad
        total = (g if g.base is None else g.copy()) if current is None else current._data + g
        total.setflags(False)  # as the engine's: a .grad is read-only
        wrapped = _new(Tensor)
        wrapped._data = total
        wrapped.requires_grad = False
        wrapped._grad = wrapped._node = wrapped._tangents = None
        leaf._grad = wrapped


def _grad_data(leaf):
    grad = leaf._grad
    if grad is None:
        raise CompileError(
            "compiled step: the step reads p.grad of a parameter whose .grad is None in this call (it was "
            "set when the step was traced); zero gradients with zero_grad(set_to_none=False), or call the "
            "step uncompiled"
        )
    return grad._data


def _rebind(tensor, array):
    """As an in-place update does: the tensor's data becomes the new values, in its dtype."""
    array = _owned(array).astype(tensor.dtype, copy=False)
    array.setflags(False)
    tensor._data = array


def _set_grad(tensor, array):
    tensor.grad = None if array is None else _wrap(array)


def _same_options(options, groups, index, saved):
    return len(groups) > index and options(groups[index]) == saved


def _same_values(current, saved):
    return current.shape == saved.shape and current.dtype == saved.dtype and np.array_equal(
        current, saved, equal_nan=current.dtype.kind == "f")


# ---------------------------------------------------------------- the tracer


class _Tracer:
    """Writes the tape and the replay source while the step runs eagerly (see the module docstring)."""

    def __init__(self, arguments, converted):
        self.lines = []          # the replay function's body
        self.lowered = []        # per line: numba source (array code), None (Python glue), READ, or Unlowered
        self.meta = {}           # replay variable -> (shape, dtype) of the array it holds
        self.grads = {}          # id(leaf) -> variable holding its .grad's values (NO_GRAD: None), if known
        self.checks = []         # functions of nothing, all true for a call this trace applies to
        self.forwards = {}       # out variable -> (line index, op name, operand sources, inputs, params, needs)
        self.rules = {}          # out variable -> [(vjp line index, [(input index, line index, target, added)])]
        self.tape = []           # (kind, text): the printable tape
        self.constants = {}      # name in the replay's globals -> object
        self.var = {}            # id(Tensor) -> the replay variable holding its array at this point
        self.results = set()     # ids of the Tensors ops made in the step
        self.alive = []          # every Tensor the tape refers to: ids stay unique while tracing
        self.arguments = {}      # id(argument Tensor) -> its index among the flattened arguments
        self.converted = converted  # indices of float arrays given to the step as Tensors
        self.leaves = {}         # id(leaf read from the step's closure) -> leaf
        self.leaf_guards = {}    # id(leaf) -> (leaf, shape, dtype, requires_grad), checked per call
        self.value_guards = []   # (values of this call's arguments -> array, values read while tracing)
        self.data_changed = False  # an opaque call may have rebound any leaf's data
        self.unchanged = set()   # ids of leaves and arguments known not rebound so far
        self.nodes = {}          # id(node) -> (op, params, input sources, out var, input objects)
        self.grad_objects = {}   # id(grad Tensor made by a traced backward) -> replay variable
        self.counter = 0
        self.visits = None       # rules run by the backward() being traced
        for index, a in enumerate(arguments):
            if isinstance(a, Tensor):
                self.arguments[id(a)] = index
                self.unchanged.add(id(a))
                self.alive.append(a)

    # ------------------------------------------------------------ names
    def _new(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, obj, prefix="K"):
        for name, known in self.constants.items():
            if known is obj:
                return name
        name = self._new(prefix)
        self.constants[name] = obj
        return name

    def emit(self, line, kind=None, text=None, lowered=None):
        self.lines.append(line)
        self.lowered.append(lowered)
        if kind is not None:
            self.tape.append((kind, text if text is not None else line))

    def object_name(self, t):
        """The replay's name for the Tensor object ``t`` (an argument, a grad, or a leaf constant)."""
        if id(t) in self.arguments:
            index = self.arguments[id(t)]
            if index in self.converted:
                self.refuse("updating an array argument in place", "update a Tensor you created outside the step")
            return f"A{index}"
        if id(t) in self.grad_objects:
            return self.grad_objects[id(t)]
        self.alive.append(t)
        return self.constant(t, "L")

    def _grad_owner(self, t):
        for leaf in list(self.leaves.values()) + [a for a in self.alive if id(a) in self.arguments]:
            if leaf._grad is t:
                return leaf
        return None

    # ------------------------------------------------------------ where an operand's values come from
    def source(self, t):
        """The replay variable holding Tensor ``t``'s array at this point of the step."""
        key = id(t)
        name = self.var.get(key)
        if name is not None:
            return name
        if t._node is not None:
            raise CompileError(
                f"compile: an op in the step reads a Tensor made outside the step by {t._node.op.name}, with "
                "its graph; pass it to the step as an argument, or .detach() it"
            )
        if key in self.arguments and self.arguments[key] in self.converted:
            name = f"A{self.arguments[key]}"  # the caller's array itself
        else:
            self.alive.append(t)
            name = self._new("r")
            owner = self._grad_owner(t)
            if owner is not None:  # p.grad as it is at this point of the step
                self.emit(f"{name} = _grad_data({self.object_name(owner)})")
            else:
                if key not in self.arguments and key not in self.leaves:
                    self._add_leaf(t)
                self.emit(f"{name} = {self.object_name(t)}._data", lowered=READ)
        self.var[key] = name
        self.meta[name] = (t._data.shape, t._data.dtype)
        return name

    def _add_leaf(self, t):
        self.leaves[id(t)] = t
        self.leaf_guards[id(t)] = (t, t.shape, t.dtype, t.requires_grad)
        if not self.data_changed:
            self.unchanged.add(id(t))

    def _forget(self, t=None):
        """After an effect, Tensors not made in the step are read again from their objects."""
        for key in [id(t)] if t is not None else list(self.var):
            if key not in self.results:
                self.var.pop(key, None)

    def operand(self, a):
        if isinstance(a, Tensor):
            return self.source(a)
        if type(a) is float:
            return repr(a)
        return self.constant(a)

    # ------------------------------------------------------------ ops (the observer seam)
    def forward(self, op, inputs, arrays, result, params=None):
        names = [self.operand(a) for a in inputs]
        out = self._new("s")
        fn = self.constant(op.forward, "F")
        call = f"{fn}({', '.join(names)}{', **' + self.constant(params, 'P') if params else ''})"
        if result._data.ndim == 0:  # a reduction may give a numpy scalar; apply makes it an array
            call = f"_asarray({call})"
        lowered = op.lower_forward(names, inputs, self._lowering_params(params))
        needs = tuple(result._node.needs) if result._node is not None else None
        self.forwards[out] = (len(self.lines), op.name, names, list(inputs), params or {}, needs)
        self.emit(f"{out} = {call}", "forward", f"{out} = {op.name}({', '.join(names)}{_params_text(params)})",
                  f"{out} = {lowered}" if lowered is not None else Unlowered(op.name, "forward"))
        self.meta[out] = (result._data.shape, result._data.dtype)
        self.var[id(result)] = out
        self.results.add(id(result))
        self.alive.append(result)
        if result._node is not None:
            self.nodes[id(result._node)] = (op, params, names, out, list(inputs))

    def _lowering_params(self, params):
        """``params`` as lowered source sees them: arrays (indices) as ``Named`` constants."""
        return {key: self._named(value) for key, value in params.items()} if params else {}

    def _named(self, value):
        if isinstance(value, np.ndarray):
            return Named(self.constant(value), value)
        return tuple(self._named(v) for v in value) if type(value) is tuple else value

    def tangent(self, *args):
        self.refuse("forward-mode tangents (tm.jvp, jacfwd, hessian)", "call the transform outside the compiled step")

    # ------------------------------------------------------------ backward
    def begin_backward(self, create_graph):
        if create_graph:
            self.refuse("backward(create_graph=True)", "take higher derivatives outside the compiled step")
        if observe.hooked():
            self.refuse("backward() with gradient hooks or retain_grad()", "remove the hooks, or call the step uncompiled")
        self.visits = []

    def backward(self, node, tensor, g, cotangents, seconds):  # the observer seam: one rule run
        self.visits.append((node, cotangents))

    def end_backward(self, root, gradient, reached):
        visits, self.visits = self.visits, None
        if gradient is None:
            seed = self.constant(_ones(root.shape, root.dtype), "ONES")
        elif isinstance(gradient, Tensor):
            seed = self.source(gradient)
        else:
            seed = self.constant(np.array(gradient, dtype=root.dtype), "SEED")
        label = self.var.get(id(root), "a leaf")
        self.emit(f"# backward from {label}", "backward", f"backward from {label}, seed {seed}", READ)
        pending = {}  # id(node) -> variable holding its cotangent so far
        leaf_sums = {}  # id(leaf) -> [leaf, variable, variable of its data when the graph used it]
        if root._node is not None:
            pending[id(root._node)] = seed
        else:
            leaf_sums[id(root)] = [root, seed, self.source(root)]
        for node, cotangents in visits:
            op, params, names, out, inputs = self.nodes[id(node)]
            g = pending.pop(id(node))
            c = self._new("c")
            call = (f"{self.constant(op.vjp, 'V')}(NP, {g}, ({''.join(n + ', ' for n in names)}), {out}, "
                    f"{self.constant(tuple(node.needs), 'N')}{', **' + self.constant(params, 'P') if params else ''})")
            rules = op.lower_vjp(g, names, out, inputs, tuple(node.needs), self._lowering_params(params))
            lines = []  # where each cotangent went: (input index, line index, target variable, added)
            self.rules.setdefault(out, []).append((len(self.lines), g, lines))
            self.emit(f"{c} = {call}", "vjp", f"{c} = {op.name}.vjp({g})",
                      Unlowered(op.name, "vjp") if rules is None else
                      f"{c} = ({''.join(('0.0' if r is None else r) + ', ' for r in rules)})")
            for i, (parent, name, need, cotangent) in enumerate(zip(inputs, names, node.needs, cotangents)):
                if not need:
                    continue
                like = parent._data if isinstance(parent, Tensor) else np.asarray(parent)
                value = lowered = f"{c}[{i}]"
                if cotangent is None:  # the rule's zero symbol
                    value = f"_zeros({like.shape!r}, {self.constant(like.dtype, 'D')})"
                    lowered = "0.0" if like.shape == () else f"np.zeros({like.shape!r})"
                else:
                    if rules is not None and rules[i] is None:
                        lowered = Unlowered(op.name, "vjp (its numba rule gives no cotangent where the rule does)")
                    if cotangent.shape != like.shape or cotangent.dtype != like.dtype:
                        value = f"_fit(NP, {value}, {name}, {op.name!r}, {c})"
                        if type(lowered) is str:
                            lowered = fit(lowered, cotangent.shape, like.shape)
                self.meta[f"{c}[{i}]"] = (like.shape, like.dtype)
                if parent._node is not None:
                    key = id(parent._node)
                    if key in pending:
                        self._sum(pending[key], value, lowered)
                    else:
                        pending[key] = self._new("g")
                        self._set(pending[key], value, lowered, like)
                elif id(parent) in leaf_sums:
                    self._sum(leaf_sums[id(parent)][1], value, lowered)
                else:
                    var = self._new("g")
                    self._set(var, value, lowered, like)
                    leaf_sums[id(parent)] = [parent, var, name]
                lines.append((i, len(self.lines) - 1))
        if [id(leaf) for leaf, _, _ in reached] != list(leaf_sums):
            raise CompileError("compile: internal error: the traced backward reached other leaves than backward()")
        entries = "".join(f"({self.object_name(leaf)}, {var}, {saved}), " for leaf, var, saved in leaf_sums.values())
        # DEFER: the numba backend may run these after the array code that follows (the .grad Tensors
        # are read by nothing in it: a read of p.grad is Python glue, which ends the run).
        self.emit(f"_accumulate_all(({entries}))", "accumulate",
                  "into .grad of " + ", ".join(self.object_name(leaf) for leaf, _, _ in leaf_sums.values()), DEFER)
        for leaf, var, _ in leaf_sums.values():
            grad_var = self._new("G")
            self.emit(f"{grad_var} = {self.object_name(leaf)}._grad", lowered=DEFER)
            self.grad_objects[id(leaf._grad)] = grad_var
            self.alive.append(leaf._grad)
            # What the tape knows of .grad: the values of this pass if it was None before (else unknown).
            if self.grads.get(id(leaf)) is NO_GRAD:
                self.grads[id(leaf)] = var
            else:
                self.grads.pop(id(leaf), None)

    def _set(self, var, value, lowered, like):
        self.emit(f"{var} = {value}", lowered=f"{var} = {lowered}" if type(lowered) is str else lowered)
        self.meta[var] = (like.shape, like.dtype)

    def _sum(self, var, value, lowered):
        self.emit(f"{var} = {var} + {value}",
                  lowered=f"{var} = {var} + {lowered}" if type(lowered) is str else lowered)

    # ------------------------------------------------------------ effects
    def rebind(self, tensor, value):
        """``tensor``'s data became ``value``'s (an in-place update under no_grad, ``t.data = ...``)."""
        source = self.source(value) if isinstance(value, Tensor) else self.constant(np.array(value))
        if id(tensor) in self.results:  # a Tensor the step made: its variable now holds the new values
            new = self._new("s")
            self.emit(f"{new} = _owned({source}).astype({self.constant(tensor.dtype, 'D')}, copy=False)")
            self.var[id(tensor)] = new
            return
        name = self.object_name(tensor)
        if id(tensor) not in self.arguments and id(tensor) not in self.grad_objects and id(tensor) not in self.leaves:
            self._add_leaf(tensor)
        self.emit(f"_rebind({name}, {source})", "effect", f"{name}.data = {source}")
        self.unchanged.discard(id(tensor))
        self._forget(tensor)

    def set_grad(self, tensor, value):
        self.grads.pop(id(tensor), None)
        name = self.object_name(tensor)
        if value is None:
            self.emit(f"{name}.grad = None", "effect", f"{name}.grad = None")
        else:
            source = self.source(value)
            self.emit(f"_set_grad({name}, {source})", "effect", f"{name}.grad = {source}")

    def call(self, fn, args, kwargs, changes_data, label):
        """Run a call (an optimizer's step) untraced. The tape gets the update written out when the
        object can write it (``lower_<method>``, e.g. ``Optimizer.lower_step``), else the call itself."""
        lower = getattr(args[0], "lower_" + fn.__name__, None)
        writer = _StepWriter(self, args[0]) if lower is not None else None
        if writer is not None and lower(writer, *args[1:], **kwargs):
            writer.finish()
            self.tape.append(("update", f"{label} written out"))
            for p in writer.rebound:
                self.unchanged.discard(id(p))
                self._forget(p)
        else:
            name = self.constant(functools.partial(fn, *args, **kwargs), "C")
            self.emit(f"{name}()", "call", label)
            self.grads.clear()
            if changes_data:
                self.data_changed = True
                self.unchanged.clear()
                self._forget()
        previous = (_state.tracer, _state.observers)
        _state.tracer, _state.observers = None, tuple(o for o in _state.observers if o is not self)
        try:
            return fn(*args, **kwargs)
        finally:
            _state.tracer, _state.observers = previous

    # ------------------------------------------------------------ values read out of the step
    def read(self, t, what):
        """``what`` (``float()``, ``numpy()``, ``>``...) reads ``t``'s values while tracing: a guard on
        them if ``t`` is an argument or a leaf the step has not changed yet, else an error."""
        key = id(t)
        is_leaf = t._node is None and key not in self.results and key not in self.grad_objects
        if is_leaf and key not in self.arguments and key not in self.leaves and self._grad_owner(t) is None:
            self.alive.append(t)
            self._add_leaf(t)
        if is_leaf and key in self.unchanged:
            index = self.arguments.get(key)
            if index is None:
                where, current = f"{self.object_name(t)}._data", (lambda leaves, t=t: t._data)
            elif index in self.converted:  # the caller's array itself
                where, current = f"A{index}", (lambda leaves, i=index: leaves[i])
            else:
                where, current = f"A{index}._data", (lambda leaves, i=index: leaves[i]._data)
            self.value_guards.append((current, np.array(t._data)))
            self.tape.append(("guard", f"values of {where} equal this trace's"))
            return
        self.refuse(
            f"{what} of a Tensor computed or updated in the step",
            "keep the computation in Tensor ops (tm.where, tm.maximum, ...), return the Tensor and convert "
            "it after the call, or call the step uncompiled",
        )

    def detach(self, t, detached):
        """``t.detach()`` in the step: the same values as ``t`` at this point (no graph)."""
        self.var[id(detached)] = self.source(t)
        self.results.add(id(detached))
        self.alive.append(detached)
        return detached

    def refuse(self, what, instead):
        raise CompileError(f"compile: {what} cannot be replayed; {instead}")


NO_GRAD = type("NoGrad", (), {"__repr__": lambda self: "NO_GRAD"})()  # a .grad the tape knows is None


class _StepWriter:
    """What an object's ``lower_<method>`` (``Optimizer.lower_step``, ``lower_zero_grad``) writes a
    call into the tape with. Array code it writes must mirror the eager method's numpy operations:
    the tests compare every replay with the eager step."""

    NO_GRAD = NO_GRAD  # what grad(p) gives for a parameter whose .grad the tape knows is None

    def __init__(self, tracer, owner):
        self.tracer, self.owner = tracer, tracer.constant(owner, "O")
        self.rebound = []
        self.effects = []  # written after the array code: updates of different parameters are independent
        self.fixed_keys = {}  # group index -> options the written update assumed

    def grad(self, p):
        """The variable holding p.grad's values, NO_GRAD when the tape knows p.grad is None, or None
        when the tape does not know (an update then stays a call)."""
        return self.tracer.grads.get(id(p))

    def data(self, p):
        return self.tracer.source(p)

    def clear_grad(self, p):
        """p.grad = None, as zero_grad() does."""
        self.tracer.emit(f"{self.tracer.object_name(p)}._grad = None")
        self.tracer.grads[id(p)] = NO_GRAD

    def option(self, group, key):
        """A group's option read at every call (a schedule may change it): a number."""
        return self.number(f"{self.owner}.param_groups[{group}][{key!r}]")

    def fixed(self, group, key):
        """A group's option as it is now; a call where it differs traces the step again."""
        self.fixed_keys.setdefault(group, []).append(key)
        return self.tracer.constants[self.owner].param_groups[group][key]

    def number(self, expression):
        """A Python number computed from options and state at every call (no effect)."""
        var = self.tracer._new("o")
        self.tracer.emit(f"{var} = {expression}", lowered=READ)
        self.tracer.meta[var] = (None, np.dtype(np.float64))
        return var

    def state(self, p, key):
        """Source reading the optimizer's state entry ``key`` of ``p``; a call where it is missing traces
        the step again (the eager method creates it on its first step)."""
        optimizer, leaf = self.tracer.constants[self.owner], self.tracer.object_name(p)
        self.tracer.checks.append(lambda: key in optimizer.state.get(p, ()))
        return f"{self.owner}.state[{leaf}][{key!r}]"

    def state_array(self, p, key):
        """A variable holding the state array ``key`` of ``p`` (updated in place with ``store``)."""
        var = self.tracer._new("m")
        self.tracer.emit(f"{var} = {self.state(p, key)}", lowered=READ)
        self.tracer.meta[var] = (p.shape, p.dtype)
        return var

    def compute(self, expression, like):
        """A new array of ``like``'s shape and dtype: ``expression``, numpy (and numba) source."""
        var = self.tracer._new("u")
        self.tracer.emit(f"{var} = {expression}", lowered=f"{var} = {expression}")
        self.tracer.meta[var] = (like.shape, like.dtype)
        return var

    def store(self, var, expression):
        """The state array ``var`` overwritten in place with ``expression``."""
        self.tracer.emit(f"{var}[...] = {expression}", lowered=f"{var}[...] = {expression}")

    def effect(self, line):
        """A Python statement with an effect (a state entry written), run after the array code."""
        self.effects.append((line, None, None))

    def rebind(self, p, var):
        """p's data becomes ``var``'s values, as the eager method's ``rebind`` (after the array code)."""
        name = self.tracer.object_name(p)
        self.effects.append((f"_rebind({name}, {var})", "effect", f"{name}.data = {var}"))
        self.rebound.append(p)

    def finish(self):
        for line, kind, text in self.effects:
            self.tracer.emit(line, kind, text)
        for index, keys in self.fixed_keys.items():
            groups = self.tracer.constants[self.owner].param_groups  # one C-level lookup per group and call
            options = operator.itemgetter(*keys)
            self.tracer.checks.append(functools.partial(_same_options, options, groups, index, options(groups[index])))


def _short(value):
    """A parameter as the tape shows it: arrays by shape, everything else by repr."""
    if isinstance(value, np.ndarray):
        return f"<{value.dtype} array {value.shape}>"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return repr(value)


def _params_text(params):
    return "".join(f", {k}={_short(v)}" for k, v in params.items()) if params else ""


# ---------------------------------------------------------------- one trace, ready to replay


class _Trace:
    """The replay function of one trace and the guards that say when it applies."""

    def __init__(self, tracer, output, n_arguments, non_float, backend="numpy"):
        self.tape = tracer.tape
        self.leaf_guards = list(tracer.leaf_guards.values())
        self.value_guards = tracer.value_guards
        self.checks = tracer.checks
        self.non_float = non_float  # (index, values) of the integer/bool arrays the step was traced with
        self.alive = tracer.alive
        returned = _output_source(tracer, output)
        unpack = ", ".join(f"A{i}" for i in range(n_arguments))
        if backend == "numpy":  # mse_loss(X @ W + b, Y) in one pass over X (compile_fusion)
            compile_fusion.fuse_linear_mse(tracer, returned)
        lines, extra = _inlined(tracer), {}
        if backend == "numba":  # runs of array code become numba functions (compile_numba)
            lines, extra = compile_numba.lower(tracer.lines, tracer.lowered, tracer.meta, tracer.constants, returned)
        body = "\n".join("    " + line for line in lines) or "    pass"
        self.source = (f"def replay(arguments):\n    {unpack}{',' if n_arguments == 1 else ''} = arguments\n"
                       if n_arguments else "def replay(arguments):\n") + body + f"\n    return {returned}\n"
        scope = dict(tracer.constants, NP=NUMPY, _asarray=np.asarray, _zeros=np.zeros, _fit=_fit,
                     _grad_data=_grad_data, _rebind=_rebind, _set_grad=_set_grad, _wrap=_wrap,
                     _owned=_owned, _accumulate_all=_accumulate_all, Tensor=Tensor, np=np, R=NUMPY_KERNELS, _sum=_sum, _sqrt=math.sqrt, **extra)
        exec(builtins.compile(self.source, "<tm.compile replay>", "exec"), scope)
        self.replay = scope["replay"]
        for name, function in extra.items():
            function.bind(scope, name)
        self.scope = scope

    def holds(self, leaves):
        """True when the guards of this trace hold for this call (else it is traced again)."""
        for check in self.checks:
            if not check():
                return False
        for leaf, shape, dtype, requires_grad in self.leaf_guards:
            data = leaf._data
            if data.shape != shape or data.dtype != dtype or leaf.requires_grad != requires_grad or leaf._node is not None:
                return False
        for current, values in self.value_guards:
            if not _same_values(np.asarray(current(leaves)), values):
                return False
        for index, values in self.non_float:
            if not _same_values(leaves[index], values):
                return False
        return True


def _sum(x, axis=None):
    return np.add.reduce(x, axis=axis)


def _inlined(tracer):
    """The replay's lines with array code written out as numpy expressions (the records' lowered
    source, run by numpy: ``R`` is ``NUMPY_KERNELS``) instead of calls of each op's ``forward`` and
    rule, which saves their Python layers. float64 steps only (the lowered source is written for
    float64); a number the array code makes becomes a 0-d array again for the Python around it."""
    float_constants = [c for c in tracer.constants.values() if isinstance(c, np.ndarray) and c.dtype.kind in "fc"]
    if any(dtype != np.float64 for _, dtype in tracer.meta.values()) or any(c.dtype != np.float64 for c in float_constants):
        return tracer.lines
    lines = []
    for line, lowered in zip(tracer.lines, tracer.lowered):
        if type(lowered) is not str:
            lines.append(line)
            continue
        target, expression = lowered.split(" = ", 1)
        expression = expression.replace("np.sum(", "_sum(")  # the ufunc's reduce, without np.sum's wrapper
        shape = tracer.meta.get(target, (None,))[0]
        lines.append(f"{target} = _asarray({expression})" if shape == () else lowered)
    return lines


def _output_source(tracer, obj):
    """Python source rebuilding the step's return value at replay."""
    if isinstance(obj, Tensor):
        key = id(obj)
        if key in tracer.grad_objects:
            return tracer.grad_objects[key]
        if key in tracer.results:
            if obj._node is not None and obj._node.inputs is not None:
                raise CompileError(
                    "compile: the step returns a Tensor whose graph is still live (no backward() ran through "
                    "it in the step), and a replay builds no graph; call backward() inside the step, or use "
                    "tm.grad / tm.value_and_grad"
                )
            return f"_wrap({tracer.source(obj)})"
        if key in tracer.arguments and tracer.arguments[key] in tracer.converted:
            return f"_wrap(A{tracer.arguments[key]}.copy())"
        return tracer.object_name(obj)  # a leaf or an argument: the object itself, as the step returned it
    if type(obj) in (list, tuple):
        items = [_output_source(tracer, item) for item in obj]
        if type(obj) is tuple:
            return "(" + "".join(item + ", " for item in items) + ")"
        return "[" + ", ".join(items) + "]"
    if type(obj) is dict:
        return "{" + ", ".join(f"{tracer.constant(k)}: {_output_source(tracer, v)}" for k, v in obj.items()) + "}"
    if obj is None or isinstance(obj, (bool, int, float, complex, str)):
        return repr(obj)
    return tracer.constant(obj, "R")


# ---------------------------------------------------------------- the public decorator


class Compiled:
    """A step compiled by ``tm.compile``: call it as the step; ``print`` it to see its tape."""

    def __init__(self, fn, backend="numpy"):
        if backend not in ("numpy", "numba"):
            raise ValueError(f"compile: backend must be 'numpy' or 'numba', not {backend!r}")
        self.fn = fn
        self.backend = backend
        self.traces = {}
        self.refused = {}  # key -> the CompileError of a step the backend cannot write for that key
        self.trace_count = 0
        self.last = None
        self._warned = False
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        leaves, key = [], [_state.grad]
        for a in args:  # the common case, arrays and Tensors only, without the general walk
            kind = type(a)
            if kind is np.ndarray:
                leaves.append(a)
                key.append((a.shape, a.dtype))
            elif kind is Tensor:
                leaves.append(a)
                key.append((a._data.shape, a._data.dtype, a.requires_grad))
            else:
                leaves, key = [], [_state.grad, "general"]
                _flatten((args, kwargs), leaves, key)
                break
        else:
            if kwargs:
                key.append("keywords")
                _flatten(kwargs, leaves, key)
        key = tuple(key)
        if _state.tracer is not None or _state.observers or _state.transforms or observe.hooked():
            return self.fn(*args, **kwargs)  # inside a trace, a transform or a tool: the eager step, as is
        for trace in self.traces.get(key, ()):
            if trace.holds(leaves):
                return trace.replay(leaves)
        if key in self.refused:
            raise self.refused[key]
        return self._trace(args, kwargs, leaves, key)

    def _trace(self, args, kwargs, leaves, key):
        self.trace_count += 1
        if self.trace_count > _MAX_TRACES and not self._warned:
            self._warned = True
            warnings.warn(
                f"tm.compile({getattr(self.fn, '__name__', 'step')}): traced {self.trace_count} times; every change "
                "of argument shapes, dtypes or Python scalars, and of the values it guards on (arrays whose values "
                "the step reads), traces it again. See Compiled.tape for what it guards on.",
                RuntimeWarning, stacklevel=3)
        for a in leaves:
            if isinstance(a, Tensor) and a._node is not None:
                raise CompileError(
                    f"compile: an argument was made by {a._node.op.name} with a live graph; the replay "
                    "builds no graph: pass a leaf (x.detach(), or a Tensor you created)"
                )
        # Float arrays reach the step as constant Tensors, so that a read of their values is seen.
        given = [Tensor(a) if _is_float_array(a) else a for a in leaves]
        non_float = [(i, np.array(a)) for i, a in enumerate(leaves) if type(a) is np.ndarray and not _is_float_array(a)]
        tracer = _Tracer(given, {i for i, (a, g) in enumerate(zip(leaves, given)) if a is not g})
        call_args, call_kwargs = _rebuild((args, kwargs), iter(given))
        previous = (_state.tracer, _state.observers)
        _state.tracer, _state.observers = tracer, previous[1] + (tracer,)
        try:
            output = self.fn(*call_args, **call_kwargs)
        finally:
            _state.tracer, _state.observers = previous
        try:
            trace = _Trace(tracer, output, len(leaves), non_float, self.backend)
        except CompileError as error:  # the numba backend cannot write this step: say so on every call
            self.refused[key] = CompileError(f"{error}. (The call that traced the step ran it eagerly; calls "
                                             "with these shapes raise this error without running it.)")
            raise self.refused[key] from None
        kept = self.traces.setdefault(key, [])
        kept.insert(0, trace)
        del kept[_TRACES_PER_KEY:]  # the most recent first; guards on values may tell traces apart
        self.last = trace
        return output

    @property
    def tape(self):
        """The last trace's tape, one line per entry (forward ops, rules, accumulations, effects)."""
        if self.last is None:
            return "(not traced yet: call the step once)"
        return "\n".join(f"{kind:>10}  {text}" for kind, text in self.last.tape)

    @property
    def source(self):
        """The Python source of the last trace's replay."""
        return None if self.last is None else self.last.source

    def __repr__(self):
        name = getattr(self.fn, "__name__", "step")
        lines = [f"tm.compile({name}, backend={self.backend!r}): {sum(map(len, self.traces.values()))} trace(s) kept, {self.trace_count} traced call(s)"]
        if self.last is not None:
            lines.append(self.tape)
        return "\n".join(lines)


def compile(step=None, *, backend="numpy"):
    """Trace ``step`` (forward, backward, optimizer update) once per argument shapes, replay it after.

    Returns a callable with the step's signature. Its results, the ``.grad`` it leaves on every leaf
    and the parameters it updates equal the eager step's; see the module ``tinygrad_mat.compiler``
    for what is traced again, what is refused, and why.

    >>> import numpy as np, tinygrad_mat as tm
    >>> w = tm.zeros(3, requires_grad=True)
    >>> opt = tm.optim.SGD([w], lr=0.1)
    >>> @tm.compile
    ... def step(X, y):
    ...     opt.zero_grad()
    ...     loss = tm.nn.functional.mse_loss(X @ w, y)
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> X, y = np.eye(3), np.ones(3)
    >>> [round(step(X, y).item(), 4) for _ in range(3)]     # traced, then replayed
    [1.0, 0.8711, 0.7588]
    """
    if step is None:
        return functools.partial(compile, backend=backend)
    return Compiled(step, backend)
