"""Jacobians in numerator, denominator and vec layout; Hessians; Hessian-vector products.

For F = f(X), the derivative holds every ∂Fᵢⱼ/∂Xₖₗ:
  * ``layout="numerator"``: shape F.shape + X.shape (what PyTorch, JAX and autograd return);
  * ``layout="denominator"``: shape X.shape + F.shape (the notes' default for gradients);
  * ``vec=True``: the matrix ∂vec(F)/∂vec(X)ᵀ, size(F) × size(X), with the column-major vec
    (columns stacked) of matrix calculus, so that d vec(AXB) = (Bᵀ ⊗ A) d vec(X); in denominator
    layout its transpose.

Built from one forward pass that carries every basis direction of X at once (``mode="fwd"``: a batch
of size(X) tangents, see ``Op.batching``) or from one reverse pass that carries a cotangent for every
entry of F at once (``mode="rev"``: a batch of size(F) cotangents, see ``Op.vjp_batching``; in chunks
when the batch would be large); ``"auto"`` picks forward unless F has fewer entries than X. Like the other
transforms, numpy in gives numpy out at top level, and nested calls return Tensors, so Jacobians
compose.
"""
import math

import numpy as np

from . import functions, modes
from .errors import ShapeError
from .functional import (
    Pullback, _argnums, _jvp, _numpy_mode, _rebuild, export_aux, function_output, function_outputs, grad,
    split_aux, vjp,
)
from .tensor import Tensor

LAYOUTS = ("numerator", "denominator")
MODES = ("auto", "fwd", "rev")


def _value(x):
    """The values of a Tensor, array or number, float32 kept, anything else as float64."""
    if isinstance(x, Tensor):
        return x._data
    array = np.asarray(x)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def _requirement(vec):
    return "vec=True needs" if vec else "needs"


def _output_shapes(f_x, x, vec, name):
    """(the shape of each output, f's container type or None) from one evaluation without recording;
    a clear error if f returns no array."""
    with modes.no_grad():
        value = f_x(functions.as_tensor(x))
        if vec or not isinstance(value, (tuple, list)):
            return [function_output(value, name, _requirement(vec)).shape], None
        outs, kind = function_outputs(value, name)
        return [o.shape for o in outs], kind


def _assemble(pieces, axis, shape, lib, dtype):
    if not pieces:
        return np.zeros(shape, dtype=dtype)
    return lib.reshape(lib.stack(pieces, axis), shape)


def _numerator_reverse(f_x, x, lib, vec, name):
    """J of each output from one batched reverse pass: the basis cotangents eᵢ of every entry of every
    output pushed back at once (in chunks when large, ``Pullback.rows``); row i of output k's J is eᵢᵀ Jₖ."""
    pullback = Pullback(f_x if not vec else lambda x: _checked(f_x(x), vec, name), (x,), False, name, {})
    handle = pullback.handles[0]
    shapes = [o.shape for o in pullback.outs]
    if pullback.packed.size == 0 or handle.size == 0:
        return [np.zeros(shape + handle.shape, dtype=handle.dtype) for shape in shapes], pullback.kind
    rows = pullback.rows()[0]  # (entries of all outputs, *X.shape)
    if len(shapes) == 1:
        return [lib.reshape(rows, shapes[0] + handle.shape)], pullback.kind
    jacobians, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        jacobians.append(lib.reshape(rows[offset:offset + size], shape + handle.shape))
        offset += size
    return jacobians, pullback.kind


def _checked(value, vec, name):
    """f's output as vjp takes it: one array, or (not with vec) a tuple or list of arrays."""
    if isinstance(value, (tuple, list)) and not vec:
        return value
    return function_output(value, name, _requirement(vec))


def _numerator_forward(f_x, x, f_shapes, kind, lib, name):
    """J of each output from one forward pass carrying every basis direction at once (a batch of
    size(X) tangents): the pass gives J eₖ for each k along a leading axis, which moves to the end."""
    x_value = _value(x)
    size = int(np.prod(x_value.shape, dtype=np.int64))
    if size == 0:
        return [_assemble([], -1, f_shape + x_value.shape, lib, x_value.dtype) for f_shape in f_shapes], kind
    directions = np.eye(size, dtype=x_value.dtype).reshape((size,) + x_value.shape)
    columns = _jvp(f_x, (x,), (directions,), False, name, {}, batch=size)[1]  # (size, *F.shape) each
    columns = list(columns) if kind is not None else [columns]
    return [lib.reshape(lib.moveaxis(c, 0, -1), f_shape + x_value.shape)
            for c, f_shape in zip(columns, f_shapes)], kind


