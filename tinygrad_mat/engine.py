"""The engine: records a node per op as it runs, and walks the nodes backwards.

It knows no op. It converts constants, calls ``op.forward``, records a ``Node``,
hands tangents to forward mode, and in reverse mode orders the nodes (iteratively,
so a chain of any length works), calls each ``op.vjp``, sums cotangents back to
their input's shape and dtype, accumulates, and releases what the graph saved.
"""
import numpy as np

from . import modes
from .errors import DTypeError, GraphError, ShapeError, SingularMatrixError

# Set by tensor.py once the class exists (tensor.py imports this module).
Tensor = None

_NO_PARAMS = {}


class Node:
    """What an op output remembers for backward: the op, its inputs, the arrays it saw.

    ``saved`` holds the input arrays as they were at forward time (Tensor data is
    read-only, so they cannot change under the graph) and ``out`` the output array.
    A node never references its output Tensor, so graphs hold no reference cycles.
    """

    __slots__ = ("op", "inputs", "saved", "out", "params")

    def __init__(self, op, inputs, saved, out, params):
        self.op = op
        self.inputs = inputs
        self.saved = saved
        self.out = out
        self.params = params

    def release(self):
        self.inputs = self.saved = self.out = None

    @property
    def released(self):
        return self.inputs is None


def as_constant(value, opname):
    """A non-Tensor operand as numpy sees it: Python floats stay weak scalars, the rest float arrays."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is bool:
        return float(value)
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        dtype_kind = value.dtype.kind
        if dtype_kind == "f":
            if value.dtype == np.float32 or value.dtype == np.float64:
                return value
            return value.astype(np.float64)
        if dtype_kind in "iub":
            return value.astype(np.float64)
        if dtype_kind == "c":
            raise DTypeError(f"{opname}: complex input (dtype {value.dtype}) is not supported")
        raise DTypeError(f"{opname}: cannot use an array of dtype {value.dtype} as an operand")
    if isinstance(value, (list, tuple)):
        return as_constant(np.asarray(value), opname)
    if isinstance(value, complex):
        raise DTypeError(f"{opname}: complex input ({value!r}) is not supported")
    raise DTypeError(f"{opname}: cannot use {kind.__name__} as an operand")


def apply(op, args, params=_NO_PARAMS):
    """Run ``op`` on ``args`` (Tensors or constants) and return the output Tensor.

    Records a node when grad mode is on and an input requires grad; propagates
    forward-mode tangents when an input carries any.
    """
    arrays = []
    record = False
    has_tangents = False
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a._data)
            if a.requires_grad:
                record = True
            if a._tangents is not None:
                has_tangents = True
        else:
            arrays.append(as_constant(a, op.name))
    try:
        out = op.forward(*arrays, **params)
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as error:
        raise op.explain(error, arrays, params) from error
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    out.setflags(write=False)
    result = Tensor._wrap(out)
    if record and modes.is_grad_enabled():
        result.requires_grad = True
        result._node = Node(op, args, arrays, out, params)
    if has_tangents:
        from .forward import propagate

        propagate(op, args, result, params)
    return result


# ---------------------------------------------------------------- reverse mode


def _topological_order(root):
    """Tensors with a node reachable from ``root``, parents before children.

    Iterative depth-first search (no recursion limit). A tensor is marked when it
    is expanded, not when it is pushed, which is what makes the order topological.
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        tensor, finished = stack.pop()
        if finished:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        node = tensor._node
        if node.released:
            raise GraphError(
                f"backward: the graph through {node.op.name} was already released by an earlier "
                "backward(); pass retain_graph=True to the first backward() to run it twice"
            )
        stack.append((tensor, True))
        for parent in node.inputs:
            if isinstance(parent, Tensor) and parent._node is not None and id(parent) not in visited:
                stack.append((parent, False))
    return order


def _fit(xp, cotangent, like, opname):
    """Sum a cotangent back to the shape of the input it belongs to, in its dtype."""
    if cotangent.shape != like.shape:
        try:
            cotangent = xp.sum_to(cotangent, like.shape)
        except ValueError as error:
            raise GraphError(
                f"{opname} (backward): cotangent of shape {cotangent.shape} does not fit "
                f"input of shape {like.shape}"
            ) from error
    if cotangent.dtype != like.dtype:
        cotangent = xp.astype(cotangent, like.dtype)
    return cotangent


def _check_not_rebound(tensor, node):
    """create_graph uses the input Tensors themselves: their data must still be what was saved."""
    for parent, saved in zip(node.inputs, node.saved):
        if isinstance(parent, Tensor) and parent._data is not saved:
            raise GraphError(
                f"{node.op.name} (backward): an input's data was replaced (t.data = ...) after the "
                "graph saved it; the gradient would use the new values"
            )
    if tensor._data is not node.out:
        raise GraphError(f"{node.op.name} (backward): its output's data was replaced after the forward pass")


