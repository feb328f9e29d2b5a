"""One command: every benchmark suite, a report a person reads, plots, and JSON to compare runs.

    python bench/run.py --quick                 # under 2 minutes (about 75 s on a 2-core EPYC VM)
    python bench/run.py --quick --out bench/results   # refresh the committed report
    python bench/run.py --full --threads 2      # every size; BLAS/OpenMP/numba/PyTorch threads (default 1)
    python bench/run.py --quick --compare OLD.json   # add a now-against-before table
    python bench/run.py --quick --readme README.md   # also rewrite the README's speed summary
    python bench/run.py --smoke --out /tmp/x    # tiny sizes, one round: checks the pipeline only

Writes REPORT.md, one PNG per suite (log-log time against size, one line per implementation,
crossovers with the baseline marked) and results.json into --out: by default .benchmarks/run/
(ignored by git), so a run never overwrites the committed report in bench/results/ unless asked to. numba compile
times and first calls are never inside a timed figure: they are measured apart (import time, first
kernel call with a cold and a warm cache). Needs matplotlib for the plots (pip install matplotlib).
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = ROOT / ".benchmarks" / "run"  # .gitignore'd: a plain run overwrites no committed file
TIMING = {"quick": ["--benchmark-min-rounds=5", "--benchmark-max-time=0.075", "--benchmark-warmup=on",
                    "--benchmark-warmup-iterations=50"],
          "full": ["--benchmark-min-rounds=5", "--benchmark-max-time=0.5", "--benchmark-warmup=on",
                   "--benchmark-warmup-iterations=1000"],
          "test": ["--benchmark-min-rounds=1", "--benchmark-max-time=0.000001", "--benchmark-warmup=off"]}


# glibc returns a freed block of more than 128 KiB to the OS and faults fresh pages in on the next
# allocation; on a VM each 4 KiB fault is microseconds, so an expression with two 800 KB temporaries
# measured ~1 ms here instead of ~70 µs. "keep" fixes both thresholds high (no dynamic adjustment):
# freed memory stays in the process. Every numpy-based implementation is affected, not equally.
MALLOC = {"default": None,
          "keep": "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=536870912"}


def thread_env(threads, profile, malloc="default"):
    """The environment of every child process: thread counts (and the allocator's thresholds) are
    fixed before numpy, numba or torch load."""
    env = dict(os.environ, BENCH_PROFILE=profile)
    if MALLOC[malloc]:
        env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), MALLOC[malloc]]))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[name] = str(threads)
    return env


def run_suites(profile, threads, out_json, malloc="default"):
    """pytest-benchmark over bench_suites.py in a child process, its JSON written to ``out_json``."""
    command = [sys.executable, "-m", "pytest", str(HERE / "bench_suites.py"), "--benchmark-only",
               f"--benchmark-json={out_json}", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
               *TIMING[profile]]
    subprocess.run(command, env=thread_env(threads, profile, malloc), cwd=ROOT, check=True)


def _python(code, env, *args):
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=tempfile.gettempdir(), capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def startup_costs(threads):
    """Import time of tinygrad_mat, and the first kernel call with a cold and a warm numba cache."""
    env = thread_env(threads, "quick")
    imports = [float(_python("import time; t = time.perf_counter(); import tinygrad_mat; print(time.perf_counter() - t)",
                             env)) for _ in range(3)]
    first_call = ("import time, numpy as np, tinygrad_mat as tm; x = np.ones(300); t = time.perf_counter(); "
                  "tm.sigmoid(x); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        cold_env = dict(env, NUMBA_CACHE_DIR=cache)
        cold = float(_python(first_call, cold_env))
        warm = statistics.median(float(_python(first_call, cold_env)) for _ in range(2))
    numba_import = statistics.median(float(_python(
        "import time; t = time.perf_counter(); import numba; print(time.perf_counter() - t)", env)) for _ in range(3))
    costs = {"import tinygrad_mat (numba not imported)": statistics.median(imports),
             "import numba alone": numba_import,
             "first kernel call, cold cache (imports numba, compiles)": cold,
             "first kernel call, warm cache (imports numba, loads the cached code)": warm}
    for backend in ("numpy", "numba"):  # a compiled step's first call: trace (and numba's compile), then the first replay
        key = f"tm.compile(backend={backend!r}) of a 32 × 10 logistic SGD step: trace, then first replay"
        costs[key] = float(_python(COMPILE_FIRST_CALLS.replace("BACKEND", backend), env))
    return costs


# A compiled step's first calls, timed apart from every figure: the trace (the eager step with the tracer)
# and the first replay (which, with the numba backend, compiles the generated function).
COMPILE_FIRST_CALLS = """
import time, numpy as np, tinygrad_mat as tm
rng = np.random.default_rng(0); X = rng.standard_normal((32, 10)); y = (rng.random(32) > 0.5).astype(float)[:, None]
model = tm.nn.Linear(10, 1); opt = tm.optim.SGD(model.parameters(), lr=0.1)
def step(X, y):
    opt.zero_grad(); loss = tm.nn.functional.binary_cross_entropy_with_logits(model(X), y); loss.backward(); opt.step()
    return loss
compiled = tm.compile(step, backend="BACKEND")
t = time.perf_counter(); compiled(X, y); compiled(X, y); print(time.perf_counter() - t)
"""


# A user's script, as it runs on its own: a least-squares SGD step on 10⁵ × 3 data, each implementation in a
# fresh process of its own. Inside the long benchmark process the allocator has been warmed by larger arrays.
FRESH_SCRIPT = """
import json, statistics, sys, timeit
import numpy as np, tinygrad_mat as tm
rng = np.random.default_rng(0)
X, W, Y = rng.standard_normal((100_000, 3)), rng.standard_normal((3, 1)), rng.standard_normal((100_000, 1))
def tinygrad_mat_step(backend=None):
    w = tm.tensor(W, requires_grad=True)
    opt = tm.optim.SGD([w], lr=1e-6)
    def step():
        opt.zero_grad()
        loss = ((X @ w - Y) ** 2).sum()
        loss.backward()
        opt.step()
        return loss
    return step if backend is None else tm.compile(step, backend=backend)
state = {"W": W.copy()}
def numpy_by_hand():
    r = X @ state["W"] - Y
    state["W"] = state["W"] - 1e-6 * (2 * (X.T @ r))
    return (r * r).sum()
step = {"numpy by hand": lambda: numpy_by_hand, "tinygrad_mat": tinygrad_mat_step,
        "tinygrad_mat compiled": lambda: tinygrad_mat_step("numpy"),
        "tinygrad_mat compiled (numba)": lambda: tinygrad_mat_step("numba")}[sys.argv[1]]()
for _ in range(5):
    step()
print(json.dumps(statistics.median(timeit.repeat(step, number=10, repeat=15)) / 10))
"""
FRESH_IMPLEMENTATIONS = ("numpy by hand", "tinygrad_mat", "tinygrad_mat compiled", "tinygrad_mat compiled (numba)")


def fresh_process(threads):
    """The least-squares step of a fresh script, each implementation in a process of its own, under
    glibc's defaults and with freed memory kept."""
    found = {}
    modes = ["default", "keep"] if platform.libc_ver()[0] == "glibc" else ["default"]
    for mode in modes:
        env = thread_env(threads, "quick", mode)
        found[mode] = {name: json.loads(_python(FRESH_SCRIPT, env, name)) for name in FRESH_IMPLEMENTATIONS}
    return found


def machine(threads):
    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count()}
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    info["cpu"] = cpu
    try:
        kib = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
        info["memory"] = f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        info["memory"] = "?"
    # versions from the installed metadata (importing torch and jax would cost seconds); the threaded
    # libraries that numpy (and so tinygrad_mat) loads, as threadpoolctl sees them under these settings
    code = ("import json, importlib.metadata as md\n"
            "versions = {}\n"
            "for m in ('numpy', 'numba', 'tinygrad_mat', 'torch', 'jax', 'jaxlib', 'autograd', 'scikit-learn'):\n"
            "    try:\n"
            "        versions[m] = md.version(m)\n"
            "    except md.PackageNotFoundError:\n"
            "        versions[m] = None\n"
            "try:\n"
            "    import numpy, threadpoolctl\n"
            "    blas = [{k: i.get(k) for k in ('internal_api', 'version', 'num_threads', 'filepath', 'threading_layer')}\n"
            "            for i in threadpoolctl.threadpool_info()]\n"
            "except ImportError:\n"
            "    blas = []\n"
            "print(json.dumps({'versions': versions, 'blas': blas}))")
    try:
        info.update(json.loads(_python(code, thread_env(threads, "quick"))))
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        info.update(versions={}, blas=[])
    info["threads"] = threads
    return info


