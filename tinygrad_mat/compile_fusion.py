"""Fusion in ``tm.compile``'s numpy backend: ``mse_loss(X @ W + b, Y)`` becomes ``linear_mse_parts``.

Spelt out, the least-squares loss reads X twice per step: X @ W forward, Xᵀ Ḡ backward. The fused
op (tinygrad_mat/ops/fused.py) computes the loss and its gradients in W and b in one pass over X.
After a step is traced, this module looks in its tape for

    m = matmul(X, W);  z = add(m, b)  (or z = m);  d = sub(z, Y);  q = mul(d, d);  L = mean(q) or sum(q)

and the rules backward() ran for those five nodes, and rewrites them into one call of the fused
op's forward, L and the contributions to W's and b's cotangents taken from its pack. It does so
only when the rewrite changes nothing the step can see: m, z, d, q and their cotangents are used
by nothing else (not returned, not read by another op or rule), each rule ran exactly once, X and
Y need no gradient, the shapes are the fused op's (X a matrix, W (d,) or (d, k), b a number or
(k,), Y (n,) or (n, k)), and X has at least ``MIN_ENTRIES`` entries (below that the fused kernel
is slower than numpy's matrix products). The loss then differs from the unfused one by rounding
only (one sum instead of two); ``tests/test_compile.py`` compares them.
"""
import math
import re

import numpy as np

from .ops.base import REGISTRY

MIN_ENTRIES = 1 << 16  # X's entries from which one pass over X beats numpy's two (bench/suites/lstsq.py)

_TOKEN = re.compile(r"[A-Za-z_]\w*")


def fuse_linear_mse(tracer, returned):
    """Rewrite every fusable pattern in ``tracer.lines`` in place; returns how many were fused."""
    fused = 0
    for loss, entry in list(tracer.forwards.items()):
        plan = _match(tracer, loss, entry, returned)
        if plan is not None:
            _rewrite(tracer, loss, plan)
            fused += 1
    if fused:  # drop the removed lines (their numba forms too, to keep both lists aligned)
        kept = [k for k, line in enumerate(tracer.lines) if line is not None]
        tracer.lines[:] = [tracer.lines[k] for k in kept]
        tracer.lowered[:] = [tracer.lowered[k] for k in kept]
    return fused


