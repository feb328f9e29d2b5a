"""Where numpy is slow, a numba kernel: this module alone decides which runs.

Kernels are imported on first use (``import numba`` costs about 0.2 s) and run
only where they beat numpy in ``bench/bench_kernels.py`` on this project's
machine; elsewhere the numpy path, which gives the same values, runs.
"""
import os
import threading

import numpy as np

from .errors import DTypeError, ShapeError

# sigmoid: the one-pass kernel wins below ~1k elements (numpy makes five calls) and above
# ~16k (numpy makes five passes over memory); in between numpy's SIMD exp in cache wins.
SIGMOID_NUMPY_BAND = (1024, 16384)
# logsumexp over the last axis: the kernel wins for short rows (softmax regression: few
# classes); for long rows numpy's SIMD exp wins.
LOGSUMEXP_KERNEL_MAX_COLS = 64

_kernels = None


def kernels():
    """The ``tinygrad_mat.kernels`` package, imported on first call."""
    global _kernels
    if _kernels is None:
        from . import kernels as module

        _kernels = module
    return _kernels


def _numpy_sigmoid(x):
    # e = exp(-|x|) never overflows; 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0 keep full
    # relative precision in both tails (0.5(1 + tanh(x/2)) cancels for very negative x).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def sigmoid(x):
    """Logistic function, stable for any float input."""
    low, high = SIGMOID_NUMPY_BAND
    if not low < x.size < high and x.flags.c_contiguous:
        out = np.empty_like(x)
        kernels().sigmoid(x.reshape(-1), out.reshape(-1))
        return out
    return _numpy_sigmoid(x)


def erf(x):
    """The error function, elementwise (a numba kernel: numpy has none)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    kernels().erf(flat, out)
    return out.reshape(np.shape(x))


def _numpy_erf(x):
    import math

    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def _numpy_logsumexp(x, axis, keepdims):
    peak = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # an empty reduction gives -inf
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.sum(np.exp(x - peak), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):  # log 0 = -inf for a row of -inf or an empty row
        out = np.log(total) + peak
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out


def logsumexp(x, axis, keepdims):
    """log Σ exp(x) over ``axis`` (None or a tuple of axes), stable."""
    if (
        x.ndim >= 1
        and axis == (x.ndim - 1,)
        and 0 < x.shape[-1] <= LOGSUMEXP_KERNEL_MAX_COLS
        and x.flags.c_contiguous
    ):
        rows = x.reshape(-1, x.shape[-1])
        out = np.empty(rows.shape[0], dtype=x.dtype)
        kernels().logsumexp_rows(rows, out)
        return out.reshape(x.shape[:-1] + ((1,) if keepdims else ()))
    return _numpy_logsumexp(x, axis, keepdims)


def _is_basic(index):
    """True for an index of ints, slices, None and Ellipsis only (no entry is hit twice)."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if not (part is None or part is Ellipsis or isinstance(part, (slice, int, np.integer))):
            return False
        if isinstance(part, (bool, np.bool_)):
            return False
    return True


def scatter_add(values, index, shape):
    """zeros(shape) with ``values`` added at ``index``; repeated indices add up."""
    out = np.zeros(shape, dtype=values.dtype)
    # The row kernel beat np.add.at at every size measured (16 to 4096 rows).
    if _is_basic(index):
        out[index] = values
    elif (
        isinstance(index, np.ndarray)
        and index.ndim == 1
        and index.dtype.kind in "iu"
        and len(shape) == 2
        and values.shape == (index.shape[0], shape[1])
    ):
        rows = shape[0]
        if index.size and (index.min() < -rows or index.max() >= rows):
            bad = index[(index < -rows) | (index >= rows)][0]
            raise IndexError(f"scatter_add: index {bad} is out of bounds for axis 0 with size {rows}")
        kernels().scatter_add_rows(out, index.astype(np.int64, copy=False), np.ascontiguousarray(values))
    else:
        np.add.at(out, index, values)
    return out


