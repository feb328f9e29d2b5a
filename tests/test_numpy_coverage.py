"""numpy spellings on Tensors, each checked against numpy itself: the same function of numpy calls runs
on plain arrays (numpy's value, and central differences in float64 of numpy's own function) and on
Tensors (tinygrad_mat through numpy's protocols, both modes). Then the conventions that needed a
decision: one-triangle symmetric routines, std at zero spread, astype to integers, tuple outputs of
the transforms.

HIPS autograd's test programs measure the same coverage at large: ``python tests/autograd_coverage.py``.
"""
import numpy as np
import pytest

import tinygrad_mat as tm

from helpers import assert_close

H = 1e-6
NAN_AND_INF = np.array([0.0, np.nan, np.inf, -np.inf])
MASK = np.array([[True, False, True], [False, False, True]])


def leaves(x):
    """The arrays in x (one array or number, or a tuple or list of them) as float64 numpy arrays."""
    items = x if isinstance(x, (tuple, list)) else [x]
    return [np.asarray(getattr(i, "_data", i), dtype=np.float64) for i in items]


def inner(a, b):
    return sum(float(np.sum(x * y)) for x, y in zip(a, b))


def check_against_numpy(f, arrays, seed=0, rtol=1e-6):
    """f (written with numpy functions) on Tensors against numpy on the arrays: the value, then
    ⟨u, J v⟩ from tm.jvp and ⟨Jᵀu, v⟩ from tm.vjp against central differences of numpy's f."""
    rng = np.random.default_rng(seed)
    expected = leaves(f(*arrays))
    out, tangent = tm.jvp(f, tuple(arrays), tuple(rng.standard_normal(np.shape(a)) for a in arrays))
    for got, want in zip(leaves(out), expected, strict=True):
        assert_close(got, want, rtol=1e-12, atol=1e-12, what="value")
    vs = [rng.standard_normal(np.shape(a)) for a in arrays]
    us = [rng.standard_normal(e.shape) for e in expected]
    plus = leaves(f(*[a + H * v for a, v in zip(arrays, vs)]))
    minus = leaves(f(*[a - H * v for a, v in zip(arrays, vs)]))
    numeric = inner(us, [(p - m) / (2 * H) for p, m in zip(plus, minus)])
    _, tangent = tm.jvp(f, tuple(arrays), tuple(vs))
    forward = inner(us, leaves(tangent))
    out, vjp_fn = tm.vjp(f, *arrays)
    cotangent = us[0] if not isinstance(out, (tuple, list)) else type(out)(us)
    reverse = inner(leaves(vjp_fn(cotangent)), vs)
    scale = max(1.0, abs(numeric))
    assert abs(forward - numeric) <= rtol * scale, f"forward mode {forward} != central differences {numeric}"
    assert abs(reverse - numeric) <= rtol * scale, f"reverse mode {reverse} != central differences {numeric}"


rng = np.random.default_rng(7)
R = rng.standard_normal
A34, B34, A23, A234, V3, A33 = R((3, 4)), R((3, 4)), R((2, 3)), R((2, 3, 4)), R(3), R((3, 3))
AWAY = np.sign(A23) * (np.abs(A23) + 0.3)

