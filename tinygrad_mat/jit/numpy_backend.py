"""The numpy backend: a tape printed as one Python function over numpy arrays.

Each equation calls its record's ``forward`` on arrays (no Tensor, no node, no check the trace already
made); reads and effects are plain attribute and item accesses. The function's source is kept
(``Compiled.source``) so a reader can see what a replay does.
"""
import builtins
import re
import sys

import numpy as np

from ..tensor import Tensor
from . import buffers
from .bindings import Data, Grad, NewState, Option, State
from .ir import Accumulate, Assign, Call, Clear, Eqn, Read, Var, output_vars
from .owned import OwnedData, OwnedGrad


class Printer:
    """Names for the objects the replay refers to (its scope)."""

    def __init__(self):
        self.scope = {"np": np, "_asarray": np.asarray, "_wrap": _wrap, "_rebind": _rebind, "_set_grad": _set_grad,
                      "_copy_into": np.copyto,
                      "_count": _count, "_new_state": _new_state,
                      "_accumulate": _accumulate}
        self._names = {}

    def name(self, obj, prefix):
        key = id(obj)
        if key not in self._names:
            self._names[key] = f"{prefix}{len(self._names)}"
            self.scope[self._names[key]] = obj
        return self._names[key]

    def value(self, x):
        """Source of an operand or a parameter: a variable, a literal, or a named constant."""
        if isinstance(x, Var):
            return x.name
        if type(x) is tuple:
            return "(" + "".join(self.value(v) + ", " for v in x) + ")"
        if x is None or isinstance(x, (bool, int, str)) or (isinstance(x, float) and np.isfinite(x)):
            return repr(x)
        return self.name(x, "K")


def _wrap(array, _refs=sys.getrefcount):
    """A returned value as a Tensor of its own (never an array a later call writes). A new array that
    only the replay's list of returned values holds is wrapped as it is; anything else (a view, a
    buffer, a constant, an argument, a value returned twice) is copied. References counted: the list's,
    this call's parameter and getrefcount's own."""
    if type(array) is np.ndarray and array.base is None and _refs(array) <= 3:
        return Tensor._wrap(array)
    return Tensor._wrap(np.array(array))


def _rebind(tensor, array):
    array = np.array(array, dtype=tensor.dtype)
    array.setflags(False)
    tensor._data = array


def _set_grad(tensor, array):
    tensor._grad = Tensor._wrap(np.array(array))


def _new_state(optimizer, param, key, value, is_array):
    """A state entry a first step makes: a new array of the parameter's dtype, or a step count."""
    if is_array:
        value = np.array(np.broadcast_to(value, param.shape), dtype=param.dtype)
    else:
        value = float(value)
        value = int(value) if value.is_integer() else value
    optimizer.state.setdefault(param, {})[key] = value


def _accumulate(tensor, g):
    """What backward() does to a leaf's .grad: the sum with the gradient it holds, or g where it has none."""
    current = tensor._grad
    tensor._grad = Tensor._wrap(np.array(g) if current is None else current._data + g)


def _count(value, like):
    """A state number written back as the type it had (a step count stays an int)."""
    value = float(value)
    return int(value) if isinstance(like, int) else value


def target(printer, binding):
    """The Tensor a binding reads or writes at replay: the call's argument, or the traced object."""
    if binding.arg_index is not None:
        return f"leaves[{binding.arg_index}]"
    return printer.name(binding.tensor, "T")


def read_source(printer, binding):
    if isinstance(binding, Data):
        return f"{target(printer, binding)}._data"
    if isinstance(binding, Grad):
        return f"{target(printer, binding)}._grad._data"
    if isinstance(binding, Option):
        return f"float({printer.name(binding.optimizer, 'O')}.param_groups[{binding.index}][{binding.key!r}])"
    entry = f"{printer.name(binding.optimizer, 'O')}.state[{printer.name(binding.param, 'T')}][{binding.key!r}]"
    return entry if binding.is_array else f"float({entry})"


