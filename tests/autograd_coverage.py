"""How much of HIPS autograd's own test suite runs on tinygrad_mat: a measuring script, not a pytest file.

    python tests/autograd_coverage.py                     # every in-scope program, table and share
    python tests/autograd_coverage.py -k trace -v         # programs whose id contains "trace", with reasons
    python tests/autograd_coverage.py --files test_linalg.py --no-oracle

autograd's test programs are numpy code written against ``autograd.numpy``. The script downloads
autograd's source distribution at run time (``pip download autograd==1.9.1 --no-binary :all:``; none of
autograd's code is kept in this repository), and runs its real-valued test programs with a shim in
place of autograd:

  * ``autograd.numpy`` is numpy itself: Tensors reach tinygrad_mat through ``__array_function__`` and
    ``__array_ufunc__``, so a program runs exactly as a numpy user's code would;
  * ``autograd.grad``, ``value_and_grad``, ``jacobian``, ``hessian``, ``elementwise_grad`` and
    ``deriv`` are tinygrad_mat's transforms (the last two written with ``tm.vjp`` / ``tm.jvp``);
  * ``autograd.test_util.check_grads`` is a checker of this script's own, independent of autograd: at
    the orders autograd asks, tinygrad_mat's forward (``tm.jvp``) and reverse (``tm.vjp``) derivatives,
    both modes always, are compared with central differences in float64 (autograd's step and
    tolerance), and the value with numpy's.

Each program is then: ``agrees`` (ran; every check agreed), ``unsupported`` (tinygrad_mat raised an
error of its own, naming what it cannot do), ``crash`` (an error from outside tinygrad_mat: an unclear
failure) or ``WRONG`` (a value or derivative disagreeing with central differences, a failed assertion of
the program, or a disagreement with autograd itself: in a second process the same checks run on
autograd, installed beside, and its first derivatives are compared with tinygrad_mat's).

What is in scope, and why: the files of numpy programs on real numbers (``IN_SCOPE_FILES``). Complex
numbers, FFTs, scipy, dicts and autograd's internals (vspaces, its wrappers, ``primitive``, its own
``isinstance``/``tuple`` boxes) are not numpy coverage questions (``OUT_OF_SCOPE_FILES`` and
``OUT_OF_SCOPE_TESTS`` give the reason for each); inside an in-scope program, a ``check_grads`` call
on complex input is skipped.
"""
import argparse
import builtins
import collections
import contextlib
import importlib
import io
import itertools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import traceback
import types

import numpy

AUTOGRAD_VERSION = "1.9.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository, whose tinygrad_mat is measured

IN_SCOPE_FILES = (
    "test_numpy.py", "test_systematic.py", "test_linalg.py", "test_binary_ops.py", "test_scalar_ops.py",
    "test_jacobian.py", "test_tuple.py", "test_list.py", "test_direct.py", "test_truediv.py",
    "test_logic.py", "test_graphs.py",
)
OUT_OF_SCOPE_FILES = {
    "test_complex.py": "complex numbers",
    "test_fft.py": "FFTs (complex)",
    "test_scipy.py": "scipy (special functions, stats, signal)",
    "test_dict.py": "dicts as differentiable containers",
    "test_vspaces.py": "autograd internals (vector spaces)",
    "test_wrappers.py": "autograd's own API (multigrad, defgrad, make_ggnvp, ...)",
    "test_core.py": "autograd internals (autograd.core without numpy)",
    "test_misc.py": "autograd internals (const_graph, flatten)",
    "test_tests.py": "autograd's test utilities themselves",
    "test_builtins.py": "autograd's own isinstance wrapper for its boxes",
    "test_ufunc_dispatch.py": "xarray interoperation of autograd's boxes",
    "test_performance.py": "timing",
}
OUT_OF_SCOPE_TESTS = {
    "test_numpy.py::test_numpy_version": "autograd.numpy's own version attribute (the shim is numpy)",
    "test_numpy.py::test_make_diagonal": "np.make_diagonal is autograd's own function, not numpy's",
    "test_linalg.py::test_eig_real": "np.linalg.eig: complex eigenvalues and eigenvectors",
    "test_linalg.py::test_eig_complex": "complex numbers",
    "test_linalg.py::test_eig_batched": "complex numbers",
    "test_direct.py::test_holomorphic_grad": "complex numbers (holomorphic_grad)",
    "test_direct.py::test_grad_complex_output": "complex numbers",
    "test_logic.py::test_no_vjp_def": "autograd internals (autograd.extend.primitive)",
    "test_logic.py::test_no_jvp_def": "autograd internals (autograd.extend.primitive)",
    "test_logic.py::test_unimplemented_falseyness": "autograd internals (autograd.core.primitive_vjps)",
    "test_tuple.py::test_isinstance": "autograd's own isinstance/tuple boxes",
    "test_list.py::test_isinstance": "autograd's own isinstance/list boxes",
}

