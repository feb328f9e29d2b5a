"""The op table: every record (``REGISTRY`` by name), and the README's tables derived from it."""
from . import compare, contract, decomp, elementary, elementwise, fused, linalg, reduce, select, shape, sparse  # noqa: F401  (registering)
from .base import REGISTRY, Bilinear, Composite, Elementwise, Linear, Op, Record

_OPERATORS = {
    "add": "`a + b`", "sub": "`a - b`", "mul": "`a * b`", "truediv": "`a / b`", "pow": "`x ** y`",
    "matmul": "`a @ b`", "neg": "`-x`", "abs": "`abs(x)`", "mod": "`a % b`",
}


def numpy_name(func):
    """How a numpy function is spelt in messages and tables: np.trace, np.linalg.inv."""
    module = getattr(func, "__module__", None) or "numpy"
    public = [part for part in module.split(".")[1:] if not part.startswith("_")]  # numpy._core... → np.
    return ".".join(["np", *public, getattr(func, "__name__", repr(func))])


def call_forms(record):
    """How a record is reached from Python: operator, tm function, Tensor method, numpy function."""
    forms = []
    if record.dunder:
        forms.append(_OPERATORS[record.dunder])
    if record.public:
        forms.append(f"`tm.{record.name}`")
    methods = (record.method,) if isinstance(record.method, str) else (record.method or ())
    forms += ["`x[i]`" if m == "__getitem__" else f"`x.{m}`" for m in methods]
    numpy_functions = list(record.numpy) + ([record.ufunc] if record.ufunc is not None else [])
    forms += sorted({f"`{numpy_name(f)}`" for f in numpy_functions})
    return ", ".join(forms) if forms else "(internal)"


def _cell(text):
    return text.replace("|", "\\|")


def rule_table():
    """The primitives as Markdown: op, how to call it, reverse rule, forward rule, and whether
    ``tm.compile(backend="numba")`` can write it (the README shows it)."""
    lines = ["| op | call | reverse rule (VJP) | forward rule (JVP) | numba |", "|---|---|---|---|---|"]
    for name, record in REGISTRY.items():
        if isinstance(record, Op):
            numba = ("✓" + (f" ({record.lowering_limits})" if record.lowering_limits else "")) if record.lowered_op else ""
            lines.append(f"| {name} | {_cell(call_forms(record))} | {_cell(record.vjp_text)} | {_cell(record.jvp_text)} | {numba} |")
    return "\n".join(lines)


def composite_table():
    """The functions built from primitives as Markdown: name, how to call it, what it computes."""
    lines = ["| function | call | built as |", "|---|---|---|"]
    for name, record in REGISTRY.items():
        if isinstance(record, Composite):
            lines.append(f"| {name} | {_cell(call_forms(record))} | {_cell(record.text)} |")
    return "\n".join(lines)


__all__ = ["REGISTRY", "Record", "Op", "Elementwise", "Linear", "Bilinear", "Composite", "rule_table",
           "composite_table", "call_forms", "numpy_name"]
