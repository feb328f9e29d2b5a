"""The engine: records a node per op as it runs, and walks the nodes backwards.

It knows no op. It converts constants, calls ``op.forward``, records a ``Node``,
hands tangents to forward mode, and in reverse mode visits the nodes in reverse
creation order (a heap, no recursion, so a chain of any length works), calls each
``op.vjp``, sums cotangents back to their input's shape and dtype, accumulates,
and releases what the graph saved.
"""
import heapq
import itertools

import numpy as np

from . import modes
from .errors import DTypeError, GraphError, ShapeError, SingularMatrixError

# Set by tensor.py once the class exists (tensor.py imports this module).
Tensor = None

_NO_PARAMS = {}
_state = modes.state
_new_tensor = object.__new__
# Every node gets the next number: a node depends only on nodes made before it, so
# descending numbers are a topological order of any graph.
_sequence = itertools.count()


def next_sequence_number():
    """The number the next node will get; nodes made later compare greater."""
    return next(_sequence)


class Node:
    """What an op output remembers for backward: the op, its inputs, the arrays it saw.

    ``saved`` holds the input arrays as they were at forward time (Tensor data is
    read-only, so they cannot change under the graph) and ``out`` the output array;
    ``needs`` says which inputs required grad then. A node never references its
    output Tensor, so graphs hold no reference cycles.
    """

    __slots__ = ("op", "inputs", "saved", "out", "params", "needs", "seq", "pending")

    def __init__(self, op, inputs, saved, out, params, needs):
        self.seq = next(_sequence)
        self.op = op
        self.inputs = inputs
        self.saved = saved
        self.out = out
        self.params = params
        self.needs = needs
        self.pending = None  # the cotangent summed so far, during one backward pass


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
    needs = []
    has_tangents = False
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a._data)
            needs.append(a.requires_grad)
            if a._tangents is not None:
                has_tangents = True
        else:
            arrays.append(as_constant(a, op.name))
            needs.append(False)
    try:
        out = op.forward(*arrays, **params) if params else op.forward(*arrays)
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as error:
        raise op.explain(error, arrays, params) from error
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    out.setflags(write=False)
    result = _new_tensor(Tensor)
    result._data = out
    result.requires_grad = False
    result.grad = result._node = result._tangents = None
    if True in needs and _state.grad:
        result.requires_grad = True
        result._node = Node(op, args, arrays, out, params, needs)
    if has_tangents:
        from .forward import propagate

        propagate(op, args, result, params)
    return result


# ---------------------------------------------------------------- reverse mode