def _owner(filepath):
    """The package a threaded library ships with: site-packages/numpy.libs/... -> numpy."""
    parts = Path(filepath or "").parts
    for i, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages"):
            return parts[i + 1].removesuffix(".libs").removesuffix("_libs")
    return Path(filepath or "?").name


def blas_line(info):
    """Each threaded library once: 'openblas 0.3.31 (numpy, pthreads): 1 thread'."""
    seen, described = set(), []
    for lib in info.get("blas", []):
        owner = _owner(lib.get("filepath"))
        key = (lib["internal_api"], owner)
        if key in seen:
            continue
        seen.add(key)
        details = ", ".join(x for x in (owner, lib.get("threading_layer")) if x)
        described.append(f"{lib['internal_api']} {lib.get('version') or ''} ({details}): {lib['num_threads']} thread(s)"
                         .replace("  ", " "))
    return "; ".join(described) or "not detected (pip install threadpoolctl)"


def _ratio(r, digits=2):
    """×0.48, ×4.5, ×16, ×1,200: no exponents in a table a person reads."""
    return f"×{r:,.0f}" if r >= 10 ** digits else f"×{r:.{digits}g}"


def _fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


class Suite:
    """One suite's medians: ``variants[variant][x][implementation]`` = pytest-benchmark stats."""

    def __init__(self, name, baseline, axis):
        self.name, self.baseline, self.axis = name, baseline, axis
        self.variants = defaultdict(lambda: defaultdict(dict))
        self.rows = {}           # (variant, x) -> the table's row label
        self.order = []          # implementations in the suite's own order, baseline first

    def implementations(self, variant):
        present = {name for per in self.variants[variant].values() for name in per}
        return [name for name in self.order if name in present]

    def ratio(self, variant, x, implementation):
        cell, base = self.variants[variant][x].get(implementation), self.variants[variant][x].get(self.baseline)
        return cell["median"] / base["median"] if cell and base else None


