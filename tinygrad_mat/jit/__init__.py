"""``tm.compile``: a step traced into a tape of equations (``ir``, ``trace``) and replayed by a backend."""
from .step import Compiled, compile

__all__ = ["Compiled", "compile"]