# ---------------------------------------------------------------- parallel kernels: when, on how many threads
# numba's OpenMP threads spin for milliseconds after each parallel region and at its closing barrier: on
# a 2-core machine with other processes busy that made a parallel kernel 2–50× slower than the serial
# one (bench/threads_under_load.py), and a load check would count those spinning threads as load. So
# numba's threads start with OpenMP's passive wait policy (unless the user chose a policy), and a kernel
# runs in parallel only where waking a sleeping thread pays (the MIN_SIZE thresholds, measured with the
# passive policy) and only on cores that no other runnable thread needs at that moment (LOAD_CHECK): on
# a loaded machine the serial kernel runs. Load that comes during a call is shared out: the loop goes in
# chunks to whichever thread is free (numba's static split left the caller waiting for a preempted
# thread's half: 2.1× the serial time against 1.06× in chunks of 2¹⁴, Adam on 10⁶ entries with two
# other processes busy).
PARALLEL_CHUNK = 1 << 14
WAIT_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "KMP_LIBRARY")
LOAD_CHECK = True  # False: use numba's thread count whatever else runs (a machine known to be idle)

_numba = None
_start_lock = threading.Lock()


def start_kernel_threads():
    """numba, its threads started. On the first call, if nothing has started numba's threads yet and the
    user set none of ``WAIT_POLICY_VARIABLES``, OMP_WAIT_POLICY=passive is in the environment while they
    start (OpenMP reads it once, when it loads) and removed after: child processes and OpenMP runtimes
    loaded later see the user's environment unchanged.

    >>> numba = start_kernel_threads()
    >>> numba.threading_layer() in ("omp", "tbb", "workqueue")
    True
    """
    global _numba
    if _numba is None:
        with _start_lock:
            if _numba is None:
                import numba

                _launch_threads(numba, os.environ)
                _numba = numba
    return _numba


def _threads_started(numba):
    try:
        numba.threading_layer()  # raises until the layer is loaded
    except ValueError:
        return False
    return True


def _launch_threads(numba, environ):
    """Start numba's threading layer with the passive wait policy where that is ours to choose; return the
    policy set (None: the user's own, or a layer that was already running)."""
    if _threads_started(numba) or any(name in environ for name in WAIT_POLICY_VARIABLES):
        numba.get_num_threads()  # starts the layer if it is not running
        return None
    environ["OMP_WAIT_POLICY"] = "passive"
    try:
        numba.get_num_threads()
    finally:
        del environ["OMP_WAIT_POLICY"]
    return "passive"


def _other_runnable_threads():
    """Threads other than the caller that Linux counts as runnable now (the 4th field of /proc/loadavg,
    an instant count, where ``os.getloadavg`` is a 1-minute average); None where it cannot be read."""
    try:
        fd = os.open("/proc/loadavg", os.O_RDONLY)
    except OSError:
        return None
    try:
        return runnable_others(os.read(fd, 128))
    except OSError:
        return None
    finally:
        os.close(fd)


def runnable_others(loadavg):
    """The runnable threads other than the reader in the text of /proc/loadavg (its 4th field, "running/
    total", counts the reader); None for text of another form.

    >>> runnable_others(b"0.52 0.61 1.07 3/128 3052"), runnable_others(b"")
    (2, None)
    """
    try:
        return max(0, int(loadavg.split()[3].split(b"/")[0]) - 1)
    except (IndexError, ValueError):
        return None


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_cores(usable, online, others):
    """Cores a kernel can have to itself: the ``online`` cores that ``others`` runnable threads leave
    free, at most the ``usable`` ones (this process's affinity), at least the caller's own.

    >>> idle_cores(usable=2, online=2, others=0), idle_cores(2, 2, 1), idle_cores(2, 64, 30), idle_cores(8, 8, 3)
    (2, 1, 2, 5)
    """
    return max(1, min(usable, online - others))