def _layout(J, f_ndim, x_ndim, layout, vec, lib):
    """Numerator J (F.shape + X.shape) to the layout asked for."""
    f_axes, x_axes = tuple(range(f_ndim)), tuple(range(f_ndim, f_ndim + x_ndim))
    if vec:
        shape = np.shape(_value(J))
        size_f, size_x = int(np.prod(shape[:f_ndim])), int(np.prod(shape[f_ndim:]))
        # Column-major vec = row-major flattening of the array with its axes reversed.
        J = lib.reshape(lib.transpose(J, f_axes[::-1] + x_axes[::-1]), (size_f, size_x))
        return J if layout == "numerator" else lib.transpose(J, (1, 0))
    if layout == "denominator":
        return lib.transpose(J, x_axes + f_axes)
    return J


def jacobian(f, argnums=0, mode="auto", layout="numerator", vec=False, has_aux=False, _name="jacobian"):
    """The Jacobian function of f: same arguments, returns ∂f/∂args[argnums] in the layout asked for
    (with ``has_aux``: (Jacobian, aux)). Keyword arguments are passed to f and not differentiated.
    When f returns a tuple or list of arrays, the Jacobian of each comes back in the same container,
    as in JAX and autograd.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> tm.jacobian(lambda x: A @ x)(np.ones(3))                            # numerator: A
    array([[1., 2., 3.],
           [4., 5., 6.]])
    >>> tm.jacobian(lambda x: A @ x, layout="denominator")(np.ones(3)).shape   # Aᵀ
    (3, 2)
    >>> X, B = np.ones((2, 2)), np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> bool(np.allclose(tm.jacobian(lambda X: A.T @ X @ B, vec=True)(X), np.kron(B.T, A.T)))
    True
    """
    if layout not in LAYOUTS:
        raise ValueError(f"{_name}: layout must be 'numerator' or 'denominator', not {layout!r}")
    if mode not in MODES:
        raise ValueError(f"{_name}: mode must be 'auto', 'fwd' or 'rev', not {mode!r}")
    vec = bool(vec)

    def wrapper(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), _name)
        numpy_mode = _numpy_mode(args)
        lib = np if numpy_mode else functions
        results, auxes = [], []
        for n in nums:
            def f_x(x, n=n):
                out, aux = split_aux(f(*args[:n], x, *args[n + 1:], **kwargs), has_aux, _name)
                auxes.append(aux)
                return out

            x = args[n]
            if mode == "rev":  # f's output shapes come from the pass itself
                jacobians, kind = _numerator_reverse(f_x, x, lib, vec, _name)
            else:
                f_shapes, kind = _output_shapes(f_x, x, vec, _name)
                f_size = sum(int(np.prod(shape)) for shape in f_shapes)
                if mode == "auto" and np.size(_value(x)) > f_size:
                    jacobians, kind = _numerator_reverse(f_x, x, lib, vec, _name)
                else:
                    jacobians, kind = _numerator_forward(f_x, x, f_shapes, kind, lib, _name)
            if layout != "numerator" or vec:
                x_ndim = np.ndim(_value(x))
                jacobians = [_layout(J, np.ndim(_value(J)) - x_ndim, x_ndim, layout, vec, lib) for J in jacobians]
            results.append(_rebuild(kind, jacobians))
        result = results[0] if single else tuple(results)
        return (result, export_aux(auxes[-1], numpy_mode)) if has_aux else result

    wrapper.__name__ = f"{_name}({getattr(f, '__name__', 'f')})"
    return wrapper


def jacfwd(f, argnums=0, has_aux=False):
    """Jacobian in numerator layout (F.shape + X.shape) from forward mode (one pass carrying every
    direction), as ``jax.jacfwd``."""
    return jacobian(f, argnums, mode="fwd", has_aux=has_aux, _name="jacfwd")


