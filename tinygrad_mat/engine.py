"""The engine: the recorded node of an op, and the reverse walk over nodes.

It knows no op and no Tensor class. The tensor layer runs an op and records a ``Node``; reverse mode
visits the nodes in reverse creation order (a heap, no recursion, so a chain of any length works),
calls each op's ``vjp`` in the namespace it is given, checks what the rule returned, sums cotangents
back to their input's shape and dtype, and releases what the graph saved. A batched pass pushes many
cotangents at once along a leading axis (jacrev: every row of the Jacobian in one pass).

A "tensor" here is anything with ``_node``, ``_data`` and ``requires_grad``.
"""
import heapq
import itertools
import math
import time

import numpy as np

from . import arraylock, modes, observe
from .errors import GraphError, RuleError, in_rule

_state = modes.state
# Every node gets the next number: a node depends only on nodes made before it, so descending
# numbers are a topological order of any graph.
_sequence = itertools.count()
# Takes a number (a C call, no Python frame): every node made after it compares greater.
next_sequence_number = _sequence.__next__


class Node:
    """What an op output remembers for backward: the op, its inputs, the arrays it saw.

    ``inputs`` are the op's operands after conversion (Tensors, or constant arrays and floats);
    ``saved`` holds the input arrays as they were at forward time (Tensor data is read-only, so they
    cannot change under the graph) and ``out`` the output array; ``needs`` says which inputs required
    grad then. A node never references its output Tensor, so graphs hold no reference cycles.
    """

    __slots__ = ("op", "inputs", "saved", "out", "params", "needs", "seq", "pending", "site")
    # ``site`` is set only under tm.track_sites() / tm.detect_anomaly(): an unset slot costs nothing.
    locks = None

    def __init__(self, op, inputs, saved, out, params, needs):
        self.seq = next(_sequence)
        self.op = op
        self.inputs = inputs
        self.saved = saved
        self.out = out
        self.params = params
        self.needs = needs
        self.pending = None  # the cotangent summed so far, during one backward pass

class LockingNode(Node):
    """A node that saved numpy arrays the user passed in as constants: they stay read-only
    (``arraylock``) until the node is released or garbage collected."""

    __slots__ = ("locks",)

    def __init__(self, op, inputs, saved, out, params, needs, constants):
        Node.__init__(self, op, inputs, saved, out, params, needs)
        locks = None
        for array in constants:
            taken = arraylock.lock(array)
            if taken is not None:
                locks = [taken] if locks is None else locks + [taken]
        self.locks = locks

    def unlock(self):
        locks, self.locks = self.locks, None
        for taken in locks or ():
            arraylock.unlock(taken)

    def __del__(self):
        for taken in self.locks or ():
            arraylock.unlock(taken)


# ---------------------------------------------------------------- reverse mode


def _fit(xp, cotangent, like, opname, cotangents):
    """A cotangent checked and summed back to the shape of the input ``like``, in its dtype."""
    position = next(i for i, c in enumerate(cotangents) if c is cotangent)  # for the messages only
    shape = getattr(cotangent, "shape", None)
    if shape is None:
        raise RuleError(
            f"{opname} (backward): the rule returned {type(cotangent).__name__} for input {position}, "
            "not an array"
        )
    if cotangent.dtype.kind != "f":
        raise RuleError(
            f"{opname} (backward): the rule returned a cotangent of dtype {cotangent.dtype} for input "
            f"{position}; cotangents are float arrays"
        )
    if shape != like.shape:
        try:
            cotangent = xp.sum_to(cotangent, like.shape)
        except ValueError as error:
            raise RuleError(
                f"{opname} (backward): cotangent of shape {shape} does not fit input {position} "
                f"of shape {like.shape}"
            ) from error
    if cotangent.dtype != like.dtype:
        cotangent = xp.astype(cotangent, like.dtype)
    return cotangent


