"""What the suites need to know about this run: which optional peers are installed (a missing one is a
missing column), the thread count and the profile bench/run.py set."""
import importlib.util
import os


def have(module):
    return importlib.util.find_spec(module) is not None


def threads():
    return int(os.environ.get("OMP_NUM_THREADS", "1"))


def profile():
    """test, quick or full (BENCH_PROFILE): a suite may leave its slowest Python loops out of quick."""
    return os.environ.get("BENCH_PROFILE", "quick")
