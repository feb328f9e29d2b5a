"""The tape of a compiled step: variables, equations and effects, printable as a jaxpr is.

A ``Var`` is an array (or a number) the step computes or reads; an ``Eqn`` applies one op record to
variables and literal numbers, with static parameters; an ``Effect`` changes state outside the step:
a parameter's data, a ``.grad``, an optimizer's state entry (``Assign``), ``p.grad = None``
(``Clear``), or an opaque call (``Call``, e.g. a scheduler's ``step()``). Where a variable comes from
is its ``kind``: ``arg`` (the call's arrays), ``read`` (a ``Binding``: a Tensor's data or grad, an
optimizer's state or option, read on every call), ``const`` (an array the step uses as it is), or
``temp`` (an equation's result). Reads are steps of the tape too (``Read``), where the step first
used the value: a call before them (a scheduler's) may change what they read. Both backends print these equations; a rewrite (fusion) edits them.
"""
import numpy as np


class Var:
    """A value of the tape: shape and dtype (``shape`` None for a Python number)."""

    __slots__ = ("kind", "index", "shape", "dtype")
    PREFIX = {"arg": "a", "read": "r", "const": "c", "temp": "t"}

    def __init__(self, kind, index, shape, dtype):
        self.kind, self.index, self.shape, self.dtype = kind, index, shape, dtype

    @property
    def name(self):
        return f"{self.PREFIX[self.kind]}{self.index}"

    def type_text(self):
        if self.shape is None:
            return "num"
        return f"{np.dtype(self.dtype).name.replace('float', 'f')}[{','.join(map(str, self.shape))}]"

    def __repr__(self):
        return self.name


class Eqn:
    """``out = op(*ins, **params)``; ``ins`` are Vars or literal floats; an array among ``params`` may be
    a Var (an index array the call passes in)."""

    __slots__ = ("op", "ins", "out", "params")

    def __init__(self, op, ins, out, params):
        self.op, self.ins, self.out, self.params = op, tuple(ins), out, params

    def __str__(self):
        args = " ".join(_show(x) for x in self.ins)
        params = "".join(f" {k}={_show(v)}" for k, v in self.params.items())
        return f"{self.out.name}:{self.out.type_text()} = {self.op.name} {args}{params}"


class Read:
    """``var`` = the binding's value now (a parameter's data, a ``.grad``, a state entry, an option),
    at the point of the step where it is first used."""

    __slots__ = ("var", "binding")

    def __init__(self, var, binding):
        self.var, self.binding = var, binding

    def __str__(self):
        return f"{self.var.name}:{self.var.type_text()} = read {self.binding}"


class Assign:
    """The binding's value becomes ``var``'s (a parameter's data, a ``.grad``, a state entry)."""

    __slots__ = ("binding", "var")

    def __init__(self, binding, var):
        self.binding, self.var = binding, var

    def __str__(self):
        return f"{self.binding} <- {_show(self.var)}"


class Accumulate:
    """``p.grad`` += ``var``, or ``p.grad = var`` where it is None: as backward() does, decided when the
    replay runs (the tape does not know a gradient that came from before the call)."""

    __slots__ = ("binding", "var")

    def __init__(self, binding, var):
        self.binding, self.var = binding, var

    def __str__(self):
        return f"{self.binding} += {_show(self.var)}"


class Clear:
    """``p.grad = None``."""

    __slots__ = ("binding",)

    def __init__(self, binding):
        self.binding = binding

    def __str__(self):
        return f"{self.binding} <- None"


class Call:
    """An opaque call replayed as it is (a scheduler's ``step()``): it may change options the tape
    reads, never arrays it computes with."""

    __slots__ = ("function", "label")

    def __init__(self, function, label):
        self.function, self.label = function, label

    def __str__(self):
        return f"call {self.label}"


def read_vars(item):
    """The Vars an equation (operands and parameters) or an ``Assign``/``Accumulate`` reads."""
    if isinstance(item, Eqn):
        stack = list(item.ins) + list(item.params.values())
    elif isinstance(item, (Assign, Accumulate)):
        stack = [item.var]
    else:
        return []
    found = []
    while stack:
        x = stack.pop()
        if isinstance(x, Var):
            found.append(x)
        elif type(x) in (tuple, list):
            stack.extend(x)
    return found


def output_vars(obj, found=None):
    """The Vars of a step's output structure, in order (the ``("object", x)``, ``("grad", binding)`` and
    ``("arg", i)`` markers hold none)."""
    found = [] if found is None else found
    if isinstance(obj, Var):
        found.append(obj)
    elif type(obj) in (list, tuple) and not (len(obj) == 2 and obj[0] in ("object", "grad", "arg")):
        for o in obj:
            output_vars(o, found)
    elif type(obj) is dict:
        for o in obj.values():
            output_vars(o, found)
    return found


def _show(x):
    if isinstance(x, Var):
        return x.name
    if isinstance(x, np.ndarray):
        return f"<{x.dtype} array {x.shape}>"
    if isinstance(x, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in x) + ")"
    return repr(x)


class Tape:
    """What one trace recorded: inputs, equations and effects in order, and the output's structure."""

    def __init__(self):
        self.args = []       # Vars of the call's arrays, in the order the call flattens them
        self.consts = []     # (Var, array)
        self.made = set()    # the constants the step made itself (seeds, zeros): read-only, nobody else's
        self.eqns = []       # Eqn, Read, Assign, Clear, Call, in the order the step ran them
        self.output = None   # the step's return value with Vars in place of its arrays
        self._counts = {}

    def var(self, kind, shape, dtype):
        index = self._counts.get(kind, 0)
        self._counts[kind] = index + 1
        return Var(kind, index, None if shape is None else tuple(shape), np.dtype(dtype))

    def __str__(self):
        head = " ".join(f"{v.name}:{v.type_text()}" for v in self.args)
        lines = [f"{{ lambda {head} ;"]
        lines += [f"    {v.name}:{v.type_text()} = const" for v, _ in self.consts]
        lines += [f"    {e}" for e in self.eqns]
        lines.append(f"  in {_show_output(self.output)} }}")
        return "\n".join(lines)


def _show_output(obj):
    if isinstance(obj, Var):
        return obj.name
    if isinstance(obj, (tuple, list)):
        return "(" + ", ".join(_show_output(o) for o in obj) + ")"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {_show_output(v)}" for k, v in obj.items()) + "}"
    return repr(obj)
