"""pytest-benchmark over the suites in bench/suites: every implementation side by side, after checking
that all compute the same numbers. ``BENCH_PROFILE`` (test, quick, full) picks the sizes; bench/run.py
sets it, the threads, and turns the JSON into bench/results/REPORT.md.

    BENCH_PROFILE=quick python -m pytest bench/bench_suites.py --benchmark-only --benchmark-json=out.json
"""
import os
import time

import numpy as np
import pytest

from suites import SUITES

PROFILE = os.environ.get("BENCH_PROFILE", "quick")
# A call slower than this is timed in a few plain rounds (no warm-up, one call a round): its own
# length swamps the noise, and pytest-benchmark's calibration would spend seconds on a Python loop.
SLOW_CALL = 0.05
SLOW_ROUNDS = {"test": 1, "quick": 3, "full": 5}
CASES = [(suite, size, name) for suite in SUITES for size in suite.sizes(PROFILE) for name in suite.IMPLEMENTATIONS]
_built = {}


def label(size):
    return " × ".join(str(s) for s in size) if isinstance(size, tuple) else str(size)


def _one_call(fn):
    """Seconds of one warm call (the first call may have compiled or loaded a kernel)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def built(suite, size):
    """The implementations of one case, each run once and checked against the reference, and the time
    a second call took: {name: (callable, seconds)}."""
    key = (suite.NAME, label(size))
    if key not in _built:
        impls, reference = suite.build(size)
        expected = np.asarray(reference, dtype=float)
        _built[key] = {}
        for name, fn in impls.items():
            got = np.array(fn(), dtype=float)  # a copy: a stateful step may hand out a view it later updates
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-6, atol=1e-8 * scale):
                raise AssertionError(f"{suite.NAME} {label(size)}: {name} computes other numbers than the reference")
            for _ in range(2):  # a compiled step traces on its first call and compiles on its first replay
                fn()
            _built[key][name] = (fn, _one_call(fn))
    return _built[key]


@pytest.mark.parametrize("suite, size, name", CASES, ids=[f"{s.NAME}-{label(z)}-{n}" for s, z, n in CASES])
def test_suite(benchmark, suite, size, name):
    impls = built(suite, size)
    if name not in impls:
        pytest.skip(f"{name} is not installed, or too slow at this size (a missing column)")
    benchmark.group = f"{suite.NAME} | {label(size)}"
    row = suite.label(size) if hasattr(suite, "label") else f"{suite.x(size):,}"
    benchmark.extra_info.update(suite=suite.NAME, size=label(size), x=suite.x(size), row=row, axis=suite.SIZE,
                                variant=suite.variant(size), implementation=name, baseline=suite.BASELINE)
    fn, one_call = impls[name]
    if one_call > SLOW_CALL:
        benchmark.pedantic(fn, rounds=SLOW_ROUNDS[PROFILE], iterations=1, warmup_rounds=0)
    else:
        benchmark(fn)
