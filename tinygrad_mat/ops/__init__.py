"""The op table: every primitive, its forward, VJP, JVP and rule text (``REGISTRY`` by name)."""
from . import elementwise, linalg, reduce, shape  # noqa: F401  (registering)
from .base import REGISTRY, Op

# How each op is reached from Python, for the README's table.
USAGE = {
    "add": "`a + b`, `tm.add`", "sub": "`a - b`, `tm.sub`", "mul": "`a * b`, `tm.mul`",
    "div": "`a / b`, `tm.div`", "neg": "`-x`, `tm.neg`", "pow": "`x ** y`, `c ** x`, `tm.pow`",
    "alias": "(internal: a transform's handle)", "cast": "`x.astype`, `tm.astype`",
    "exp": "`tm.exp`, `x.exp()`", "log": "`tm.log`", "sqrt": "`tm.sqrt`", "tanh": "`tm.tanh`",
    "sigmoid": "`tm.sigmoid`", "relu": "`tm.relu`", "abs": "`abs(x)`, `tm.abs`",
    "sum": "`x.sum(axis, keepdims)`", "mean": "`x.mean(axis, keepdims)`",
    "logsumexp": "`tm.logsumexp(x, axis)`", "reshape": "`x.reshape`, `x.flatten()`",
    "broadcast_to": "`tm.broadcast_to`", "transpose": "`x.T`, `x.mT`, `x.transpose(axes)`",
    "getitem": "`x[i]`, `x[:, j]`, `x[idx]`", "scatter_add": "`tm.scatter_add` (getitem's adjoint)",
    "matmul": "`a @ b`, `tm.matmul`", "trace": "`tm.trace`, `x.trace()`",
    "norm": "`tm.norm(x, axis)`", "inv": "`tm.inv`", "det": "`tm.det`",
    "slogdet": "`tm.slogdet` → (sign, log\\|det\\|)", "solve": "`tm.solve(A, B)`",
    "stack": "`tm.stack(tensors, axis)`", "concatenate": "`tm.concatenate(tensors, axis)`",
}


def rule_table():
    """The op table as Markdown: op, how to call it, reverse rule, forward rule (the README shows it)."""
    lines = ["| op | call | reverse rule (VJP) | forward rule (JVP) |", "|---|---|---|---|"]
    for name, op in REGISTRY.items():
        lines.append(f"| {name} | {USAGE[name]} | {op.vjp_text} | {op.jvp_text} |")
    return "\n".join(lines)


__all__ = ["REGISTRY", "Op", "rule_table"]
