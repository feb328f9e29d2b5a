"""Operands from other array libraries never detach silently: scipy.sparse products are
differentiable in the dense operand; pandas objects, memmaps and other arrays give the right Tensor;
masked arrays, np.matrix and conversions that would drop a derivative raise a TypeError naming what
to write. Gradients are checked against closed forms written here with the dense matrix."""
import numpy as np
import pytest

import tinygrad_mat as tm

sp = pytest.importorskip("scipy.sparse", reason="scipy is an optional dependency (sparse input)")

rng = np.random.default_rng(5)
DENSE = rng.standard_normal((5, 4)) * (rng.random((5, 4)) < 0.5)
FORMATS = {
    "csr_matrix": sp.csr_matrix, "csc_matrix": sp.csc_matrix, "coo_matrix": sp.coo_matrix,
    "csr_array": sp.csr_array, "csc_array": sp.csc_array,
}


@pytest.fixture(params=list(FORMATS))
def S(request):
    return FORMATS[request.param](DENSE)


# ---------------------------------------------------------------- scipy.sparse


@pytest.mark.parametrize("shape", [(4,), (4, 3)])
def test_sparse_on_the_left_is_differentiable(S, shape):
    x = tm.tensor(rng.standard_normal(shape), requires_grad=True)
    products = [lambda: S @ x, lambda: np.matmul(S, x), lambda: np.dot(S, x), lambda: tm.matmul(S, x)]
    if S.format != "coo":
        products.append(lambda: S.dot(x))
    else:  # COO's own dot converts its argument: refused, naming S @ t
        with pytest.raises(TypeError, match=r"S @ t"):
            S.dot(x)
    for product in products:
        x.grad = None
        y = product()
        assert isinstance(y, tm.Tensor) and y.requires_grad
        np.testing.assert_allclose(y.numpy(), DENSE @ x.numpy(), rtol=1e-12, atol=1e-12)
        G = rng.standard_normal(y.shape)
        (y * G).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), DENSE.T @ G, rtol=1e-12, atol=1e-12)  # X̄ = Sᵀ Z̄


@pytest.mark.parametrize("shape", [(5,), (3, 5)])
def test_sparse_on_the_right_is_differentiable(S, shape):
    x = tm.tensor(rng.standard_normal(shape), requires_grad=True)
    y = x @ S
    assert isinstance(y, tm.Tensor)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ DENSE, rtol=1e-12, atol=1e-12)
    G = rng.standard_normal(y.shape)
    (y * G).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), G @ DENSE.T, rtol=1e-12, atol=1e-12)  # X̄ = Z̄ Sᵀ


def test_sparse_product_in_forward_mode_and_second_order():
    S = sp.csr_matrix(DENSE)
    v = rng.standard_normal(4)
    _, tangent = tm.jvp(lambda x: S @ x, (np.ones(4),), (v,))
    np.testing.assert_allclose(tangent, DENSE @ v, rtol=1e-12)
    # ‖S x‖² has Hessian 2 SᵀS: reverse over reverse, and forward over reverse
    H = tm.hessian(lambda x: ((S @ x) ** 2).sum())(rng.standard_normal(4))
    np.testing.assert_allclose(H, 2 * DENSE.T @ DENSE, rtol=1e-10, atol=1e-12)
    assert tm.gradcheck(lambda x: tm.tanh(S @ x).sum(), rng.standard_normal(4))


def test_nn_linear_and_tm_linear_take_sparse_input():
    S = sp.csr_matrix(DENSE)
    layer = tm.nn.Linear(4, 2)
    y = layer(S)
    W, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(y.numpy(), DENSE @ W.T + b, rtol=1e-12)
    G = rng.standard_normal(y.shape)
    (y * G).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), G.T @ DENSE, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), G.sum(axis=0), rtol=1e-12)


def test_a_model_on_sparse_data_learns():
    """The defect: S @ w gave a plain array, so the weights never moved."""
    X = sp.random(200, 10, density=0.3, format="csr", random_state=1)
    true_w = rng.standard_normal(10)
    y = X @ true_w
    w = tm.zeros(10, requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        ((X @ w - y) ** 2).mean().backward()
        opt.step()
    assert np.linalg.norm(w.numpy() - true_w) < 0.05 * np.linalg.norm(true_w)


def test_editing_the_sparse_matrix_after_the_forward_pass_changes_no_gradient():
    S = sp.csr_matrix(DENSE)
    x = tm.tensor(np.ones(4), requires_grad=True)
    y = (S @ x).sum()
    S.data[:] = 100.0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), DENSE.sum(axis=0), rtol=1e-12)


def test_integer_and_float32_sparse_matrices():
    S = sp.csr_matrix(np.array([[1, 0], [2, 3]]))
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = S @ x
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), [1.0, 8.0])
    S32 = sp.csr_matrix(DENSE.astype(np.float32))
    x32 = tm.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    (S32 @ x32).sum().backward()
    assert x32.grad.dtype == np.float32


def test_sparse_without_a_sparse_form_is_refused_with_what_to_write():
    S = sp.csr_matrix(DENSE)
    x = tm.tensor(np.ones((5, 4)), requires_grad=True)
    for bad in (lambda: S + x, lambda: x + S, lambda: x * S, lambda: tm.exp(S)):
        with pytest.raises(TypeError, match="toarray"):
            bad()
    v = tm.tensor(np.ones(4), requires_grad=True)
    with pytest.raises(TypeError, match=r"S @ t"):  # a sparse *matrix*'s * is a matrix product
        S * v
    with pytest.raises(TypeError, match="toarray"):
        tm.tensor(S)
    with pytest.raises(TypeError, match="both operands"):
        tm.matmul(S, S)


