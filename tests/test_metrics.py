"""Metrics follow scikit-learn's conventions: compared with sklearn.metrics on the same inputs, and
nothing is guessed between labels, probabilities and logits."""
import numpy as np
import pytest
from sklearn import metrics as sk

import tinygrad_mat as tm

rng = np.random.default_rng(3)


def test_accuracy_of_labels_equals_scikit_learns():
    for classes in (2, 3, 7):
        y = rng.integers(0, classes, 50)
        pred = np.where(rng.random(50) < 0.7, y, rng.integers(0, classes, 50))
        w = rng.random(50)
        assert tm.metrics.accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred), abs=1e-15)
        assert tm.metrics.accuracy(y, pred, sample_weight=w) == pytest.approx(
            sk.accuracy_score(y, pred, sample_weight=w), abs=1e-15)
        assert tm.metrics.accuracy(y, pred, normalize=False) == sk.accuracy_score(y, pred, normalize=False)
    strings = np.array(["cat", "dog", "dog"])
    assert tm.metrics.accuracy(strings, ["cat", "dog", "cat"]) == pytest.approx(2 / 3)
    assert tm.metrics.accuracy([0, 1, 1], np.array([0.0, 1.0, 1.0])) == 1.0  # whole floats are labels


def test_probabilities_are_never_read_as_logits():
    """The defect: a 1-D float prediction was read as logits (accuracy 0.53 where it is 1.0)."""
    y = rng.integers(0, 2, 200)
    p = np.where(y == 1, rng.uniform(0.55, 1.0, 200), rng.uniform(0.0, 0.45, 200))
    with pytest.raises(ValueError, match="probabilities="):
        tm.metrics.accuracy(y, p)  # scores where labels are expected: refused, as scikit-learn does
    with pytest.raises(ValueError):
        sk.accuracy_score(y, p)
    assert tm.metrics.accuracy(y, probabilities=p) == 1.0
    assert tm.metrics.accuracy(y, probabilities=p[:, None]) == 1.0
    logits = np.log(p / (1 - p))
    assert tm.metrics.accuracy(y, logits=logits) == 1.0
    with pytest.raises(ValueError, match="logits="):
        tm.metrics.accuracy(y, probabilities=logits)  # logits are not probabilities


def test_scores_of_several_classes_and_named_classes():
    y = np.array(["a", "c", "b", "c"])
    logits = np.array([[3.0, 0.0, 1.0], [0.0, 0.1, 2.0], [0.0, 5.0, 1.0], [1.0, 0.0, 0.0]])
    assert tm.metrics.accuracy(y, logits=logits, classes=["a", "b", "c"]) == 0.75
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert tm.metrics.accuracy(y, probabilities=softmax, classes=["a", "b", "c"]) == 0.75
    assert tm.metrics.accuracy([0, 2, 1, 2], logits=tm.tensor(logits)) == 0.75  # Tensors give their values
    with pytest.raises(ValueError, match="classes"):
        tm.metrics.accuracy(y, logits=logits, classes=["a", "b"])


def test_accuracy_refuses_ambiguous_or_malformed_input():
    y = np.array([0, 1])
    with pytest.raises(TypeError, match="exactly one"):
        tm.metrics.accuracy(y)
    with pytest.raises(TypeError, match="exactly one"):
        tm.metrics.accuracy(y, [0, 1], logits=[0.0, 1.0])
    with pytest.raises(ValueError, match="logits= or probabilities="):
        tm.metrics.accuracy(y, np.array([[0.2, 0.8], [0.9, 0.1]]))
    with pytest.raises(ValueError, match="2 samples"):
        tm.metrics.accuracy(y, [0, 1, 1])
    with pytest.raises(ValueError, match="sample_weight"):
        tm.metrics.accuracy(y, [0, 1], sample_weight=[1.0])


def test_r2_score_equals_scikit_learns():
    for shape in ((30,), (30, 1), (30, 3)):
        y = rng.standard_normal(shape)
        pred = y + 0.3 * rng.standard_normal(shape)
        w = rng.random(30)
        for multioutput in ("uniform_average", "variance_weighted", "raw_values"):
            ours = tm.metrics.r2_score(y, pred, multioutput=multioutput, sample_weight=w)
            np.testing.assert_allclose(ours, sk.r2_score(y, pred, multioutput=multioutput, sample_weight=w),
                                       rtol=1e-12)
        if len(shape) == 2 and shape[1] > 1:
            weights = rng.random(shape[1])
            np.testing.assert_allclose(tm.metrics.r2_score(y, pred, multioutput=weights),
                                       sk.r2_score(y, pred, multioutput=weights), rtol=1e-12)


def test_r2_score_of_several_outputs_averages_per_output():
    """Pooling all outputs into one ratio is another number than scikit-learn's average."""
    y = np.column_stack([rng.standard_normal(40), 100 * rng.standard_normal(40)])
    pred = y + rng.standard_normal((40, 2))
    assert tm.metrics.r2_score(y, pred) == pytest.approx(sk.r2_score(y, pred), rel=1e-12)


def test_r2_score_of_a_constant_target():
    y = np.ones((5, 2))
    for pred in (np.ones((5, 2)), np.ones((5, 2)) + np.array([0.0, 1.0])):
        for multioutput in ("uniform_average", "variance_weighted", "raw_values"):
            np.testing.assert_allclose(tm.metrics.r2_score(y, pred, multioutput=multioutput),
                                       sk.r2_score(y, pred, multioutput=multioutput))
    with pytest.raises(ValueError, match="differ"):
        tm.metrics.r2_score(np.ones((5, 2)), np.ones(5))