def write_source(printer, effect):
    if isinstance(effect, Accumulate):
        return f"_accumulate({target(printer, effect.binding)}, {printer.value(effect.var)})"
    if isinstance(effect, Clear):
        return f"{target(printer, effect.binding)}._grad = None"
    binding, value = effect.binding, printer.value(effect.var)
    if isinstance(binding, Data):
        return f"_rebind({target(printer, binding)}, {value})"
    if isinstance(binding, Grad):
        return f"_set_grad({target(printer, binding)}, {value})"
    optimizer, param = printer.name(binding.optimizer, "O"), printer.name(binding.param, "T")
    if isinstance(binding, NewState):
        return f"_new_state({optimizer}, {param}, {binding.key!r}, {value}, {binding.is_array})"
    entry = f"{optimizer}.state[{param}][{binding.key!r}]"
    if binding.is_array:
        return f"{entry}[...] = {value}"
    return f"{entry} = _count({value}, {entry})"


def _inline(printer, eqn):
    """The record's lowering written inline (``x.T``), or None."""
    if not eqn.op.lowering_is_numpy:
        return None
    return eqn.op.lower_forward([printer.value(x) for x in eqn.ins], list(eqn.ins), eqn.params)


def _ufunc_call(eqn):
    """True when the equation is written as a call of numpy's ufunc itself (which takes ``out=``)."""
    return (not eqn.op.lowering_is_numpy and eqn.op.ufunc is not None and not eqn.params
            and type(eqn.op).forward is not None and _plain_ufunc(eqn.op))


def equation_source(printer, eqn, buffer=None):
    ins = ", ".join(printer.value(x) for x in eqn.ins)
    params = "".join(f", {k}={printer.value(v)}" for k, v in eqn.params.items())
    inline = _inline(printer, eqn)
    if inline:
        call = inline
    elif _ufunc_call(eqn):
        out = "" if buffer is None else f", out={buffer}"  # a planned buffer (buffers.py)
        call = f"{printer.name(eqn.op.ufunc, 'U')}({ins}{out})"  # numpy's ufunc itself: no Python layer
    else:
        call = f"{printer.name(eqn.op.forward, 'F')}({ins}{params})"
    return f"{eqn.out.name} = {'_asarray(' + call + ')' if eqn.out.shape == () else call}"


def _plain_ufunc(op):
    """True when the record's forward is its numpy ufunc applied as it is (checked once per record)."""
    known = _PLAIN.get(op.name)
    if known is None:
        a, b = np.array([0.5, -1.5, 2.0]), np.array([1.25, 0.75, -0.5])
        try:
            args = (a, b)[: op.ufunc.nin]
            with np.errstate(all="ignore"):
                known = op.ufunc.nout == 1 and np.array_equal(op.forward(*args), op.ufunc(*args), equal_nan=True)
        except Exception:
            known = False
        _PLAIN[op.name] = known
    return known


_PLAIN = {}


def aliases(tape, roots):
    """The Vars that may share memory with one of ``roots`` (a parameter's buffer, written in place
    later): the roots and the views equations make of them (a reshape, a transpose)."""
    found = set(roots)
    for item in tape.eqns:
        if (isinstance(item, Eqn) and item.op.may_return_a_view and not _ufunc_call(item)
                and any(x in found for x in item.ins if isinstance(x, Var))):
            found.add(item.out)
    return found


def _before_writes(tape, views):
    """A parameter's values from before its update that the step returns, copied before the buffer
    they view is written (once: ``views`` forgets them)."""
    returned = [v for v in dict.fromkeys(output_vars(tape.output)) if v in views]
    views.difference_update(returned)
    return [f"{v.name} = np.array({v.name})" for v in returned]


def returning(printer, output, body):
    """The replay's last lines: the returned arrays gathered, every other local name dropped, so that
    a new array only the output holds is wrapped without a copy (``_wrap`` counts references)."""
    returned = list(dict.fromkeys(v.name for v in output_vars(output)))
    if not returned:
        return [f"return {output_source(printer, output)}"]
    local = [m.group(1) for m in map(_ASSIGNED.match, body) if m is not None]
    dropped = [name for name in dict.fromkeys(local) if name != "leaves"]
    lines = [f"_out = [{', '.join(returned)}]"]
    lines += [f"del {', '.join(dropped)}"] if dropped else []
    return lines + [f"return {output_source(printer, output, {name: f'_out[{i}]' for i, name in enumerate(returned)})}"]