def collect(data):
    """{suite name: Suite} in the order the suites ran."""
    suites = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        suite = suites.setdefault(info["suite"], Suite(info["suite"], info["baseline"], info.get("axis", "size")))
        suite.variants[info["variant"]][info["x"]][info["implementation"]] = bench["stats"]
        suite.rows[(info["variant"], info["x"])] = info.get("row", info["size"])
        if info["implementation"] not in suite.order:
            suite.order.append(info["implementation"])
    for suite in suites.values():
        suite.order.sort(key=lambda name: name != suite.baseline)
    return suites


# A crossover is counted only when the ratio to the baseline goes from beyond this margin on one side
# to beyond it on the other: a median within 10% of the baseline's is a tie on a shared machine.
CROSSOVER_MARGIN = 1.1


def crossovers(suite, variant, implementation):
    """Neighbouring sizes between which ``implementation`` passes the baseline: from more than 10% slower
    to more than 10% faster, or back."""
    rows = suite.variants[variant]
    xs = [x for x in sorted(rows) if suite.ratio(variant, x, implementation) is not None]
    side = lambda r: 1 if r > CROSSOVER_MARGIN else -1 if r < 1 / CROSSOVER_MARGIN else 0
    found, last = [], None  # last: (size, ratio) of the last point clearly on one side
    for x in xs:
        r = suite.ratio(variant, x, implementation)
        if side(r) == 0:
            continue
        if last is not None and side(r) != side(last[1]):
            found.append((last[0], x, last[1], r))
        last = (x, r)
    return found


