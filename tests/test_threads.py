"""When a kernel runs in parallel (size thresholds, the load check), how numba's threads are started
(OpenMP's passive wait policy, never over a user's setting, never left in the environment), and the
allocator's opt-in policy. No wall time is asserted anywhere."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import dispatch

ROOT = Path(__file__).resolve().parents[1]


def _python(*snippets, **env):
    """Run the snippets, one after the other, in a fresh interpreter importing this worktree's tinygrad_mat
    (``env`` added to the environment, any wait policy variable removed); its stdout and stderr."""
    code = "\n".join(textwrap.dedent(snippet) for snippet in snippets)
    environ = {k: v for k, v in os.environ.items() if k not in dispatch.WAIT_POLICY_VARIABLES}
    environ.update(env, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout, out.stderr


# ---------------------------------------------------------------- starting numba's threads


class FakeNumba:
    """numba's threading calls, recording the environment its layer would start under."""

    def __init__(self, environ, started=False, threads=4, fail=False):
        self.environ, self.started, self.threads, self.fail = environ, started, threads, fail
        self.seen_at_start = "not started here"
        self.set_calls = []
        self.chunk = 0

    def threading_layer(self):
        if not self.started:
            raise ValueError("Threading layer is not initialized.")
        return "omp"

    def get_num_threads(self):
        if not self.started:
            if self.fail:
                raise RuntimeError("no threading layer")
            self.seen_at_start = dict(self.environ)
            self.started = True
        return self.threads

    def set_num_threads(self, n):
        self.set_calls.append(n)
        self.threads = n

    def set_parallel_chunksize(self, n):
        before, self.chunk = self.chunk, n
        return before


def test_numba_threads_start_with_the_passive_wait_policy_then_the_environment_is_as_before():
    environ = {"PATH": "/bin"}
    numba = FakeNumba(environ)
    assert dispatch._launch_threads(numba, environ) == "passive"
    assert numba.seen_at_start == {"PATH": "/bin", "OMP_WAIT_POLICY": "passive"}
    assert environ == {"PATH": "/bin"}


@pytest.mark.parametrize("name", dispatch.WAIT_POLICY_VARIABLES)
def test_a_wait_policy_the_user_set_is_never_overridden(name):
    environ = {name: "user's value"}
    numba = FakeNumba(environ)
    assert dispatch._launch_threads(numba, environ) is None
    assert numba.seen_at_start == {name: "user's value"} and environ == {name: "user's value"}


def test_threads_already_started_by_someone_else_are_left_as_they_are():
    environ = {}
    numba = FakeNumba(environ, started=True)
    assert dispatch._launch_threads(numba, environ) is None
    assert numba.seen_at_start == "not started here" and environ == {}


def test_a_failed_start_leaves_the_environment_as_before():
    environ = {"PATH": "/bin"}
    with pytest.raises(RuntimeError, match="no threading layer"):
        dispatch._launch_threads(FakeNumba(environ, fail=True), environ)
    assert environ == {"PATH": "/bin"}


# GNU OpenMP prints its settings; GOMP_SPINCOUNT is 0 under the passive policy, 300000 by default.
SPIN_COUNT = """
    import ctypes, os, sys
    sys.stderr.flush()
    ctypes.CDLL("libgomp.so.1").omp_display_env(1)
"""


def _gnu_openmp_layer():
    # What the wait policy acts on exists only where numba runs on GNU OpenMP: a machine whose numba
    # chose TBB or workqueue (no libgomp installed: a system library, not a pip package) has no
    # spinning threads to tame, and these tests skip there, saying so.
    out, _ = _python("import numba; numba.get_num_threads(); print(numba.threading_layer())")
    if out.strip() != "omp":
        pytest.skip("numba's threading layer here is not OpenMP")
    try:
        import ctypes

        ctypes.CDLL("libgomp.so.1").omp_display_env
    except (OSError, AttributeError):
        pytest.skip("no GNU OpenMP with omp_display_env")


def test_the_first_parallel_kernel_starts_openmp_passive_and_leaves_no_variable_behind():
    _gnu_openmp_layer()
    code = """
        import json, os, sys
        import numpy as np, tinygrad_mat as tm
        from tinygrad_mat import dispatch
        started_at_import = "numba" in sys.modules and sys.modules["numba"].np.ufunc.parallel._is_initialized
        n = dispatch.PARALLEL_MIN_SIZE
        dispatch.adam(np.ones(n), np.ones(n), np.zeros(n), np.zeros(n), 1e-3, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.0, False)
        print(json.dumps({"started at import": started_at_import, "variable": os.environ.get("OMP_WAIT_POLICY"),
                          "layer": sys.modules["numba"].threading_layer()}))
    """
    out, err = _python(code, SPIN_COUNT)
    found = json.loads(out)
    assert found == {"started at import": False, "variable": None, "layer": "omp"}
    assert "GOMP_SPINCOUNT = '0'" in err and "OMP_WAIT_POLICY = 'PASSIVE'" in err, err


