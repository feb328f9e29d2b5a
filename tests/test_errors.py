"""Bad input raises at the point the op is built, naming the op and what was wrong."""
import numpy as np
import pytest

import tinygrad_mat as tm


def T(*shape):
    return tm.tensor(np.ones(shape), requires_grad=True)


def test_matmul_misaligned():
    with pytest.raises(tm.ShapeError, match=r"^matmul: shapes \(3, 4\) and \(5, 2\) are not aligned \(4 != 5\)$"):
        T(3, 4) @ T(5, 2)


def test_matmul_batch_mismatch_and_scalar():
    with pytest.raises(tm.ShapeError, match=r"matmul: .*batch axes \(2,\) and \(3,\)"):
        T(2, 3, 4) @ T(3, 4, 5)
    with pytest.raises(tm.ShapeError, match="matmul: .*use \\* for scalars"):
        tm.matmul(tm.tensor(2.0), T(2, 2))


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    for op, sym in ((tm.add, "add"), (tm.sub, "sub"), (tm.mul, "mul"), (tm.div, "div"), (tm.pow, "pow")):
        with pytest.raises(tm.ShapeError, match=rf"^{sym}: shapes \(3,\) and \(4,\) cannot be broadcast together$"):
            op(T(3), T(4))


@pytest.mark.parametrize("fn, name", [(tm.inv, "inv"), (tm.det, "det"), (lambda a: tm.slogdet(a)[1], "slogdet")])
def test_non_square(fn, name):
    with pytest.raises(tm.ShapeError, match=rf"{name}: needs square matrices .*\(3, 4\)"):
        fn(T(3, 4))
    with pytest.raises(tm.ShapeError, match=rf"{name}: needs a matrix"):
        fn(T(3))


def test_solve_shapes():
    with pytest.raises(tm.ShapeError, match=r"solve: needs square matrices .*\(3, 4\)"):
        tm.solve(T(3, 4), T(3))
    with pytest.raises(tm.ShapeError, match=r"solve: A has shape \(3, 3\) but B has shape \(4,\); B needs 3 rows"):
        tm.solve(T(3, 3), T(4))


def test_singular_matrices():
    singular = tm.tensor([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(tm.SingularMatrixError, match="inv: matrix is singular"):
        tm.inv(singular)
    with pytest.raises(tm.SingularMatrixError, match="solve: matrix is singular"):
        tm.solve(singular, tm.tensor([1.0, 1.0]))
    assert isinstance(tm.SingularMatrixError("x"), np.linalg.LinAlgError)


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    A = tm.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    tm.det(A).backward()
    # cof(A) for [[a, b], [c, d]] is [[d, -c], [-b, a]], finite where A⁻¹ does not exist
    np.testing.assert_allclose(A.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


def test_slogdet_gradient_at_a_singular_matrix_names_the_op():
    A = tm.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    _, logabs = tm.slogdet(A)
    with pytest.raises(tm.SingularMatrixError, match=r"logabsdet \(backward\)"):
        logabs.backward()


def test_axis_and_shape_arguments():
    with pytest.raises(tm.ShapeError, match="sum: axis 2 is out of range for a tensor with 2 axes"):
        T(2, 3).sum(axis=2)
    with pytest.raises(tm.ShapeError, match="mean: repeated axis"):
        T(2, 3).mean(axis=(0, 0))
    with pytest.raises(tm.ShapeError, match=r"reshape: cannot reshape shape \(2, 3\) into \(4,\)"):
        T(2, 3).reshape(4)
    with pytest.raises(tm.ShapeError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to \(3, 3\)"):
        T(2, 3).broadcast_to((3, 3))
    with pytest.raises(tm.ShapeError, match="transpose: axes .* not a permutation"):
        T(2, 3).transpose(0, 0)
    with pytest.raises(tm.ShapeError, match="trace: needs a matrix"):
        tm.trace(T(3))


def test_operand_of_an_unsupported_type():
    with pytest.raises(tm.DTypeError, match="mul: cannot use str"):
        T(2) * "a"


def test_bad_astype():
    with pytest.raises(TypeError, match="astype: a Tensor casts to float32 or float64"):
        T(2).astype(np.complex128)
