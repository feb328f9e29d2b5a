"""The op table: every primitive, its forward, VJP, JVP and rule text (``REGISTRY`` by name)."""
from . import elementwise, linalg, reduce, shape  # noqa: F401  (registering)
from .base import REGISTRY, Op

__all__ = ["REGISTRY", "Op"]
