"""The README's generated tables: ``python -m tinygrad_mat.readme README.md`` rewrites them in place.

Each table sits between ``<!-- name:start -->`` and ``<!-- name:end -->``; a test keeps the README's
copies equal to these.
"""
import sys
from pathlib import Path

from . import numpy_protocol
from .ops import composite_table, numpy_name, rule_table

# numpy functions users reach for that stay refused, and why (the rest of numpy is refused too).
REFUSED = [
    ("`np.linalg.eig`, `np.linalg.eigvals`", "complex results for a non-symmetric matrix; use `tm.eigh` for symmetric ones"),
    ("`np.fft.*`, `np.convolve`, `np.correlate`", "no differentiable version yet; refused rather than losing the derivative"),
    ("`np.unique`", "values with no derivative: write `np.unique(t.numpy())`"),
    ("`np.copy`", "Tensors are immutable: use `t` itself, or `t.detach()` for a constant"),
    ("any call with `out=`, `dtype=`, `where=` (non-default)", "a Tensor's array is never written in place, and it is float32/float64"),
    ("ufunc methods: `np.add.reduce`, `np.add.at`, `np.multiply.outer`", "use `tm.sum`, `tm.scatter_add`, broadcasting"),
]


def numpy_table():
    """Which numpy names dispatch to a differentiable op, which answer with plain values, which are refused."""
    ufuncs = set(numpy_protocol.UFUNCS) | set(numpy_protocol.COMPOSITE_UFUNCS)
    dispatched = sorted({numpy_name(f) for f in numpy_protocol.FUNCTIONS} | {f"np.{u.__name__}" for u in ufuncs})
    values = sorted({numpy_name(f) for f in numpy_protocol.VALUE_FUNCTIONS | set(numpy_protocol.SHAPE_FUNCTIONS)}
                    | {f"np.{u.__name__}" for u in numpy_protocol.VALUE_UFUNCS})
    lines = [
        "| numpy | on a Tensor |", "|---|---|",
        f"| {', '.join(f'`{n}`' for n in dispatched)} | the tinygrad_mat op, with numpy's semantics: differentiable, returns Tensors |",
        f"| {', '.join(f'`{n}`' for n in values)} | numpy on the values: shapes, masks, indices, counts (nothing to differentiate) |",
    ]
    lines += [f"| {names} | refused (TypeError): {why} |" for names, why in REFUSED]
    lines.append("| anything else | refused (TypeError naming the function and what to write instead) |")
    return "\n".join(lines)


TABLES = {"op-table": rule_table, "composite-table": composite_table, "numpy-table": numpy_table}


def fill(text):
    """``text`` with each generated table put between its markers."""
    for name, table in TABLES.items():
        start, end = f"<!-- {name}:start -->\n", f"\n<!-- {name}:end -->"
        if start not in text:
            continue
        before, rest = text.split(start)
        after = rest.split(end)[1]
        text = before + start + table() + end + after
    return text


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(fill(path.read_text(encoding="utf-8")), encoding="utf-8")
