"""The backward (and forward-mode) pass narrated: each rule as it runs, in matrix notation, with the
shapes and norms of what goes in and out, and the time it took (a profiler of the pass)."""
import contextlib

import numpy as np

from .. import modes


def _norm(x):
    value = getattr(x, "_data", x)
    return None if value is None else float(np.sqrt(np.sum(np.square(value))))


def _shape(x):
    value = getattr(x, "_data", x)
    return None if value is None else tuple(np.shape(value))


class Explanation(list):
    """The records of a narrated pass (dicts: direction, op, node, rule, shapes, norms, seconds); its
    text is one line per rule. ``total_seconds`` sums the rules' times."""

    def lines(self):
        seqs = sorted({r["node"] for r in self if r["node"] is not None})
        number = {s: i + 1 for i, s in enumerate(seqs)}
        out = []
        for r in self:
            label = f"{r['op']} %{number.get(r['node'], '?')}"
            if r["direction"] == "reverse":
                outs = ", ".join(f"{i}: {shape} ‖{norm:.4g}‖" for i, (shape, norm) in enumerate(zip(r["out_shapes"], r["out_norms"]))
                                 if shape is not None)
                out.append(f"{label:<16} {r['rule']}   Z̄ {r['in_shape']} ‖{r['in_norm']:.4g}‖ → {outs}"
                           f"   {r['seconds'] * 1e3:.3f} ms")
            else:
                out.append(f"{label:<16} {r['rule']}   Ż {r['out_shapes'][0]} ‖{r['out_norms'][0]:.4g}‖   level {r['level']}")
        return out

    def __str__(self):
        return "\n".join(self.lines())

    @property
    def total_seconds(self):
        return sum(r["seconds"] or 0.0 for r in self)


class _Narrator:
    def __init__(self, log, echo):
        self.log, self.echo = log, echo

    def forward(self, op, inputs, arrays, result, params=None):
        pass

    def _add(self, record):
        self.log.append(record)
        if self.echo:
            print(Explanation([record]).lines()[0] if record["node"] is None else self.log.lines()[-1])

    def backward(self, node, tensor, g, cotangents, seconds):
        self._add({"direction": "reverse", "op": node.op.name, "node": node.seq, "rule": node.op.vjp_text,
                   "in_shape": _shape(g), "in_norm": _norm(g), "out_shapes": [_shape(c) for c in cotangents],
                   "out_norms": [_norm(c) for c in cotangents], "seconds": seconds})

    def tangent(self, op, inputs, out, tangent, level):
        self._add({"direction": "forward", "op": op.name, "node": out._node.seq if out._node is not None else None,
                   "rule": op.jvp_text, "in_shape": None, "in_norm": None, "out_shapes": [_shape(tangent)],
                   "out_norms": [_norm(tangent)], "seconds": None, "level": level})


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