def _fit_batched(xp, cotangent, like, opname, cotangents, batch):
    """A cotangent of a batched pass checked and summed back to (batch, *shape of ``like``), in its
    dtype: summed over the axes broadcasting added or stretched after the batch axis, never over it."""
    position = next(i for i, c in enumerate(cotangents) if c is cotangent)  # for the messages only
    shape = getattr(cotangent, "shape", None)
    if shape is None or cotangent.dtype.kind != "f":
        return _fit(xp, cotangent, like, opname, cotangents)  # not a float array: _fit says so
    target = (batch,) + tuple(like.shape)
    if shape != target:
        lead = len(shape) - len(target)  # axes broadcasting added, just after the batch axis
        if not shape or shape[0] != batch:
            raise RuleError(
                f"{opname} (backward, a batch of {batch} cotangents): the rule returned a cotangent of shape "
                f"{shape} for input {position} of shape {like.shape}, without the leading batch axis; the "
                "op's vjp_batching declaration does not fit its rule"
            )
        rest = shape[1 + lead:]
        if lead < 0 or any(n != 1 and m != n for n, m in zip(like.shape, rest)):
            raise RuleError(
                f"{opname} (backward, a batch of {batch} cotangents): cotangent of shape {shape} does not "
                f"fit input {position} of shape {like.shape}"
            )
        axes = tuple(range(1, 1 + lead)) + tuple(
            1 + lead + i for i, (n, m) in enumerate(zip(like.shape, rest)) if n == 1 and m != 1
        )
        if axes:
            cotangent = xp.sum(cotangent, axes, True)
        cotangent = xp.reshape(cotangent, target)
    if cotangent.dtype != like.dtype:
        cotangent = xp.astype(cotangent, like.dtype)
    return cotangent


def _check_not_rebound(tensor, node):
    """create_graph uses the input Tensors themselves: their data must still be what was saved."""
    for parent, saved in zip(node.inputs, node.saved):
        if getattr(parent, "_data", saved) is not saved:
            raise GraphError(
                f"{node.op.name} (backward): an input's data was replaced (t.data = ...) after the "
                "graph saved it; the gradient would use the new values"
            )
    if tensor._data is not node.out:
        raise GraphError(f"{node.op.name} (backward): its output's data was replaced after the forward pass")


def released_error(node):
    return GraphError(
        f"backward: the graph through {node.op.name} was already released by an earlier "
        "backward(); pass retain_graph=True to the first backward() to run it twice"
    )


def _watched_rule(observers, node, tensor, xp, g, inputs, out, needs):
    """A rule run with observers watching: timed, and shown to each."""
    op, params = node.op, node.params or {}
    started = time.perf_counter()
    try:
        cotangents = op.vjp(xp, g, inputs, out, needs, **params)
    except Exception as error:
        raise in_rule(op.name, "backward", error) from error
    seconds = time.perf_counter() - started
    for observer in observers:
        observer.backward(node, tensor, g, cotangents, seconds)
    return cotangents


def _batched_rule(observers, node, tensor, xp, g, inputs, out, needs, batch):
    """The op's reverse rule for a batch of cotangents g (batch, *shape of the output), in the way the
    op declares it handles one (``Op.vjp_batching``); timed and shown to observers, if any."""
    op, params = node.op, node.params or {}
    started = time.perf_counter() if observers else 0.0
    try:
        mode = op.vjp_batch_mode(node.saved, params)
        if mode == "leading":
            cotangents = op.vjp(xp, g, inputs, out, needs, **params)
        elif mode == "params":
            cotangents = _lifted_rule(op, xp, g, inputs, out, needs, params, node.saved, batch)
        elif mode == "rule":
            cotangents = op.batched_vjp(xp, g, inputs, out, needs, **params)
        else:
            cotangents = _rule_per_direction(op, xp, g, inputs, out, needs, params, node.saved, batch)
    except Exception as error:
        raise in_rule(op.name, "backward", error) from error
    if observers:
        seconds = time.perf_counter() - started
        for observer in observers:
            observer.backward(node, tensor, g, cotangents, seconds)
    return cotangents


