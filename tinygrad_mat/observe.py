"""The seam tools watch the engine through: observers and gradient hooks (bottom layer, no imports).

* Observers (``tm.explain``, ``tm.detect_anomaly``, a graph capturing cotangents) are objects in the
  thread-local tuple ``modes.state.observers``; the tensor layer and the engine call their
  ``forward(op, inputs, arrays, result, params)``, ``backward(node, g, cotangents, seconds)`` and
  ``tangent(op, tangent, level)`` methods only while the tuple is not empty. Empty, the seam costs one
  attribute check per op and one per backward pass.
* Hooks on Tensors (``t.register_hook``, ``t.retain_grad``) live here, keyed by the Tensor (weakly):
  functions of the gradient that may replace it. The engine asks ``hooked()`` once per pass.
"""
import itertools
import weakref

class IdentityWeakMap:
    """{object: value} by identity, dropping an entry when its object dies (Tensors compare
    elementwise with ==, so a WeakKeyDictionary cannot hold them)."""

    def __init__(self):
        self._items = {}

    def __setitem__(self, key, value):
        ident = id(key)
        self._items[ident] = (weakref.ref(key, lambda _, ident=ident: self._items.pop(ident, None)), value)

    def get(self, key, default=None):
        entry = self._items.get(id(key))
        return entry[1] if entry is not None and entry[0]() is key else default

    def setdefault(self, key, default):
        found = self.get(key, _MISSING)
        if found is _MISSING:
            self[key] = default
            return default
        return found

    def __contains__(self, key):
        return self.get(key, _MISSING) is not _MISSING

    def __delitem__(self, key):
        self._items.pop(id(key), None)

    def __getitem__(self, key):
        return self.get(key)

    def __bool__(self):
        return bool(self._items)


_MISSING = object()
_hooks = IdentityWeakMap()  # Tensor -> {handle id: function of the gradient}
_retained = IdentityWeakMap()  # Tensor -> function storing the final gradient


def site_of(node):
    """Where user code created ``node`` (recorded under tm.track_sites() or tm.detect_anomaly()), or None."""
    return getattr(node, "site", None)
_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` takes the hook away (as PyTorch's)."""

    def __init__(self, tensor, key):
        self._tensor, self._key = weakref.ref(tensor), key

    def remove(self):
        tensor = self._tensor()
        if tensor is not None and tensor in _hooks:
            _hooks[tensor].pop(self._key, None)
            if not _hooks[tensor]:
                del _hooks[tensor]


def add_hook(tensor, fn):
    key = next(_ids)
    _hooks.setdefault(tensor, {})[key] = fn
    return RemovableHandle(tensor, key)


def retain(tensor, store):
    _retained[tensor] = store


def hooked():
    """True when any Tensor has a hook or retains its gradient (the engine then looks per node)."""
    return bool(_hooks._items or _retained._items)  # the dicts themselves: no method calls


def run_hooks(tensor, g):
    """g after every hook of ``tensor`` in registration order (each may replace it); then the retained
    gradient is stored, after the hooks (as PyTorch does)."""
    for fn in list(_hooks.get(tensor, {}).values()):
        replaced = fn(g)
        if replaced is not None:
            g = replaced
    store = _retained.get(tensor)
    if store is not None:
        store(g)
    return g