def _match(tracer, loss, entry, returned):
    """The rewrite plan when ``loss`` ends the pattern (see the module docstring), else None."""
    _, op, names, _, params, _ = entry
    if op not in ("mean", "sum") or params.get("axis") is not None or params.get("keepdims"):
        return None
    chain = {}
    q = tracer.forwards.get(names[0])
    if q is None or q[1] != "mul" or q[2][0] != q[2][1]:
        return None
    chain["q"] = names[0]
    d = tracer.forwards.get(q[2][0])
    if d is None or d[1] != "sub" or d[5] is None or d[5][1]:  # Y must need no gradient
        return None
    chain["d"] = q[2][0]
    z_name = d[2][0]
    z = tracer.forwards.get(z_name)
    if z is None:
        return None
    bias = None
    if z[1] == "add":
        bias = (z[2][1], z[3][1])
        chain["z"] = z_name
        m_name = z[2][0]
        m = tracer.forwards.get(m_name)
    else:
        m_name, m = z_name, z
    if m is None or m[1] != "matmul" or m[5] is None or m[5][0]:  # X must need no gradient
        return None
    chain["m"] = m_name
    x, w, y = m[3][0], m[3][1], d[3][1]
    x_shape, w_shape, y_shape = _shape(x), _shape(w), _shape(y)
    if len(x_shape) != 2 or math.prod(x_shape) < MIN_ENTRIES or len(w_shape) not in (1, 2):
        return None
    if w_shape[0] != x_shape[1] or y_shape != (x_shape[0],) + w_shape[1:]:
        return None
    if bias is not None and _shape(bias[1]) not in ((), w_shape[1:]):
        return None
    if any(np.result_type(_dtype(a)) != np.float64 for a in (x, w, y) + ((bias[1],) if bias else ())):
        return None
    # Each of the five nodes' rules ran once, and their cotangents went where the pattern says.
    runs = {name: tracer.rules.get(name, []) for name in [loss] + list(chain.values())}
    if any(len(r) != 1 for r in runs.values()):
        return None
    pattern_lines = {entry[0]} | {tracer.forwards[v][0] for v in chain.values()}
    for name, ((vjp_line, _, targets),) in runs.items():
        pattern_lines.add(vjp_line)
        pattern_lines.update(line for _, line in targets)
    # Nothing outside the pattern may use its intermediates: forward values, the rules' results, and
    # the cotangents flowing between the five nodes.
    private = set(chain.values())
    for name, ((vjp_line, g, _),) in runs.items():
        private.add(tracer.lines[vjp_line].split(" = ", 1)[0])
        if name != loss:
            private.add(g)
    for k, line in enumerate(tracer.lines):
        if line is not None and k not in pattern_lines and private & set(_TOKEN.findall(line)):
            return None  # (None: a line an earlier fusion removed)
    if private & set(_TOKEN.findall(returned)):
        return None
    w_line = _target(runs[chain["m"]][0][2], 1)
    b_line = _target(runs[chain["z"]][0][2], 1) if bias is not None else None
    if (w_line is None and m[5][1]) or (bias is not None and b_line is None and z[5] is not None and z[5][1]):
        return None  # a needed cotangent the tape did not record: leave the step as it is
    return dict(chain=chain, x=m[2][0], w=m[2][1], y=d[2][1], bias=bias[0] if bias else None,
                w_shape=w_shape, b_shape=_shape(bias[1]) if bias else None, w_line=w_line, b_line=b_line,
                loss_g=runs[loss][0][1], lines=pattern_lines, forward_line=entry[0],
                scale=1.0 / math.prod(y_shape) if op == "mean" else 1.0)


def _target(targets, position):
    for i, line in targets:
        if i == position:
            return line
    return None


def _shape(x):
    return tuple(np.shape(getattr(x, "_data", x)))


def _dtype(x):
    return getattr(x, "dtype", np.result_type(x))


def _rewrite(tracer, loss, plan):
    """Replace the pattern's lines: one fused forward at the loss's line, W's and b's cotangents
    (same targets, same set-or-add form) from the pack, every other pattern line removed."""
    pack = tracer._new("p")
    forward = tracer.constant(REGISTRY["linear_mse_parts"].forward, "F")
    bias = plan["bias"] if plan["bias"] is not None else "0.0"
    lines = tracer.lines
    kept = {plan["forward_line"], plan["w_line"], plan["b_line"]}
    for k in kept - {None}:
        tracer.lowered[k] = None  # rewritten: its Python line is the one to run
    lines[plan["forward_line"]] = (f"{pack} = {forward}({plan['x']}, {plan['w']}, {bias}, {plan['y']}, "
                                   f"scale={plan['scale']!r}); {loss} = {pack}[0:1].reshape(())")
    size = math.prod(plan["w_shape"])
    g = plan["loss_g"]
    for line, value in ((plan["w_line"], f"{g} * {pack}[1:{1 + size}].reshape({plan['w_shape']!r})"),
                        (plan["b_line"], f"{g} * {pack}[{1 + size}:].reshape({plan['b_shape']!r})")):
        if line is None:
            continue
        target, rest = lines[line].split(" = ", 1)
        added = rest.startswith(f"{target} + ")
        lines[line] = f"{target} = {target} + {value}" if added else f"{target} = {value}"
    for k in plan["lines"] - kept:
        lines[k] = None  # removed once every pattern is rewritten
    tracer.tape.append(("fused", f"mse_loss({plan['x']} @ {plan['w']}{' + ' + plan['bias'] if plan['bias'] else ''}, "
                                 f"{plan['y']}) -> {loss}: linear_mse_parts, one pass over {plan['x']}"))
