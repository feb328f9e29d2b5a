"""The numba backend: a tape's equations printed as numba source, one ``@njit`` function per run of
equations between opaque calls (a step without a scheduler call is one function); reads before it and
effects after it are the numpy backend's Python lines.

Each equation is written from its record's forward lowering (``lower_forward``: the backward pass is
made of the same primitives, so no rule has a lowering of its own). An op without one, or a value
that is not float64, is refused with a CompileError naming it. A number (shape ()) is a float in numba,
any other value an array.
"""
import builtins

import numpy as np

from .. import dispatch
from ..errors import CompileError, SingularMatrixError
from ..ops.lowering import Named
from . import numpy_backend
from .bindings import Data, Grad, State
from .ir import Accumulate, Assign, Call, Clear, Eqn, Read, Var, output_vars, read_vars
from .owned import OwnedData, OwnedGrad


def _check(var):
    if var.shape is not None and var.dtype != np.float64:
        raise CompileError(f"compile(backend='numba'): a value of dtype {var.dtype} in the step; the numba backend "
                           "handles float64 only: use backend='numpy', or float64 data")


def _operand(x):
    return x.name if isinstance(x, Var) else repr(float(x))


def _param(value, names):
    """A parameter as lowered source sees it: an array as a ``Named`` argument of the function."""
    if isinstance(value, Var):
        return Named(value.name, np.empty(value.shape, value.dtype))
    if isinstance(value, np.ndarray):
        name = names.setdefault(id(value), (f"k{len(names)}", value))[0]
        return Named(name, value)
    return tuple(_param(v, names) for v in value) if type(value) is tuple else value


def _lower(eqn, names):
    """Numba source of one equation, or a CompileError naming the op."""
    if eqn.op.name == "cast":
        return f"{eqn.out.name} = {eqn.ins[0].name}.astype(np.float64)"
    params = {k: _param(v, names) for k, v in eqn.params.items()}
    source = eqn.op.lower_forward([_operand(x) for x in eqn.ins], list(eqn.ins), params)
    if source is None:
        raise CompileError(f"compile(backend='numba'): no numba lowering for {eqn.op.name} (with these operands); "
                           "use backend='numpy' (it replays every op), or write the step with ops the numba "
                           "backend lowers (README, op table)")
    return f"{eqn.out.name} = {source}"


def _segments(items):
    """The tape cut at opaque calls: [(items before a call, the call or None)]."""
    segments, current = [], []
    for item in items:
        if isinstance(item, Call):
            segments.append((current, item))
            current = []
        else:
            current.append(item)
    segments.append((current, None))
    return segments


def _defined_vars(items):
    """The Vars a run of the tape defines (reads and equations), in order."""
    return [item.var if isinstance(item, Read) else item.out for item in items if isinstance(item, (Read, Eqn))]


class _Function:
    """A generated numba function; its first call compiles it (a numba error is a CompileError that
    shows the source)."""

    def __init__(self, dispatcher, source):
        self.dispatcher, self.source = dispatcher, source

    def __call__(self, *arguments):
        try:
            return self.dispatcher(*arguments)
        except np.linalg.LinAlgError as error:  # as eagerly: the error of a singular matrix
            raise SingularMatrixError(f"compiled step (numba): {error}") from error
        except Exception as error:
            if type(error).__module__.startswith("numba"):
                raise CompileError(f"compile(backend='numba'): numba could not compile the step ({error}); "
                                   f"use backend='numpy'. Generated source:\n{self.source}") from error
            raise


def _owned(tape, passing):
    """The bindings a numba replay updates in place, by id: parameters' data and gradients the step
    writes (not an argument's, not one it clears again: ``passing``), and the optimizer's state arrays
    (the optimizer's own, updated in place as eagerly)."""
    owned = {}
    for item in tape.eqns:
        if isinstance(item, (Assign, Accumulate)) and item.binding.arg_index is None:
            binding = item.binding
            if isinstance(binding, Data) and binding.var is not None:
                binding.owner = owned.setdefault(id(binding), OwnedData(binding.tensor))
            elif isinstance(binding, Grad) and id(binding) not in passing:
                owned.setdefault(id(binding), OwnedGrad(binding.tensor))
            elif isinstance(binding, State) and binding.is_array and binding.var is not None:
                owned.setdefault(id(binding), None)  # the state array itself, passed in and written
    return owned


def _write(buffer, var, number):
    """Numba source writing ``var`` into ``buffer`` (a number into a buffer of one entry)."""
    return f"{buffer}[0] = {var}" if number else f"{buffer}[...] = {var}"