class _Shaped:
    """Stands for an operand of an op whose rules read only its operands' shapes and dtypes (a linear
    op's), lifted behind a batch axis: no array is made for it, recorded or not."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)


class _Shapes:
    """What ``batch_params`` may call on ``_Shaped`` operands."""

    @staticmethod
    def reshape(x, shape):
        shape = tuple(shape)
        if -1 in shape:
            known = math.prod(n for n in shape if n != -1)
            shape = tuple(x.size // known if n == -1 else n for n in shape)
        return _Shaped(shape, x.dtype)


def _lifted_rule(op, xp, g, inputs, out, needs, params, saved, batch):
    """``vjp_batching = "params"``: the rule of the op applied to a stack of ``batch`` copies of its
    operands with the params ``batch_params`` gives for the stack. An op whose rules read values gets
    broadcast views (recorded: broadcast_to nodes, so that derivatives flow); one whose rules read only
    shapes gets shapes."""
    shapes = [np.shape(x) for x in saved]
    out_shape = (batch,) + np.shape(getattr(out, "_data", out))
    if op.reads_inputs:
        lifted = [xp.broadcast_to(x, (batch,) + shape) for x, shape in zip(inputs, shapes)]
        lifted_out = xp.broadcast_to(out, out_shape)
        lifted, batched_params = op.batch_params(xp, lifted, params, shapes, batch)
    else:
        lifted = [_Shaped((batch,) + shape, np.result_type(x)) for x, shape in zip(saved, shapes)]
        lifted_out = _Shaped(out_shape, np.result_type(getattr(out, "_data", out)))
        lifted, batched_params = op.batch_params(_Shapes, lifted, params, shapes, batch)
    return op.vjp(xp, g, tuple(lifted), lifted_out, needs, **batched_params)


def _rule_per_direction(op, xp, g, inputs, out, needs, params, saved, batch):
    """No batched form: the rule once per direction, each input's cotangents fitted and stacked."""
    columns = [[] if need else None for need in needs]
    for b in range(batch):
        cotangents = op.vjp(xp, g[b], inputs, out, needs, **params)
        if len(cotangents) != len(needs):
            return cotangents  # the engine names the mismatch
        for column, like, cotangent in zip(columns, saved, cotangents):
            if column is None:
                continue
            if cotangent is None:
                cotangent = xp.constant(np.zeros(like.shape, dtype=like.dtype))
            try:
                fits = cotangent.shape == like.shape and cotangent.dtype == like.dtype
            except AttributeError:  # not an array at all: _fit says so
                fits = False
            if not fits:
                cotangent = _fit(xp, cotangent, like, op.name, cotangents)
            column.append(cotangent)
    return tuple(None if column is None else xp.stack(column) for column in columns)


def _hooks_per_direction(tensor, g, xp, batch):
    """A batched cotangent shown to ``tensor``'s hooks one direction at a time (a hook is written for
    one gradient of the tensor's shape); restacked only where a hook replaced one."""
    pieces = [g[b] for b in range(batch)]
    hooked = [observe.run_hooks(tensor, piece) for piece in pieces]
    if all(h is p for h, p in zip(hooked, pieces)):
        return g
    return xp.stack(hooked)


