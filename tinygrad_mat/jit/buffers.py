"""Buffers for a replay's large temporaries, planned from liveness, so that a step over large data
allocates nothing per call.

Every ``malloc`` of a large array on glibc is an ``mmap`` that the first write page-faults in, and
every ``free`` gives it back to the OS: a replay that allocates its temporaries anew pays those faults
on every call (a fresh script measured 700 faults and 1.6× numpy per least-squares step). Here the
numpy backend writes a large result with ``out=`` into a buffer the trace keeps; a buffer is reused by
a later equation once the value it held is read for the last time.

A value is given a buffer only where nothing can hold it past the call: an equation's result that the
step does not return, write into state or name as a gradient (those are copied or escape), computed by
a numpy ufunc (which writes ``out=`` in place). Two calls of the same step at once (two threads, or a
step that calls itself) never share buffers: a call takes the set, a second call meanwhile gets a new
one.
"""
import numpy as np

from .ir import Accumulate, Assign, Eqn, read_vars

# Results of at least this many entries get a buffer (2¹⁴ float64 entries, 128 KiB: glibc's mmap threshold).
MIN_ENTRIES = 2**14


def plan(eqns, returned, eligible):
    """{Var: buffer index} and the buffers' (shape, dtype) for the results of the equations that
    ``eligible`` allows (numpy ufunc calls, which write ``out=``). A value the step returns (``returned``)
    or writes into state or a gradient escapes and gets none. Any other equation's result may be a view
    of its operands (a transpose, a reshape), so they live as long as it does; a buffer is free again
    after the equation that reads its value last."""
    end = len(eqns)
    last, escaping = {}, set(returned)
    for position, item in enumerate(eqns):
        effect = isinstance(item, (Assign, Accumulate))
        for x in read_vars(item):
            last[x] = max(last.get(x, -1), end if effect else position)  # effects write at the end
            if effect:
                escaping.add(x)
    for v in returned:
        last[v] = end
    for item in reversed(eqns):
        if isinstance(item, Eqn) and not eligible(item) and item.op.may_return_a_view and item.out in last:
            for x in read_vars(item):
                last[x] = max(last.get(x, -1), last[item.out])
    assigned, specs, free, dying = {}, [], {}, {}
    for position, item in enumerate(eqns):
        out = item.out if isinstance(item, Eqn) else None
        if (out is not None and out not in escaping and out.shape and int(np.prod(out.shape)) >= MIN_ENTRIES
                and last.get(out, end) < end and eligible(item)):
            key = (out.shape, out.dtype)
            if free.get(key):
                assigned[out] = free[key].pop()
            else:
                assigned[out] = len(specs)
                specs.append(key)
            dying.setdefault(last[out], []).append(out)
        for x in dying.pop(position, ()):  # read for the last time here (itself or through a view)
            free.setdefault((x.shape, x.dtype), []).append(assigned[x])
    return assigned, specs


class Arena:
    """The buffers of one trace: ``take()`` for a call, ``give()`` back after it (a call that raised
    gives nothing back; the next one makes new buffers)."""

    __slots__ = ("specs", "free")

    def __init__(self, specs):
        self.specs, self.free = specs, []

    def take(self):
        try:
            return self.free.pop()
        except IndexError:  # the first call, or another call holds the set
            return [np.empty(shape, dtype=dtype) for shape, dtype in self.specs]

    def give(self, buffers):
        if not self.free:
            self.free.append(buffers)