def _propagate(root, seed, targets, retain_graph, create_graph):
    """Push ``seed`` from ``root`` to the leaves (or to ``targets``).

    Returns {id: [tensor, cotangent]} for every leaf requiring grad that was reached
    (``targets`` None), or for every target that was reached.
    """
    from .xp import NumpyNS, TensorNS

    xp = TensorNS if create_graph else NumpyNS
    order = _topological_order(root)
    relevant = None
    target_ids = ()
    if targets is not None:
        target_ids = {id(t) for t in targets}
        relevant = set(target_ids)
        for tensor in order:
            if any(isinstance(p, Tensor) and id(p) in relevant for p in tensor._node.inputs):
                relevant.add(id(tensor))

    pending = {id(root): seed}
    reached = {}
    with modes.set_grad_enabled(create_graph):
        for tensor in reversed(order):
            node = tensor._node
            g = pending.pop(id(tensor), None)
            if g is not None and id(tensor) in target_ids:
                reached[id(tensor)] = [tensor, g]
            if g is not None:
                needs = tuple(
                    isinstance(p, Tensor) and p.requires_grad and (relevant is None or id(p) in relevant)
                    for p in node.inputs
                )
                if True in needs:
                    if create_graph:
                        _check_not_rebound(tensor, node)
                        inputs, out = node.inputs, tensor
                    else:
                        inputs, out = node.saved, node.out
                    try:
                        cotangents = node.op.vjp(xp, g, inputs, out, needs, **node.params)
                    except np.linalg.LinAlgError as error:
                        raise SingularMatrixError(f"{node.op.name} (backward): {error}") from error
                    for parent, cotangent, need in zip(node.inputs, cotangents, needs):
                        if not need or cotangent is None:
                            continue
                        cotangent = _fit(xp, cotangent, parent, node.op.name)
                        key = id(parent)
                        if parent._node is not None:
                            previous = pending.get(key)
                            pending[key] = cotangent if previous is None else previous + cotangent
                        elif key in reached:
                            reached[key][1] = reached[key][1] + cotangent
                        else:
                            reached[key] = [parent, cotangent]
            if not retain_graph:
                node.release()
    return reached


def _seed(root, cotangent, create_graph, opname):
    """The cotangent of ``root``: ones for a size-1 output, else the given one, checked."""
    if cotangent is None:
        if root._data.size != 1:
            raise GraphError(
                f"{opname}: the output has shape {root.shape}; without a cotangent only a scalar "
                f"(size-1) output can be differentiated; pass a cotangent of shape {root.shape}"
            )
        seed = np.ones(root.shape, dtype=root.dtype)
    else:
        if isinstance(cotangent, Tensor):
            seed = cotangent if create_graph else cotangent._data
        else:
            seed = np.array(cotangent, dtype=root.dtype)
            if seed.dtype.kind != "f":
                raise DTypeError(f"{opname}: cotangent of dtype {seed.dtype} is not a float array")
        if seed.shape != root.shape:
            raise ShapeError(
                f"{opname}: cotangent has shape {tuple(seed.shape)}, but the output has shape {root.shape}"
            )
    if create_graph and not isinstance(seed, Tensor):
        seed = Tensor._wrap(seed)
    return seed


def backward(root, cotangent=None, retain_graph=False, create_graph=False):
    """Reverse mode from ``root``: add the gradient into ``.grad`` of every leaf requiring grad."""
    if not root.requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad (no input of the computation that made it "
            "has requires_grad=True, or it was computed under no_grad())"
        )
    seed = _seed(root, cotangent, create_graph, "backward")
    if root._node is None:
        reached = {id(root): [root, seed]}
    else:
        reached = _propagate(root, seed, None, retain_graph, create_graph)
    for leaf, g in reached.values():
        if create_graph:
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        else:
            if not isinstance(g, np.ndarray) or g.flags.writeable:
                g = np.array(g)  # own the array: it may be the caller's or shared between leaves
            if leaf.grad is not None:
                g = leaf.grad._data + g
            g.setflags(write=False)
            leaf.grad = Tensor._wrap(g)


def grad(output, inputs, cotangent=None, retain_graph=False, create_graph=False):
    """Cotangents of ``inputs`` (a list of Tensors) for ``output``; no ``.grad`` is touched.

    Returns a list with one entry per input: an array (or a Tensor when
    ``create_graph``), or None where the input does not influence the output.
    """
    seed = _seed(output, cotangent, create_graph, "grad")
    if not output.requires_grad:
        return [None] * len(inputs)
    if output._node is None:
        reached = {id(output): [output, seed]}
    else:
        reached = _propagate(output, seed, inputs, retain_graph, create_graph)
    return [reached[id(t)][1] if id(t) in reached else None for t in inputs]