def kernel_threads(size, min_size):
    """How many threads a kernel over ``size`` entries runs on: 1 (the serial kernel) below
    ``min_size`` or when numba has one thread, else numba's thread count (``tm.set_num_threads``),
    lowered to the cores idle now when ``LOAD_CHECK`` is on and the machine's load can be read."""
    if size < min_size:
        return 1
    wanted = start_kernel_threads().get_num_threads()
    if wanted < 2 or not LOAD_CHECK:
        return wanted
    others = _other_runnable_threads()
    if others is None:
        return wanted
    return min(wanted, idle_cores(_usable_cores(), os.cpu_count() or 1, others))


def run_kernel(serial, parallel, threads, *args, chunk=PARALLEL_CHUNK):
    """``serial(*args)`` for one thread, else ``parallel(*args)`` on ``threads`` of numba's threads, its
    prange loop handed out in chunks of ``chunk`` iterations to whichever thread is free (numba's count
    and chunk size are set for the call only: both are per calling thread)."""
    if threads < 2:
        return serial(*args)
    numba = start_kernel_threads()
    before = numba.get_num_threads()
    if threads != before:
        numba.set_num_threads(threads)
    chunk_before = numba.set_parallel_chunksize(chunk)
    try:
        return parallel(*args)
    finally:
        numba.set_parallel_chunksize(chunk_before)
        if threads != before:
            numba.set_num_threads(before)


# Optimizer updates: the fused kernel makes one pass over p, g and the state where numpy makes about
# ten. From PARALLEL_MIN_SIZE the prange form spreads it (kernel_threads): on 2 idle cores, with the
# passive wait policy, parallel/serial measured 1.2 (Adam) and 2.1 (SGD) at 2¹⁶ entries, 0.84 and 0.99
# at 2¹⁷, 0.69 and 0.73 at 2¹⁸, 0.54 and 0.51 at 2²⁰.
ADAM_KERNEL_MIN_SIZE = 4096
SGD_KERNEL_MIN_SIZE = 4096
PARALLEL_MIN_SIZE = 1 << 18


def check_update(name, p, g, state):
    """Raise unless the gradient and every state array (``state``: (name, array) pairs) have the
    parameter's shape and dtype and the state arrays can be written: numpy would broadcast a
    mismatch into a silently reshaped parameter, a kernel would read and write past an array's end."""
    for label, array in (("gradient", g),) + state:
        if array.shape != p.shape:
            raise ShapeError(f"{name}: the {label} has shape {array.shape}, the parameter {p.shape}")
        if array.dtype != p.dtype:
            raise DTypeError(f"{name}: the {label} has dtype {array.dtype}, the parameter {p.dtype}")
    for label, array in state:
        if not array.flags.writeable:
            raise ValueError(f"{name}: the {label} is read-only (it is updated in place)")


def _kernel_runs(p, state, min_size):
    """True when the fused kernel runs: a large float64 parameter, state arrays it can write through
    a flat view (C-contiguous; a reshape of another layout would be a copy)."""
    return p.size >= min_size and p.dtype == np.float64 and all(array.flags.c_contiguous for _, array in state)


def numpy_adam(p, g, m, v, lr, beta1, beta2, eps, bias_correction1, bias_correction2_sqrt, weight_decay, decoupled):
    """One Adam step as PyTorch's (m, v updated in place; returns the new parameters)."""
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    m += (g - m) * (1.0 - beta1)
    v *= beta2
    v += (1.0 - beta2) * g * g
    return p - (lr / bias_correction1) * m / (np.sqrt(v) / bias_correction2_sqrt + eps)


def adam(p, g, m, v, *options):
    """One Adam step on arrays of any shape: the fused kernel for large ones, numpy for small ones.
    p, g, m and v must share shape and dtype (checked first)."""
    state = (("first moment (exp_avg)", m), ("second moment (exp_avg_sq)", v))
    check_update("adam", p, g, state)
    # float64 only: the kernel computes in float64, numpy (and PyTorch) keep float32 in float32.
    if _kernel_runs(p, state, ADAM_KERNEL_MIN_SIZE):
        out = np.empty_like(p)
        run_kernel(kernels().adam_update, kernels().adam_update_parallel, kernel_threads(p.size, PARALLEL_MIN_SIZE),
                   np.ascontiguousarray(p).reshape(-1), np.ascontiguousarray(g).reshape(-1), m.reshape(-1),
                   v.reshape(-1), out.reshape(-1), *options)
        return out
    return numpy_adam(p, g, m, v, *options)


