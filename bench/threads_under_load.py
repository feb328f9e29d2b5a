"""Serial against parallel kernels on a loaded machine: does a parallel kernel ever run slower?

    python bench/threads_under_load.py                         # loads 0, 1, 2, 3; every threading set-up
    python bench/threads_under_load.py --loads 0 3 --bursts 3 --rounds 7 --wait-quiet 30
    python bench/threads_under_load.py --setups "omp passive" --rows 100000 --params --steps 100000

For each load L it starts L busy processes (``python -c "while True: pass"``), then runs each threading
set-up in turn in a child process (numba's threading layer and OpenMP's wait policy are fixed when the
process starts them, so one set-up per process), ``--bursts`` times interleaved, and stops the busy
processes. A child times, round after round, each case once in a rotating order: numpy by hand, the
serial kernel, the parallel kernel on all of numba's threads, what ``tinygrad_mat.dispatch`` chooses
("dispatch") and the same call with the parallel thresholds out of reach ("dispatch, serial": the
allocations and checks are the same, only the kernel differs). Figures are medians over every round of
every burst, ratios medians of per-round ratios (a machine's drift cancels in a ratio); "busy" is the
number of other runnable threads (/proc/loadavg) seen around each round, the load included. One BLAS
thread throughout.

Kernels: the fused least squares (d = 100, k = 1; ``kernels.fused``) by rows, the Adam and SGD-momentum
updates (``kernels.optim``) by parameters, and the eager ``tm.nn.functional.linear_mse_loss`` step
(forward and backward) by rows against numpy by hand.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

# name: environment of the child. BENCH_START says who starts numba's threads: numba itself (OpenMP's
# default wait policy: spin) or tinygrad_mat (dispatch.start_kernel_threads: the passive policy).
SETUPS = {
    "omp passive": {"NUMBA_THREADING_LAYER": "omp", "BENCH_START": "tinygrad_mat"},
    "omp spin": {"NUMBA_THREADING_LAYER": "omp", "BENCH_START": "numba"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue", "BENCH_START": "numba"},
}
DEFAULT_SIZES = [10_000, 100_000, 1_000_000]  # rows of X (least squares), entries (Adam, SGD)
FEATURES = 100


# ---------------------------------------------------------------- child: one set-up, one process

@contextlib.contextmanager
def _serial_dispatch():
    """tinygrad_mat.dispatch with its parallel thresholds out of reach: the serial kernels run."""
    from tinygrad_mat import dispatch

    saved = dispatch.PARALLEL_MIN_SIZE, dispatch.LINEAR_MSE_PARALLEL_MIN_SIZE
    dispatch.PARALLEL_MIN_SIZE = dispatch.LINEAR_MSE_PARALLEL_MIN_SIZE = 1 << 62
    try:
        yield
    finally:
        dispatch.PARALLEL_MIN_SIZE, dispatch.LINEAR_MSE_PARALLEL_MIN_SIZE = saved


def _with_dispatch(cases, call):
    def serial():
        with _serial_dispatch():
            return call()

    return {**cases, "dispatch": call, "dispatch, serial": serial}


def _least_squares_cases(n):
    import numba
    import numpy as np

    from tinygrad_mat import dispatch, kernels

    rng = np.random.default_rng(0)
    X, w, y = rng.random((n, FEATURES)), rng.standard_normal(FEATURES), rng.random(n)
    W, b, Y = w[:, None], np.array([0.5]), y[:, None]

    def numpy_by_hand():
        r = X @ w + 0.5 - y
        return r @ r, X.T @ r, r.sum()

    def serial():
        return kernels.linear_mse_vector(X, w, 0.5, y, np.zeros(FEATURES))

    def parallel():
        return kernels.linear_mse_vector_parallel(X, w, 0.5, y, np.zeros(FEATURES), numba.get_num_threads())

    cases = {"numpy by hand": numpy_by_hand, "serial": serial, "parallel": parallel}
    return _with_dispatch(cases, lambda: dispatch.linear_mse(X, W, b, Y))


def _adam_cases(n):
    import numpy as np

    from tinygrad_mat import dispatch, kernels

    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    m, v, out = np.zeros(n), np.zeros(n), np.empty(n)
    options = (1e-3, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.0, False)
    cases = {"numpy by hand": lambda: dispatch.numpy_adam(p, g, m, v, *options),
             "serial": lambda: kernels.adam_update(p, g, m, v, out, *options),
             "parallel": lambda: kernels.adam_update_parallel(p, g, m, v, out, *options)}
    return _with_dispatch(cases, lambda: dispatch.adam(p, g, m, v, *options))


def _sgd_cases(n):
    import numpy as np

    from tinygrad_mat import dispatch, kernels

    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    buf, out = np.zeros(n), np.empty(n)
    options = (1e-3, 0.9, 0.0, 0.0, False, False)
    cases = {"numpy by hand": lambda: dispatch.numpy_sgd_momentum(p, g, buf, *options),
             "serial": lambda: kernels.sgd_momentum_update(p, g, buf, out, *options),
             "parallel": lambda: kernels.sgd_momentum_update_parallel(p, g, buf, out, *options)}
    return _with_dispatch(cases, lambda: dispatch.sgd_momentum(p, g, buf, *options))


def _eager_step_cases(n):
    """``linear_mse_loss`` forward and backward, as a user's eager step runs it, and numpy by hand."""
    import numpy as np

    import tinygrad_mat as tm

    rng = np.random.default_rng(0)
    X, y = rng.random((n, FEATURES)), rng.random(n)
    w, b = tm.tensor(rng.standard_normal(FEATURES), requires_grad=True), tm.tensor(0.5, requires_grad=True)
    w_np, b_np = w.numpy(), 0.5

    def numpy_by_hand():
        r = X @ w_np + b_np - y
        return r @ r / n, (2.0 / n) * (X.T @ r), (2.0 / n) * r.sum()

    def eager():
        tm.nn.functional.linear_mse_loss(X, w, b, y).backward()
        grads = w.grad, b.grad
        w.grad = b.grad = None
        return grads

    return _with_dispatch({"numpy by hand": numpy_by_hand}, eager)


