"""Recording a step: it runs eagerly once while a ``Tracer`` writes every op, rule and effect as
equations of a ``Tape`` (``ir.py``).

The tracer sits on the observer seam every op already reports to (``apply``) and on the tensor
layer's hooks (``modes.state.tracer``: value reads, ``.data`` and ``.grad`` assignments, in-place
updates, ``backward()``). ``backward()`` runs the engine's walk with the rules in the Tensor
namespace and no graph recorded (``engine.propagate(traced=True)``), so the backward pass is made of
the same primitive equations as the forward; masks come from comparison ops, so nothing a later call
computes differently is baked in. What cannot be replayed raises a CompileError naming it.
"""
import numpy as np

from .. import engine, namespaces, observe
from ..errors import CompileError
from ..tensor import Tensor, TensorNS, _ones, _seed
from .bindings import Data, Grad, NewState, Option, State
from .ir import Accumulate, Assign, Call, Clear, Eqn, Read, Tape, Var


class Tracer:
    """Builds one ``Tape``; ``arguments`` are the call's flattened leaves as the step sees them
    (float arrays wrapped as constant Tensors, so that a read of their values is seen)."""

    def __init__(self, arguments, originals):
        self.tape = Tape()
        self.var_of = {}        # id(Tensor) -> Var holding its values at this point of the step
        self.alive = []         # every object the tape refers to: ids stay unique while tracing
        self.bindings = {}      # (kind, id(object), key) -> Binding
        self.labels = {}        # id(leaf) -> its name in the tape ("L0", ...)
        self.made = set()       # ids of Tensors the step made (op results, detached copies, grads)
        self.unchanged = set()  # ids of leaves and arguments not rebound so far (their values may be guarded)
        self.guards = []        # (expression that must hold, {placeholder: object}); see guard()
        self.derived = {}       # id(array an op uses) -> (the array it was made from, how)
        self.value_guarded = set()  # ids of converted originals whose values a guard holds
        self.grad_values = set()  # ids of gradient Tensors the step read (t.grad)
        self.options_seen = {}  # (id(optimizer), group index) -> ([keys], [values]) of the guarded number options
        self.arg_index = {}
        self.arguments = list(arguments)
        self.originals = list(originals)
        self.grads_set = set()  # ids of leaves whose .grad the step set (so the tape knows it)
        self.undo = {}          # what the traced call changed, as it was: restored if the trace is refused
        for index, (given, original) in enumerate(zip(arguments, originals)):
            self.alive += [given, original]
            if isinstance(given, Tensor):
                var = self.tape.var("arg", given.shape, given.dtype)
                self.var_of[id(given)] = var
                self.unchanged.add(id(given))
            else:  # labels, masks, indices: numpy code may read them, so a trace holds for these values only
                var = self.tape.var("arg", np.shape(given), np.asarray(given).dtype)
                self.guard(f"_same(leaves[{index}], {{v}})", v=np.array(given))
            self.tape.args.append(var)
            self.arg_index[id(given)] = index
            self.arg_index[id(original)] = index

    # ------------------------------------------------------------ variables
    def _label(self, t):
        if id(t) not in self.labels:
            self.labels[id(t)] = f"L{len(self.labels)}"
        return self.labels[id(t)]

    def read_binding(self, binding, obj, kind, key=None):
        """The Var of ``binding``'s value, read on every call (one per binding)."""
        index = (kind, id(obj), key)
        if index not in self.bindings:
            self.alive.append(obj)
            self.bindings[index] = binding
            var = self.tape.var("read", binding.shape, binding.dtype)
            self.tape.eqns.append(Read(var, binding))
            binding.var = var
        return self.bindings[index].var

    def var(self, t):
        """The Var holding Tensor ``t``'s values at this point of the step."""
        found = self.var_of.get(id(t))
        if found is not None:
            return found
        if id(t._data) in self.derived:  # a Tensor around an array converted from the caller's (a cotangent)
            self.alive.append(t)  # var_of is by id: the Tensor must outlive the trace
            var = self.var_of[id(t)] = self.constant(t._data)
            return var
        if t._node is not None:
            raise CompileError(
                f"compile: an op in the step reads a Tensor made outside the step by {t._node.op.name}, with its "
                "graph; pass it to the step as an argument, or .detach() it")
        owner = self._grad_owner(t)
        if owner is not None:  # p.grad as it was when the step began
            var = self.read_binding(self._for_argument(Grad(owner, self._label(owner)), owner), owner, "grad")
        else:
            self.alive.append(t)
            var = self.read_binding(Data(t, self._label(t)), t, "data")
            self.unchanged.add(id(t))
        self.var_of[id(t)] = var
        return var

    def _grad_owner(self, t):
        for key, binding in self.bindings.items():
            if key[0] == "data" and binding.tensor._grad is t:
                return binding.tensor
        for given in self.arguments:
            if isinstance(given, Tensor) and given._grad is t:
                return given
        return None

    def _for_argument(self, binding, t):
        """``binding`` of Tensor ``t``; when ``t`` is an argument, the replay's is the call's own."""
        if id(t) in self.arg_index and isinstance(t, Tensor):
            binding.arg_index = self.arg_index[id(t)]
        return binding

    def pin(self, t):
        """``t`` is reached both as an argument and by an object the step holds (an optimizer's
        parameter): a replay holds only while the same object is passed."""
        index = self.arg_index.get(id(t))
        if index is not None:
            self.guard(f"leaves[{index}] is {{t}}", t=t)

    def constant(self, array):
        """An array the step uses as it is: the call's own (an argument, or an array converted from one),
        or a constant the step closes over, read by reference (an edit in place is seen)."""
        if id(array) in self.arg_index:
            return self.tape.args[self.arg_index[id(array)]]
        source = self.derived.get(id(array))
        if source is not None:
            original, how = source
            if how == "copy":  # the graph's protective copy of the caller's array: the array itself
                return self.constant(original)
            if id(original) in self.arg_index:
                arg = self.tape.args[self.arg_index[id(original)]]
                if how == "index":
                    return arg
                out = self.tape.var("temp", array.shape, array.dtype)
                self.tape.eqns.append(Eqn(_CAST, (arg,), out, {"dtype": array.dtype}))
                return out
            if not isinstance(original, (int, float, bool, complex)) and id(original) not in self.value_guarded:
                # converted from an array or a list the caller may edit in place: a trace holds for these values
                self.value_guarded.add(id(original))
                self.guard("_same({o}, {v})", o=original, v=np.array(original))
        for var, value in self.tape.consts:
            if value is array:
                return var
        self.alive.append(array)
        var = self.tape.var("const", np.shape(array), np.asarray(array).dtype)
        self.tape.consts.append((var, array))
        return var

    def operand(self, x, array):
        if isinstance(x, Tensor):
            return self.var(x)
        if type(array) is float:
            return array
        if type(x) is np.ndarray and x.dtype == np.asarray(array).dtype:
            return self.constant(x)  # the caller's array itself, not the graph's protective copy
        return self.constant(array)

    def _param(self, value):
        if isinstance(value, np.ndarray) and value.dtype.kind in "iub":
            return self.constant(value)
        if type(value) is tuple:
            return tuple(self._param(v) for v in value)
        return value

    # ------------------------------------------------------------ the observer seam
    def forward(self, op, inputs, arrays, result, params=None):
        ins = [self.operand(x, a) for x, a in zip(inputs, arrays)]
        out = self.tape.var("temp", result.shape, result.dtype)
        params = {k: self._param(v) for k, v in (params or {}).items()}
        self.tape.eqns.append(Eqn(op, ins, out, params))
        if all(not isinstance(x, Var) or x in self.tape.made for x in ins) and not any(
                isinstance(v, Var) for v in params.values()):
            self.tape.made.add(out)  # computed from the step's own constants alone: fixed (rewrite.fold)
        self.var_of[id(result)] = out
        self.made.add(id(result))
        self.alive.append(result)

    def backward(self, *args):  # a rule run: its ops were seen one by one
        pass

    def tangent(self, *args):  # a forward-mode rule ran: its ops were seen one by one
        pass

    def copied(self, original, copy):
        """``copy`` was made from the caller's ``original`` (``tm.tensor(X)``, a cotangent, a constant
        operand): the replay reads the original itself, or converts it again when it was converted."""
        same = type(original) is np.ndarray and original.dtype == np.asarray(copy).dtype
        self.converted(original, copy, "copy" if same else "operand")

    def converted(self, original, array, how="operand"):
        """``array`` was made from ``original`` (a constant converted to float, an index copied)."""
        self.derived[id(array)] = (original, how)
        self.alive += [original, array]

    # ------------------------------------------------------------ the tensor layer's hooks
    def run_backward(self, root, gradient, retain_graph, create_graph):
        """``root.backward(gradient)``, traced: the rules run as ops; the sums into ``.grad`` are effects."""
        if create_graph:
            self.refuse("backward(create_graph=True)", "take higher derivatives outside the compiled step")
        if observe.hooked():
            self.refuse("backward() with gradient hooks or retain_grad()", "remove the hooks, or call the step uncompiled")
        if not root.requires_grad:
            from ..errors import GraphError
            raise GraphError("backward: this tensor does not require grad (no input of the computation that made it "
                             "has requires_grad=True, or it was computed under no_grad())")
        seed = _seed(root, gradient, True, "backward")
        if gradient is None:
            seed = self.constant_tensor(_ones(root.shape, root.dtype))
        if root._node is None:
            reached = {id(root): [root, seed, root._data]}
        else:
            reached = engine.propagate(root, seed, TensorNS, None, retain_graph, False, traced=True)
        entries = list(reached.values())
        for leaf, g, _ in entries:  # checked first, as backward() does: nothing half-updated
            if g.shape != leaf._data.shape or g.dtype != leaf._data.dtype:
                raise CompileError(f"compile: the gradient for a leaf of shape {leaf.shape} has shape {g.shape}")
        for leaf, g, _ in entries:
            current = leaf._grad
            if id(leaf) not in self.grads_set:  # a gradient from before the call, or None: decided at replay
                self.remember(("grad", id(leaf)), lambda t=leaf, grad=current: setattr(t, "_grad", grad))
                self.tape.eqns.append(Accumulate(self._grad_binding(leaf), self.var(g)))
                self.grads_set.add(id(leaf))
                total = g if current is None else Tensor._wrap(current._data + g._data)
                self.var_of[id(total)] = self.tape.var("temp", total.shape, total.dtype)
                self.tape.eqns.append(Read(self.var_of[id(total)], self._grad_binding(leaf)))
            else:
                total = g if current is None else current + g  # an op: the tape knows both
                self.set_grad(leaf, total)
            wrapped = Tensor._wrap(total._data)
            self.var_of[id(wrapped)] = self.var(total)
            self.made.add(id(wrapped))
            self.alive.append(wrapped)
            leaf._grad = wrapped

    def remember(self, key, restore):
        """Keep ``restore`` (putting back what the call is about to change) for the first change of ``key``."""
        self.undo.setdefault(key, restore)

    def restore(self):
        """Put back everything the traced call changed (its trace was refused: nothing applied)."""
        for restore in reversed(list(self.undo.values())):
            restore()

    def set_grad(self, t, value):
        self.remember(("grad", id(t)), lambda t=t, grad=t._grad: setattr(t, "_grad", grad))
        self.grads_set.add(id(t))
        binding = self._grad_binding(t)
        if value is None:
            self.tape.eqns.append(Clear(binding))
        else:
            self.tape.eqns.append(Assign(binding, self.var(value)))

    def read_grad(self, t, value):
        """``t.grad`` read while tracing. A Tensor: its Var from this point of the step (a replay returns
        or uses the gradient as it is here, not the Tensor seen now). None, before the step wrote it: a
        guard, so that a call where the gradient is there traces again (eagerly the step would see it)."""
        if value is None:
            if id(t) not in self.grads_set:
                index = self.arg_index.get(id(t))
                if index is None:
                    self.guard("{t}._grad is None", t=t)
                else:
                    self.guard(f"leaves[{index}]._grad is None")
            return
        if id(value) not in self.var_of:  # the gradient as the call found it: read here, on every call
            self.var_of[id(value)] = self.read_binding(self._for_argument(Grad(t, self._label(t)), t), t, "grad")
        self.alive.append(value)
        self.grad_values.add(id(value))

    def _grad_binding(self, t):
        key = ("grad", id(t), None)
        if key not in self.bindings:
            self.alive.append(t)
            binding = self._for_argument(Grad(t, self._label(t), guarded=False), t)
            binding.var = None  # written, not read
            self.bindings[key] = binding
        return self.bindings[key]

    def rebind(self, t, value):
        """``t``'s data became ``value``'s (``t.data = ...``, an in-place update under no_grad)."""
        var = self.var(value) if isinstance(value, Tensor) else self.constant(np.asarray(value))
        self.remember(("data", id(t)), lambda t=t, data=t._data: setattr(t, "_data", data))
        if id(t) not in self.made:
            if ("data", id(t), None) not in self.bindings:
                if id(t) in self.arg_index:  # the call's own Tensor: written, not read
                    binding = self._for_argument(Data(t, self._label(t)), t)
                    binding.var = None
                    self.bindings[("data", id(t), None)] = binding
                else:
                    self.var(t)  # a leaf: read before, so that its guards are kept
            self.tape.eqns.append(Assign(self.bindings[("data", id(t), None)], var))
        self.unchanged.discard(id(t))
        self.var_of[id(t)] = var

    def detach(self, t, detached):
        self.var_of[id(detached)] = self.var(t)
        self.made.add(id(detached))
        self.alive.append(detached)
        return detached

    def read(self, t, what):
        """``what`` reads ``t``'s values while tracing: a guard on them when ``t`` is an argument or a
        leaf the step has not changed, else an error (the value would be baked in)."""
        if id(t) in self.made or t._node is not None:
            self.refuse(f"{what} of a Tensor computed or updated in the step",
                        "keep the computation in Tensor ops (tm.where, tm.maximum, ...), return the Tensor and "
                        "convert it after the call, or call the step uncompiled")
        self.var(t)
        if id(t) not in self.unchanged:
            self.refuse(f"{what} of a Tensor updated in the step", "read it after the call")
        index = self.arg_index.get(id(t))
        values = np.array(t._data)
        if index is None:
            self.guard("_same({t}._data, {v})", t=t, v=values)
        elif isinstance(self.arguments[index], Tensor) and not isinstance(self.originals[index], np.ndarray):
            self.guard(f"_same(leaves[{index}]._data, {{v}})", v=values)
        else:  # the caller's own array, wrapped while tracing
            self.guard(f"_same(leaves[{index}], {{v}})", v=values)

    def call(self, method, args, kwargs, changes_data, label):
        """A method replayed as a call (a scheduler's ``step()``): it runs untraced now, and every call."""
        if changes_data:
            self.refuse(f"{label}", "call it outside the compiled step")
        self.tape.eqns.append(Call(lambda: method(*args, **kwargs), label))
        from .. import modes
        saved = (modes.state.tracer, modes.state.observers)
        modes.state.tracer, modes.state.observers = None, tuple(o for o in saved[1] if o is not self)
        try:
            return method(*args, **kwargs)
        finally:
            modes.state.tracer, modes.state.observers = saved

    def option(self, optimizer, index, key, dynamic):
        """An optimizer's option: a Var read on every call (``dynamic``: the learning rate), or its
        value now, guarded (a call where it differs is traced again)."""
        group = optimizer.param_groups[index]
        if dynamic:
            return self.read_binding(Option(optimizer, index, key), optimizer, "option", (index, key))
        value = group[key]
        if value is None or type(value) in (float, int, bool):  # one guard for a group's number options
            place = (id(optimizer), index)
            if place not in self.options_seen:
                keys, values = [], []
                self.options_seen[place] = (keys, values)
                self.guard(f"_options({{o}}, {index}, {{k}}) == {{v}}", o=optimizer, k=keys, v=values)
            keys, values = self.options_seen[place]
            if key not in keys:
                keys.append(key)
                values.append(value)
            return value
        self.guard(f"len({{o}}.param_groups) > {index} and _same({{o}}.param_groups[{index}][{key!r}], {{v}})",
                   o=optimizer, v=value)
        return value

    def state(self, optimizer, param, key):
        """The Var of an optimizer's state entry, read on every call; a guard that it is there."""
        return self.read_binding(State(optimizer, param, key, self._label(param)), optimizer, "state", (id(param), key))

    def assign_state(self, optimizer, param, key, value):
        """An optimizer's state entry becomes ``value``'s values (an effect). An entry the step makes
        (a first step) is written as it is then, and later calls apply only while it is absent."""
        binding = self.bindings.get(("state", id(optimizer), (id(param), key)))
        if binding is None:
            binding = NewState(optimizer, param, key, self._label(param))
            self.bindings[("state", id(optimizer), (id(param), key))] = binding
        self.tape.eqns.append(Assign(binding, self.var(value) if isinstance(value, Tensor) else float(value)))

    def guard(self, expression, **objects):
        """A condition every replay of this trace needs: Python source over the call's ``leaves`` and the
        objects named by ``{placeholders}`` (see ``step.Trace``, which writes them into one function)."""
        self.guards.append((expression, objects))
        self.alive += list(objects.values())

    def update_context(self, optimizer):
        """What an optimizer's ``update`` runs with while the step is traced (``jit/update.py``)."""
        from .update import TracedUpdate

        self.guard("_parameter_lists({o}) == {v}", o=optimizer, v=_parameter_lists(optimizer))
        return TracedUpdate(self)

    def fixed_value(self, t):
        """``t``'s values if they are the same on every replay (made from the step's own constants), else None."""
        var = self.var_of.get(id(t))
        return t._data if var is not None and var in self.tape.made else None

    def constant_tensor(self, array):
        """A Tensor of constant values the step made (zeros of a first step's state)."""
        t = Tensor._wrap(array)
        self.var_of[id(t)] = var = self.constant(array)
        if var.kind == "const":
            self.tape.made.add(var)  # its values are fixed: equations of it alone are computed once (rewrite.fold)
        self.alive.append(t)
        return t

    def refuse(self, what, instead):
        raise CompileError(f"compile: {what} cannot be replayed; {instead}")

    def output(self, obj):
        """The step's return value with Vars in place of the Tensors it computed."""
        if isinstance(obj, Tensor):
            for key, binding in self.bindings.items():  # a leaf's .grad the step set: that object, as eagerly
                if key[0] == "grad" and binding.tensor._grad is obj:
                    return ("grad", binding)
            if id(obj) in self.arg_index:
                return ("arg", self.arg_index[id(obj)])
            if id(obj._data) in self.derived:  # made in the step from the caller's array (tm.tensor(X))
                return self.var(obj)
            if id(obj) in self.grad_values:  # a gradient the step read before changing it: its values then
                return self.var_of[id(obj)]
            if id(obj) in self.made:
                if obj._node is not None and obj._node.inputs is not None:
                    raise CompileError(
                        "compile: the step returns a Tensor whose graph is still live (no backward() ran through it "
                        "in the step), and a replay builds no graph; call backward() inside the step, or use "
                        "tm.grad / tm.value_and_grad")
                return self.var_of[id(obj)]
            return ("object", obj)
        if type(obj) in (list, tuple):
            return type(obj)(self.output(o) for o in obj)
        if type(obj) is dict:
            return {k: self.output(v) for k, v in obj.items()}
        return ("object", obj)


def _parameter_lists(optimizer):
    """What an update's trace assumes of an optimizer's groups: which parameters, in which groups."""
    return tuple(tuple(map(id, group["params"])) for group in optimizer.param_groups)


class _Cast:
    """An array the call passes in, cast to float (a boolean mask used as a where condition)."""

    name = "cast"

    @staticmethod
    def forward(x, dtype):
        return x.astype(dtype)


_CAST = _Cast()
NUMPY = namespaces.NUMPY
