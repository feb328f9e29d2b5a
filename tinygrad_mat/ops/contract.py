"""Contractions: einsum (and, built on it, tensordot, inner, outer, dot, vdot, kron), cross, matrix_power.

``einsum`` normalises numpy's subscripts (implicit output, ellipsis) into explicit single-letter form,
broadcasts the ellipsis dimensions, and applies one primitive, ``einsum_explicit``. Its reverse rule for
operand k is itself an einsum: the cotangent contracted with the other operands, giving operand k's
subscripts; a letter repeated within operand k (a diagonal, ``ii->``) is put back with identity
matrices, and a letter only operand k has (summed out) is restored by broadcasting. Its forward rule
is the product rule over the operands (it is multilinear). Source: HIPS autograd's einsum gradient;
The Matrix Cookbook, sec. 10.2 (Kronecker products).
"""
import string

import numpy as np

from ..errors import ShapeError
from . import sparse
from .base import Composite, Op, add_optional, ndim_of, normalize_axis, register, shape_of

_LETTERS = string.ascii_letters


def _parse(subscripts, shapes):
    """numpy's subscripts as (list of operand letter strings, output letters), ellipsis expanded."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs, output = subscripts, None
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: {len(terms)} subscript terms for {len(shapes)} operands")
    used = set(c for c in subscripts if c.isalpha())
    spare = [c for c in _LETTERS if c not in used]
    ellipsis_rank = max((len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t), default=0)
    fill = "".join(spare[:ellipsis_rank])
    explicit = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            rank = len(shape) - (len(term) - 3)
            term = term.replace("...", fill[ellipsis_rank - rank:] if rank else "")
        if len(term) != len(shape) or (term and not term.isalpha()):
            raise ShapeError(f"einsum: subscripts {term!r} do not fit an operand of shape {shape}")
        explicit.append(term)
    if output is None:  # numpy's implicit output: the ellipsis, then letters seen once, sorted
        counts = {}
        for term in explicit:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        output = fill + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in fill))
    else:
        output = output.replace("...", fill)
    return explicit, output, fill


@register
class EinsumExplicit(Op):
    """einsum with explicit, ellipsis-free subscripts and matching sizes (internal: see ``einsum``)."""

    name, public = "einsum_explicit", False
    vjp_batching = "params"

    def batch_params(self, xp, operands, params, shapes, batch):
        """One more letter, unused so far, for the batch axis of every operand and of the output."""
        subscripts = params["subscripts"]
        letter = next(c for c in _LETTERS if c not in subscripts)
        terms, output = subscripts.split("->")
        lifted = ",".join(letter + term for term in terms.split(","))
        return operands, {"subscripts": f"{lifted}->{letter}{output}"}
    vjp_text = "Āₖ = einsum(Z̄ and the other operands → the subscripts of Aₖ)   (diagonals and broadcasts restored)"
    jvp_text = "Ż = Σₖ einsum(A₁, …, Ȧₖ, …, Aₙ)   (multilinear)"
    source = "HIPS autograd (numpy_vjps.py, grad_einsum); multilinearity for the forward rule"

    def prepare(self, subscripts, *operands):
        return operands, {"subscripts": subscripts}

    def forward(self, *operands, subscripts):
        return np.einsum(subscripts, *operands, optimize=len(operands) > 2)

    def vjp(self, xp, g, inputs, out, needs, subscripts):
        terms, output = subscripts.split("->")
        terms = terms.split(",")
        cotangents = []
        for k, (term, need) in enumerate(zip(terms, needs)):
            if not need:
                cotangents.append(None)
                continue
            cotangents.append(_operand_cotangent(xp, g, inputs, terms, output, k))
        return tuple(cotangents)

    def jvp(self, xp, tangents, inputs, out, subscripts):
        total = None
        for k, tangent in enumerate(tangents):
            if tangent is not None:
                operands = list(inputs)
                operands[k] = tangent
                total = add_optional(total, xp.einsum_explicit(subscripts, *operands))
        return total


def _operand_cotangent(xp, g, inputs, terms, output, k):
    term = terms[k]
    shape = inputs[k].shape
    sizes = dict(zip(term, shape))
    others = [(t, x) for i, (t, x) in enumerate(zip(terms, inputs)) if i != k]
    available = set(output).union(*[set(t) for t, _ in others])
    unique = "".join(dict.fromkeys(term))  # letters of operand k, each once, in order
    present = "".join(c for c in unique if c in available)
    subscripts = ",".join([output] + [t for t, _ in others]) + "->" + present
    partial = xp.einsum_explicit(subscripts, g, *[x for _, x in others])
    # letters that only operand k had: the cotangent is the same along them
    if present != unique:
        partial = xp.reshape(partial, tuple(sizes[c] if c in present else 1 for c in unique))
        partial = xp.broadcast_to(partial, tuple(sizes[c] for c in unique))
    if unique == term:
        return partial
    # repeated letters (a diagonal): spread onto it with identity matrices
    renamed, spare, deltas = [], [c for c in _LETTERS if c not in term and c not in output], []
    seen = set()
    for c in term:
        if c in seen:
            fresh = spare.pop(0)
            renamed.append(fresh)
            deltas.append((c + fresh, np.eye(sizes[c], dtype=inputs[k].dtype)))
        else:
            seen.add(c)
            renamed.append(c)
    spec = ",".join([unique] + [d for d, _ in deltas]) + "->" + "".join(renamed)
    return xp.einsum_explicit(spec, partial, *[eye for _, eye in deltas])


@register
class Einsum(Composite):
    """Einstein summation, as ``numpy.einsum``: any subscripts numpy accepts (implicit or explicit
    output, repeated indices, ellipsis with broadcasting).

    >>> import numpy as np, tinygrad_mat as tm
    >>> A, x = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0])
    >>> tm.grad(lambda x: tm.einsum("i,ij,j", x, A, x))(x)          # (A + Aᵀ) x
    array([ 7., 13.])
    """

    name, numpy = "einsum", {np.einsum: {}}
    text = "einsum_explicit after the subscripts are made explicit and the ellipsis broadcast"

    def compute(self, xp, subscripts, *operands):
        if not isinstance(subscripts, str):  # numpy's other spelling: einsum(a, [0, 1], b, [1, 2], [0, 2])
            subscripts, operands = _from_sublists((subscripts,) + operands)
        shapes = [shape_of(x) for x in operands]
        terms, output, fill = _parse(subscripts, shapes)
        if fill:  # broadcast the ellipsis dimensions to one common shape (letter fill[j] ↔ common[j])
            parts = [tuple(n for c, n in zip(t, s) if c in fill) for t, s in zip(terms, shapes)]
            common = np.broadcast_shapes(*[(1,) * (len(fill) - len(p)) + p for p in parts])
            operands = [_broadcast_ellipsis(xp, x, t, fill, common) for t, x in zip(terms, operands)]
        sizes = {}
        for term, x in zip(terms, operands):
            for c, n in zip(term, shape_of(x)):
                if sizes.setdefault(c, n) != n:
                    raise ShapeError(f"einsum: index {c!r} has sizes {sizes[c]} and {n}")
        for c in output:
            if c not in sizes:
                raise ShapeError(f"einsum: output index {c!r} appears in no operand")
        return xp.einsum_explicit(",".join(terms) + "->" + output, *operands)


def _from_sublists(args):
    """(subscripts string, operands) of numpy's sublist form: operand, sublist, operand, sublist, ...,
    then optionally the output sublist; the integers 0…51 stand for letters, Ellipsis for '...'."""
    has_output = len(args) % 2 == 1
    pairs = args[:-1] if has_output else args
    operands, sublists = list(pairs[0::2]), list(pairs[1::2])
    output = args[-1] if has_output else None
    if not operands or any(isinstance(s, str) or np.ndim(s) != 1 for s in sublists):
        raise TypeError("einsum: give the subscripts as a string ('ij,jk->ik') or as operands each followed by "
                        "a list of axis numbers (einsum(a, [0, 1], b, [1, 2], [0, 2]))")
    terms = [_sublist_letters(s) for s in sublists]
    text = ",".join(terms)
    return (text + "->" + _sublist_letters(output) if output is not None else text), operands


def _sublist_letters(sublist):
    letters = []
    for item in sublist:
        if item is Ellipsis:
            letters.append("...")
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < len(_LETTERS):
            letters.append(_LETTERS[item])
        else:
            raise ValueError(f"einsum: subscript {item!r} in a sublist must be an integer in [0, 52) or Ellipsis")
    return "".join(letters)


def _broadcast_ellipsis(xp, x, term, fill, common):
    shape = shape_of(x)
    target = tuple(common[fill.index(c)] if c in fill else n for c, n in zip(term, shape))
    return xp.broadcast_to(x, target) if target != shape else x


def _axes_letters(n, start):
    return _LETTERS[start:start + n]


@register
class TensorDot(Composite):
    """Sum of products over ``axes`` (an int: the last n of a with the first n of b; or two lists),
    as ``numpy.tensordot``."""

    name, numpy, text = "tensordot", {np.tensordot: {}}, "einsum with the contracted axes sharing letters"

    def compute(self, xp, a, b, axes=2):
        na, nb = ndim_of(a), ndim_of(b)
        if np.ndim(axes) == 0:
            axes_a, axes_b = list(range(na - int(axes), na)), list(range(int(axes)))
        else:
            axes_a, axes_b = (np.atleast_1d(ax).tolist() for ax in axes)
        axes_a, axes_b = [x % na for x in axes_a], [x % nb for x in axes_b]
        la, lb = list(_axes_letters(na, 0)), list(_axes_letters(nb, na))
        for i, j in zip(axes_a, axes_b):
            lb[j] = la[i]
        out = [c for i, c in enumerate(la) if i not in axes_a] + [c for j, c in enumerate(lb) if j not in axes_b]
        return xp.einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)


@register
class Inner(Composite):
    """Sum of products over the last axes, as ``numpy.inner`` (scalars multiply)."""

    name, numpy, text = "inner", {np.inner: {}}, "tensordot over the last axes"

    def compute(self, xp, a, b):
        if ndim_of(a) == 0 or ndim_of(b) == 0:
            return xp.mul(a, b)
        return xp.tensordot(a, b, ([-1], [-1]))


@register
class Outer(Composite):
    """All products a_i b_j of the flattened inputs, as ``numpy.outer``."""

    name, numpy, text = "outer", {np.outer: {}}, "einsum('i,j->ij') of the flattened inputs"

    def compute(self, xp, a, b):
        return xp.einsum("i,j->ij", xp.reshape(a, (-1,)), xp.reshape(b, (-1,)))


@register
class Vdot(Composite):
    """Sum of products of the flattened inputs, as ``numpy.vdot`` (real)."""

    name, numpy, text = "vdot", {np.vdot: {}}, "einsum('i,i->') of the flattened inputs"

    def compute(self, xp, a, b):
        return xp.einsum("i,i->", xp.reshape(a, (-1,)), xp.reshape(b, (-1,)))


@register
class Dot(Composite):
    """``numpy.dot`` with numpy's rules: scalars multiply, 1-D and 2-D are the vector and matrix
    products, and for N-D the sum over a's last axis and b's second-to-last.

    >>> import numpy as np, tinygrad_mat as tm
    >>> tm.dot(np.ones((2, 3, 4)), np.ones((5, 4, 6))).shape           # numpy's N-D dot
    (2, 3, 5, 6)
    """

    name, method, numpy = "dot", "dot", {np.dot: {}}
    text = "a * b for a scalar; matmul for 1-D and 2-D; tensordot over (last, second-to-last) for N-D"

    def compute(self, xp, a, b):
        na, nb = ndim_of(a), ndim_of(b)
        if na == 0 or nb == 0:
            return xp.mul(a, b)
        if na <= 2 and nb <= 2:
            return xp.matmul(a, b)
        return xp.tensordot(a, b, ([-1], [-2 if nb >= 2 else -1]))


@register
class Kron(Composite):
    """The Kronecker product, as ``numpy.kron``: block (i, j) is a[i, j] · b (the notes' A ⊗ B).

    >>> import numpy as np, tinygrad_mat as tm
    >>> tm.kron(np.eye(2), np.array([[1.0, 2.0]]))
    Tensor([[1., 2., 0., 0.],
            [0., 0., 1., 2.]])
    """

    name, numpy, text = "kron", {np.kron: {}}, "a and b interleaved by broadcasting, then reshaped"

    def compute(self, xp, a, b):
        sa, sb = shape_of(a), shape_of(b)
        n = max(len(sa), len(sb))
        sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
        a = xp.reshape(a, tuple(v for m in sa for v in (m, 1)))
        b = xp.reshape(b, tuple(v for m in sb for v in (1, m)))
        return xp.reshape(xp.mul(a, b), tuple(x * y for x, y in zip(sa, sb)))


@register
class Cross(Composite):
    """The cross product of 3-vectors (2-vectors: the z component), as ``numpy.cross``: the vectors lie
    along ``axisa`` of a and ``axisb`` of b, the products along ``axisc`` of the result; ``axis`` sets
    all three."""

    name, numpy, text = "cross", {np.cross: {}}, "the determinant formula, component by component"

    def compute(self, xp, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
        if axis is not None:
            axisa = axisb = axisc = axis
        a, b = xp.moveaxis(a, axisa, -1), xp.moveaxis(b, axisb, -1)
        n = shape_of(a)[-1]
        if n != shape_of(b)[-1] or n not in (2, 3):
            raise ShapeError(f"cross: needs vectors of 2 or 3 components, got {shape_of(a)} and {shape_of(b)}")
        a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
        if n == 2:
            return a0 * b1 - a1 * b0
        a2, b2 = a[..., 2], b[..., 2]
        products = xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)
        return xp.moveaxis(products, -1, normalize_axis(axisc, ndim_of(products), "cross"))


@register
class MatrixPower(Composite):
    """A raised to an integer power n (by repeated squaring; a negative n through ``inv``), as
    ``numpy.linalg.matrix_power``."""

    name, numpy, text = "matrix_power", {np.linalg.matrix_power: {}}, "repeated squaring; inv(a) for n < 0"

    def compute(self, xp, a, n):
        if int(n) != n:
            raise TypeError(f"matrix_power: the exponent must be an integer, not {n!r}")
        n = int(n)
        shape = shape_of(a)
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise ShapeError(f"matrix_power: needs square matrices, got shape {shape}")
        if n == 0:
            return xp.as_result(np.broadcast_to(np.eye(shape[-1]), shape).copy())
        if n < 0:
            a, n = xp.inv(a), -n
        result = None
        while n:
            if n & 1:
                result = a if result is None else xp.matmul(result, a)
            n >>= 1
            if n:
                a = xp.matmul(a, a)
        return result


@register
class LinearMap(Op):
    """x Wᵀ + b, as ``torch.nn.functional.linear``: one op for a linear layer (W of shape
    (out_features, in_features), b optional and broadcast over the leading axes of x)."""

    batching = "pad"  # Ẋ Wᵀ + X Ẇᵀ + ḃ broadcasts once each tangent has the output's rank

    name = "linear"
    lowering_limits = "1-D and 2-D inputs"
    vjp_batching = "rule"

    def batched_vjp(self, xp, g, inputs, out, needs):
        """For Z̄ of shape (B, …, out): X̄ = Z̄ W, W̄ = Σ over the leading axes of x of Z̄ᵀ X for each
        direction, b̄ = Z̄ (the engine sums it back to b's shape after the batch axis)."""
        x, w = inputs[0], inputs[1]
        gx = g @ w if needs[0] else None
        gw = None
        if needs[1]:
            rows = xp.reshape(g, (g.shape[0], -1, g.shape[-1]))  # (B, rows of x, out)
            gw = rows.mT @ xp.reshape(x, (-1, x.shape[-1]))
        if len(inputs) == 2:
            return gx, gw
        return gx, gw, (g if needs[2] else None)
    vjp_text = "X̄ = Z̄ W,  W̄ = Z̄ᵀ X (summed over the leading axes),  b̄ = Z̄ summed over the leading axes"
    jvp_text = "Ż = Ẋ Wᵀ + X Ẇᵀ + ḃ"
    source = "The Matrix Cookbook, eq. 69 (matmul), with the transpose folded in"

    def prepare(self, input, weight, bias=None):
        if ndim_of(weight) != 2:
            raise ShapeError(f"linear: weight must be a matrix (out_features, in_features), got shape {shape_of(weight)}")
        return ((input, weight) if bias is None else (input, weight, bias)), {}

    def sparse_form(self, ns, args, params):
        out = sparse.product(ns, args[0], args[1].mT if hasattr(args[1], "mT") else np.transpose(args[1]), "linear")
        return out if len(args) == 2 else out + args[2]

    def forward(self, x, w, b=None):
        if x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input has {x.shape[-1]} features, weight expects {w.shape[1]} "
                             f"(shapes {x.shape} and {w.shape})")
        out = x @ w.T
        return out if b is None else out + b

    def vjp(self, xp, g, inputs, out, needs):
        x, w = inputs[0], inputs[1]
        gx = g @ w if needs[0] else None
        gw = None
        if needs[1]:
            rows = xp.reshape(g, (-1, g.shape[-1])) if g.ndim != 2 else g
            cols = xp.reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
            gw = rows.mT @ cols if rows.ndim == 2 else xp.einsum("i,j->ij", rows, cols)
        grads = [gx, gw]
        if len(inputs) == 3:
            gb = None
            if needs[2]:
                b = inputs[2]
                # A bias of shape (out,) (as nn.Linear's): sum over the leading axes here, cheaper than
                # the engine's general sum back to shape; any other broadcast shape is left to it.
                if g.ndim > 1 and tuple(b.shape) == tuple(g.shape[-1:]):
                    gb = xp.sum(g, tuple(range(g.ndim - 1)))
                else:
                    gb = g
            grads.append(gb)
        return tuple(grads)

    def lower_forward(self, ins, inputs, params):
        x = ins[0]
        ndim = len(shape_of(inputs[0]))
        product = f"R.matmul({x}, {ins[1]}.T)" if ndim == 2 else (f"R.matvec({ins[1]}, {x})" if ndim == 1 else None)
        if product is None:
            return None  # stacked inputs: not lowered
        return product if len(ins) == 2 else f"{product} + {ins[2]}"

    def jvp(self, xp, tangents, inputs, out):
        x, w = inputs[0], inputs[1]
        dx, dw = tangents[0], tangents[1]
        total = add_optional(None if dx is None else dx @ w.mT, None if dw is None else x @ dw.mT)
        return add_optional(total, tangents[2] if len(inputs) == 3 else None)