SPELLINGS = {
    "deg2rad": (np.deg2rad, [A23]),
    "radians": (np.radians, [A23]),
    "rad2deg": (np.rad2deg, [A23]),
    "degrees": (np.degrees, [A23]),
    "fabs": (np.fabs, [AWAY]),
    "logaddexp2": (np.logaddexp2, [A34, B34]),
    "real": (lambda a: np.real(a) * a, [A23]),
    "real_if_close": (lambda a: np.real_if_close(a) * a, [A23]),
    "conj": (lambda a: np.conj(a) * a, [A23]),
    "imag": (lambda a: np.imag(a) + a, [A23]),
    "angle": (lambda a: np.angle(a) + a, [AWAY]),
    "fmax": (np.fmax, [A34, B34]),
    "fmin-nan": (lambda a: np.fmin(a, np.array([0.5, np.nan, 2.0, -0.3])), [A34]),
    "nan_to_num": (lambda a: np.nan_to_num(a + NAN_AND_INF, posinf=3.0), [A34]),
    "select": (lambda a, b: np.select([MASK, ~MASK], [a, 2.0 * b], 1.5), [A23, AWAY]),
    "partition-kth": (lambda a: np.partition(a, 3, axis=1)[:, 3], [A34]),
    "partition-sides": (lambda a: np.sort(np.partition(a.ravel(), 5)[:5]), [A34]),
    "flipud": (np.flipud, [A34]),
    "fliplr": (np.fliplr, [A34]),
    "rot90": (lambda a: np.rot90(a, 1, (2, 0)), [A234]),
    "rot90-k3": (lambda a: np.rot90(a, 3), [A34]),
    "rot90-k2": (lambda a: np.rot90(a, -2, (1, 2)), [A234]),
    "rollaxis": (lambda a: np.rollaxis(a, 2, 1), [A234]),
    "column_stack": (lambda a, b: np.column_stack((a, b)), [V3, A34]),
    "dsplit": (lambda a: np.dsplit(a, [1, 3]), [A234]),
    "split": (lambda a: np.split(a, [1, 3], axis=1), [A34]),
    "array_split": (lambda a: np.array_split(a, 3, axis=1), [A34]),
    "hsplit": (lambda a: np.hsplit(a, 2), [A34]),
    "vsplit": (lambda a: np.vsplit(a, [1]), [A34]),
    "append": (np.append, [A23, V3]),
    "append-matrix": (np.append, [V3, A23]),
    "append-axis": (lambda a, b: np.append(a, b, axis=0), [A34, B34]),
    "diff": (lambda a: np.diff(a, 2, axis=0), [A34]),
    "diff-append": (lambda a: np.diff(a, append=0.5), [A34]),
    "gradient": (np.gradient, [A34]),
    "gradient-edge2": (lambda a: np.gradient(a, 0.5, axis=1, edge_order=2), [A234]),
    "gradient-axes": (lambda a: np.gradient(a, 2.0, 0.5, axis=(2, 0)), [A234]),
    "linspace": (lambda a, b: np.linspace(a, b, 5), [np.float64(1.2), np.float64(-3.4)]),
    "linspace-arrays": (lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=-1), [V3, A23]),
    "linspace-one": (lambda a, b: np.linspace(a, b, 1), [np.float64(1.2), np.float64(3.4)]),
    "cross-axes": (lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), [A33, R((3, 3))]),
    "cross-axis": (lambda a, b: np.cross(a, b, axis=0), [A33, R((3, 3))]),
    "trace-offset": (lambda a: np.trace(a, offset=1), [A34]),
    "trace-axes": (lambda a: np.trace(a, -1, 2, 1), [A234]),
    "nuclear-norm": (lambda a: np.linalg.norm(a, ord="nuc"), [A34]),
    "einsum-implicit": (lambda a, b: np.einsum("ij,kj", a, b), [A34, B34]),
    "einsum-ellipsis": (lambda a, b: np.einsum("...ij,...kj->...ik", a, b), [A234, R((3, 4))]),
    "einsum-uppercase": (lambda a, b: np.einsum("Ij,Kj->KI", a, b), [A34, B34]),
    "einsum-spaces": (lambda a, b: np.einsum(" ij , kj -> ik ", a, b), [A34, B34]),
    "einsum-sublists": (lambda a, b: np.einsum(a, [0, 1], b, [2, 1], [2, 0]), [A34, B34]),
    "einsum-sublists-implicit": (lambda a, b: np.einsum(a, [0, 1], b, [2, 1]), [A34, B34]),
    "einsum-sublists-ellipsis": (lambda a, b: np.einsum(a, [Ellipsis, 0, 1], b, [1, 2], [Ellipsis, 0, 2]),
                                 [A234, R((4, 2))]),
    "einsum-optimize": (lambda a, b: np.einsum("ij,kj->ik", a, b, optimize=True), [A34, B34]),
}


@pytest.mark.parametrize("name", SPELLINGS)
def test_numpy_spelling_on_tensors_matches_numpy_and_its_central_differences(name):
    f, arrays = SPELLINGS[name]
    check_against_numpy(f, arrays)


# ---------------------------------------------------------------- one triangle read (numpy's convention)


def lower_pd(n, seed):
    """A non-symmetric matrix whose lower triangle, mirrored, is positive definite."""
    a = np.random.default_rng(seed).standard_normal((n, n))
    return 0.3 * a + 3.0 * np.eye(n)


@pytest.mark.parametrize("name, f", [
    ("cholesky", np.linalg.cholesky),
    ("eigh-L", lambda a: np.linalg.eigh(a)),
    ("eigh-U", lambda a: np.linalg.eigh(a, "U")),
    ("eigh-u-lowercase", lambda a: np.linalg.eigh(a, UPLO="u")),
    ("eigvalsh-U", lambda a: np.linalg.eigvalsh(a, UPLO="U")),
    ("eigvalsh-L", np.linalg.eigvalsh),
])
def test_symmetric_routines_read_one_triangle_in_value_and_both_rules(name, f):
    """numpy reads one triangle of a non-symmetric input: central differences in a general direction
    change only through that triangle, and both rules must say the same."""
    check_against_numpy(f, [lower_pd(4, 1)], seed=3)