EPS = 1e-6            # autograd's central-difference step (autograd.test_util.EPS)
TOL = RTOL = 1e-6     # autograd's tolerance on the inner products (autograd.test_util.scalar_close)
ORACLE_RTOL, ORACLE_ATOL = 1e-5, 1e-7   # tinygrad_mat against autograd: two exact derivatives
FILE_TIMEOUT = 1800   # seconds for one file's programs (they take seconds here)


def scope_reason(test_id):
    """None for an in-scope program, else why it is out of scope."""
    file, name = test_id.split("::")
    base = name.split("[")[0]
    if file not in IN_SCOPE_FILES:
        return OUT_OF_SCOPE_FILES.get(file, "not a numpy program on real numbers")
    if "complex" in base:
        return "complex numbers"
    return OUT_OF_SCOPE_TESTS.get(f"{file}::{base}")


# ---------------------------------------------------------------- fetching autograd's tests


def fetch_tests(workdir):
    """Download autograd's sdist into ``workdir`` and unpack its tests/ folder; return that folder."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"autograd=={AUTOGRAD_VERSION}", "--no-binary", ":all:",
         "--no-deps", "--quiet", "-d", workdir],
        check=True,
    )
    archive = next(os.path.join(workdir, n) for n in os.listdir(workdir) if n.endswith((".tar.gz", ".zip")))
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name and m.name.endswith(".py")]
        tar.extractall(workdir, members=members, filter="data")
    return os.path.join(workdir, f"autograd-{AUTOGRAD_VERSION}", "tests")


# ---------------------------------------------------------------- containers (tuples, lists)


def flatten(x):
    """(leaves, tree): the arrays and numbers inside nested tuples and lists."""
    if isinstance(x, (tuple, list)):
        leaves, trees = [], []
        for item in x:
            sub, tree = flatten(item)
            leaves += sub
            trees.append((len(sub), tree))
        return leaves, (type(x), trees)
    return [x], None


def unflatten(tree, leaves):
    if tree is None:
        return leaves[0]
    kind, trees = tree
    out, start = [], 0
    for count, sub in trees:
        out.append(unflatten(sub, leaves[start:start + count]))
        start += count
    return kind(out)


def values(x):
    """The numbers in x (a Tensor, array, number or container) as a list of float64 arrays."""
    leaves, _ = flatten(x)
    return [numpy.asarray(getattr(leaf, "_data", leaf), dtype=numpy.float64) for leaf in leaves]


def is_complex(x):
    return any(numpy.iscomplexobj(getattr(leaf, "_data", leaf)) for leaf in flatten(x)[0])


def as_leaf(value):
    value = numpy.asarray(value, dtype=numpy.float64)
    return value[()] if value.ndim == 0 else value


def inner(a, b):
    return float(sum(numpy.sum(x * y) for x, y in zip(a, b)))


def scalar_close(a, b):
    return abs(a - b) < TOL or abs(a - b) / abs(a + b) < RTOL


def of_leaves(fun, args, kwargs, argnum, tree, packed=False):
    """fun as a function of the leaves of the differentiated argument(s) (autograd's unary_to_nary with
    the containers flattened); ``packed``: the leaves come as one tuple."""
    def flat_fun(*leaf_args):
        x = unflatten(tree, list(leaf_args[0] if packed else leaf_args))
        full = list(args)
        if isinstance(argnum, int):
            full[argnum] = x
        else:
            for i, xi in zip(argnum, x):
                full[i] = xi
        return fun(*full, **kwargs)
    return flat_fun


def differentiated(args, argnum):
    return args[argnum] if isinstance(argnum, int) else tuple(args[i] for i in argnum)


class WrongAnswer(AssertionError):
    """A value or derivative of tinygrad_mat that disagrees with central differences or autograd."""


# ---------------------------------------------------------------- the checker


class Checker:
    """``check_grads`` without autograd: both modes of tinygrad_mat against central differences."""

    def __init__(self, tm, record):
        self.tm = tm
        self.record = record       # first derivatives of each call, for the comparison with autograd
        self.calls = 0

    def check_grads(self, fun, argnum=0, modes=("fwd", "rev"), order=2):
        def checked(*args, **kwargs):
            x = differentiated(args, argnum)
            if is_complex(x):
                return  # complex input: out of scope
            leaves, tree = flatten(x)
            rng = numpy.random.RandomState(1000 + self.calls)  # the same directions in the oracle's process
            self.calls += 1
            self.order = order
            self.check(of_leaves(fun, args, kwargs, argnum, tree), [as_leaf(leaf) for leaf in leaves], order, rng,
                       top=True)
        return checked

    def check(self, f, leaves, order, rng, top=False):
        """The value of f (a function of arrays) against numpy's, ⟨u, J v⟩ (tm.jvp) and ⟨uᵀJ, v⟩ (tm.vjp)
        against central differences for random u and v; then, at order 2, the derivatives themselves."""
        tm = self.tm
        reference = f(*leaves)                       # numpy in, numpy out: numpy's own value
        if is_complex(reference):
            return
        ref_values = values(reference)
        vs = [as_leaf(rng.randn(*numpy.shape(leaf))) for leaf in leaves]
        us = [numpy.asarray(rng.randn(*v.shape)) for v in ref_values]
        numeric = self.central_difference(f, leaves, vs)
        out_tree = flatten(reference)[1]
        u_struct = unflatten(out_tree, [as_leaf(u) for u in us])

        out, tangent = tm.jvp(f, tuple(leaves), tuple(vs))
        self.compare_values(values(out), ref_values, "value")
        _, vjp_fn = tm.vjp(f, *leaves)
        cotangents = vjp_fn(u_struct)
        derivatives = {"forward mode <u, J v>": inner(us, values(tangent)),
                       "reverse mode <uᵀJ, v>": inner([numpy.asarray(v, dtype=float) for v in vs], values(list(cotangents)))}
        expected = inner(us, numeric)
        for what, got in derivatives.items():
            if not scalar_close(got, expected) and not self.agrees_with_finer_difference(f, leaves, vs, us, got):
                level = "" if top else f" (of a derivative, order {self.order - order + 1})"
                raise WrongAnswer(f"{what}{level} = {got!r}, central differences {expected!r}")
        if top:
            self.record.append({"value": [v.tolist() for v in ref_values],
                                "jv": [t.tolist() for t in values(tangent)],
                                "uj": [c.tolist() for c in values(list(cotangents))]})
        if order > 1:
            self.check_second_order(f, leaves, vs, out_tree, u_struct, order, rng)

    def check_second_order(self, f, leaves, vs, out_tree, u_struct, order, rng):
        """As autograd: the forward derivative (x, v) ↦ J(x) v and the reverse one (x, u) ↦ uᵀ J(x) are
        themselves checked, one output at a time."""
        tm, n = self.tm, len(leaves)
        n_out = len(flatten(u_struct)[0])
        us = flatten(u_struct)[0]
        for i in range(n_out):
            def jvp_i(*a, i=i):
                return flatten(tm.jvp(f, tuple(a[:n]), tuple(a[n:]))[1])[0][i]
            self.check(jvp_i, list(leaves) + list(vs), order - 1, rng)
        for i in range(n):
            def vjp_i(*a, i=i):
                return tm.vjp(f, *a[:n])[1](unflatten(out_tree, list(a[n:])))[i]
            self.check(vjp_i, list(leaves) + [as_leaf(u) for u in us], order - 1, rng)

    @staticmethod
    def central_difference(f, leaves, vs, eps=EPS):
        """(f(x + eps v / 2) − f(x − eps v / 2)) / eps, as autograd's check, in float64."""
        plus = values(f(*[x + eps / 2 * v for x, v in zip(leaves, vs)]))
        minus = values(f(*[x - eps / 2 * v for x, v in zip(leaves, vs)]))
        return [(p - m) / eps for p, m in zip(plus, minus)]

    def agrees_with_finer_difference(self, f, leaves, vs, us, got):
        """Where the plain central difference disagrees, a fourth-order one decides (on ill-conditioned
        matrices the plain one's truncation error exceeds the tolerance): (4 D(h) − D(2h)) / 3 with
        D(h) = (f(x + h v) − f(x − h v)) / 2h, at h = 1e-3 and 1e-4."""
        for h in (1e-3, 1e-4):
            near, far = self.central_difference(f, leaves, vs, 2 * h), self.central_difference(f, leaves, vs, 4 * h)
            if scalar_close(got, inner(us, [(4 * a - b) / 3 for a, b in zip(near, far)])):
                return True
        return False

    @staticmethod
    def compare_values(got, expected, what):
        if len(got) != len(expected) or any(g.shape != e.shape for g, e in zip(got, expected)):
            raise WrongAnswer(f"{what}: shapes {[g.shape for g in got]}, numpy gives {[e.shape for e in expected]}")
        for g, e in zip(got, expected):
            if not numpy.allclose(g, e, rtol=1e-7, atol=1e-9, equal_nan=True):
                raise WrongAnswer(f"{what}: {g!r}, numpy gives {e!r}")