KINDS = {"least squares": _least_squares_cases, "adam": _adam_cases, "sgd": _sgd_cases,
         "linear_mse_loss step": _eager_step_cases}


def _calls_per_timing(f, budget=0.004):
    start = time.perf_counter()
    f()
    return max(1, int(budget / max(time.perf_counter() - start, 1e-7)))


def runnable_others():
    """Other runnable threads now (Linux: /proc/loadavg), the measure of how busy the machine was."""
    from tinygrad_mat import dispatch

    return dispatch._other_runnable_threads()


def interleaved(cases, rounds):
    """{name: [seconds per call, one per round]}, each round timing every case once in a rotating order;
    under "busy": the other runnable threads counted before and after each round (the larger)."""
    for f in cases.values():  # compiles, starts numba's threads, warms caches
        f(), f()
    names = list(cases)
    numbers = {name: _calls_per_timing(cases[name]) for name in names}
    times = {name: [] for name in names}
    times["busy"] = []
    for r in range(rounds):
        busy_before = runnable_others()
        for name in names[r % len(names):] + names[:r % len(names)]:
            f, number = cases[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                f()
            times[name].append((time.perf_counter() - start) / number)
        busy_after = runnable_others()
        times["busy"].append(None if busy_before is None else max(busy_before, busy_after))
    return times


def child(sizes, rounds):
    import numba

    from tinygrad_mat import dispatch

    if os.environ["BENCH_START"] == "numba":
        numba.get_num_threads()
    else:
        dispatch.start_kernel_threads()
    found = {}
    for kind, make in KINDS.items():
        for n in sizes[kind]:
            found[f"{kind} {n:,}"] = interleaved(make(n), rounds)
    found["layer"] = numba.threading_layer()
    found["threads"] = numba.get_num_threads()
    print(json.dumps(found))


# ---------------------------------------------------------------- parent: loads, set-ups, report

def start_load(count):
    """``count`` busy Python processes (the caller stops them with ``stop_load``)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop_load(processes):
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def wait_for_quiet(own_load, timeout):
    """Wait (up to ``timeout`` seconds) until no runnable thread but the load's has been seen for 0.2 s:
    other users of a shared machine come and go. True if it became quiet."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        others = runnable_others()
        if others is None:
            return False
        now = time.monotonic()
        if others <= own_load:
            quiet_since = quiet_since or now
            if now - quiet_since >= 0.2:
                return True
        else:
            quiet_since = None
        time.sleep(0.01)
    return False


def run_child(setup, sizes, rounds):
    from tinygrad_mat import dispatch

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", BENCH_SIZES=json.dumps(sizes))
    for name in ("NUMBA_THREADING_LAYER", *dispatch.WAIT_POLICY_VARIABLES):
        env.pop(name, None)
    env.update(SETUPS[setup])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--child", "--rounds", str(rounds)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def merge(into, found):
    for key, value in found.items():
        if isinstance(value, dict):
            for name, times in value.items():
                into.setdefault(key, {}).setdefault(name, []).extend(times)
        else:
            into[key] = value


def ratio(times, name, base, rounds=None):
    """Median and quartiles of the per-round ratios name/base, over ``rounds`` (all by default)."""
    if name not in times or base not in times:
        return "-"
    rounds = range(len(times[name])) if rounds is None else rounds
    ratios = [times[name][i] / times[base][i] for i in rounds]
    if not ratios:
        return "-"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    low, middle, high = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):.2f} ({low:.2f}–{high:.2f})"


