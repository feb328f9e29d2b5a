"""The backward (and forward-mode) pass narrated: each rule as it runs, in matrix notation, with the
shapes and norms of what goes in and out, and the time it took (a profiler of the pass)."""
import contextlib

import numpy as np

from .. import modes
from .graph import op_outputs


def _norm(x):
    value = getattr(x, "_data", x)
    return None if value is None else float(np.sqrt(np.sum(np.square(value))))


def _shape(x):
    value = getattr(x, "_data", x)
    return None if value is None else tuple(np.shape(value))


class Explanation(list):
    """The records of a narrated pass (dicts: direction, op, index, rule, shapes, norms, seconds); its
    text is one line per rule. ``index`` is the node's number: in reverse mode the ``%k`` of
    ``tm.graph`` of the pass's output, in forward mode the k-th op the pass ran. ``total_seconds``
    sums the rules' times."""

    def lines(self):
        return [_line(r) for r in self]

    def __str__(self):
        return "\n".join(self.lines())

    @property
    def total_seconds(self):
        return sum(r["seconds"] or 0.0 for r in self)


def _line(r):
    label = f"{r['op']} %{r['index']}"
    if r["direction"] == "reverse":
        outs = ", ".join(f"{i}: {shape} ‖{norm:.4g}‖" for i, (shape, norm) in enumerate(zip(r["out_shapes"], r["out_norms"]))
                         if shape is not None)
        return (f"{label:<16} {r['rule']}   Z̄ {r['in_shape']} ‖{r['in_norm']:.4g}‖ → {outs}"
                f"   {r['seconds'] * 1e3:.3f} ms")
    return f"{label:<16} {r['rule']}   Ż {r['out_shapes'][0]} ‖{r['out_norms'][0]:.4g}‖"

class _Narrator:
    def __init__(self, log, echo):
        self.log, self.echo = log, echo
        self.numbers = {}  # node sequence number -> its %k in the graph of the current pass's output
        self.forward_ops = 0

    def forward(self, op, inputs, arrays, result, params=None):
        pass

    def _add(self, record):
        self.log.append(record)
        if self.echo:
            print(_line(record))

    def _number(self, node, tensor):
        """``%k`` as ``tm.graph`` numbers it. The first rule of a pass runs on its output, whose graph
        is still whole: number that graph's nodes then."""
        if node.seq not in self.numbers:
            self.numbers = {t._node.seq: k for k, t in enumerate(op_outputs(tensor), start=1)}
        return self.numbers[node.seq]

    def backward(self, node, tensor, g, cotangents, seconds):
        self._add({"direction": "reverse", "op": node.op.name, "node": node.seq, "index": self._number(node, tensor),
                   "rule": node.op.vjp_text, "in_shape": _shape(g), "in_norm": _norm(g),
                   "out_shapes": [_shape(c) for c in cotangents], "out_norms": [_norm(c) for c in cotangents],
                   "seconds": seconds})

    def tangent(self, op, inputs, out, tangent, level):
        self.forward_ops += 1
        self._add({"direction": "forward", "op": op.name, "node": out._node.seq if out._node is not None else None,
                   "index": self.forward_ops, "rule": op.jvp_text, "in_shape": None, "in_norm": None,
                   "out_shapes": [_shape(tangent)], "out_norms": [_norm(tangent)], "seconds": None})


@contextlib.contextmanager
def explain(print_rules=False):
    """Record each rule that runs inside the block (reverse and forward mode) in an ``Explanation``;
    with ``print_rules``, print each as it runs.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = tm.tensor(np.ones((4, 3))); W = tm.tensor(np.ones((3, 2)), requires_grad=True)
    >>> loss = (A @ W).sum()
    >>> with tm.explain() as log:
    ...     loss.backward()
    >>> [(r["op"], r["out_shapes"]) for r in log]
    [('sum', [(4, 2)]), ('matmul', [None, (3, 2)])]
    """
    log = Explanation()
    with modes.observing(_Narrator(log, print_rules)):
        yield log