def combo_check_with(check_grads):
    """autograd's combo_check: check_grads over every combination of the arguments and keywords given."""
    def combo_check(fun, *args, **kwargs):
        def _combo_check(*args_lists, **kwarg_lists):
            pairs = [[(k, x) for x in xs] for k, xs in kwarg_lists.items()]
            for _args in itertools.product(*args_lists):
                for _kwargs in itertools.product(*pairs):
                    check_grads(fun, *args, **kwargs)(*_args, **dict(_kwargs))
        return _combo_check
    return combo_check


# ---------------------------------------------------------------- the shim: autograd -> tinygrad_mat


def install_shim(tm, checker):
    """Put modules named autograd.* in sys.modules that map autograd's API to numpy and tinygrad_mat."""

    def grad(fun, argnum=0):
        return tm.grad(fun, argnums=argnum)

    def value_and_grad(fun, argnum=0):
        return tm.value_and_grad(fun, argnums=argnum)

    def jacobian(fun, argnum=0):
        return tm.jacobian(fun, argnums=argnum)

    def hessian(fun, argnum=0):
        return tm.hessian(fun, argnums=argnum)

    def elementwise_grad(fun, argnum=0):
        def wrapper(*args, **kwargs):
            def of_x(x):
                return fun(*args[:argnum], x, *args[argnum + 1:], **kwargs)
            out, vjp_fn = tm.vjp(of_x, args[argnum])
            return vjp_fn(numpy.ones(numpy.shape(out)))[0]
        return wrapper

    def deriv(fun, argnum=0):
        def wrapper(*args, **kwargs):
            def of_x(x):
                return fun(*args[:argnum], x, *args[argnum + 1:], **kwargs)
            x = args[argnum]
            return tm.jvp(of_x, (x,), (numpy.ones(numpy.shape(x)),))[1]
        return wrapper

    def out_of_scope(*args, **kwargs):
        raise NotImplementedError("autograd internals are out of scope of this measurement")

    autograd = types.ModuleType("autograd")
    autograd.__path__ = []
    autograd.grad, autograd.value_and_grad, autograd.jacobian, autograd.hessian = grad, value_and_grad, jacobian, hessian
    autograd.elementwise_grad, autograd.deriv = elementwise_grad, deriv
    autograd.holomorphic_grad = autograd.make_vjp = out_of_scope
    autograd.tuple, autograd.list, autograd.dict = builtins.tuple, builtins.list, builtins.dict
    autograd.isinstance = builtins.isinstance

    linalg = types.ModuleType("autograd.numpy.linalg")
    linalg.__getattr__ = lambda name: getattr(numpy.linalg, name)
    # autograd's private helpers that its linalg tests call: numpy spellings of the same.
    linalg._dot = lambda a, b: numpy.einsum("...ij,...jk->...ik", a, b)
    linalg.T = lambda a: numpy.swapaxes(a, -1, -2)
    anp = types.ModuleType("autograd.numpy")
    anp.__path__ = []
    anp.__getattr__ = lambda name: getattr(numpy, name)
    anp.linalg, anp.random = linalg, numpy.random
    anp.make_diagonal = make_diagonal  # autograd's own helper, used on plain arrays only

    test_util = types.ModuleType("autograd.test_util")
    test_util.check_grads = checker.check_grads
    test_util.combo_check = combo_check_with(checker.check_grads)
    test_util.scalar_close = scalar_close
    test_util.check_equivalent = out_of_scope

    stubs = {name: types.ModuleType(name) for name in
             ("autograd.builtins", "autograd.extend", "autograd.core", "autograd.tracer", "autograd.wrap_util",
              "autograd.misc", "autograd.scipy")}
    stubs["autograd.builtins"].isinstance = builtins.isinstance
    stubs["autograd.builtins"].tuple, stubs["autograd.builtins"].list = builtins.tuple, builtins.list
    stubs["autograd.extend"].primitive = stubs["autograd.extend"].defvjp = out_of_scope
    stubs["autograd.tracer"].primitive = stubs["autograd.tracer"].isbox = out_of_scope
    stubs["autograd.core"].primitive_vjps, stubs["autograd.core"].make_vjp = {}, out_of_scope
    stubs["autograd.core"].vspace = out_of_scope
    stubs["autograd.wrap_util"].unary_to_nary = out_of_scope
    sys.modules.update({"autograd": autograd, "autograd.numpy": anp, "autograd.numpy.linalg": linalg,
                        "autograd.numpy.random": numpy.random, "autograd.test_util": test_util, **stubs})


