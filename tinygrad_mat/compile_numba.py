"""The numba backend of ``tm.compile``: the replay of a traced step with its array code in numba.

The tracer (tinygrad_mat/compiler.py) writes every line of the replay twice where it can: as Python
that calls the records' numpy functions, and, for array code (op forwards, the rules ``backward()``
ran, the engine's zeros, fits and sums), as numba source from the records' ``lower_forward`` /
``lower_vjp`` (ops/lowering.py). Here each run of consecutive array lines becomes one ``@njit``
function of the arrays it reads, returning the arrays read after it; the Python glue between runs
(reading parameters, ``.grad`` accumulation, ``opt.step()``, in-place updates) stays as the numpy
backend writes it, so what a replay leaves behind is the same. A step whose forward and backward
run without effects between them becomes one numba function.

Limits, each refused with a CompileError that names them: float64 values only, and ops that have
a lowering (the README's op table marks them).
"""
import re

import numpy as np

from . import dispatch
from .errors import CompileError



class _Read:
    def __repr__(self):
        return "READ"


READ = _Read()  # in Tracer.lowered: a line that only reads (a comment, a parameter's array), no effect
DEFER = type("Defer", (), {"__repr__": lambda self: "DEFER"})()  # an effect that may run after the run it is in

_NAME = re.compile(r"[A-Za-z_]\w*(?:\[\d+\])?")


def _names(source):
    return _NAME.findall(source)


def lower(lines, lowered, meta, constants, returned):
    """(body lines, scope additions): ``lines`` with every run of array code a call of a numba
    function. ``lowered[i]`` is line i's numba source, None for Python glue, ``READ`` for a line that
    only reads (moved before the run it falls in), or an ``Unlowered``."""
    missing = sorted({str(n) for n in lowered if n is not None and n is not READ and n is not DEFER and type(n) is not str})
    if missing:
        raise CompileError(
            f"compile(backend='numba'): no numba lowering for {', '.join(missing)}; use backend='numpy' "
            "(it replays every op), or write the step with ops the numba backend lowers (README, op table)")
    shapes = dict(meta)
    for name, value in constants.items():
        if isinstance(value, np.ndarray):
            shapes[name] = (value.shape, value.dtype)
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            shapes[name] = (None, np.result_type(value))  # a number: passed as it is
    # What each line reads, as the replay will run it: numba source for array code, else Python.
    reads = [lines[k] if type(lowered[k]) is not str else lowered[k] for k in range(len(lines))]
    body, scope, count = [], {}, 0
    i = 0
    while i < len(lines):
        if type(lowered[i]) is not str:
            body.append(lines[i])
            i += 1
            continue
        sources, deferred, j = [], [], i
        while j < len(lines) and lowered[j] is not None:
            if lowered[j] is READ:  # no effect since the run began: read it before the run
                body.append(lines[j])
            elif lowered[j] is DEFER:  # nothing in the run reads what it writes: run it after
                deferred.append(lines[j])
            else:
                sources.append(lowered[j])
            j += 1
        count += 1
        name = f"NUMBA{count}"
        call, function = _segment(name, sources, deferred + reads[j:] + [returned], shapes)
        if function is not None:
            scope[name] = function
            body.extend(call)
        body.extend(deferred)
        i = j
    return body, scope


def _segment(name, sources, later, shapes):
    """The glue lines calling one numba function for ``sources`` (array code), and the function."""
    defined, inputs = [], []
    for source in sources:
        target, expression = source.split(" = ", 1)
        if target.endswith("[...]"):  # an in-place store into an array the run reads
            expression += " " + target
        for token in _names(expression):
            if token in shapes and token not in defined and token not in inputs and "[" not in token:
                inputs.append(token)
        if target not in defined:
            defined.append(target)
    used_later = {token for line in later for token in _names(line)}
    outputs = [v for v in defined if v in used_later and v in shapes]
    if not outputs:
        return [], None
    for v in inputs + defined:  # integer and boolean operands are fine; floats must be float64
        dtype = shapes[v][1] if v in shapes else np.dtype(np.float64)
        if dtype != np.float64 and (v in defined or dtype.kind in "fc"):
            raise CompileError(f"compile(backend='numba'): a value of dtype {dtype} in the step; the numba backend "
                               "handles float64 only: use backend='numpy', or float64 data")
    parameters = [f"v_{v}" for v in inputs]
    rename = {v: f"v_{v}" for v in inputs}
    body = [_rename(source, rename) for source in sources]
    text = (f"def {name.lower()}({', '.join(parameters)}):\n" + "".join(f"    {line}\n" for line in body)
            + f"    return ({''.join(_rename(v, rename) + ', ' for v in outputs)})\n")
    import numba  # only here: numba loads when a step is compiled for it

    namespace = {"np": np, "R": dispatch.kernels().replay}
    exec(compile(text, f"<tm.compile numba {name}>", "exec"), namespace)
    function = _Function(numba.njit(namespace[name.lower()]), text)
    arguments = ", ".join(f"{v}[()]" if shapes[v][0] == () else v for v in inputs)  # 0-d: a number
    glue = [f"{''.join(v + ', ' for v in outputs)}= {name}({arguments})"]
    glue += [f"{v} = _asarray({v})" for v in outputs if shapes[v][0] == ()]
    return glue, function


def _rename(source, rename):
    return _NAME.sub(lambda m: rename.get(m.group(0), m.group(0)), source)


class _Function:
    """A generated numba function. Its first call compiles it (a failure is a CompileError showing the
    source); after that the replay calls numba's dispatcher directly."""

    def __init__(self, dispatcher, source):
        self.dispatcher, self.source = dispatcher, source
        self.scope = self.name = None

    def bind(self, scope, name):
        self.scope, self.name = scope, name

    def __call__(self, *arrays):
        try:
            result = self.dispatcher(*arrays)
        except Exception as error:
            if type(error).__module__.startswith("numba"):
                raise CompileError(f"compile(backend='numba'): numba could not compile the step ({error}); "
                                   f"use backend='numpy'. Generated source:\n{self.source}") from error
            raise
        if self.scope is not None:
            self.scope[self.name] = self.dispatcher  # compiled: later replays skip this wrapper
        return result
