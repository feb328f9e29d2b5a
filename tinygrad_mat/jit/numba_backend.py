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
from .ir import Accumulate, Assign, Call, Clear, Eqn, Read, Var


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


def _used(item):
    if isinstance(item, Eqn):
        found = [x for x in item.ins if isinstance(x, Var)]
        for value in item.params.values():
            stack = [value]
            while stack:
                v = stack.pop()
                if isinstance(v, Var):
                    found.append(v)
                elif type(v) is tuple:
                    stack.extend(v)
        return found
    if isinstance(item, (Assign, Accumulate)) and isinstance(item.var, Var):
        return [item.var]
    return []


def _output_vars(obj, found):
    if isinstance(obj, Var):
        found.append(obj)
    elif type(obj) in (list, tuple) and not (len(obj) == 2 and obj[0] in ("object", "grad", "arg")):
        for o in obj:
            _output_vars(o, found)
    elif type(obj) is dict:
        for o in obj.values():
            _output_vars(o, found)
    return found


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


def build(tape, arg_is_tensor):
    """(the replay function of ``leaves``, its source) for ``tape``, its equations in numba."""
    import numba  # only here: numba loads when a step is compiled for it

    for var in tape.args:
        if var.dtype.kind in "fc":
            _check(var)
    printer = numpy_backend.Printer()
    body = [f"{v.name} = leaves[{i}]{'._data' if is_tensor else ''}" for i, (v, is_tensor) in enumerate(zip(tape.args, arg_is_tensor))]
    body += [f"{var.name} = {printer.name(value, 'C')}" for var, value in tape.consts]
    returned = _output_vars(tape.output, [])
    segments = _segments(tape.eqns)
    for number, (items, call) in enumerate(segments):
        after = {v.name for s in segments[number + 1:] for item in s[0] for v in _used(item)} | {v.name for v in returned}
        names, lines, effects, accumulated, needed = {}, [], [], {}, []
        for item in items:
            if isinstance(item, Read):
                if id(item.binding) in accumulated:  # the gradient just summed: that sum
                    lines.append(f"{item.var.name} = {accumulated[id(item.binding)]}")
                else:
                    body.append(f"{item.var.name} = {numpy_backend.read_source(printer, item.binding)}")
            elif isinstance(item, Eqn):
                _check(item.out)
                lines.append(_lower(item, names))
                needed += [v.name for v in _used(item)]
            elif isinstance(item, Accumulate):  # the sum with a gradient from before the call, in numba
                held = f"h_{item.var.name}"
                body.append(f"{held} = _held({numpy_backend.target(printer, item.binding)})")
                total = f"total_{item.var.name}"
                lines.append(f"{total} = {item.var.name} + {held} if {held} is not None else {item.var.name} + 0.0")
                needed += [item.var.name, held]
                accumulated[id(item.binding)] = total
                effects.append(f"_set_grad({numpy_backend.target(printer, item.binding)}, {total})")
                after.add(total)
            else:
                effects.append(numpy_backend.write_source(printer, item))
                after |= {v.name for v in _used(item)}
        defined = [line.split(" = ", 1)[0] for line in lines]
        inputs = list(dict.fromkeys(name for name in needed if name not in defined))
        inputs += [name for name, _ in names.values()]
        outputs = [v for v in dict.fromkeys(defined) if v in after]
        if lines:
            kernel = f"NUMBA{number}"
            parameters = ", ".join(inputs)
            source = (f"def {kernel.lower()}({parameters}):\n" + "".join(f"    {line}\n" for line in lines)
                      + f"    return ({''.join(o + ', ' for o in outputs)})\n")
            scope = {"np": np, "R": dispatch.kernels().replay}
            exec(builtins.compile(source, f"<tm.compile numba {kernel}>", "exec"), scope)
            printer.scope[kernel] = _Function(numba.njit(scope[kernel.lower()]), source)
            for name, value in names.values():
                body.append(f"{name} = {printer.name(value, 'C')}")
            arguments = ", ".join(f"_number({v})" if _is_number(v, tape) else v for v in inputs)
            body.append(f"{''.join(o + ', ' for o in outputs)}= {kernel}({arguments})" if outputs else f"{kernel}({arguments})")
        body += effects
        if call is not None:
            body.append(f"{printer.name(call.function, 'CALL')}()")
    body.append(f"return {numpy_backend.output_source(printer, tape.output)}")
    printer.scope.update(_number=_number, _held=_held)
    source = "def replay(leaves):\n" + "".join(f"    {line}\n" for line in body)
    exec(builtins.compile(source, "<tm.compile numba replay>", "exec"), printer.scope)
    return printer.scope["replay"], source


def _is_number(name, tape):
    for var in list(tape.args) + [v for v, _ in tape.consts] + [item.var for item in tape.eqns if isinstance(item, Read)]:
        if var.name == name:
            return var.shape == ()
    return False


def _number(value):
    """A 0-d array as numba takes a number."""
    return float(value) if np.ndim(value) == 0 else value


def _held(tensor):
    """A leaf's gradient values, or None."""
    return None if tensor._grad is None else tensor._grad._data
