"""Rewrites of a tape, over its equations (never over printed source): what both backends run.

* ``common`` gives one variable to equations that compute the same thing twice (the backward pass of
  ``x * x`` multiplies Z̄ by x twice);
* ``fold`` computes once, when the step is built, the equations of constants the step made itself
  (the seed 1 of ``backward()`` scaled by ``mean``'s 1/n and broadcast: the same on every call); a
  constant the caller gave is read by reference and never folded (an edit in place must be seen);
* ``identities`` drops multiplications by one (the seed 1 of a sum's rule, broadcast: a full pass over
  the data for nothing) and powers of one, where the other operand already has the result's shape
  and dtype;
* ``dead`` drops equations whose results nothing uses (a rule's reshape of an input it did not need),
  and constants nothing reads.

Equations are pure: an op's forward reads its operands and makes its output; reads and effects stay
in their order.
"""
import numpy as np

from .ir import Accumulate, Assign, Eqn, Var, output_vars, read_vars


def _key(x):
    """A hashable form of an operand or parameter; arrays by identity (they are the step's constants)."""
    if isinstance(x, Var):
        return ("var", x.kind, x.index)
    if isinstance(x, np.ndarray):
        return ("array", id(x))
    if isinstance(x, (tuple, list)):
        return tuple(_key(v) for v in x)
    if isinstance(x, float):
        return ("float", x, np.copysign(1.0, x)) if x == x else ("nan",)
    if isinstance(x, dict):
        return tuple((k, _key(v)) for k, v in x.items())
    try:
        hash(x)
        return x
    except TypeError:
        return ("object", id(x))


def _substitute(x, renamed):
    if isinstance(x, Var):
        return renamed.get(x, x)
    if type(x) is tuple:
        return tuple(_substitute(v, renamed) for v in x)
    return x


def common(tape):
    """Equations with the same op, operands and parameters computed once."""
    seen, renamed, kept = {}, {}, []
    for item in tape.eqns:
        if isinstance(item, Eqn):
            item.ins = tuple(_substitute(x, renamed) for x in item.ins)
            item.params = {k: _substitute(v, renamed) for k, v in item.params.items()}
            key = (id(item.op), _key(item.ins), _key(item.params))
            if key in seen:
                renamed[item.out] = seen[key]
                continue
            seen[key] = item.out
        elif isinstance(item, (Assign, Accumulate)):
            item.var = _substitute(item.var, renamed)
        kept.append(item)
    tape.eqns = kept
    tape.output = _rename_output(tape.output, renamed)


def fold(tape):
    """Equations whose operands are all constants the step made (``tape.made``) or numbers, replaced by
    their value, computed now by the op's forward as the replay would."""
    values = {var: value for var, value in tape.consts}
    kept = []
    for item in tape.eqns:
        if isinstance(item, Eqn) and all(x in tape.made and x in values for x in read_vars(item)):
            try:
                with np.errstate(all="ignore"):  # the trace ran it already: it warned then, if at all
                    value = np.asarray(item.op.forward(*[values[x] if isinstance(x, Var) else x for x in item.ins],
                                                       **item.params))
            except Exception:  # left to the replay, which raises as eager does
                value = None
            if value is not None and value.shape == item.out.shape and value.dtype == item.out.dtype:
                value.setflags(write=False)
                tape.consts.append((item.out, value))
                tape.made.add(item.out)
                values[item.out] = value
                continue
        kept.append(item)
    tape.eqns = kept


def _is_one(x, values):
    """True for the number 1 and for a constant the step made whose every entry is 1."""
    if isinstance(x, Var):
        value = values.get(x)
        return value is not None and value.size > 0 and bool(np.all(value == 1))
    return type(x) is float and x == 1.0


def identities(tape):
    """``x * 1``, ``1 * x`` and ``x ** 1`` replaced by x where x has the result's shape and dtype."""
    values = {var: value for var, value in tape.consts if var in tape.made}
    renamed, kept = {}, []
    for item in tape.eqns:
        if isinstance(item, Eqn):
            item.ins = tuple(_substitute(x, renamed) for x in item.ins)
            item.params = {k: _substitute(v, renamed) for k, v in item.params.items()}
            name, ins = item.op.name, item.ins
            same = None
            if name == "mul" and len(ins) == 2:
                same = ins[1] if _is_one(ins[0], values) else (ins[0] if _is_one(ins[1], values) else None)
            elif name == "pow" and len(ins) == 2 and _is_one(ins[1], {}):
                same = ins[0]
            if (isinstance(same, Var) and same.shape == item.out.shape and same.dtype == item.out.dtype):
                renamed[item.out] = same
                continue
        elif isinstance(item, (Assign, Accumulate)):
            item.var = _substitute(item.var, renamed)
        kept.append(item)
    tape.eqns = kept
    tape.output = _rename_output(tape.output, renamed)


def _rename_output(obj, renamed):
    if isinstance(obj, Var):
        return renamed.get(obj, obj)
    if type(obj) in (list, tuple) and not (len(obj) == 2 and isinstance(obj[0], str)):
        return type(obj)(_rename_output(o, renamed) for o in obj)
    if type(obj) is dict:
        return {k: _rename_output(v, renamed) for k, v in obj.items()}
    return obj


def dead(tape):
    """Equations whose results no later equation, effect or output uses, dropped (backwards)."""
    live = set(output_vars(tape.output))
    kept = []
    for item in reversed(tape.eqns):
        if isinstance(item, Eqn) and item.out not in live:
            continue
        live.update(read_vars(item))
        kept.append(item)
    tape.eqns = kept[::-1]
    tape.consts = [(var, value) for var, value in tape.consts if var in live]


def simplify(tape):
    fold(tape)
    identities(tape)
    common(tape)
    dead(tape)
    return tape