def _fit(xp, cotangent, like, opname):
    """Sum a cotangent back to the shape of the input ``like`` (an array or Tensor), in its dtype."""
    shape = like.shape
    if cotangent.shape != shape:
        try:
            cotangent = xp.sum_to(cotangent, shape)
        except ValueError as error:
            raise GraphError(
                f"{opname} (backward): cotangent of shape {cotangent.shape} does not fit "
                f"input of shape {shape}"
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


_namespaces = None  # (NumpyNS, TensorNS), imported on first use: xp imports this module's users


def _released_error(node):
    return GraphError(
        f"backward: the graph through {node.op.name} was already released by an earlier "
        "backward(); pass retain_graph=True to the first backward() to run it twice"
    )


def _propagate(root, seed, targets, retain_graph, create_graph, created_after):
    """Push ``seed`` from ``root`` back through the graph.

    Returns {id: [tensor, cotangent]} for every leaf requiring grad that was reached
    (``targets`` None), or for every target reached. With ``targets``, nodes made
    before ``created_after`` are not entered: they cannot lead to the targets.
    """
    global _namespaces
    if _namespaces is None:
        from .xp import NumpyNS, TensorNS

        _namespaces = (NumpyNS, TensorNS)
    xp = _namespaces[1] if create_graph else _namespaces[0]
    target_ids = () if targets is None else {id(t) for t in targets}
    floor = -1 if targets is None else created_after
    if root._node.inputs is None:
        raise _released_error(root._node)
    root._node.pending = seed
    heap = [(-root._node.seq, root)]
    reached = {}
    grad_mode = _state.grad
    _state.grad = create_graph  # a recorded backward records; a plain one must not
    try:
        while heap:
            tensor = heapq.heappop(heap)[1]
            node = tensor._node
            g = node.pending
            node.pending = None
            if id(tensor) in target_ids:
                reached[id(tensor)] = [tensor, g]
            parents = node.inputs
            if targets is None:
                needs = node.needs
            else:
                needs = tuple([
                    isinstance(p, Tensor) and p.requires_grad
                    and (id(p) in target_ids or (p._node is not None and p._node.seq > floor))
                    for p in parents
                ])
            if True in needs:  # a list (recorded at forward time) or a tuple
                if create_graph:
                    _check_not_rebound(tensor, node)
                    inputs, out = parents, tensor
                else:
                    inputs, out = node.saved, node.out
                try:
                    params = node.params
                    if params:
                        cotangents = node.op.vjp(xp, g, inputs, out, needs, **params)
                    else:
                        cotangents = node.op.vjp(xp, g, inputs, out, needs)
                except np.linalg.LinAlgError as error:
                    raise SingularMatrixError(f"{node.op.name} (backward): {error}") from error
                for parent, like, cotangent, need in zip(parents, inputs, cotangents, needs):
                    if not need or cotangent is None:
                        continue
                    # Builtin dtypes are singletons, so `is not` is a cheap first test; _fit checks exactly.
                    if cotangent.shape != like.shape or cotangent.dtype is not like.dtype:
                        cotangent = _fit(xp, cotangent, like, node.op.name)
                    parent_node = parent._node
                    if parent_node is not None:
                        if parent_node.pending is None:
                            if parent_node.inputs is None:
                                raise _released_error(parent_node)
                            parent_node.pending = cotangent
                            heapq.heappush(heap, (-parent_node.seq, parent))
                        else:
                            parent_node.pending = parent_node.pending + cotangent
                        continue
                    key = id(parent)
                    if key in reached:
                        reached[key][1] = reached[key][1] + cotangent
                    else:
                        reached[key] = [parent, cotangent]
            if not retain_graph:
                node.inputs = node.saved = node.out = None  # release (inline: this loop is hot)
    finally:
        _state.grad = grad_mode
        for _, tensor in heap:  # left over only when a rule raised
            tensor._node.pending = None
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


def backward(root, cotangent=None, retain_graph=None, create_graph=False):
    """Reverse mode from ``root``: add the gradient into ``.grad`` of every leaf requiring grad.

    ``retain_graph`` defaults to ``create_graph``: a recorded backward pass refers to
    the forward graph, which must outlive it.
    """
    if retain_graph is None:
        retain_graph = create_graph
    if not root.requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad (no input of the computation that made it "
            "has requires_grad=True, or it was computed under no_grad())"
        )
    seed = _seed(root, cotangent, create_graph, "backward")
    if root._node is None:
        reached = {id(root): [root, seed]}
    else:
        reached = _propagate(root, seed, None, retain_graph, create_graph, -1)
    for leaf, g in reached.values():
        if create_graph:
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        else:
            # Sharing one array between two leaves' .grad is safe: it is read-only, and the
            # seed was copied from the caller's cotangent, so no caller holds a writeable alias.
            g = np.asarray(g) if leaf.grad is None else leaf.grad._data + g
            g.setflags(write=False)
            wrapped = _new_tensor(Tensor)
            wrapped._data = g
            wrapped.requires_grad = False
            wrapped.grad = wrapped._node = wrapped._tangents = None
            leaf.grad = wrapped


def grad(output, inputs, cotangent=None, retain_graph=None, create_graph=False, created_after=-1):
    """Cotangents of ``inputs`` (a list of Tensors) for ``output``; no ``.grad`` is touched.

    Returns a list with one entry per input: an array (or a Tensor when
    ``create_graph``), or None where the input does not influence the output.
    ``created_after``: a sequence number taken before the inputs were made; the
    walk skips older nodes (a transform's function may use an outer graph).
    """
    if retain_graph is None:
        retain_graph = create_graph
    seed = _seed(output, cotangent, create_graph, "grad")
    if not output.requires_grad:
        return [None] * len(inputs)
    if output._node is None:
        reached = {id(output): [output, seed]}
    else:
        reached = _propagate(output, seed, inputs, retain_graph, create_graph, created_after)
    return [reached[id(t)][1] if id(t) in reached else None for t in inputs]
