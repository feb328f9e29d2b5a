"""Independent references for the tests: central differences in float64 and random inputs."""
import numpy as np


def central_jacobian(f, arrays, h=1e-6):
    """J[:, k] = (f(x + h e_k) − f(x − h e_k)) / 2h over all entries of all inputs (numpy only).

    Returns a matrix of shape (size of f's output, total size of the inputs).
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    columns = []
    for i, a in enumerate(arrays):
        for k in range(a.size):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[i].reshape(-1)[k] += h
            minus[i].reshape(-1)[k] -= h
            diff = (np.asarray(f(*plus), dtype=np.float64) - np.asarray(f(*minus), dtype=np.float64)) / (2 * h)
            columns.append(diff.reshape(-1))
    return np.stack(columns, axis=1)


def random_inputs(rng, shapes, domain):
    """Inputs for an op: ``domain`` keeps them where the op is smooth and well conditioned."""
    out = []
    for shape in shapes:
        if domain == "positive":
            x = rng.uniform(0.5, 2.0, size=shape)
        elif domain == "unit":
            x = rng.uniform(-0.9, 0.9, size=shape)
        elif domain == "above_one":
            x = rng.uniform(1.2, 3.0, size=shape)
        elif domain == "spd" and len(shape) >= 2:
            a = rng.standard_normal(shape)
            x = a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
        elif domain == "away_from_zero":
            x = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 2.0, size=shape)
        elif domain == "invertible" and len(shape) >= 2 and shape[-1] == shape[-2]:
            n = shape[-1]
            x = rng.standard_normal(shape) * 0.3 + np.eye(n) * rng.choice([-1.0, 1.0], size=shape[:-2] + (1, 1)) * 1.5
        else:
            x = rng.standard_normal(shape)
        out.append(np.asarray(x, dtype=np.float64))
    return out


def assert_close(actual, expected, rtol=1e-6, atol=1e-7, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def cofactor_by_minors(a):
    """cof(A)[i, j] = (−1)^(i+j) det(A without row i and column j): the definition, batched."""
    n = a.shape[-1]
    out = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
            out[..., i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return out


def sklearn_objective(model, X, y, C, sample_weight=None):
    """scikit-learn's C·Σ sᵢ·log-lossᵢ + ½‖W‖², written here in numpy (C = inf: no penalty)."""
    scores = X @ model.coef_.T + model.intercept_
    if scores.shape[1] == 1:
        z = scores[:, 0]
        losses = np.logaddexp(0.0, z) - (y == model.classes_[1]) * z
    else:
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        losses = -log_p[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    if C == np.inf:
        return np.sum(weights * losses)
    return C * np.sum(weights * losses) + 0.5 * np.sum(model.coef_**2)