def make_diagonal(D, offset=0, axis1=0, axis2=1):
    """autograd's np.make_diagonal on plain arrays (D's last axis becomes a diagonal)."""
    D = numpy.asarray(D)
    out = numpy.zeros(D.shape + D.shape[-1:])
    idx = numpy.arange(D.shape[-1])
    out[..., idx, idx] = D
    return out


# ---------------------------------------------------------------- the oracle: the same checks on autograd


class OracleChecker:
    """Records autograd's value, J v and uᵀJ for each top-level check_grads call (same directions)."""

    def __init__(self, record):
        self.record = record
        self.calls = 0

    def check_grads(self, fun, argnum=0, modes=("fwd", "rev"), order=2):
        from autograd import make_jvp, make_vjp
        import autograd.numpy as anp

        def checked(*args, **kwargs):
            x = differentiated(args, argnum)
            if is_complex(x):
                return
            leaves, tree = flatten(x)
            leaves = tuple(as_leaf(leaf) for leaf in leaves)
            of_tuple = of_leaves(fun, args, kwargs, argnum, tree, packed=True)

            def flat_fun(leaf_args):  # autograd's own containers aside: one flat output vector
                return anp.concatenate([anp.ravel(o) for o in flatten(of_tuple(leaf_args))[0]])

            rng = numpy.random.RandomState(1000 + self.calls)
            self.calls += 1
            reference = flatten(fun(*[a for a in args], **kwargs))[0]
            if is_complex(reference):
                return
            ref_values = values(reference)
            vs = tuple(as_leaf(rng.randn(*numpy.shape(leaf))) for leaf in leaves)
            us = [numpy.asarray(rng.randn(*v.shape)) for v in ref_values]
            entry = {"value": [v.tolist() for v in ref_values], "jv": None, "uj": None}
            try:
                tangent = make_jvp(flat_fun)(leaves)(vs)[1]
                entry["jv"] = split_like(numpy.asarray(tangent), ref_values)
            except Exception:
                pass  # autograd has no forward rule here
            try:
                vjp_fn = make_vjp(flat_fun)(leaves)[0]
                u_flat = numpy.concatenate([u.ravel() for u in us]) if us else numpy.zeros(0)
                entry["uj"] = [numpy.asarray(c, dtype=float).tolist() for c in vjp_fn(u_flat)]
            except Exception:
                pass
            self.record.append(entry)
        return checked