def numpy_sgd_momentum(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """One SGD-with-momentum step as PyTorch's (the buffer updated in place; returns the new parameters)."""
    if weight_decay:
        g = g + weight_decay * p
    if first:
        buf[...] = g
    else:
        buf *= momentum
        buf += (1.0 - dampening) * g
    g = g + momentum * buf if nesterov else buf
    return p - lr * g


def sgd_momentum(p, g, buf, *options):
    """One SGD-with-momentum step on arrays of any shape: the fused kernel for large ones. p, g and
    buf must share shape and dtype (checked first)."""
    state = (("momentum buffer", buf),)
    check_update("sgd_momentum", p, g, state)
    if _kernel_runs(p, state, SGD_KERNEL_MIN_SIZE):
        out = np.empty_like(p)
        run_kernel(kernels().sgd_momentum_update, kernels().sgd_momentum_update_parallel,
                   kernel_threads(p.size, PARALLEL_MIN_SIZE), np.ascontiguousarray(p).reshape(-1),
                   np.ascontiguousarray(g).reshape(-1), buf.reshape(-1), out.reshape(-1), *options)
        return out
    return numpy_sgd_momentum(p, g, buf, *options)


# The least-squares loss and gradients in one pass over X: a numba kernel for one output column and
# enough features (below LINEAR_MSE_KERNEL_MIN_FEATURES BLAS's two passes over a thin X win); for
# several columns, BLAS on blocks of rows small enough that X's block is still in cache for Xᵀ R.
LINEAR_MSE_KERNEL_MIN_FEATURES = 16
# n·d from which the kernel runs on several threads: parallel/serial measured 1.46 at 10⁴ × 100, 1.03 at
# 2·10⁴ × 100, 0.77 at 5·10⁴ × 100 and 0.58 at 10⁵ × 100 (2 idle cores, passive wait policy, one block
# per thread); in 4 blocks per thread handed out one at a time, 0.90, 0.61 and 0.54 at 5·10⁴, 10⁵, 10⁶.
LINEAR_MSE_PARALLEL_MIN_SIZE = 1 << 22
LINEAR_MSE_BLOCKS_PER_THREAD = 4
LINEAR_MSE_BLOCK_ROWS = 2048


def linear_mse(x, w, b, y):
    """(Σ r², Xᵀ R, Σ over rows of R) for R = X W + b − Y, with W (d, k), b (k,) and Y (n, k)."""
    n, d = x.shape
    k = w.shape[1]
    if k == 1 and d >= LINEAR_MSE_KERNEL_MIN_FEATURES:
        gw = np.zeros(d)
        args = (np.ascontiguousarray(x), np.ascontiguousarray(w[:, 0]), float(b[0]), np.ascontiguousarray(y[:, 0]), gw)
        threads = kernel_threads(n * d, LINEAR_MSE_PARALLEL_MIN_SIZE)
        if threads > 1:  # blocks of rows handed out one at a time
            blocks = LINEAR_MSE_BLOCKS_PER_THREAD * threads
            squares, total = run_kernel(None, kernels().linear_mse_vector_parallel, threads, *args, blocks, chunk=1)
        else:
            squares, total = kernels().linear_mse_vector(*args)
        return squares, gw.reshape(d, 1), np.array([total])
    squares = 0.0
    gw = np.zeros((d, k))
    gb = np.zeros(k)
    # Blocks pay off only for a wide X (each block re-read from cache); a thin one in one go.
    rows = LINEAR_MSE_BLOCK_ROWS if d >= LINEAR_MSE_KERNEL_MIN_FEATURES else max(n, 1)
    for start in range(0, n, rows):
        block = x[start:start + rows]
        r = block @ w
        r += b
        r -= y[start:start + rows]
        squares += float(np.vdot(r, r))
        gb += np.add.reduce(r, axis=0)
        gw += block.T @ r
    return squares, gw, gb


def _numpy_linear_mse(x, w, b, y):
    r = x @ w + b - y
    return np.concatenate([[np.sum(r * r)], (x.T @ r).reshape(-1), r.sum(axis=0)])


def _linear_mse_kernel(parallel):
    def run(x, w, b, y):
        gw = np.zeros(x.shape[1])
        args = (x, w[:, 0], float(b[0]), y[:, 0], gw)
        if parallel:
            squares, total = kernels().linear_mse_vector_parallel(*args, 3)
        else:
            squares, total = kernels().linear_mse_vector(*args)
        return np.concatenate([[squares], gw, [total]])

    return run


def _adam_kernel(p, g, m, v):
    m, v, out = m.copy(), v.copy(), np.empty_like(p)
    kernels().adam_update(p, g, m, v, out, 0.01, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01, False)
    return np.concatenate([out, m, v])


def _adam_numpy(p, g, m, v):
    m, v = m.copy(), v.copy()
    out = numpy_adam(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01, False)
    return np.concatenate([out, m, v])


# Each kernel beside its numpy twin, as (name, kernel path, numpy path) on the same arguments: the
# tests run every pair over NaN, ±inf, empty and one-element inputs, so the two paths never disagree.
def _adam_parallel_kernel(p, g, m, v):
    m, v, out = m.copy(), v.copy(), np.empty_like(p)
    kernels().adam_update_parallel(p, g, m, v, out, 0.01, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01, False)
    return np.concatenate([out, m, v])


def _sgd_kernel(parallel):
    def run(p, g, buf):
        results = []
        for first, nesterov in ((True, False), (False, False), (False, True)):
            b, out = buf.copy(), np.empty_like(p)
            update = kernels().sgd_momentum_update_parallel if parallel else kernels().sgd_momentum_update
            update(p, g, b, out, 0.1, 0.9, 0.25, 0.01, nesterov, first)
            results += [out, b]
        return np.concatenate(results)

    return run


def _sgd_numpy(p, g, buf):
    results = []
    for first, nesterov in ((True, False), (False, False), (False, True)):
        b = buf.copy()
        results += [numpy_sgd_momentum(p, g, b, 0.1, 0.9, 0.25, 0.01, nesterov, first), b]
    return np.concatenate(results)


def _sigmoid_kernel(x):
    out = np.empty_like(x)
    kernels().sigmoid(x.reshape(-1), out.reshape(-1))
    return out


def _logsumexp_kernel(x):
    out = np.empty(x.shape[0], dtype=x.dtype)
    kernels().logsumexp_rows(x, out)
    return out


def _scatter_kernel(values, index, rows):
    out = np.zeros((rows, values.shape[1]), dtype=values.dtype)
    kernels().scatter_add_rows(out, index, values)
    return out


def _scatter_numpy(values, index, rows):
    out = np.zeros((rows, values.shape[1]), dtype=values.dtype)
    np.add.at(out, index, values)
    return out


TWINS = {
    "sigmoid": (_sigmoid_kernel, _numpy_sigmoid),
    "erf": (erf, _numpy_erf),
    "logsumexp_rows": (_logsumexp_kernel, lambda x: _numpy_logsumexp(x, (1,), False)),
    "scatter_add_rows": (_scatter_kernel, _scatter_numpy),
    "adam_update": (_adam_kernel, _adam_numpy),
    "adam_update_parallel": (_adam_parallel_kernel, _adam_numpy),
    "sgd_momentum_update": (_sgd_kernel(False), _sgd_numpy),
    "sgd_momentum_update_parallel": (_sgd_kernel(True), _sgd_numpy),
    "linear_mse_vector": (_linear_mse_kernel(False), _numpy_linear_mse),
    "linear_mse_vector_parallel": (_linear_mse_kernel(True), _numpy_linear_mse),
}
