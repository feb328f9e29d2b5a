"""Losses, as PyTorch's ``torch.nn.functional``: same names, arguments and values (to 1e-12 in
float64), built from tinygrad_mat's ops so that their derivatives (of every order) are those ops'.

Every loss takes ``reduction`` in {'mean', 'sum', 'none'} and PyTorch's ``weight`` where PyTorch has
one (elementwise for the regression losses and the binary ones, per class for ``cross_entropy``,
``nll_loss`` and ``multi_margin_loss``), plus ``sample_weight``: one weight per sample (the first
axis), as scikit-learn's, with 'mean' then the weighted mean. Logits may be as large as ±1000: the
losses go through ``logsumexp`` and ``softplus``, so the value is finite and the gradient exact.
"""
import numpy as np

from .. import functions as F
from ..errors import ShapeError
from ..ops.base import shape_of, values_of
from ..tensor import TensorNS

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, name):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}")


def _values(x):
    return np.asarray(values_of(x))


def _sample_weights(sample_weight, n, name):
    if sample_weight is None:
        return None
    w = np.asarray(values_of(sample_weight), dtype=float)
    if w.shape != (n,):
        raise ShapeError(f"{name}: sample_weight has shape {w.shape}, expected ({n},): one weight per sample")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError(f"{name}: sample_weight must be finite and non-negative")
    return w


def _reduce(loss, reduction, name, sample_weight=None, denominator=None):
    """Sum or average the per-element loss; ``denominator`` replaces the count of elements."""
    _check_reduction(reduction, name)
    if sample_weight is not None:
        w = _sample_weights(sample_weight, loss.shape[0] if loss.ndim else 1, name)
        per_sample = int(np.prod(loss.shape[1:]))
        loss = loss * w.reshape((-1,) + (1,) * (loss.ndim - 1))
        denominator = float(w.sum()) * per_sample if denominator is None else denominator
    if reduction == "none":
        return loss
    if reduction == "mean" and denominator is None:
        return F.mean(loss)
    total = F.sum(loss)
    if reduction == "sum":
        return total
    return total / denominator


def _pair(input, target, name):
    input = F.as_tensor(input)
    if tuple(shape_of(input)) != tuple(shape_of(target)):
        raise ShapeError(f"{name}: input has shape {shape_of(input)}, target {shape_of(target)}")
    return input, target


def _elementwise_weight(loss, weight):
    return loss if weight is None else loss * weight


def _weight_total(loss, weight):
    """PyTorch's denominator for a weighted mean in mse_loss and l1_loss: the sum of the weights."""
    if weight is None:
        return None
    return float(np.sum(np.broadcast_to(_values(weight), loss.shape)))


def mse_loss(input, target, reduction="mean", weight=None, sample_weight=None):
    """(input − target)², reduced, as ``torch.nn.functional.mse_loss`` (with ``weight``, the mean is
    Σ w·l / Σ w, as PyTorch's)."""
    input, target = _pair(input, target, "mse_loss")
    diff = input - target
    loss = diff * diff
    return _reduce(_elementwise_weight(loss, weight), reduction, "mse_loss", sample_weight,
                   None if sample_weight is not None else _weight_total(loss, weight))


def linear_mse_loss(input, weight, bias, target, reduction="mean"):
    """``mse_loss(input @ weight + bias, target, reduction)`` with the loss and its gradients in weight
    and bias computed in one pass over ``input`` (a numba kernel for one output column, BLAS on row
    blocks for several): backward then reads ``input`` no more. ``weight`` is (d,) or (d, k), ``bias``
    None, a scalar or (k,); ``reduction`` "mean" or "sum" ("none" is mse_loss's elementwise loss).

    >>> import numpy as np, tinygrad_mat as tm
    >>> X, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 0.0])
    >>> w = tm.tensor([0.5, -0.5], requires_grad=True)
    >>> loss = tm.nn.functional.linear_mse_loss(X, w, None, y)
    >>> loss.backward(); float(loss), w.grad.numpy()      # ((−0.5 − 1)² + (−0.5)²)/2, 2Xᵀ(Xw − y)/2
    (1.25, array([-3., -5.]))
    """
    _check_reduction(reduction, "linear_mse_loss")
    b = 0.0 if bias is None else bias
    if reduction == "none":
        return mse_loss(F.matmul(input, weight) + b, target, reduction="none")
    size = int(np.prod(shape_of(target)))
    scale = (1.0 / size if size else float("nan")) if reduction == "mean" else 1.0
    return TensorNS.linear_mse_parts(input, weight, b, target, scale)[0]