def test_the_users_wait_policy_reaches_openmp_unchanged():
    _gnu_openmp_layer()
    code = """
        import os, numpy as np, tinygrad_mat as tm
        tm.get_num_threads(), tm.sigmoid(np.ones(3))  # numba imported, then its threads started by tinygrad_mat
        tm.set_num_threads(1, blas=False)
        print(os.environ["OMP_WAIT_POLICY"])
    """
    out, err = _python(code, SPIN_COUNT, OMP_WAIT_POLICY="active")
    assert out.strip() == "active"
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in err and "GOMP_SPINCOUNT = '0'" not in err, err


def test_tm_thread_functions_start_numba_threads_passive_too():
    _gnu_openmp_layer()
    out, err = _python("import numba, tinygrad_mat as tm; print(tm.get_num_threads()['kernels'])", SPIN_COUNT)
    assert int(out) >= 1 and "GOMP_SPINCOUNT = '0'" in err, err


# ---------------------------------------------------------------- how many threads a kernel gets


@pytest.mark.parametrize("usable, online, others, idle", [
    (2, 2, 0, 2), (2, 2, 1, 1), (2, 2, 3, 1), (8, 8, 3, 5), (2, 64, 30, 2), (4, 4, 0, 4), (1, 1, 0, 1),
])
def test_idle_cores(usable, online, others, idle):
    assert dispatch.idle_cores(usable, online, others) == idle


@pytest.mark.parametrize("text, others", [
    (b"0.52 0.61 1.07 1/128 3052\n", 0), (b"3.00 2.00 1.00 5/130 99\n", 4), (b"", None), (b"1 2 3 x/y 4", None),
    (b"1 2 3", None),
])
def test_runnable_threads_from_proc_loadavg(text, others):
    assert dispatch.runnable_others(text) == others


@pytest.fixture
def machine(monkeypatch):
    """A machine of ``cores`` cores with ``others`` other runnable threads, numba with ``threads``."""
    def make(cores, others, threads):
        numba = FakeNumba({}, started=True, threads=threads)
        monkeypatch.setattr(dispatch, "start_kernel_threads", lambda: numba)
        monkeypatch.setattr(dispatch, "_other_runnable_threads", lambda: others)
        monkeypatch.setattr(dispatch, "_usable_cores", lambda: cores)
        monkeypatch.setattr(os, "cpu_count", lambda: cores)
        return numba

    return make


@pytest.mark.parametrize("cores, others, threads, expected", [
    (2, 0, 2, 2),    # idle: all of numba's threads
    (2, 1, 2, 1),    # one core busy on 2: the serial kernel
    (2, 3, 2, 1),
    (8, 3, 8, 5),    # five idle cores of eight
    (8, 0, 4, 4),    # never more than numba's count (tm.set_num_threads)
    (8, 0, 1, 1),
    (2, None, 2, 2),  # load unknown (no /proc/loadavg): numba's count
])
def test_kernel_threads_above_the_threshold(machine, cores, others, threads, expected):
    machine(cores, others, threads)
    assert dispatch.kernel_threads(dispatch.PARALLEL_MIN_SIZE, dispatch.PARALLEL_MIN_SIZE) == expected


def test_below_the_threshold_the_serial_kernel_runs_whatever_the_load(machine):
    machine(8, 0, 8)
    assert dispatch.kernel_threads(dispatch.PARALLEL_MIN_SIZE - 1, dispatch.PARALLEL_MIN_SIZE) == 1


def test_the_load_check_can_be_switched_off(machine, monkeypatch):
    machine(2, 5, 2)
    monkeypatch.setattr(dispatch, "LOAD_CHECK", False)
    assert dispatch.kernel_threads(dispatch.PARALLEL_MIN_SIZE, dispatch.PARALLEL_MIN_SIZE) == 2


def test_fewer_threads_than_numba_has_and_the_chunks_are_set_for_the_call_only(machine):
    numba = machine(8, 3, 8)

    def parallel(x):
        assert numba.threads == 5 and numba.chunk == dispatch.PARALLEL_CHUNK
        raise ArithmeticError("inside the kernel")

    with pytest.raises(ArithmeticError):
        dispatch.run_kernel(None, parallel, 5, 1.0)
    assert numba.set_calls == [5, 8] and numba.threads == 8 and numba.chunk == 0
    assert dispatch.run_kernel(lambda x: ("serial", x), None, 1, 2.0) == ("serial", 2.0)
    assert dispatch.run_kernel(None, lambda x: ("parallel", x, numba.chunk), 8, 3.0, chunk=1) == ("parallel", 3.0, 1)
    assert numba.set_calls == [5, 8] and numba.chunk == 0  # numba's own count: nothing to set


def _spy(monkeypatch):
    calls = []
    real = dispatch.run_kernel

    def spy(serial, parallel, threads, *args):
        calls.append((getattr(serial, "__name__", None), getattr(parallel, "__name__", None), threads))
        return real(serial, parallel, threads, *args)

    monkeypatch.setattr(dispatch, "run_kernel", spy)
    return calls