_ASSIGNED = re.compile(r"(\w+) = ")


def output_source(printer, obj, names=None):
    if isinstance(obj, Var):
        return f"_wrap({obj.name if names is None else names[obj.name]})"
    if type(obj) is tuple and len(obj) == 2 and obj[0] == "grad":
        return f"{target(printer, obj[1])}._grad"
    if type(obj) is tuple and len(obj) == 2 and obj[0] == "arg":
        return f"leaves[{obj[1]}]"
    if type(obj) is tuple and len(obj) == 2 and obj[0] == "object":
        return printer.value(obj[1]) if obj[1] is None or isinstance(obj[1], (bool, int, float, str)) else printer.name(obj[1], "R")
    if type(obj) in (list, tuple):
        items = [output_source(printer, o, names) for o in obj]
        return ("(" + "".join(i + ", " for i in items) + ")") if type(obj) is tuple else "[" + ", ".join(items) + "]"
    return "{" + ", ".join(f"{printer.value(k)}: {output_source(printer, v, names)}" for k, v in obj.items()) + "}"


def explained(replay, eqn_at_line):
    """``replay``, whose errors name the op as eager ones do: the failing line of the generated
    function says which equation raised (nothing is spent when none does)."""
    def run(leaves):
        try:
            return replay(leaves)
        except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as error:
            tb = error.__traceback__
            while tb is not None and tb.tb_frame.f_code is not replay.__code__:
                tb = tb.tb_next
            eqn = None if tb is None else eqn_at_line.get(tb.tb_lineno)
            if eqn is None:
                raise
            arrays = [tb.tb_frame.f_locals.get(x.name) if isinstance(x, Var) else x for x in eqn.ins]
            raise eqn.op.explain(error, arrays, eqn.params) from error

    return run


def transient(tape):
    """Ids of the gradient bindings the step clears after its last write (``grads = [w.grad ...];
    w.grad = None``), with no opaque call in between: their values never outlive the call, so they
    get no buffer; a read of one is the value just computed."""
    first_write, last, calls = {}, {}, []
    for position, item in enumerate(tape.eqns):
        binding = getattr(item, "binding", None)
        if isinstance(binding, Grad) and binding.arg_index is None:
            if isinstance(item, (Assign, Accumulate)):
                first_write.setdefault(id(binding), position)
            last[id(binding)] = (position, item)
        elif isinstance(item, Call):
            calls.append(position)
    return {key for key, (position, item) in last.items()
            if isinstance(item, Clear) and key in first_write
            and not any(first_write[key] < call < position for call in calls)}


def _owners(tape, passing):
    """Parameters' data and gradients the replay writes in place (``owned.py``), by binding id; the
    ``passing`` gradients excepted."""
    owners = {}
    for item in tape.eqns:
        if isinstance(item, (Assign, Accumulate)) and item.binding.arg_index is None:
            binding = item.binding
            if isinstance(binding, Data) and getattr(binding, "var", None) is not None:
                binding.owner = owners.setdefault(id(binding), OwnedData(binding.tensor))
            elif isinstance(binding, Grad) and id(binding) not in passing:
                owners.setdefault(id(binding), OwnedGrad(binding.tensor))
    return owners


