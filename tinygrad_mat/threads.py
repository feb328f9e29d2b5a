"""Process-wide resources, changed only when asked: thread counts for BLAS (numpy's matrix products)
and numba (tinygrad_mat's parallel kernels), and the allocator's policy.

tinygrad_mat changes no thread count by itself. BLAS uses what its library decides (OpenBLAS: one
thread per core, unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS was set before numpy was imported);
the optimizer and least-squares kernels run in parallel on numba's threads (one per core, unless
NUMBA_NUM_THREADS) for large operands, on the cores no other thread is running on
(``tinygrad_mat.dispatch.kernel_threads``). ``set_num_threads`` sets both at run time, BLAS through
threadpoolctl (``pip install threadpoolctl``). ``set_allocator_policy("keep")`` keeps freed memory in
the process (glibc only).
"""
import contextlib
import platform

from . import dispatch

_blas_limits = None  # threadpoolctl's limiter, kept so that the limit stays in force


def _threadpoolctl(opname):
    try:
        import threadpoolctl
    except ImportError as error:
        raise ImportError(
            f"{opname}: BLAS threads are set through threadpoolctl (pip install threadpoolctl); pass "
            "blas=False to set only tinygrad_mat's kernel threads"
        ) from error
    return threadpoolctl


def _check(n, opname):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{opname}: the number of threads must be an int ≥ 1, got {n!r}")


def _check_numba_has(n, opname):
    """Raise unless numba has ``n`` threads to give (read from its configuration: nothing is started)."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if n > available:
        raise ValueError(f"{opname}: numba was started with {available} threads (NUMBA_NUM_THREADS); "
                         f"{n} is more than it can use")


def set_num_threads(n, blas=True):
    """Run BLAS (with ``blas``) and tinygrad_mat's parallel kernels on ``n`` threads from now on.

    >>> import numba, tinygrad_mat as tm
    >>> tm.set_num_threads(1, blas=False); tm.get_num_threads()["kernels"]
    1
    >>> tm.set_num_threads(numba.config.NUMBA_NUM_THREADS, blas=False)   # numba's default again
    """
    global _blas_limits
    _check(n, "set_num_threads")
    _check_numba_has(n, "set_num_threads")
    threadpoolctl = _threadpoolctl("set_num_threads") if blas else None  # every check before any change
    if blas:
        _blas_limits = threadpoolctl.threadpool_limits(limits=n, user_api="blas")
    dispatch.start_kernel_threads().set_num_threads(n)


def get_num_threads():
    """{"blas": BLAS threads (None without threadpoolctl), "kernels": numba threads (None until numba
    is imported: tinygrad_mat imports it on the first kernel call)}.

    >>> import tinygrad_mat as tm
    >>> sorted(tm.get_num_threads())
    ['blas', 'kernels']
    """
    import sys

    blas = None
    try:
        import threadpoolctl

        counts = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
        blas = max(counts) if counts else None
    except ImportError:
        pass
    started = "numba" in sys.modules
    return {"blas": blas, "kernels": dispatch.start_kernel_threads().get_num_threads() if started else None}


@contextlib.contextmanager
def num_threads(n, blas=True):
    """``set_num_threads(n)`` for the duration of a ``with`` block; the previous counts come back after.

    >>> import tinygrad_mat as tm
    >>> with tm.num_threads(1, blas=False):
    ...     tm.get_num_threads()["kernels"]
    1
    """
    _check(n, "num_threads")
    _check_numba_has(n, "num_threads")
    threadpoolctl = _threadpoolctl("num_threads") if blas else None
    numba = dispatch.start_kernel_threads()
    previous_kernels = numba.get_num_threads()
    limiter = threadpoolctl.threadpool_limits(limits=n, user_api="blas") if blas else None
    try:
        numba.set_num_threads(n)
        yield
    finally:
        numba.set_num_threads(previous_kernels)
        if limiter is not None:
            limiter.restore_original_limits()


# glibc's mallopt parameters (malloc.h) and the values of "keep": blocks up to 256 MiB come from the heap
# and up to 512 MiB of free memory at its top stays there (as MALLOC_MMAP_THRESHOLD_=268435456
# MALLOC_TRIM_THRESHOLD_=536870912 in the environment of a new process; bench/run.py --malloc keep).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
ALLOCATOR_POLICIES = {"keep": ((_M_TRIM_THRESHOLD, 512 << 20), (_M_MMAP_THRESHOLD, 256 << 20))}


def _mallopt(opname):
    """glibc's mallopt through ctypes; a clear error where the C library is not glibc."""
    libc_name, _ = platform.libc_ver()
    if libc_name != "glibc":
        raise RuntimeError(
            f"{opname}: the allocator's policy is set through glibc's mallopt, and this Python runs on "
            f"{platform.system()} with {libc_name or 'another C library'}; use that allocator's own settings "
            "(they are read when the process starts)"
        )
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def set_allocator_policy(policy):
    """``"keep"``: from now on, memory that numpy frees stays in the process for the next array, for the
    rest of the process (glibc, i.e. Linux, only; nothing undoes it).

    glibc hands a freed block of more than 128 KiB back to the operating system and faults fresh pages
    in at the next allocation (microseconds per 4 KiB on a virtual machine): an eager step that keeps
    several large temporaries alive pays that on every call. "keep" sets glibc's M_MMAP_THRESHOLD to
    256 MiB and M_TRIM_THRESHOLD to 512 MiB (mallopt): the process's memory stays near its peak instead.
    tinygrad_mat never calls this itself.

    >>> import tinygrad_mat as tm
    >>> tm.set_allocator_policy("fast")
    Traceback (most recent call last):
    ...
    ValueError: set_allocator_policy: unknown policy 'fast'; the policies are: 'keep'
    """
    if policy not in ALLOCATOR_POLICIES:
        names = ", ".join(map(repr, ALLOCATOR_POLICIES))
        raise ValueError(f"set_allocator_policy: unknown policy {policy!r}; the policies are: {names}")
    mallopt = _mallopt("set_allocator_policy")
    for parameter, value in ALLOCATOR_POLICIES[policy]:
        if mallopt(parameter, value) != 1:
            raise RuntimeError(f"set_allocator_policy: glibc refused mallopt({parameter}, {value}) for {policy!r}")