def build(tape, arg_is_tensor):
    """(the replay function of ``leaves``, its source) for ``tape``, its equations in numba; parameters,
    gradients and state arrays it writes are updated in place (``owned.py``)."""
    import numba  # only here: numba loads when a step is compiled for it

    for var in tape.args:
        if var.dtype.kind in "fc":
            _check(var)
    printer = numpy_backend.Printer()
    body = [f"{v.name} = leaves[{i}]{'._data' if is_tensor else ''}" for i, (v, is_tensor) in enumerate(zip(tape.args, arg_is_tensor))]
    for var, value in tape.consts:  # a number constant as numba takes it: once if the step made it, else per call
        if np.ndim(value) == 0 and var not in tape.made:
            body.append(f"{var.name} = float({printer.name(value, 'C')})")  # the caller's: an edit is seen
        else:
            body.append(f"{var.name} = {printer.name(float(value) if np.ndim(value) == 0 else value, 'C')}")
    passing = numpy_backend.transient(tape)  # gradients cleared again: no buffer (numpy_backend.transient)
    owned = _owned(tape, passing)
    returned = output_vars(tape.output)
    views = numpy_backend.aliases(tape, {item.var for item in tape.eqns if isinstance(item, Read)
                                         and isinstance(owned.get(id(item.binding)), OwnedData)})
    written = {item.var for item in tape.eqns if isinstance(item, (Assign, Accumulate))}
    segments = _segments(tape.eqns)
    for number, (items, call) in enumerate(segments):
        after = {v.name for s in segments[number + 1:] for item in s[0] for v in read_vars(item)} | {v.name for v in returned}
        names, lines, writes, effects, needed, finished, held = {}, [], [], [], [], [], {}
        for position, item in enumerate(items):
            binding = getattr(item, "binding", None)
            if id(binding) in passing and isinstance(item, (Assign, Accumulate, Clear)):
                # a gradient the step clears again (all its writes and that Clear lie in this run):
                # summed inside the function, never stored
                if isinstance(item, Clear):
                    held[id(binding)] = "None"
                    if not any(getattr(i, "binding", None) is binding for i in items[position + 1:]):
                        effects.append(numpy_backend.write_source(printer, item))
                    continue
                value = numpy_backend.Printer.value(printer, item.var)
                if isinstance(item, Accumulate):
                    before, summed = held.get(id(binding)), f"s_{item.var.name}"
                    if before is None:  # what the gradient held when the call began, read in Python
                        before = f"h_{item.var.name}"
                        tensor = numpy_backend.target(printer, binding)
                        body.append(f"{before} = None if {tensor}._grad is None else {tensor}._grad._data")
                        needed.append(before)
                        lines.append(f"{summed} = ({value} if {before} is None else {before} + {value})")
                    else:
                        lines.append(f"{summed} = {value}" if before == "None" else f"{summed} = {before} + {value}")
                    value = summed
                held[id(binding)] = binding.summed = value
                if isinstance(item.var, Var):
                    needed.append(item.var.name)
                continue
            if (isinstance(item, (Assign, Accumulate)) and isinstance(binding, Grad) and binding.arg_index is not None):
                # an argument's gradient: summed inside the function (a read later in the run sees it), set after
                value = numpy_backend.Printer.value(printer, item.var)
                if isinstance(item, Accumulate):
                    before, summed = f"h_{item.var.name}", f"s_{item.var.name}"
                    current = getattr(binding, "summed", None)
                    if current is None:
                        tensor = numpy_backend.target(printer, binding)
                        body.append(f"{before} = None if {tensor}._grad is None else {tensor}._grad._data")
                        needed.append(before)
                    else:
                        before = current
                    lines.append(f"{summed} = ({value} if {before} is None else {before} + {value})"
                                 if current is None else f"{summed} = {before} + {value}")
                    value = summed
                binding.summed = value
                after.add(value)
                effects.append(f"_set_grad({numpy_backend.target(printer, binding)}, {value})")
                if isinstance(item.var, Var):
                    needed.append(item.var.name)
                continue
            if isinstance(item, Clear) and binding is not None and binding.arg_index is not None:
                binding.summed = None
            if isinstance(item, Read):
                helper = owned.get(id(binding))
                if isinstance(binding, Data) and helper is not None:  # the step's buffer of the parameter
                    buffer = f"b_{item.var.name}"
                    body.append(f"{buffer} = {printer.name(helper, 'OWN')}.prepare()")
                    lines.append(f"{item.var.name} = {buffer}[0]" if item.var.shape == () else f"{item.var.name} = {buffer}")
                    needed.append(buffer)
                    binding.buffer = buffer
                elif isinstance(binding, State) and id(binding) in owned and item.var.shape == ():
                    buffer = f"b_{item.var.name}"  # a number's state array, written through a view of one entry
                    body.append(f"{buffer} = {numpy_backend.read_source(printer, binding)}.reshape(1)")
                    lines.append(f"{item.var.name} = {buffer}[0]")
                    needed.append(buffer)
                    binding.buffer = buffer
                elif isinstance(binding, Grad) and getattr(binding, "summed", None) is not None:
                    lines.append(f"{item.var.name} = {binding.summed}")  # the gradient just summed
                else:
                    body.append(f"{item.var.name} = {numpy_backend.read_source(printer, binding)}")
            elif isinstance(item, Eqn):
                _check(item.out)
                lines.append(_lower(item, names))
                needed += [v.name for v in read_vars(item)]
            elif isinstance(item, (Assign, Accumulate)) and id(binding) in owned:
                value, helper = numpy_backend.Printer.value(printer, item.var), owned[id(binding)]
                scalar = isinstance(item.var, Var) and item.var.shape == () or not isinstance(item.var, Var)
                if isinstance(binding, Grad):
                    index = list(owned).index(id(binding))
                    buffer, held = f"g{index}", f"h{index}"
                    if buffer not in needed:
                        body.append(f"{buffer}, {held} = {printer.name(helper, 'OWN')}.prepare()")
                        needed += [buffer, held]
                        finished.append(f"{printer.name(helper, 'OWN')}.finish()")
                    if isinstance(item, Accumulate):  # the sum, named: a Read of the gradient may follow
                        lines.append(f"s{index} = ({value} if {held} is None else {held} + {value})")
                        value = binding.summed = f"s{index}"
                    writes.append(_write(buffer, value, scalar))
                else:  # a parameter's buffer, or the optimizer's state array itself
                    target = getattr(binding, "buffer", None) or binding.var.name
                    writes.append(_write(target, value, scalar and target != binding.var.name))
                    needed.append(target)  # read in an earlier run (before a scheduler's call): passed in
                if isinstance(item.var, Var):
                    needed.append(item.var.name)
            else:
                if isinstance(item, Clear) and any(isinstance(i, (Assign, Accumulate)) and i.binding is binding
                                                   for i in items[items.index(item):]):
                    continue  # zero_grad, then the step's own gradient: the buffer is written anyway
                effects.append(numpy_backend.write_source(printer, item))
                after |= {v.name for v in read_vars(item)}
        # a view of a parameter's buffer that is returned or written elsewhere: its values before the writes
        kept = {v for v in views if v.shape and (v in returned or v in written)}
        lines += [f"{v.name} = {v.name}.copy()" for v in dict.fromkeys(_defined_vars(items)) if v in kept]
        lines += writes
        defined = [line.split(" = ", 1)[0] for line in lines if " = " in line and "[" not in line.split(" = ", 1)[0]]
        inputs = list(dict.fromkeys(name for name in needed if name not in defined))
        inputs += [name for name, _ in names.values()]
        outputs = [v for v in dict.fromkeys(defined) if v in after]
        if lines:
            kernel = f"NUMBA{number}"
            source = (f"def {kernel.lower()}({', '.join(inputs)}):\n" + "".join(f"    {line}\n" for line in lines)
                      + f"    return ({''.join(o + ', ' for o in outputs)})\n")
            scope = {"np": np, "R": dispatch.kernels().replay}
            exec(builtins.compile(source, f"<tm.compile numba {kernel}>", "exec"), scope)
            printer.scope[kernel] = _Function(numba.njit(scope[kernel.lower()]), source)
            for name, value in names.values():
                body.append(f"{name} = {printer.name(value, 'C')}")
            arguments = ", ".join(f"_number({v})" if _needs_number(v, tape) else v for v in inputs)
            body.append(f"{''.join(o + ', ' for o in outputs)}= {kernel}({arguments})" if outputs else f"{kernel}({arguments})")
        body += finished + effects
        if call is not None:
            body.append(f"{printer.name(call.function, 'CALL')}()")
    body.append(f"return {numpy_backend.output_source(printer, tape.output)}")
    printer.scope.update(_number=_number)
    source = "def replay(leaves):\n" + "".join(f"    {line}\n" for line in body)
    exec(builtins.compile(source, "<tm.compile numba replay>", "exec"), printer.scope)
    return printer.scope["replay"], source


def _needs_number(name, tape):
    """True for a variable holding a 0-d array the replay must hand to numba as a float: an argument's,
    or a parameter's data read as it is (constants are made floats once; options and counts are read
    as floats)."""
    for var in tape.args:
        if var.name == name:
            return var.shape == ()
    for item in tape.eqns:
        if isinstance(item, Read) and item.var.name == name:
            return item.var.shape == () and isinstance(item.binding, (Data, Grad))
    return False


def _number(value):
    """A 0-d array as numba takes a number."""
    return float(value) if np.ndim(value) == 0 else value