def split_like(flat, arrays):
    out, start = [], 0
    for a in arrays:
        out.append(flat[start:start + a.size].reshape(a.shape).tolist())
        start += a.size
    return out


# ---------------------------------------------------------------- running one file's programs


def collect(module):
    """(name, function, kwargs) for each test of the module, pytest's parametrize marks expanded."""
    for name, fn in vars(module).items():
        if not name.startswith("test") or not callable(fn) or isinstance(fn, type):
            continue
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
        grids = []
        for mark in marks:
            names = [n.strip() for n in mark.args[0].split(",")] if isinstance(mark.args[0], str) else list(mark.args[0])
            grids.append([dict(zip(names, v if len(names) > 1 else (v,))) for v in mark.args[1]])
        for combo in itertools.product(*grids):
            kwargs = {k: v for part in combo for k, v in part.items()}
            label = "-".join(str(v) for v in kwargs.values())
            yield (f"{name}[{label}]" if kwargs else name), fn, kwargs


def origin_is_tinygrad_mat(error):
    """True when the error was raised inside tinygrad_mat (its own, clear error)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and os.sep + "tinygrad_mat" + os.sep in frames[-1].filename


def run_file(tests_dir, file, pattern, oracle):
    """Run the programs of one file in this process; return {test id: result}."""
    sys.path[:0] = [tests_dir, ROOT]
    record = []
    if oracle:
        import autograd.test_util
        checker = OracleChecker(record)
        autograd.test_util.check_grads = checker.check_grads
        autograd.test_util.combo_check = combo_check_with(checker.check_grads)
    else:
        import tinygrad_mat as tm
        checker = Checker(tm, record)
        install_shim(tm, checker)
    import pytest  # the programs use pytest.raises, whose failure is no Exception
    import warnings
    warnings.simplefilter("ignore")
    module = importlib.import_module(file[:-3])
    results = {}
    for name, fn, kwargs in collect(module):
        test_id = f"{file}::{name}"
        if pattern and pattern not in test_id:
            continue
        reason = scope_reason(test_id)
        if reason is not None:
            results[test_id] = {"status": "out of scope", "reason": reason}
            continue
        numpy.random.seed(42)  # autograd's conftest.py
        record.clear()
        checker.calls = 0
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                fn(**kwargs)
                status, reason = "agrees", ""
            except WrongAnswer as error:
                status, reason = "WRONG", str(error)[:300]
            except AssertionError as error:
                status, reason = ("crash" if oracle else "WRONG"), f"assertion failed: {short(error)}"
            except pytest.fail.Exception as error:  # pytest.raises saw no error where the program expects one
                status, reason = ("crash" if oracle else "WRONG"), f"expected an error: {short(error)}"
            except Exception as error:
                clear = origin_is_tinygrad_mat(error)
                status = "unsupported" if clear else "crash"
                reason = f"{type(error).__name__}: {short(error)}"
        results[test_id] = {"status": status, "reason": reason, "calls": list(record)}
    return results


def short(error):
    text = str(error).strip().splitlines()
    return (text[0] if text else repr(error))[:300]


def compare_with_oracle(results, oracle):
    """Mark WRONG a program whose first derivatives or values disagree with autograd's; return how many
    programs had checks to compare (autograd's own run of the others failed or checked nothing)."""
    compared = 0
    for test_id, result in results.items():
        theirs = oracle.get(test_id)
        if result["status"] != "agrees" or not theirs or theirs["status"] != "agrees" or not theirs["calls"]:
            continue
        compared += 1
        mismatch = first_mismatch(result["calls"], theirs["calls"])
        if mismatch is not None:
            result["status"], result["reason"] = "WRONG", mismatch
    return compared


def first_mismatch(mine, theirs):
    """The first check_grads call whose value, J v or uᵀJ differs from autograd's, as a sentence."""
    for index, (ours, ref) in enumerate(zip(mine, theirs)):
        for key in ("value", "jv", "uj"):
            if ref[key] is None:
                continue  # autograd has no rule for this mode here
            a, b = ours[key], ref[key]
            if len(a) != len(b) or not all(
                    numpy.allclose(numpy.asarray(x), numpy.asarray(y), rtol=ORACLE_RTOL, atol=ORACLE_ATOL)
                    for x, y in zip(a, b)):
                return f"check_grads call {index}: {key} differs from autograd's"
    return None


# ---------------------------------------------------------------- the report


def run_in_subprocess(tests_dir, file, pattern, oracle):
    command = [sys.executable, __file__, "--worker", tests_dir, file, pattern or ""]
    if oracle:
        command.append("--oracle-pass")
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=FILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {f"{file}::<all>": {"status": "crash", "reason": f"no answer within {FILE_TIMEOUT} s", "calls": []}}
    if done.returncode != 0:
        return {f"{file}::<import>": {"status": "crash", "reason": " ".join(done.stderr.strip().splitlines()[-1:]),
                                      "calls": []}}
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results, verbose):
    by_file = collections.OrderedDict()
    for test_id, result in results.items():
        by_file.setdefault(test_id.split("::")[0], collections.Counter())[result["status"]] += 1
    statuses = ("agrees", "unsupported", "crash", "WRONG", "out of scope")
    print("| file | in scope | " + " | ".join(statuses) + " |")
    print("|---|" + "---|" * (len(statuses) + 1))
    total = collections.Counter()
    for file, counts in by_file.items():
        in_scope = sum(counts[s] for s in statuses[:4])
        total.update(counts)
        print(f"| {file} | {in_scope} | " + " | ".join(str(counts[s]) for s in statuses) + " |")
    in_scope = sum(total[s] for s in statuses[:4])
    print(f"| total | {in_scope} | " + " | ".join(str(total[s]) for s in statuses) + " |")
    share = total["agrees"] / in_scope if in_scope else 0.0
    print(f"\n{total['agrees']} of {in_scope} in-scope programs agree: {100 * share:.1f} %; WRONG: {total['WRONG']}")
    print("\nFailing programs:")
    for test_id, result in results.items():
        if result["status"] in ("unsupported", "crash", "WRONG"):
            print(f"  {result['status']:<11} {test_id}: {result['reason']}")
    if verbose:
        print("\nOut of scope:")
        for test_id, result in results.items():
            if result["status"] == "out of scope":
                print(f"  {test_id}: {result['reason']}")
    return share, total["WRONG"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", default=list(IN_SCOPE_FILES))
    parser.add_argument("-k", dest="pattern", default="", help="only programs whose id contains this")
    parser.add_argument("--no-oracle", action="store_true", help="skip the comparison with autograd itself")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--json", help="write every program's result to this file")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--oracle-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        tests_dir, file, pattern = args.worker
        with contextlib.redirect_stdout(sys.stderr):
            results = run_file(tests_dir, file, pattern, args.oracle_pass)
        print(json.dumps(results))
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        tests_dir = fetch_tests(workdir)
        results, compared = {}, 0
        for file in args.files:
            mine = run_in_subprocess(tests_dir, file, args.pattern, oracle=False)
            if not args.no_oracle:
                compared += compare_with_oracle(mine, run_in_subprocess(tests_dir, file, args.pattern, oracle=True))
            results.update(mine)
    share, wrong = report(results, args.verbose)
    if not args.no_oracle:
        print(f"\nCompared with autograd's own derivatives: {compared} of the programs that agree "
              "(the others make no check_grads call, or autograd's own run of them failed).")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({k: {"status": v["status"], "reason": v["reason"]} for k, v in results.items()}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