def l1_loss(input, target, reduction="mean", weight=None, sample_weight=None):
    """|input − target|, reduced, as ``torch.nn.functional.l1_loss``."""
    input, target = _pair(input, target, "l1_loss")
    loss = F.abs(input - target)
    return _reduce(_elementwise_weight(loss, weight), reduction, "l1_loss", sample_weight,
                   None if sample_weight is not None else _weight_total(loss, weight))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None, sample_weight=None):
    """½d² where |d| < delta, delta(|d| − ½delta) beyond (d = input − target), as PyTorch's (with
    ``weight``, the mean divides by the number of elements, as PyTorch's)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    small = F.abs(d) < delta
    loss = F.where(small, 0.5 * d * d, delta * (F.abs(d) - 0.5 * delta))
    return _reduce(_elementwise_weight(loss, weight), reduction, "huber_loss", sample_weight)


def _check_binary_target(target, name):
    t = _values(target)
    if t.size and not 0.0 <= t.min() <= t.max() <= 1.0:  # also false for NaN
        raise ValueError(f"{name}: targets must lie in [0, 1]")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None,
                                     sample_weight=None):
    """−[p·y·log σ(x) + (1 − y)·log(1 − σ(x))] through softplus (stable at ±1000), with ``pos_weight``
    p on the positive class, as PyTorch's."""
    input, target = _pair(input, target, "binary_cross_entropy_with_logits")
    # (1 − y)·softplus(x) + p·y·softplus(−x) = (1 + (p − 1)y)·softplus(x) − p·y·x, as softplus(−x) =
    # softplus(x) − x: fewer ops, the same value, and the exact gradient σ(x)(1 + (p − 1)y) − p·y.
    if pos_weight is None:
        loss = F.softplus(input) - input * target  # Tensor first: numpy's operator dispatch costs µs
    else:
        weighted = pos_weight * target
        loss = (1.0 + weighted - target) * F.softplus(input) - weighted * input
    return _reduce(_elementwise_weight(loss, weight), reduction, "binary_cross_entropy_with_logits", sample_weight)


