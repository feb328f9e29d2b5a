"""Note 001: the dot product of two n-vectors, by a Python loop, sum of a generator, numpy, a numba
kernel, and tinygrad_mat (forward)."""
import numpy as np

NAME = "dot product"
SIZE = "n (vector length)"
BASELINE = "numpy"
IMPLEMENTATIONS = ["python loop", "sum of a generator", "numpy", "numba kernel", "tinygrad_mat"]


def sizes(profile):
    return {"test": [10], "quick": [10, 1_000, 100_000, 1_000_000], "full": [10, 100, 1_000, 10_000, 100_000, 1_000_000]}[profile]


_kernel = None


def numba_dot():
    global _kernel
    if _kernel is None:
        from numba import njit

        @njit(cache=True, fastmath=True)
        def dot(a, b):
            total = 0.0
            for i in range(a.shape[0]):
                total += a[i] * b[i]
            return total

        _kernel = dot
    return _kernel


def variant(n):
    return ""


def x(n):
    return n


def build(n):
    import tinygrad_mat as tm

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    al, bl = a.tolist(), b.tolist()
    kernel = numba_dot()
    kernel(a, b)  # compile outside the timing
    ta, tb = tm.tensor(a), tm.tensor(b)

    def python_loop():
        total = 0.0
        for i in range(len(al)):
            total += al[i] * bl[i]
        return total

    impls = {
        "python loop": python_loop,
        "sum of a generator": lambda: sum(x * y for x, y in zip(al, bl)),
        "numpy": lambda: np.dot(a, b),
        "numba kernel": lambda: kernel(a, b),
        "tinygrad_mat": lambda: (ta @ tb).item(),
    }
    return impls, float(np.dot(a, b))