def build(tape, arg_is_tensor):
    """(the replay function of ``leaves``, its source) for ``tape``. Parameters and gradients it
    writes are updated in place in buffers it owns, after the last equation that reads them (the tape
    names the new values; the old ones stay readable until then)."""
    printer = Printer()
    body = [f"{v.name} = leaves[{i}]{'._data' if is_tensor else ''}" for i, (v, is_tensor) in enumerate(zip(tape.args, arg_is_tensor))]
    for var, value in tape.consts:
        body.append(f"{var.name} = {printer.name(value, 'C')}")
    assigned, specs = buffers.plan(tape.eqns, output_vars(tape.output), _ufunc_call)
    if specs:  # large temporaries written into the trace's buffers: nothing allocated per call
        printer.scope["ARENA"] = buffers.Arena(specs)
        body.append("_buffers = ARENA.take()")
        body.append("".join(f"B{i}, " for i in range(len(specs))) + "= _buffers")
    passing = transient(tape)
    owners, deferred, eqn_at_line, held = _owners(tape, passing), [], {}, {}
    views = aliases(tape, {item.var for item in tape.eqns
                           if isinstance(item, Read) and isinstance(owners.get(id(item.binding)), OwnedData)})
    for item in tape.eqns:
        binding = getattr(item, "binding", None)
        owner = owners.get(id(binding))
        if id(binding) in passing and not isinstance(item, Read):  # a gradient that never outlives the call
            if isinstance(item, Clear):
                held[id(binding)] = "None"
                body.append(write_source(printer, item))
                continue
            value = printer.value(item.var)
            if isinstance(item, Accumulate):
                before, summed = held.get(id(binding)), f"summed_{item.var.name}"
                if before is None:  # what the gradient held when the call began
                    tensor = target(printer, binding)
                    body.append(f"{summed} = {value} if {tensor}._grad is None else {tensor}._grad._data + {value}")
                else:
                    body.append(f"{summed} = {value}" if before == "None" else f"{summed} = {before} + {value}")
                value = summed
            held[id(binding)] = binding.summed = value
            continue
        if isinstance(item, (Assign, Accumulate)) and item.var in views and item.var.shape:
            # its values as they are now: the buffer it views may be written before this effect is
            body.append(f"{item.var.name} = np.array({item.var.name})")
        if isinstance(item, Eqn):
            eqn_at_line[len(body) + 2] = item  # line 1 is the def
            body.append(equation_source(printer, item, None if item.out not in assigned else f"B{assigned[item.out]}"))
        elif isinstance(item, Read) and isinstance(owner, OwnedData):
            name = printer.name(owner, "OWN")
            body.append(f"{item.var.name} = {name}.view if {name}.prepare() is not None else None")
        elif isinstance(item, (Assign, Accumulate)) and owner is not None:
            name, value = printer.name(owner, "OWN"), printer.value(item.var)
            if isinstance(owner, OwnedData):
                deferred.append(f"_copy_into({name}.buffer, {value})")
            else:
                before = f"held_{name}"
                body.append(f"{before} = {name}.prepare()[1]")
                if isinstance(item, Accumulate):  # the sum, named: a Read of the gradient follows
                    binding.summed = f"summed_{name}"
                    body.append(f"{binding.summed} = {before} + {value} if {before} is not None else {value}")
                    value = binding.summed
                deferred += [f"_copy_into({name}.buffer, {value})", f"{name}.finish()"]
        elif isinstance(item, Assign) and isinstance(binding, State) and binding.is_array:
            deferred.append(write_source(printer, item))  # after every equation that reads the old values
        elif isinstance(item, Read) and getattr(binding, "summed", None) is not None:
            body.append(f"{item.var.name} = {binding.summed}")
        elif isinstance(item, Read):
            body.append(f"{item.var.name} = {read_source(printer, binding)}")
        elif isinstance(item, Call):
            body += _before_writes(tape, views) + deferred + [f"{printer.name(item.function, 'CALL')}()"]
            deferred = []
        elif isinstance(item, Clear) and owner is not None:
            if not any(getattr(later, "binding", None) is binding for later in tape.eqns[tape.eqns.index(item) + 1:]):
                deferred.append(write_source(printer, item))  # in order with the deferred writes
            # else: zero_grad, then the step's own gradient, which is written anyway
        else:
            body.append(write_source(printer, item))
    body += _before_writes(tape, views) + deferred
    if specs:
        body.append("ARENA.give(_buffers)")
    body += returning(printer, tape.output, body)
    source = "def replay(leaves):\n" + "".join(f"    {line}\n" for line in body)
    exec(builtins.compile(source, "<tm.compile replay>", "exec"), printer.scope)
    return explained(printer.scope["replay"], eqn_at_line), source
