"""Fused ops: one pass over memory where numpy would make several.

``linear_mse_parts`` computes the least-squares loss L = s‖XW + b − Y‖² together with its gradients
in W and b, reading X once (a numba kernel for one output column, BLAS on row blocks for several).
Its output packs [L, ∂L/∂W, ∂L/∂b], so that the reverse rule takes the gradients from the forward
pass and reads X no more; ``tm.nn.functional.linear_mse_loss`` returns the first entry. The rules
cover every entry of the pack, so derivatives of any order stay exact.
"""
import numpy as np

from .. import dispatch
from ..errors import ShapeError
from .base import Op, register, shape_of


def _as_columns(xp, w):
    """W as a (d, k) matrix (a vector w is one column)."""
    return xp.reshape(w, (shape_of(w)[0], 1)) if len(shape_of(w)) == 1 else w


def _residual(xp, x, w, b, y):
    """R = X W + b − Y with W, b and Y as columns (n × k)."""
    w2 = _as_columns(xp, w)
    k = shape_of(w2)[1]
    y2 = xp.reshape(y, (shape_of(y)[0], k))
    return (x @ w2 + xp.reshape(b, (k,)) if shape_of(b) != () else x @ w2 + b) - y2


@register
class LinearMSEParts(Op):
    """[L, ∂L/∂W, ∂L/∂b] for L = scale·‖X W + b − Y‖²_F in one pass over X (internal: behind
    ``tm.nn.functional.linear_mse_loss``). W is (d,) or (d, k), b a scalar or (k,), Y (n,) or (n, k)."""

    name, public = "linear_mse_parts", False
    vjp_text = ("with Q = 2s(c R + X C + 1 cᵦᵀ) for the pack's cotangent (c, C, cᵦ): W̄ = XᵀQ, b̄ = 1ᵀQ, "
                "Ȳ = −Q, X̄ = Q Wᵀ + 2s R Cᵀ; for (c, 0, 0): W̄ = c ∂L/∂W, b̄ = c ∂L/∂b from the forward pass")
    jvp_text = "L̇ = 2s⟨R, Ṙ⟩, (∂L/∂W)˙ = 2s(ẊᵀR + XᵀṘ), (∂L/∂b)˙ = 2s 1ᵀṘ, with Ṙ = Ẋ W + X Ẇ + ḃ − Ẏ"
    source = "note 000: ∂‖XW − Y‖²_F/∂W = 2Xᵀ(XW − Y), computed in the same pass as the loss"

    def prepare(self, x, w, b, y, scale):
        xs, ws, ys = shape_of(x), shape_of(w), shape_of(y)
        if len(xs) != 2:
            raise ShapeError(f"linear_mse_loss: X must be a matrix (n, d), got shape {xs}")
        if len(ws) not in (1, 2) or ws[0] != xs[1]:
            raise ShapeError(f"linear_mse_loss: W must be ({xs[1]},) or ({xs[1]}, k) for X of shape {xs}, got {ws}")
        predicted = (xs[0],) + ws[1:]
        if ys != predicted:
            raise ShapeError(f"linear_mse_loss: Y has shape {ys}, but X @ W has shape {predicted}")
        bs = shape_of(b)
        if bs not in ((), ws[1:]):
            raise ShapeError(f"linear_mse_loss: b must be a scalar or of shape {ws[1:]}, got {bs}")
        return (x, w, b, y), {"scale": float(scale)}

    def forward(self, x, w, b, y, scale):
        w2 = w.reshape(w.shape[0], -1)
        k = w2.shape[1]
        squares, gw, gb = dispatch.linear_mse(x, w2, np.broadcast_to(np.asarray(b, dtype=x.dtype), (k,)),
                                              y.reshape(y.shape[0], k))
        if np.ndim(b) == 0:  # one bias for every column: its gradient sums them all
            gb = np.sum(gb, keepdims=True)
        return np.concatenate([[scale * squares], (2.0 * scale) * gw.reshape(-1),
                               (2.0 * scale) * gb.reshape(-1)]).astype(np.result_type(x, w))

    def _split(self, xp, packed, w, b):
        """(c, C, cᵦ): the pack's entries for L, ∂L/∂W (W's shape) and ∂L/∂b (b's shape)."""
        size = int(np.prod(shape_of(w)))
        return (packed[0], xp.reshape(packed[1:1 + size], shape_of(w)),
                xp.reshape(packed[1 + size:], shape_of(b)))

    def vjp(self, xp, g, inputs, out, needs, scale):
        x, w, b, y = inputs
        known = xp.fixed_value(g)  # eagerly the values; in a compiled step's trace, a seed's (else None)
        if not needs[0] and not needs[3] and known is not None and not np.any(known[1:]):
            # The first-order case: only L's cotangent c, and the gradients are in the pack already.
            c, grad_w, grad_b = self._split(xp, out, w, b)
            return None, (g[0] * grad_w if needs[1] else None), (g[0] * grad_b if needs[2] else None), None
        c, cw, cb = self._split(xp, g, w, b)
        r = _residual(xp, x, w, b, y)
        k = shape_of(r)[1]
        cw2, cb2 = _as_columns(xp, cw), xp.reshape(cb, (1, k)) if shape_of(b) != () else cb
        q = (2.0 * scale) * (c * r + x @ cw2 + cb2)
        grad_x = (q @ xp.transpose(_as_columns(xp, w)) + (2.0 * scale) * (r @ xp.transpose(cw2))) if needs[0] else None
        grad_w = xp.reshape(xp.transpose(x) @ q, shape_of(w)) if needs[1] else None
        grad_b = xp.reshape(xp.sum(q, (0,)), shape_of(b)) if shape_of(b) != () else xp.sum(q)
        grad_y = xp.reshape(-q, shape_of(y)) if needs[3] else None
        return grad_x, grad_w, (grad_b if needs[2] else None), grad_y

    def jvp(self, xp, tangents, inputs, out, scale):
        x, w, b, y = inputs
        dx, dw, db, dy = tangents
        r = _residual(xp, x, w, b, y)
        n, k = shape_of(r)
        w2 = _as_columns(xp, w)
        parts = []
        if dx is not None:
            parts.append(dx @ w2)
        if dw is not None:
            parts.append(x @ _as_columns(xp, dw))
        if db is not None:
            parts.append(xp.reshape(db, (1, k)) if shape_of(db) != () else db)
        if dy is not None:
            parts.append(-xp.reshape(dy, (n, k)))
        dr = parts[0]
        for part in parts[1:]:
            dr = dr + part
        dr = xp.broadcast_to(dr, (n, k))
        d_loss = (2.0 * scale) * xp.sum(r * dr)
        d_gw = xp.transpose(x) @ dr if dx is None else xp.transpose(dx) @ r + xp.transpose(x) @ dr
        d_gb = xp.sum(dr, (0,)) if shape_of(b) != () else xp.sum(dr)
        pieces = [xp.reshape(d_loss, (1,)), xp.reshape((2.0 * scale) * d_gw, (-1,)),
                  xp.reshape((2.0 * scale) * d_gb, (-1,))]
        return xp.concatenate(pieces)
