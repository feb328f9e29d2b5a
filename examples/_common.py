"""Shared by the examples: a timer, a results table, a plot, and where plots go."""
import sys
import time
from contextlib import contextmanager


@contextmanager
def timed(results, name):
    """Record the seconds a block took under ``results[name]['time']``."""
    started = time.perf_counter()
    entry = results.setdefault(name, {})
    yield entry
    entry["time"] = time.perf_counter() - started


def print_table(title, results, columns):
    print(f"\n{title}")
    widths = [max(len("method"), *(len(name) for name in results))] + [max(12, len(c)) for c in columns]
    print("  ".join(h.ljust(w) for h, w in zip(["method", *columns], widths)))
    for name, row in results.items():
        cells = [name.ljust(widths[0])]
        for column, width in zip(columns, widths[1:]):
            value = row.get(column, "")
            cells.append((f"{value:.6g}" if isinstance(value, float) else str(value)).ljust(width))
        print("  ".join(cells))


def save_plot(path, curves, ylabel, title):
    """Curves {label: values} as a log-scale plot, if matplotlib is installed; returns the path or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install tinygrad_mat[train])")
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot: {path}")
    return path


def plot_dir_from_command_line():
    """The folder named on the command line (``python examples/x.py plots/``), or None: an example
    writes files only where it is asked to."""
    return sys.argv[1] if len(sys.argv) > 1 else None
