"""Protecting the numpy arrays a live graph uses as constants.

``X @ w`` needs ``X`` again in the backward pass. So that an edit of ``X`` before ``backward()``
cannot silently change ``w``'s gradient, a recorded op either copies ``X`` (small arrays) or keeps
``X`` itself and makes it read-only, with the arrays it is a view of (MyGrad's approach), until the
last graph that saved it is released or dropped; then the flags are put back.

Measured on this project's machine (bench/bench_constants.py and the note of the issue): locking
costs about 2.5 µs per array whatever its size, a copy grows with the size and costs less below
about a thousand elements; a copy of a 100,000 x 100 X made the whole least-squares step 1.6x slower,
a lock 0.99x.
"""
import threading

import numpy as np

COPY_AT_MOST = 1024  # elements: a constant this small is copied, a larger one locked
_guard = threading.Lock()
_locked = {}  # id(array) -> [array, count]: arrays this module made read-only


def lock(array):
    """Make ``array`` and the arrays it is a view of read-only until as many ``unlock`` calls.

    Returns the list of arrays this call locked (to pass to ``unlock``), or None if nothing was
    writeable.
    """
    taken = None
    with _guard:
        a = array
        while isinstance(a, np.ndarray):  # the array, then its base (a view's memory owner)
            entry = _locked.get(id(a))
            if entry is not None and entry[0] is a:
                entry[1] += 1
            elif a.flags.writeable:
                a.setflags(False)  # write=False (positional: faster)
                _locked[id(a)] = [a, 1]
            else:
                a = a.base
                continue
            if taken is None:
                taken = [a]
            else:
                taken.append(a)
            a = a.base
    return taken


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
                    a.setflags(True)  # write=True (positional: numpy parses the keyword slowly)
                except ValueError:  # the owner made its base read-only meanwhile: leave it so
                    pass


def is_locked(array):
    """True while a live graph holds ``array`` as a constant (so it is read-only)."""
    with _guard:
        entry = _locked.get(id(array))
        return entry is not None and entry[0] is array