def plot(suite, path):
    """Log-log median time against size, one line per implementation, crossovers dotted."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    variants = sorted(suite.variants)
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 3]  # red is tinygrad_mat's
    others = iter(palette * 2)
    styles = {name: dict(linewidth=2.5, color="black") if name == suite.baseline
              else dict(linewidth=2.5, color="tab:red") if name == "tinygrad_mat"
              else dict(linewidth=1.2, color=next(others)) for name in suite.order}
    columns = min(3, len(variants))
    rows_of_panels = -(-len(variants) // columns)
    width = 4.6 * columns + 2.2
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(width, 3.6 * rows_of_panels + 0.4), squeeze=False)
    for ax in axes.flat[len(variants):]:
        ax.set_visible(False)
    for ax, variant in zip(axes.flat, variants):
        rows = suite.variants[variant]
        for name in suite.implementations(variant):
            xs = [x for x in sorted(rows) if name in rows[x]]
            ax.plot(xs, [rows[x][name]["median"] for x in xs], "o-", label=name, markersize=4, **styles[name])
            for a, b, _, _ in crossovers(suite, variant, name):
                ax.axvline(math.sqrt(a * b), linestyle=":", color=styles[name]["color"], linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if max(rows) / min(rows) < 100:  # a narrow range: tick the sizes run, in plain numbers
            ax.set_xticks(sorted(rows), [f"{x:,}" for x in sorted(rows)])
            ax.minorticks_off()
        ax.set_xlabel(suite.axis)
        ax.set_ylabel("median time (s)")
        ax.set_title(variant or suite.name, fontsize=10)
    if any(variants):
        fig.suptitle(suite.name, fontsize=11)
    handles = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend([handles[n] for n in suite.order if n in handles], [n for n in suite.order if n in handles],
               loc="center right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 2.1 / width, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def at_a_glance(suites):
    """Per suite and variant: tinygrad_mat against the baseline at the smallest and the largest size,
    and the fastest implementation at the largest."""
    lines = ["| suite | smallest size | tinygrad_mat | largest size | tinygrad_mat | fastest at largest |",
             "|---|---|---|---|---|---|"]
    for suite in suites.values():
        for variant in sorted(suite.variants):
            rows = suite.variants[variant]
            xs = sorted(x for x in rows if "tinygrad_mat" in rows[x])
            if not xs:
                continue
            small, large = xs[0], xs[-1]
            fastest = min(rows[large], key=lambda name: rows[large][name]["median"])
            name = suite.name + (f" ({variant})" if variant else "")
            lines.append(f"| {name} | {suite.rows[(variant, small)]} | {_ratio(suite.ratio(variant, small, 'tinygrad_mat'))} | "
                         f"{suite.rows[(variant, large)]} | {_ratio(suite.ratio(variant, large, 'tinygrad_mat'))} | "
                         f"{fastest} ({_ratio(suite.ratio(variant, large, fastest))}) |")
    return lines


def loop_claim(suites):
    """(n, loop / np.dot) at the largest dot-product size, or None."""
    suite = suites.get("dot product")
    if suite is None:
        return None
    rows = suite.variants[""]
    xs = [x for x in sorted(rows) if "python loop" in rows[x] and "numpy" in rows[x]]
    return (xs[-1], suite.ratio("", xs[-1], "python loop")) if xs else None


def _claim_sentence(claim):
    return (f"A dot product of two {claim[0]:,}-vectors by a Python loop takes **{claim[1]:.0f}×** the time of "
            "`np.dot` on this machine (the notes: about 40× on the author's).")


def fresh_section(fresh):
    """The fresh-script measurement as report lines (none if it was not taken)."""
    if not fresh:
        return []
    names = {"default": "glibc's defaults", "keep": "freed memory kept (`--malloc keep`)"}
    lines = ["## A fresh script", "",
             "A least-squares SGD step on 10⁵ × 3 data (zero_grad, loss, backward, step), each implementation "
             "timed in a process of its own as a user's script runs, not inside the benchmark process whose "
             "allocator larger arrays have warmed. glibc returns freed blocks over 128 KiB to the OS and faults "
             "fresh pages in on the next allocation; on a VM each fault costs microseconds, and a step that "
             "allocates 800 KB temporaries pays it on every call. Ratios to numpy by hand under the same allocator.",
             "", "| allocator | " + " | ".join(fresh[next(iter(fresh))]) + " |",
             "|---|" + "---|" * len(fresh[next(iter(fresh))])]
    for mode, times in fresh.items():
        base = times["numpy by hand"]
        cells = [_fmt(t) if name == "numpy by hand" else f"{_fmt(t)} ({_ratio(t / base)})" for name, t in times.items()]
        lines.append(f"| {names[mode]} | " + " | ".join(cells) + " |")
    return lines + [""]


def machine_line(info):
    malloc = "" if info.get("malloc", "default") == "default" else f"; allocator: {info['malloc']}"
    return (f"{info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}; "
            f"{info['threads']} BLAS/OpenMP/numba thread(s){malloc}")


def report(data, info, startup, out_dir, compare=None):
    """Write REPORT.md (and the plots) into ``out_dir``; return (the text, the suites)."""
    suites = collect(data)
    lines = ["# tinygrad_mat benchmark report", "",
             f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['platform']}; "
             f"Python {info['python']}. Profile: {data.get('tinygrad_mat', {}).get('profile', '?')}.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items() if v) + ".",
             f"Threads: {info['threads']} for BLAS, OpenMP and numba (environment variables set before any import) "
             "and for PyTorch (`torch.set_num_threads`). numpy's threaded libraries, as threadpoolctl reports them: "
             + blas_line(info) + ".",
             "Allocator: " + ("glibc's defaults (freed blocks over 128 KiB go back to the OS; see the README on page "
                              "faults)" if info.get("malloc", "default") == "default" else
                              f"{info['malloc']} ({MALLOC[info['malloc']]})") + ".",
             "", "Medians, with the spread as the interquartile range in percent of the median, and the ratio to "
             "the suite's baseline (×1 = as fast as the baseline; below 1: faster). Every implementation was "
             "checked to compute the baseline's numbers before it was timed. A crossover is where an "
             "implementation goes from more than 10% slower than the baseline to more than 10% faster (or back); the "
             "plots mark it with a dotted line of the implementation's colour. A peer that is not installed, or a "
             "Python loop too slow at that size, is a missing cell (—).", ""]
    claim = loop_claim(suites)
    if claim:
        lines += ["## The notes' claim", "", _claim_sentence(claim), ""]
    lines += ["## At a glance", "", "tinygrad_mat's time over the baseline's, at the smallest and the largest size "
              "run, and the fastest implementation at the largest.", ""] + at_a_glance(suites) + [""]
    lines += ["## Start-up costs (never inside a timed figure)", "", "| what | time |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} s |" for k, v in startup.items()] + [""]
    lines += fresh_section(data.get("tinygrad_mat", {}).get("fresh"))
    for suite in suites.values():
        lines += [f"## {suite.name}", "", f"Baseline: {suite.baseline}. Size: {suite.axis}.", ""]
        for variant in sorted(suite.variants):
            rows, implementations = suite.variants[variant], suite.implementations(variant)
            if variant:
                lines += [f"**{variant}**", ""]
            lines.append("| size | " + " | ".join(implementations) + " |")
            lines.append("|---|" + "---|" * len(implementations))
            for x in sorted(rows):
                cells = []
                for name in implementations:
                    stats = rows[x].get(name)
                    if stats is None:
                        cells.append("—")
                        continue
                    spread = 100 * stats["iqr"] / stats["median"] if stats["median"] else 0
                    ratio = suite.ratio(variant, x, name)
                    cells.append(f"{_fmt(stats['median'])} ±{spread:.0f}%" + (f" {_ratio(ratio, 3)}" if ratio else ""))
                lines.append(f"| {suite.rows[(variant, x)]} | " + " | ".join(cells) + " |")
            passes = [f"{name} passes {suite.baseline} between {suite.rows[(variant, a)]} ({_ratio(ra)}) and "
                      f"{suite.rows[(variant, b)]} ({_ratio(rb)})"
                      for name in implementations for a, b, ra, rb in crossovers(suite, variant, name)]
            if passes:
                lines += ["", "Crossovers: " + "; ".join(passes) + "."]
            lines.append("")
        picture = plot(suite, out_dir / f"{suite.name.replace(' ', '_')}.png")
        lines += [f"![{suite.name}]({Path(picture).name})" if picture else
                  "(No plot: matplotlib is not installed; pip install matplotlib.)", ""]
    if compare:
        lines += comparison(data, compare)
    text = "\n".join(lines)
    (out_dir / "REPORT.md").write_text(text + "\n", encoding="utf-8")
    return text, suites


def comparison(data, old):
    """A table of now / before for every benchmark both runs have; ``old`` is (its path, its JSON)."""
    old_path, old = old
    old = {b["fullname"]: b["stats"]["median"] for b in old["benchmarks"]}
    lines = [f"## Against {old_path}", "", "Same benchmark, this run's median over the earlier run's (below 1: faster "
             "now). Runs made at different times share the machine with different loads: compare with care.", "",
             "| benchmark | now | before | now / before |", "|---|---|---|---|"]
    for bench in data["benchmarks"]:
        before = old.get(bench["fullname"])
        if before:
            now = bench["stats"]["median"]
            lines.append(f"| {bench['name']} | {_fmt(now)} | {_fmt(before)} | ×{now / before:.3g} |")
    return lines + [""]


def update_readme(readme, suites, info, report_path, profile="quick", fresh=None):
    """Rewrite the README's speed summary (between <!-- speed-report:start/end -->) from this run."""
    text = Path(readme).read_text(encoding="utf-8")
    start, end = "<!-- speed-report:start -->", "<!-- speed-report:end -->"
    if start not in text or end not in text.split(start, 1)[-1]:
        raise SystemExit(f"{readme} has no {start} ... {end} markers")
    link = os.path.relpath(report_path, Path(readme).resolve().parent)
    summary = [f"Measured by `python bench/run.py --{profile}` on {machine_line(info)}. Medians; the full tables, the "
               f"spread, the peers' versions and the plots are in [`{link}`]({link}).", ""]
    claim = loop_claim(suites)
    if claim:
        summary += [_claim_sentence(claim), ""]
    summary += at_a_glance(suites)
    if fresh and "default" in fresh:
        d = fresh["default"]
        parts = [f"{name.replace('tinygrad_mat', '').strip() or 'eager'} {_fmt(d[name])} "
                 f"({_ratio(d[name] / d['numpy by hand'])})" for name in d if name != "numpy by hand"]
        summary += ["", f"In a fresh script (each implementation in a process of its own, glibc's default allocator), "
                    f"a least-squares SGD step on 10⁵ × 3 data: numpy by hand {_fmt(d['numpy by hand'])}; tinygrad_mat "
                    + ", ".join(parts) + "; see \"Page faults\" below."]
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    Path(readme).write_text(before + start + "\n" + "\n".join(summary) + "\n" + end + after, encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description="tinygrad_mat's benchmarks: one command, one report.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, short timings (under 2 minutes; the default)")
    size.add_argument("--full", action="store_true", help="every size, longer timings")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks the pipeline (the numbers mean nothing)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS, OpenMP and numba threads (default 1)")
    parser.add_argument("--malloc", choices=sorted(MALLOC), default="default",
                        help="glibc's allocator as users get it (default), or 'keep': freed memory is not "
                             "returned to the OS, so large temporaries cost no page faults (Linux/glibc)")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="where REPORT.md, the plots and results.json go (default .benchmarks/run/, untracked; "
                             "bench/results refreshes the committed report)")
    parser.add_argument("--compare", help="an earlier results.json to compare with")
    parser.add_argument("--readme", help="also rewrite this README's speed summary")
    args = parser.parse_args(argv)
    profile = "full" if args.full else "test" if args.smoke else "quick"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_json = out_dir / "results.json"
    if args.compare and not Path(args.compare).is_file():
        parser.error(f"--compare {args.compare}: no such file (give an earlier run's results.json)")
    # read before the run: --compare may name the results.json this run overwrites
    compare = (args.compare, json.loads(Path(args.compare).read_text())) if args.compare else None
    if args.malloc != "default" and platform.libc_ver()[0] != "glibc":
        parser.error(f"--malloc {args.malloc} sets glibc tunables; this Python does not run on glibc")
    run_suites(profile, args.threads, out_json, args.malloc)
    data = json.loads(out_json.read_text())
    for bench in data["benchmarks"]:  # every round's time would make the file megabytes; the summary stays
        bench["stats"].pop("data", None)
    info, startup = machine(args.threads), startup_costs(args.threads)
    info["malloc"] = args.malloc
    fresh = fresh_process(args.threads) if profile != "test" else None
    data["tinygrad_mat"] = {"profile": profile, "machine": info, "startup": startup, "fresh": fresh}
    out_json.write_text(json.dumps(data, indent=1))
    text, suites = report(data, info, startup, out_dir, compare)
    if args.readme:
        update_readme(args.readme, suites, info, out_dir / "REPORT.md", {"test": "smoke"}.get(profile, profile), fresh)
    print(f"\nwrote {out_dir / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