def test_the_gradient_of_a_one_triangle_routine_lies_in_that_triangle():
    A = lower_pd(3, 2)
    g_lower = tm.grad(lambda a: np.linalg.cholesky(a).sum())(A)
    g_upper = tm.grad(lambda a: np.linalg.eigvalsh(a, "U")[0])(A)
    assert np.all(np.triu(g_lower, 1) == 0) and np.any(np.tril(g_lower, -1) != 0)
    assert np.all(np.tril(g_upper, -1) == 0) and np.any(np.triu(g_upper, 1) != 0)


def test_uplo_must_name_a_triangle():
    with pytest.raises(ValueError, match="eigh: UPLO must be 'L' or 'U'"):
        tm.eigh(np.eye(2), "X")


# ---------------------------------------------------------------- std and var where the spread is 0


def test_std_and_var_along_a_length_one_axis_have_derivative_zero():
    """std and var of one entry are constantly 0: derivative 0 (not NaN), both modes, as central
    differences say."""
    x = np.array([[0.3, -1.2, 2.0]])
    for f in (lambda a: np.std(a, axis=0), lambda a: np.var(a, axis=0), lambda a: np.std(a, axis=0, keepdims=True)):
        check_against_numpy(f, [x])
        assert np.array_equal(tm.grad(lambda a: f(a).sum())(x), np.zeros_like(x))


def test_std_of_equal_entries_has_the_subgradient_zero_and_var_zero():
    x = np.full(3, 0.5)
    assert np.array_equal(tm.grad(np.std)(x), np.zeros(3))
    assert np.array_equal(tm.grad(np.var)(x), np.zeros(3))
    assert np.array_equal(tm.jvp(np.std, (x,), (np.ones(3),))[1], 0.0)
    assert_close(tm.grad(np.std)(np.array([1.0, 3.0])), [-0.5, 0.5], rtol=1e-12)  # elsewhere: (x − mean)/(n std)


# ---------------------------------------------------------------- astype to integers: values


def test_astype_int_gives_the_values_as_an_integer_array_also_inside_a_transform():
    x = np.array([2.7, -0.5, 1.0])
    got = tm.tensor(x, requires_grad=True).astype(int)
    assert isinstance(got, np.ndarray) and got.dtype == np.dtype(int)
    np.testing.assert_array_equal(got, x.astype(int))
    np.testing.assert_array_equal(tm.tensor(x).astype(bool), x.astype(bool))

    def pick(w):  # the last entry, cast to an int, picks a row: autograd's test_cast_to_int, written with astype
        return w[:, :-1][w[:, -1].astype(int)].sum()

    W = np.concatenate([R((3, 2)), np.array([[1.0], [0.0], [1.0]])], axis=1)
    expected = np.zeros_like(W)
    np.add.at(expected[:, :-1], W[:, -1].astype(int), 1.0)
    np.testing.assert_array_equal(tm.grad(pick)(W), expected)


def test_astype_float_stays_differentiable():
    x = np.arange(3, dtype=np.float32)
    g = tm.grad(lambda a: np.sum(np.sin(a.astype("float64"))))(x)
    assert g.dtype == np.float32
    assert_close(g, np.cos(x), rtol=1e-6)


# ---------------------------------------------------------------- values that have no derivative


def test_comparisons_of_whole_arrays_answer_with_values():
    t = tm.tensor([1.0, 2.0], requires_grad=True)
    assert np.allclose(t, [1.0, 2.0]) and not np.allclose(t, [1.0, 2.5])
    np.testing.assert_array_equal(np.isclose(t, [1.0, 2.5]), [True, False])
    assert bool(np.array_equal(t, [1.0, 2.0])) and not bool(np.iscomplexobj(t))
    np.testing.assert_array_equal(np.iscomplex(t), [False, False])
    g = tm.grad(lambda x: np.sum(x) if np.allclose(x, (3.0 * x) / 3.0) else 0.0 * np.sum(x))(np.ones(2))
    np.testing.assert_array_equal(g, np.ones(2))


# ---------------------------------------------------------------- several outputs in the transforms


def test_vjp_and_jvp_of_a_tuple_output_against_each_output_alone():
    A = lower_pd(3, 5)
    V = R((3, 3))
    f = lambda a: np.linalg.eigh(a, "U")
    (w, v), (dw, dv) = tm.jvp(f, (A,), (V,))
    assert_close(dw, tm.jvp(lambda a: f(a)[0], (A,), (V,))[1], rtol=1e-12)
    assert_close(dv, tm.jvp(lambda a: f(a)[1], (A,), (V,))[1], rtol=1e-12)
    out, vjp_fn = tm.vjp(f, A)
    assert isinstance(out, tuple) and len(out) == 2
    u1, u2 = R(3), R((3, 3))
    both = vjp_fn((u1, u2))[0]
    alone = tm.vjp(lambda a: f(a)[0], A)[1](u1)[0] + tm.vjp(lambda a: f(a)[1], A)[1](u2)[0]
    assert_close(both, alone, rtol=1e-10)