def test_sparse_shapes_are_checked():
    S = sp.csr_matrix(DENSE)
    with pytest.raises(tm.ShapeError, match=r"not aligned"):
        S @ tm.tensor(np.ones(5), requires_grad=True)
    with pytest.raises(tm.ShapeError, match="1-D and 2-D"):
        S @ tm.tensor(np.ones((2, 4, 3)), requires_grad=True)


def test_sparse_inside_compile_is_refused():
    S = sp.csr_matrix(DENSE)
    w = tm.tensor(np.ones(4), requires_grad=True)

    @tm.compile
    def step():
        loss = (S @ w).sum()
        loss.backward()
        return loss

    with pytest.raises(tm.CompileError, match="scipy.sparse"):
        step()


# ---------------------------------------------------------------- pandas

pd = pytest.importorskip("pandas", reason="pandas is not installed (an optional input type)")


def test_pandas_operands_give_tensors_with_gradients():
    frame = pd.DataFrame(rng.standard_normal((3, 2)), columns=["a", "b"])
    series = pd.Series(rng.standard_normal(3))
    t = tm.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    v = tm.tensor(rng.standard_normal(3), requires_grad=True)
    for expr in (lambda: frame + t, lambda: t + frame, lambda: frame * t, lambda: t * frame):
        t.grad = None
        y = expr()
        assert isinstance(y, tm.Tensor) and y.requires_grad
        y.sum().backward()
        assert t.grad is not None
    t.grad = None
    (frame * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), frame.to_numpy())
    (series * v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), series.to_numpy())
    y = t.T @ frame  # a Tensor first: pandas values, by position
    np.testing.assert_allclose(y.numpy(), t.numpy().T @ frame.to_numpy())


def test_pandas_matrix_product_first_is_refused_with_what_to_write():
    frame = pd.DataFrame(np.ones((4, 3)))
    t = tm.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match=r"to_numpy\(\) @ t"):
        frame @ t
    with pytest.raises(TypeError, match="pandas"):
        pd.Series(np.ones(3)) @ tm.tensor(np.ones(3), requires_grad=True)
    # no derivative at stake: pandas computes on values as it does with numpy arrays
    assert isinstance(frame @ tm.tensor(np.ones((3, 2))), pd.DataFrame)


def test_non_numeric_pandas_is_refused():
    with pytest.raises(TypeError):
        tm.tensor([1.0, 2.0], requires_grad=True) + pd.Series(["a", "b"])


# ---------------------------------------------------------------- numpy's own subclasses


def test_masked_arrays_are_refused_on_either_side():
    masked = np.ma.array(np.ones((3, 2)), mask=[[1, 0], [0, 0], [0, 1]])
    t = tm.tensor(np.ones((3, 2)), requires_grad=True)
    for expr in (lambda: masked + t, lambda: t + masked, lambda: masked * t, lambda: t * masked,
                 lambda: masked.T @ t, lambda: tm.sum(masked * 1.0 + t)):
        with pytest.raises(TypeError, match=r"filled"):
            expr()


def test_np_matrix_is_refused():
    M = np.matrix(np.ones((2, 2)))
    t = tm.tensor(np.ones((2, 2)), requires_grad=True)
    for expr in (lambda: M * t, lambda: t * M, lambda: M @ t, lambda: M + t):
        with pytest.raises(TypeError, match=r"np.asarray\(m\)"):
            expr()


def test_memmap_is_a_constant_kept_safe_while_the_graph_lives(tmp_path):
    data = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=(2000,))
    data[:] = rng.standard_normal(2000)
    w = tm.tensor(np.ones(2000), requires_grad=True)
    loss = (w * data).sum()
    with pytest.raises(ValueError, match="read-only"):
        data[0] = 5.0  # would silently change w's gradient
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.asarray(data))
    data[0] = 5.0  # the graph is gone: writeable again


# ---------------------------------------------------------------- other libraries


def test_other_array_libraries_defer_to_tensors():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional peer")
    t = tm.tensor(np.ones(3), requires_grad=True)
    y = torch.arange(3.0, dtype=torch.float64) * t
    assert isinstance(y, tm.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="detach"):  # torch refuses to give values that carry its graph
        torch.ones(3, dtype=torch.float64, requires_grad=True) + t


def test_scipy_functions_on_tensors_that_carry_a_derivative_are_refused():
    import scipy.linalg

    t = tm.tensor(np.eye(2) * 2.0, requires_grad=True)
    with pytest.raises(TypeError, match="no derivative"):
        scipy.linalg.inv(t)
    np.testing.assert_allclose(scipy.linalg.inv(t.detach()), np.eye(2) / 2.0)  # values: fine


def test_a_frozen_csr_matrix_is_used_without_a_copy():
    S = sp.csr_matrix(DENSE)
    for part in (S.data, S.indices, S.indptr):
        part.flags.writeable = False
    x = tm.tensor(np.ones(4), requires_grad=True)
    y = S @ x
    assert y._node.params["matrix"] is S  # read-only arrays: no edit can reach it, so no copy
    writeable = sp.csr_matrix(DENSE)
    assert (writeable @ x)._node.params["matrix"] is not writeable