def propagate(root, seed, xp, targets=None, retain_graph=False, create_graph=False, created_after=-1,
              batch=None, traced=False):
    """Push ``seed`` from ``root`` back through the graph, running rules in namespace ``xp``.

    ``traced``: the rules get the input Tensors and run in the Tensor namespace ``xp`` without
    recording a graph, so that every step of the pass is an op a watching tracer sees (tm.compile).

    Returns {id: [tensor, cotangent, the array it saw at forward time]} for every leaf requiring grad
    that was reached (``targets`` None), or for every target reached. With ``targets``, nodes made
    before ``created_after`` are not entered: they cannot lead to the targets.

    With ``batch``, ``seed`` holds that many cotangents along a leading axis, (batch, *root's shape),
    and every cotangent of the pass has the leading axis: one rule call serves all the directions
    where the op declares how (``Op.vjp_batching``), else the rule runs once per direction.

    The next node is always the pending one made last (a heap on creation numbers); when only one
    node is pending (a chain), it is taken directly, without the heap.
    """
    target_ids = () if targets is None else {id(t) for t in targets}
    floor = created_after
    if root._node.inputs is None:
        raise released_error(root._node)
    root._node.pending = seed
    heap = []
    tensor = root
    following = None
    reached = {}
    observers = _state.observers  # tools watching (explain, anomaly): empty, nothing more is done
    hooks = observe.hooked()
    grad_mode = _state.grad
    _state.grad = create_graph  # a recorded backward records; a plain one must not
    try:
        while tensor is not None:
            node = tensor._node
            g = node.pending
            node.pending = None
            if hooks:  # the gradient of an intermediate: its hooks may replace it, retain_grad keeps it
                g = observe.run_hooks(tensor, g) if batch is None else _hooks_per_direction(tensor, g, xp, batch)
            parents = node.inputs
            if targets is None:
                needs = node.needs
            else:
                if id(tensor) in target_ids:
                    reached[id(tensor)] = [tensor, g, node.out]
                needs = tuple([
                    need and (id(p) in target_ids or (p._node is not None and p._node.seq > floor))
                    for p, need in zip(parents, node.needs)
                ])
            if True in needs:  # a list (recorded at forward time) or a tuple
                if create_graph or traced:
                    _check_not_rebound(tensor, node)
                    inputs, out = parents, tensor
                    if traced:  # a float constant as a Tensor: what the rule computes from it (Xᵀ) is an op too
                        inputs = tuple(xp.constant(p) if type(p) is np.ndarray and p.dtype.kind == "f" else p
                                       for p in parents)
                else:
                    inputs, out = node.saved, node.out
                op = node.op
                if batch is not None:
                    cotangents = _batched_rule(observers, node, tensor, xp, g, inputs, out, needs, batch)
                elif observers:
                    cotangents = _watched_rule(observers, node, tensor, xp, g, inputs, out, needs)
                else:
                    try:
                        params = node.params
                        if params:
                            cotangents = op.vjp(xp, g, inputs, out, needs, **params)
                        else:
                            cotangents = op.vjp(xp, g, inputs, out, needs)
                    except Exception as error:
                        raise in_rule(op.name, "backward", error) from error
                if len(cotangents) != len(parents):
                    raise RuleError(
                        f"{op.name} (backward): the rule returned {len(cotangents)} cotangents for "
                        f"{len(parents)} inputs"
                    )
                for parent, like, cotangent, need in zip(parents, node.saved, cotangents, needs):
                    if not need:
                        continue
                    shape = like.shape if batch is None else (batch,) + like.shape
                    if cotangent is None:  # the rule's zero symbol: the input still gets its (zero) gradient
                        cotangent = xp.constant(np.zeros(shape, dtype=like.dtype))
                    # Builtin dtypes are singletons, so `is not` is a cheap first test; _fit checks exactly.
                    try:
                        fits = cotangent.shape == shape and cotangent.dtype is like.dtype
                    except AttributeError:  # not an array at all: _fit says so
                        fits = False
                    if not fits:
                        if batch is None:
                            cotangent = _fit(xp, cotangent, like, op.name, cotangents)
                        else:
                            cotangent = _fit_batched(xp, cotangent, like, op.name, cotangents, batch)
                    parent_node = parent._node
                    if parent_node is not None:
                        if parent_node.pending is None:
                            if parent_node.inputs is None:
                                raise released_error(parent_node)
                            parent_node.pending = cotangent
                            if following is None and not heap:
                                following = parent
                            else:
                                heapq.heappush(heap, (-parent_node.seq, parent))
                        else:
                            parent_node.pending = parent_node.pending + cotangent
                        continue
                    key = id(parent)
                    if key in reached:
                        reached[key][1] = reached[key][1] + cotangent
                    else:
                        reached[key] = [parent, cotangent, like]
            if not retain_graph:  # release, inline: this loop is hot
                node.inputs = node.saved = node.out = None
                if node.locks:
                    node.unlock()
            if following is not None:
                if heap:  # others became pending too: the one made last goes first
                    tensor = heapq.heappushpop(heap, (-following._node.seq, following))[1]
                else:
                    tensor = following
                following = None
            else:
                tensor = heapq.heappop(heap)[1] if heap else None
    finally:
        _state.grad = grad_mode
        for _, left in heap:  # left over only when a rule raised
            left._node.pending = None
        if following is not None:
            following._node.pending = None
    return reached


def reaches(tensor, target_ids, created_after):
    """True when ``tensor`` depends, through the recorded graph, on a tensor whose id is in
    ``target_ids``; nodes made before ``created_after`` are not entered. (No recursion.)"""
    stack, seen = [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in target_ids:
            return True
        node = t._node
        if node is None or node.seq < created_after or id(node) in seen or node.inputs is None:
            continue
        seen.add(id(node))
        stack.extend(p for p, need in zip(node.inputs, node.needs) if need)
    return False


def largest_array(tensor, created_after):
    """The most entries of any array in the graph of ``tensor`` (the outputs and saved operands of the
    nodes made after ``created_after``): a batched pass holds cotangents that many times the batch."""
    largest = tensor._data.size
    stack, seen = [tensor], set()
    while stack:
        node = stack.pop()._node
        if node is None or node.seq < created_after or id(node) in seen or node.inputs is None:
            continue
        seen.add(id(node))
        for array in (node.out, *node.saved):
            size = getattr(array, "size", 1)  # a saved Python number has none
            if size > largest:
                largest = size
        for parent, need in zip(node.inputs, node.needs):
            if need:
                stack.append(parent)
    return largest