@pytest.mark.parametrize("others, threads", [(0, 2), (1, 1), (3, 1)])
def test_adam_and_sgd_run_serial_on_a_busy_machine_with_the_same_values(monkeypatch, others, threads):
    monkeypatch.setattr(dispatch, "_other_runnable_threads", lambda: others)
    monkeypatch.setattr(dispatch, "_usable_cores", lambda: 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(0)
    n = dispatch.PARALLEL_MIN_SIZE
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    with tm.num_threads(2, blas=False):
        m, v = np.zeros(n), np.zeros(n)
        new = dispatch.adam(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01, False)
        buf = np.zeros(n)
        new_sgd = dispatch.sgd_momentum(p, g, buf, 0.1, 0.9, 0.0, 0.0, False, True)
    assert [threads for *_, threads in calls] == [threads, threads]
    m_ref, v_ref = np.zeros(n), np.zeros(n)
    np.testing.assert_array_equal(new, dispatch.numpy_adam(p, g, m_ref, v_ref, 1e-3, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.01,
                                                           False))
    np.testing.assert_array_equal(m, m_ref), np.testing.assert_array_equal(v, v_ref)
    np.testing.assert_array_equal(new_sgd, dispatch.numpy_sgd_momentum(p, g, np.zeros(n), 0.1, 0.9, 0.0, 0.0, False, True))


@pytest.mark.parametrize("others, threads", [(0, 2), (1, 1)])
def test_linear_mse_runs_serial_on_a_busy_machine_with_the_same_values(monkeypatch, others, threads):
    monkeypatch.setattr(dispatch, "_other_runnable_threads", lambda: others)
    monkeypatch.setattr(dispatch, "_usable_cores", lambda: 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    chosen = []
    real = dispatch.kernel_threads
    monkeypatch.setattr(dispatch, "kernel_threads", lambda *a: chosen.append(real(*a)) or chosen[-1])
    d = 100
    n = -(-dispatch.LINEAR_MSE_PARALLEL_MIN_SIZE // d)
    rng = np.random.default_rng(1)
    x, w, b, y = rng.standard_normal((n, d)), rng.standard_normal((d, 1)), np.array([0.3]), rng.standard_normal((n, 1))
    with tm.num_threads(2, blas=False):
        squares, gw, gb = dispatch.linear_mse(x, w, b, y)
    assert chosen == [threads]
    r = x @ w + b - y
    np.testing.assert_allclose(squares, np.sum(r * r), rtol=1e-10)
    np.testing.assert_allclose(gw, x.T @ r, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(gb, r.sum(axis=0), rtol=1e-10, atol=1e-9)


def test_one_numba_thread_means_the_serial_kernel():
    with tm.num_threads(1, blas=False):
        assert dispatch.kernel_threads(dispatch.PARALLEL_MIN_SIZE, dispatch.PARALLEL_MIN_SIZE) == 1


def test_importing_tinygrad_mat_starts_no_threads_and_sets_no_variable():
    out, _ = _python("""
        import os, sys, tinygrad_mat
        print("numba" in sys.modules and sys.modules["numba"].np.ufunc.parallel._is_initialized,
              os.environ.get("OMP_WAIT_POLICY"))
    """)
    assert out.split() == ["False", "None"]


# ---------------------------------------------------------------- the allocator


ALLOCATE_AND_FREE = """
    import os, numpy as np
    def resident():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    before = resident()
    block = np.ones(8 << 20)  # 64 MiB: above glibc's largest adaptive mmap threshold (32 MiB)
    del block
    print(resident() - before)
"""


def _kept_after_free(setup):
    out, _ = _python("import tinygrad_mat as tm", setup, ALLOCATE_AND_FREE)
    return int(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keep_policy_keeps_freed_memory_and_import_alone_does_not():
    import platform

    if platform.libc_ver()[0] != "glibc":  # musl Linux (Alpine): set_allocator_policy raises there, tested apart
        pytest.skip("not glibc")
    assert _kept_after_free("") < 16 << 20  # glibc's default: the block went back to the system
    assert _kept_after_free("tm.set_allocator_policy('keep')") > 48 << 20


def test_allocator_policy_refuses_unknown_names_and_other_c_libraries(monkeypatch):
    import platform

    with pytest.raises(ValueError, match="set_allocator_policy: unknown policy 'fast'; the policies are: 'keep'"):
        tm.set_allocator_policy("fast")
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    with pytest.raises(RuntimeError, match="set_allocator_policy: .* glibc's mallopt, and this Python runs on"):
        tm.set_allocator_policy("keep")


def test_the_load_benchmark_runs_end_to_end():
    """bench/threads_under_load.py at tiny sizes, one round, no load: it runs and prints its table (no time
    is asserted)."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "threads_under_load.py"), "--loads", "0", "--setups",
                          "omp passive", "--bursts", "1", "--rounds", "1", "--rows", "64", "--params", "64",
                          "--steps", "64"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for kernel in ("least squares 64", "adam 64", "sgd 64", "linear_mse_loss step 64"):
        assert kernel in out.stdout, out.stdout