def test_a_list_output_keeps_its_container_and_a_wrong_cotangent_is_refused():
    x = np.arange(6.0)
    out, vjp_fn = tm.vjp(lambda a: np.split(a, 3), x)
    assert isinstance(out, list) and len(out) == 3
    assert_close(vjp_fn([np.ones(2), 2 * np.ones(2), 3 * np.ones(2)])[0], [1, 1, 2, 2, 3, 3], rtol=0)
    with pytest.raises(TypeError, match="cotangent must be a tuple or list of 3 arrays"):
        vjp_fn(np.ones(6))
    with pytest.raises(tm.ShapeError, match="cotangent 1 has shape"):
        vjp_fn([np.ones(2), np.ones(3), np.ones(2)])
    with pytest.raises(TypeError, match="item 0 is a tuple"):
        tm.jvp(lambda a: ((a, a), a), (x,), (x,))


def test_jacobian_and_hessian_of_a_tuple_output_are_tuples_of_each():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda a: (a * a, np.sum(np.sin(a)), np.outer(a, a))
    for mode in ("fwd", "rev", "auto"):
        J = tm.jacobian(f, mode=mode)(x)
        assert isinstance(J, tuple) and len(J) == 3
        assert_close(J[0], np.diag(2 * x), rtol=1e-12)
        assert_close(J[1], np.cos(x), rtol=1e-12)
        assert_close(J[2], np.einsum("ik,j->ijk", np.eye(3), x) + np.einsum("i,jk->ijk", x, np.eye(3)), rtol=1e-12)
    H = tm.hessian(lambda a: [np.sum(a ** 3), np.sum(np.sin(a))])(x)
    assert isinstance(H, list)
    assert_close(H[0], np.diag(6 * x), rtol=1e-12)
    assert_close(H[1], np.diag(-np.sin(x)), rtol=1e-12)


def test_tm_reductions_of_a_list_of_tensors_stack_it():
    """np.std([x, y]) cannot reach tinygrad_mat (numpy converts the list itself); tm.std([x, y]) can.
    std([x, 2x + 2]) = |x + 2| / 2 and var = (x + 2)² / 4 (two entries, ddof 0)."""
    for x in (-3.0, 1.0):
        assert_close(tm.grad(lambda t: tm.std([t, 2 * t + 2]))(x), np.sign(x + 2) / 2, rtol=1e-12)
        assert_close(tm.grad(lambda t: tm.var((t, 2 * t + 2)))(x), (x + 2) / 2, rtol=1e-12)
        assert_close(tm.jvp(lambda t: tm.var([t, 2 * t + 2]), (x,), (1.0,))[1], (x + 2) / 2, rtol=1e-12)


@pytest.mark.parametrize("call, error, message", [
    (lambda t: np.gradient(t, np.arange(4.0), axis=1), TypeError, "gradient: coordinate arrays"),
    (lambda t: np.gradient(t, edge_order=3), ValueError, "gradient: edge_order must be 1 or 2"),
    (lambda t: np.gradient(t[:, :2], axis=1, edge_order=2), ValueError, "gradient: axis 1 has 2 samples"),
    (lambda t: np.diff(t, -1), ValueError, "diff: the order n must be non-negative"),
    (lambda t: np.rot90(t, 1, (1, 1)), tm.ShapeError, "rot90: the two axes must differ"),
    (lambda t: np.rollaxis(t, 0, 5), tm.ShapeError, "rollaxis: start 5 is out of range"),
    (lambda t: np.fliplr(t[0]), tm.ShapeError, "fliplr: needs at least two axes"),
    (lambda t: np.dsplit(t, 2), tm.ShapeError, "dsplit: needs at least 3 axes"),
    (lambda t: np.select([MASK], [t[:2, :3], t[:2, :3]]), ValueError, "select: 1 conditions but 2 choices"),
    (lambda t: np.linspace(t[0, 0], 1.0, -1), ValueError, "linspace: the number of samples must be non-negative"),
    (lambda t: np.einsum(t, ["i", "j"]), ValueError, "einsum: subscript 'i' in a sublist"),
    (lambda t: np.cross(t[:, :2], t[:, :3]), tm.ShapeError, "cross: needs vectors of 2 or 3 components"),
    (lambda t: t.astype(str), TypeError, "astype: a Tensor casts to float32 or float64"),
    (lambda t: np.linalg.eigvalsh(t[:3, :3], UPLO="X"), ValueError, "eigvalsh: UPLO must be 'L' or 'U'"),
])
def test_bad_arguments_raise_an_error_naming_the_function(call, error, message):
    with pytest.raises(error, match=message):
        call(tm.tensor(A34, requires_grad=True))