def binary_cross_entropy(input, target, weight=None, reduction="mean", sample_weight=None):
    """−[y log p + (1 − y) log(1 − p)] for probabilities p, each log clamped at −100 as PyTorch does."""
    input, target = _pair(input, target, "binary_cross_entropy")
    p = _values(input)
    if p.size and ((p < 0).any() or (p > 1).any()):
        raise ValueError("binary_cross_entropy: input must be probabilities in [0, 1]; use "
                         "binary_cross_entropy_with_logits for logits")
    _check_binary_target(target, "binary_cross_entropy")
    with np.errstate(divide="ignore"):
        log_p = F.maximum(F.log(input), -100.0)
        log_q = F.maximum(F.log(1.0 - input), -100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    return _reduce(_elementwise_weight(loss, weight), reduction, "binary_cross_entropy", sample_weight)


def _class_targets(target, n_classes, ignore_index, name):
    """Integer class labels (integer-valued floats accepted), checked to lie in [0, C)."""
    t = _values(target)
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or not np.all(t == np.round(t)):
            raise ValueError(f"{name}: class labels must be integers; got non-integer values "
                             "(for soft targets pass probabilities of the input's shape)")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise TypeError(f"{name}: class labels must be integers, not {t.dtype}")
    valid = t != ignore_index
    if valid.any() and ((t[valid] < 0).any() or (t[valid] >= n_classes).any()):
        bad = t[valid][(t[valid] < 0) | (t[valid] >= n_classes)][0]
        raise ValueError(f"{name}: class label {bad} is out of range for {n_classes} classes")
    return t, valid


def _class_weights(weight, n_classes, name):
    if weight is None:
        return np.ones(n_classes)
    w = _values(weight).astype(float)
    if w.shape != (n_classes,):
        raise ShapeError(f"{name}: weight has shape {w.shape}, expected ({n_classes},): one per class")
    return w


def _classes_last(input):
    """(N, C, d…) → (N·d…, C) with the class axis last; (C,) → (1, C)."""
    shape = shape_of(input)
    if len(shape) == 1:
        return F.reshape(input, (1, shape[0])), shape[0]
    if len(shape) == 2:
        return input, shape[1]
    moved = F.moveaxis(input, 1, -1)
    return F.reshape(moved, (-1, shape[1])), shape[1]


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean", sample_weight=None):
    """−w[y] · input[y] for log-probabilities ``input`` (N, C) and class labels, as PyTorch's; the
    mean divides by the sum of the weights of the (non-ignored) targets."""
    return _nll(input, target, weight, ignore_index, reduction, sample_weight, 0.0, "nll_loss")


def _nll(log_probs, target, weight, ignore_index, reduction, sample_weight, smoothing, name):
    _check_reduction(reduction, name)
    batch_shape = shape_of(log_probs)
    rows, n_classes = _classes_last(log_probs)
    t, valid = _class_targets(target, n_classes, ignore_index, name)
    expected = (batch_shape[0],) + batch_shape[2:] if len(batch_shape) > 1 else ()
    if t.shape != expected:
        raise ShapeError(f"{name}: target has shape {t.shape}, the input {batch_shape} needs {expected}")
    t, valid = t.reshape(-1), valid.reshape(-1)
    w = _class_weights(weight, n_classes, name)
    picked_class = np.where(valid, t, 0)
    target_weight = np.where(valid, w[picked_class], 0.0)
    if sample_weight is not None:
        sw = _sample_weights(sample_weight, batch_shape[0] if len(batch_shape) > 1 else 1, name)
        per_sample = int(np.prod(batch_shape[2:])) if len(batch_shape) > 2 else 1
        target_weight = target_weight * np.repeat(sw, per_sample)
    picked = rows[np.arange(len(t)), picked_class]
    loss = -(picked * target_weight)
    if smoothing:
        mass = np.where(valid, 1.0, 0.0) * (target_weight / np.where(target_weight == 0, 1.0, w[picked_class]))
        spread = -F.sum(rows * (w[None, :] * mass[:, None]), axis=1)
        loss = (1.0 - smoothing) * loss + (smoothing / n_classes) * spread
    if reduction == "none":
        return F.reshape(loss, expected) if expected else F.reshape(loss, ())
    total = F.sum(loss)
    if reduction == "sum":
        return total
    return total / float(target_weight.sum())


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                  sample_weight=None):
    """Cross-entropy of logits ``input`` (N, C) or (N, C, d…) with class labels or class probabilities
    (of the input's shape), with ``label_smoothing``, as ``torch.nn.functional.cross_entropy``.

    >>> import numpy as np, tinygrad_mat as tm
    >>> logits = np.array([[1000.0, -1000.0], [0.0, 0.0]])
    >>> float(tm.nn.functional.cross_entropy(logits, np.array([1, 0])))     # finite at ±1000
    1000.34657359028
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    shape = shape_of(input)
    log_probs = F.log_softmax(input, axis=1 if len(shape) > 1 else 0)
    t = _values(target)
    if t.shape == shape and t.dtype.kind == "f":  # class probabilities
        _check_reduction(reduction, "cross_entropy")
        n_classes = shape[1] if len(shape) > 1 else shape[0]
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + label_smoothing / n_classes
        w = _class_weights(weight, n_classes, "cross_entropy")
        w = w.reshape((1, -1) + (1,) * (len(shape) - 2)) if len(shape) > 1 else w
        loss = -F.sum(log_probs * (t * w), axis=1 if len(shape) > 1 else 0)
        if reduction == "mean" and sample_weight is None:
            return F.sum(loss) / float(shape[0] if len(shape) > 1 else 1)
        return _reduce(loss, reduction, "cross_entropy", sample_weight,
                       None if sample_weight is None else float(np.sum(sample_weight)) * int(np.prod(shape[2:])))
    return _nll(log_probs, target, weight, ignore_index, reduction, sample_weight, label_smoothing, "cross_entropy")


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean", sample_weight=None):
    """Σ_{j≠y} max(0, margin − x_y + x_j)^p / C per sample (× weight[y]), as PyTorch's
    ``multi_margin_loss`` (the multi-class hinge loss)."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    shape = shape_of(input)
    rows, n_classes = _classes_last(input)
    t, _ = _class_targets(target, n_classes, -10**9, "multi_margin_loss")
    t = t.reshape(-1)
    n = len(t)
    scores = rows[np.arange(n), t]
    hinge = F.relu(margin - F.expand_dims(scores, 1) + rows)
    if p == 2:
        hinge = hinge * hinge
    others = np.ones((n, n_classes))
    others[np.arange(n), t] = 0.0
    w = _class_weights(weight, n_classes, "multi_margin_loss")[t]
    loss = F.sum(hinge * (others * w[:, None]), axis=1) / float(n_classes)
    if len(shape) == 1:
        loss = F.reshape(loss, ())
    return _reduce(loss, reduction, "multi_margin_loss", sample_weight)


# The activations PyTorch users look for here (the same functions as tm.relu, tm.softmax, ...).
relu, sigmoid, tanh, softplus, log_sigmoid = F.relu, F.sigmoid, F.tanh, F.softplus, F.log_sigmoid
softmax, log_softmax = F.softmax, F.log_softmax

__all__ = ["relu", "sigmoid", "tanh", "softplus", "log_sigmoid", "softmax", "log_softmax", "mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
           "cross_entropy", "nll_loss", "multi_margin_loss"]
