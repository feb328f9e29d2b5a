"""The benchmark suites. Each module has NAME, BASELINE (the implementation ratios are taken against),
SIZE (what the size axis counts), ``sizes(profile)`` for profile in {"test", "quick", "full"},
``variant(size)`` (one table and plot per variant), ``x(size)`` (the number on the size axis), an
optional ``label(size)`` (the table's row label; default ``x``), and ``build(size)`` returning
({implementation name: zero-argument callable}, the reference result). A missing peer is simply not
in the dictionary: a missing column, not a failure."""
from . import chain, dot, jacobians, lstsq, optimizers, training

SUITES = [dot, lstsq, training, chain, jacobians, optimizers]
