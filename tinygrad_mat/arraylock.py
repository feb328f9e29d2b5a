"""Locking the numpy arrays a live graph uses as constants (MyGrad's approach).

``X @ w`` keeps ``X`` itself, without a copy, for the backward pass. So that an edit of ``X`` before
``backward()`` cannot silently change ``w``'s gradient, the graph makes ``X`` read-only (and the
arrays it is a view of) until the last graph that saved it is released or dropped; then the flags
are put back. Locking is O(1); a copy of a 100,000 x 100 X would cost more than the step itself.
"""
import threading

import numpy as np

_guard = threading.Lock()
_locked = {}  # id(array) -> [array, count]: arrays this module made read-only


def _chain(array):
    """The array and the arrays it is a view of, innermost first."""
    while isinstance(array, np.ndarray):
        yield array
        array = array.base


def lock(array):
    """Make ``array`` and its bases read-only until as many ``unlock`` calls as ``lock`` calls.

    Returns the list of arrays this call locked (to pass to ``unlock``), or None if nothing was
    writeable.
    """
    taken = []
    with _guard:
        for a in _chain(array):
            entry = _locked.get(id(a))
            if entry is not None and entry[0] is a:
                entry[1] += 1
                taken.append(a)
            elif a.flags.writeable:
                a.flags.writeable = False
                _locked[id(a)] = [a, 1]
                taken.append(a)
    return taken or None


def unlock(arrays):
    """Undo one ``lock``: the arrays whose count drops to zero become writeable again."""
    with _guard:
        # Bases first: a view can only be made writeable again while its base is.
        for a in reversed(arrays):
            entry = _locked.get(id(a))
            if entry is None or entry[0] is not a:
                continue
            entry[1] -= 1
            if entry[1] == 0:
                del _locked[id(a)]
                try:
                    a.flags.writeable = True
                except ValueError:  # the owner made its base read-only meanwhile: leave it so
                    pass


def is_locked(array):
    """True while a live graph holds ``array`` as a constant (so it is read-only)."""
    with _guard:
        entry = _locked.get(id(array))
        return entry is not None and entry[0] is array