def jacrev(f, argnums=0, has_aux=False):
    """Jacobian in numerator layout (F.shape + X.shape) from one reverse pass carrying every row's
    cotangent (a batch of size(F)), as ``jax.jacrev``."""
    return jacobian(f, argnums, mode="rev", has_aux=has_aux, _name="jacrev")


def _require_scalar(f, args, kwargs, nums, name, several=False):
    """Check that f returns a scalar (with ``several``: or a tuple or list of scalars); return the
    container type of f's output, or None for one scalar."""
    args = [functions.as_tensor(a) if i in nums else a for i, a in enumerate(args)]
    with modes.no_grad():
        value = f(*args, **kwargs)
        outs, kind = function_outputs(value, name) if several else ([function_output(value, name)], None)
    for out in outs:
        if out.size != 1:
            raise ShapeError(f"{name}: f must return a scalar (one element), got shape {out.shape}")
    return kind


def hessian(f, argnums=0, vec=False, has_aux=False):
    """∂²f/∂X∂X of a scalar f, shape X.shape + X.shape, or with ``vec`` the symmetric
    size(X) × size(X) matrix ∂²f/∂vec(X)∂vec(X)ᵀ. Reverse mode over the reverse-mode gradient: the
    gradient's graph is recorded, and one batched reverse pass through it gives every row (0.4–0.8× the
    time of forward over reverse on log det X, tr(XᵀAX), a logistic loss and a tanh layer; level with
    it for log det X at 32 × 32).

    With a tuple of argnums, returns the blocks H[i][j] = ∂²f/∂args[i]∂args[j]; with ``has_aux``,
    (Hessian, aux). When f returns a tuple or list of scalars, the Hessian of each comes back in the
    same container, as in JAX. Keyword arguments are passed to f and not differentiated.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> tm.hessian(lambda x: x @ A @ x)(np.ones(2))                   # A + Aᵀ
    array([[2., 2.],
           [2., 6.]])
    """

    def wrapper(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), "hessian")
        auxes = []

        def scalar_f(*a, **k):
            out, aux = split_aux(f(*a, **k), has_aux, "hessian")
            auxes.append(aux)
            return out

        kind = _require_scalar(scalar_f, args, kwargs, nums, "hessian", several=not has_aux)
        if kind is None:
            result = _hessian_blocks(scalar_f, args, kwargs, nums, single, vec)
        else:
            count = len(scalar_f(*args, **kwargs))
            result = kind(_hessian_blocks(lambda *a, k=k, **kw: scalar_f(*a, **kw)[k], args, kwargs, nums, single, vec)
                          for k in range(count))
        return (result, export_aux(auxes[0], _numpy_mode(args))) if has_aux else result

    wrapper.__name__ = f"hessian({getattr(f, '__name__', 'f')})"
    return wrapper


def _hessian_blocks(scalar_f, args, kwargs, nums, single, vec):
    """The Hessian of a scalar f: one block (single argnum) or the blocks H[i][j]."""
    blocks = tuple(
        jacobian(grad(scalar_f, argnums=i, _name="hessian"), argnums=nums, mode="rev", vec=vec,
                 _name="hessian")(*args, **kwargs)
        for i in nums
    )
    return blocks[0][0] if single else blocks


def hvp(f, x, v, **kwargs):
    """The Hessian-vector product H v of a scalar f at x, from one reverse pass over the recorded
    gradient (vᵀH = (Hv)ᵀ, H symmetric; measured faster than a forward pass over the gradient); the
    Hessian is never formed. Keyword arguments are passed to f.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> tm.hvp(lambda x: x @ A @ x, np.ones(2), np.array([1.0, 0.0]))   # (A + Aᵀ) e₁
    array([2., 2.])
    """
    if np.shape(_value(x)) != np.shape(_value(v)):
        raise ShapeError(f"hvp: v has shape {np.shape(_value(v))}, but x has shape {np.shape(_value(x))}")
    _require_scalar(f, (x,), kwargs, (0,), "hvp")
    return vjp(grad(f, _name="hvp"), x, _name="hvp", **kwargs)[1](v)[0]