COLUMNS = [("par/ser", "parallel", "serial"), ("dispatch/its serial", "dispatch", "dispatch, serial"),
           ("ser/np", "serial", "numpy by hand"), ("dispatch/np", "dispatch", "numpy by hand")]


def report(results):
    for load, setups in results.items():
        quiet = setups.pop("quiet", None)
        quiet = "" if quiet is None else f"; quiet before {sum(quiet)} of {len(quiet)} children"
        print(f"\nload {load} (busy processes; 1-minute load average at the end: {setups.pop('loadavg'):.2f}{quiet})")
        print(f"  {'set-up':12s} {'kernel':30s} {'numpy ms':>9s} {'serial ms':>9s} {'disp. ms':>9s}"
              + "".join(f" {title:>20s}" for title, _, _ in COLUMNS) + f" {'busy':>6s} {'par/ser, quiet rounds':>22s}")
        for setup, found in setups.items():
            for key in (k for k in found if isinstance(found[k], dict)):
                times = dict(found[key])
                rounds_busy = times.pop("busy")
                busy = [b for b in rounds_busy if b is not None]
                quiet_rounds = [i for i, b in enumerate(rounds_busy) if b is not None and b <= load]
                ms = {name: f"{statistics.median(t) * 1e3:9.3f}" for name, t in times.items()}
                quiet_ratio = ratio(times, "parallel", "serial", quiet_rounds)
                quiet_ratio = f"{quiet_ratio} [{len(quiet_rounds)}/{len(rounds_busy)}]" if quiet_rounds else "-"
                print(f"  {setup:12s} {key:30s} {ms['numpy by hand']} {ms.get('serial', '-'):>9s} {ms['dispatch']}"
                      + "".join(f" {ratio(times, a, b):>20s}" for _, a, b in COLUMNS)
                      + f" {(f'{min(busy)}–{max(busy)}' if busy else '?'):>6s} {quiet_ratio:>22s}")
            print(f"  {setup:12s} (layer {found['layer']}, {found['threads']} numba threads)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--setups", nargs="+", choices=sorted(SETUPS), default=list(SETUPS))
    parser.add_argument("--rows", type=int, nargs="*", default=DEFAULT_SIZES, help="least squares: rows of X")
    parser.add_argument("--params", type=int, nargs="*", default=DEFAULT_SIZES, help="Adam and SGD: parameters")
    parser.add_argument("--steps", type=int, nargs="*", default=[100_000],
                        help="the eager linear_mse_loss step: rows of X")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per child process")
    parser.add_argument("--bursts", type=int, default=2, help="child processes per set-up and load, interleaved")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each child, wait up to this long for no other runnable thread than the load's")
    parser.add_argument("--json", help="also write the raw times there")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(os.environ["BENCH_SIZES"]), args.rounds)
    import platform

    sizes = {"least squares": args.rows, "adam": args.params, "sgd": args.params, "linear_mse_loss step": args.steps}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; 1 BLAS thread; "
          f"{args.bursts} bursts × {args.rounds} rounds per set-up and load; load average before: {os.getloadavg()}")
    results = {}
    for load in args.loads:
        busy = start_load(load)
        try:
            time.sleep(1.0)
            results[load] = {}
            for _ in range(args.bursts):
                for setup in args.setups:
                    if args.wait_quiet:
                        results[load].setdefault("quiet", []).append(wait_for_quiet(load, args.wait_quiet))
                    merge(results[load].setdefault(setup, {}), run_child(setup, sizes, args.rounds))
            results[load]["loadavg"] = os.getloadavg()[0]
        finally:
            stop_load(busy)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    report(results)


if __name__ == "__main__":
    main()
