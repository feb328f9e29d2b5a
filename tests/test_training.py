"""Modules, data loading, the training loop and closed-form fits."""
import gc
import tracemalloc

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.nn import functional as F

from helpers import central_jacobian

rng = np.random.default_rng(5)


# ---------------------------------------------------------------- modules


class TwoLayer(tm.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = tm.nn.Linear(3, 4)
        self.out = tm.nn.Linear(4, 2, bias=False)
        self.scale = tm.nn.Parameter(np.ones(2))
        self.constant = tm.tensor(np.ones(2))  # not a parameter: does not require grad

    def forward(self, x):
        return self.out(tm.relu(self.hidden(x))) * self.scale


def test_modules_register_parameters_and_sub_modules():
    model = TwoLayer()
    assert [n for n, _ in model.named_parameters()] == ["scale", "hidden.weight", "hidden.bias", "out.weight"]
    assert len(model.parameters()) == 4 and len(list(model.children())) == 2
    loss = model(np.ones((5, 3))).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    shared = tm.nn.Sequential(model.hidden, tm.nn.ReLU(), model.hidden)  # a module used twice
    with pytest.raises(tm.ShapeError):
        shared(np.ones((1, 3)))
    assert len(tm.nn.Sequential(model.hidden, tm.nn.Tanh()).parameters()) == 2


def test_linear_is_initialised_as_pytorch_and_reproducibly():
    tm.random.seed(3)
    a = tm.nn.Linear(25, 4)
    tm.random.seed(3)
    b = tm.nn.Linear(25, 4)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert np.abs(a.weight.numpy()).max() <= 1 / 5 and np.abs(a.bias.numpy()).max() <= 1 / 5
    assert a.weight.numpy().std() > 0.05  # uniform on ±0.2 has standard deviation 0.115
    np.testing.assert_allclose(a(np.eye(25)).numpy(), a.weight.numpy().T + a.bias.numpy(), rtol=1e-14)


def test_state_dict_round_trip_and_checked_loading():
    model = TwoLayer()
    state = model.state_dict()
    other = TwoLayer()
    other.load_state_dict(state)
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())
    before = other.state_dict()
    bad_shape = dict(state, **{"scale": np.ones(3)})
    with pytest.raises(tm.ShapeError, match=r"load_state_dict: scale has shape \(2,\), the state gives \(3,\)"):
        other.load_state_dict(bad_shape)
    with pytest.raises(KeyError, match="missing keys \\['scale'\\]"):
        other.load_state_dict({k: v for k, v in state.items() if k != "scale"})
    for key, value in other.state_dict().items():  # nothing changed by the refused loads
        np.testing.assert_array_equal(value, before[key])


# ---------------------------------------------------------------- data


def test_dataloader_batches_shuffles_and_checks():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    loader = tm.data.DataLoader(X, y, batch_size=4, shuffle=True, seed=1)
    assert len(loader) == 3
    epoch1 = np.concatenate([yb for _, yb in loader])
    epoch2 = np.concatenate([yb for _, yb in loader])
    assert sorted(epoch1) == list(range(10)) and not np.array_equal(epoch1, epoch2)
    for Xb, yb in loader:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)  # rows stay paired with their labels
    assert len(tm.data.DataLoader(X, y, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        tm.data.DataLoader(X, y[:9])
    with pytest.raises(ValueError, match="the data set is empty"):
        tm.data.DataLoader(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        tm.data.DataLoader(X, y, batch_size=0)
    bad = X.copy()
    bad[6, 1] = np.nan
    with pytest.raises(ValueError, match=r"batch 1 \(rows 4–7\) has NaN or inf in X"):
        list(tm.data.DataLoader(bad, y, batch_size=4))


def _anonymous_memory_kib():
    # Resident anonymous memory is read from Linux's /proc (CI and this project's machines run Linux);
    # macOS and Windows have no such file, and the standard library no portable equivalent.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    pytest.skip("no RssAnon in /proc/self/status: a Linux-only reading (macOS, Windows lack it)")


def test_a_memmap_larger_than_many_batches_trains_in_flat_memory(tmp_path):
    """64 MiB of data, 0.5 MiB batches: the process's own (anonymous) memory does not grow with it."""
    rows, features = 80_000, 100
    data = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(rows, features))
    for start in range(0, rows, 10_000):
        data[start:start + 10_000] = rng.standard_normal((10_000, features))
    data.flush()
    del data
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    y = np.zeros(rows)
    w = tm.zeros(features, requires_grad=True)
    opt = tm.optim.SGD([w], lr=1e-3)
    loader = tm.data.DataLoader(X, y, batch_size=640, shuffle=True, seed=0)
    readings = []
    for k, (Xb, yb) in enumerate(loader):
        opt.zero_grad()
        F.mse_loss(Xb @ w, yb).backward()
        opt.step()
        if k % 25 == 0:
            gc.collect()
            readings.append(_anonymous_memory_kib())
    growth_mib = (max(readings[2:]) - readings[2]) / 1024
    assert growth_mib < 16, readings  # the data set is 61 MiB


# ---------------------------------------------------------------- training loop


def make_regression(n=128):
    X = rng.standard_normal((n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.3


def test_train_fits_records_and_uses_the_validation_set():
    X, y = make_regression()
    tm.random.seed(0)
    model = tm.nn.Linear(3, 1)
    history = tm.train(model, lambda p, t: F.mse_loss(p[:, 0], t), tm.optim.Adam(model.parameters(), lr=0.05),
                       tm.data.DataLoader(X[:96], y[:96], batch_size=32, shuffle=True, seed=0), epochs=60,
                       metrics={"r2": tm.metrics.r2_score},
                       val=(X[96:], y[96:]), progress=False)
    assert len(history) == 60 and len(history.steps) == 60 * 3
    assert history["val_loss"][-1] < 1e-4 and history["r2"][-1] > 0.9999
    np.testing.assert_allclose(model.weight.numpy()[0], [1.0, -2.0, 0.5], atol=1e-2)


def test_early_stopping_and_callbacks_stop_training():
    X, y = make_regression()
    model = tm.nn.Linear(3, 1)
    calls = []
    history = tm.train(model, lambda p, t: F.mse_loss(p[:, 0], t), tm.optim.SGD(model.parameters(), lr=0.01),
                       tm.data.DataLoader(X, y, batch_size=128), epochs=50, progress=False,
                       callbacks=[lambda epoch, h: calls.append(epoch) or epoch == 4])
    assert len(history) == 5 and calls == [0, 1, 2, 3, 4]
    stopper = tm.EarlyStopping(monitor="val_loss", patience=2)
    history = tm.train(model, lambda p, t: F.mse_loss(p[:, 0], t), tm.optim.SGD(model.parameters(), lr=5.0),
                       tm.data.DataLoader(X, y, batch_size=128), epochs=50, val=(X, y), progress=False,
                       early_stopping=stopper)  # lr so large that the loss diverges: stops, best restored
    assert len(history) < 50
    with tm.no_grad():
        restored = float(F.mse_loss(model(X)[:, 0], y))
    assert restored == pytest.approx(stopper.best, rel=1e-12)


def test_train_drives_lbfgs_and_newton_with_closures():
    X, y = make_regression()
    for make in (lambda p: tm.optim.LBFGS(p, line_search_fn="strong_wolfe"), lambda p: tm.optim.Newton(p)):
        model = tm.nn.Linear(3, 1)
        tm.train(model, lambda p, t: F.mse_loss(p[:, 0], t), make(model.parameters()),
                 tm.data.DataLoader(X, y, batch_size=128), epochs=3, progress=False)
        np.testing.assert_allclose(model.weight.numpy()[0], [1.0, -2.0, 0.5], atol=1e-6)
        np.testing.assert_allclose(model.bias.numpy(), [0.3], atol=1e-6)


def test_training_memory_is_flat_over_ten_thousand_steps():
    X, y = make_regression(32)
    model = tm.nn.Linear(3, 1)
    opt = tm.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        F.mse_loss(model(X)[:, 0], y).backward()
        opt.step()

    for _ in range(200):
        step()
    tracemalloc.start()
    for _ in range(1000):
        step()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(9000):
        step()
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert second - first < 100_000, (first, second)


# ---------------------------------------------------------------- closed forms, hypergradients


def test_closed_forms_match_numpy_and_the_ridge_hypergradient_matches_differences():
    X, y = make_regression(40)
    np.testing.assert_allclose(tm.linalg.normal_equations(X, y).numpy(), np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    alpha = 2.5
    np.testing.assert_allclose(tm.linalg.ridge(X, y, alpha).numpy(),
                               np.linalg.solve(X.T @ X + alpha * np.eye(3), X.T @ y), rtol=1e-12)
    X_val, y_val = make_regression(20)
    y_val = y_val + rng.standard_normal(20)

    def validation_loss(a):
        return F.mse_loss(X_val @ tm.linalg.ridge(X, y, a), y_val)

    def numpy_validation_loss(a):
        w = np.linalg.solve(X.T @ X + float(a) * np.eye(3), X.T @ y)
        return np.mean((X_val @ w - y_val) ** 2)

    hypergradient = tm.grad(validation_loss)(alpha)
    np.testing.assert_allclose(hypergradient, central_jacobian(numpy_validation_loss, [np.array(alpha)])[0, 0],
                               rtol=1e-6)


class IncreasingIndexOnly:
    """Behaves as an h5py dataset does: slices, or integer lists in increasing order, nothing else."""

    def __init__(self, array):
        self.array = array

    def __len__(self):
        return len(self.array)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.ndim != 1 or np.any(np.diff(index) <= 0):
                raise TypeError("indices must be increasing (as h5py requires)")
        return self.array[index]


def test_dataloader_reads_h5py_like_data_in_increasing_order():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20)
    loader = tm.data.DataLoader(IncreasingIndexOnly(X), IncreasingIndexOnly(y), batch_size=6, shuffle=True, seed=3)
    seen = []
    for Xb, yb in loader:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(20)) and seen != sorted(seen)


# ---------------------------------------------------------------- a non-finite loss leaves the last finite weights

TRAIN_OPTIMIZERS = {
    "sgd-momentum": (lambda p: tm.optim.SGD(p, lr=0.05, momentum=0.9), 1),
    "adam": (lambda p: tm.optim.Adam(p, lr=0.05), 1),
    "lbfgs-wolfe": (lambda p: tm.optim.LBFGS(p, max_iter=5, line_search_fn="strong_wolfe"), 4),
    "lbfgs-fixed": (lambda p: tm.optim.LBFGS(p, lr=0.5, max_iter=5), 4),
    "newton": (lambda p: tm.optim.Newton(p), 2),
}


def _recording_batches(model, batches):
    """The batches, recording the parameters as each one is handed out (before its step)."""
    seen = []

    def batches_():
        for batch in batches:
            seen.append({name: p.numpy().copy() for name, p in model.named_parameters()})
            yield batch

    return batches_(), seen


@pytest.mark.parametrize("name", sorted(TRAIN_OPTIMIZERS))
def test_a_loss_that_turns_nan_inside_a_step_leaves_the_weights_before_that_step(name):
    """The loss function returns NaN from its k-th call on: for the closure optimizers that call is
    inside the third step, after their line search or fixed steps moved the parameters."""
    make, calls_into_step = TRAIN_OPTIMIZERS[name]
    X, y = make_regression(96)
    y = y + 0.5 * np.random.default_rng(0).standard_normal(96)  # each batch has its own optimum
    tm.random.seed(1)
    model = tm.nn.Linear(3, 1)
    optimizer = make(model.parameters())
    calls = []

    def loss_fn(prediction, target):
        calls.append(len(calls))
        loss = F.mse_loss(prediction[:, 0], target)
        return loss * np.nan if len(calls) > fail_after else loss

    fail_after = _calls_for_two_steps(make, X, y) + calls_into_step - 1
    batches, seen = _recording_batches(model, [(X[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)])
    with pytest.raises(FloatingPointError, match=r"train: the loss became nan at epoch 0, batch 2; the parameters are "
                                                 r"left as they were before this step"):
        tm.train(model, loss_fn, optimizer, batches, epochs=1, progress=False)
    assert len(seen) == 3 and len(calls) == fail_after + 1
    for key, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), seen[2][key])
        assert np.isfinite(p.numpy()).all()


def _calls_for_two_steps(make, X, y):
    """How many times the loss function is called in the first two steps (the same run, without NaN)."""
    tm.random.seed(1)
    model = tm.nn.Linear(3, 1)
    calls = []

    def loss_fn(prediction, target):
        calls.append(1)
        return F.mse_loss(prediction[:, 0], target)

    tm.train(model, loss_fn, make(model.parameters()), [(X[i:i + 32], y[i:i + 32]) for i in range(0, 64, 32)],
             epochs=1, progress=False)
    return len(calls)


@pytest.mark.parametrize("name", ["sgd-momentum", "adam", "lbfgs-wolfe"])
def test_a_non_finite_gradient_stops_training_before_the_update(name):
    """A finite loss whose gradient is NaN (0 · sqrt′(0)): the parameters keep their values."""
    make, _ = TRAIN_OPTIMIZERS[name]
    X, y = make_regression(32)
    model = tm.nn.Linear(3, 1)
    model.weight.data = np.array([[0.0, 1.0, -1.0]])
    start = {key: p.numpy().copy() for key, p in model.named_parameters()}
    loss_fn = lambda p, t: F.mse_loss(p[:, 0], t) + 0.0 * tm.sqrt(tm.abs(model.weight)).sum()
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(
            FloatingPointError, match=r"train: the gradient of parameter \d \(shape \(1, 3\)\) has NaN or inf at epoch 0, "
                                      r"batch 0 \(the loss is finite\)"):
        tm.train(model, loss_fn, make(model.parameters()), [(X, y)], epochs=1, progress=False)
    for key, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), start[key])


def test_an_update_that_overflows_is_undone():
    X, y = make_regression(32)
    model = tm.nn.Linear(3, 1)
    start = {key: p.numpy().copy() for key, p in model.named_parameters()}
    with np.errstate(over="ignore"), pytest.raises(
            FloatingPointError, match=r"train: the update at epoch 0, batch 0 made parameter \d .* NaN or inf from a "
                                      r"finite loss and gradient .* put back to their values before this step"):
        tm.train(model, lambda p, t: F.mse_loss(p[:, 0], t), tm.optim.SGD(model.parameters(), lr=1e308), [(X, y)],
                 epochs=1, progress=False)
    for key, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), start[key])


# ---------------------------------------------------------------- EarlyStopping, as Keras' semantics


def run_stopper(values, **options):
    """Feed ``values`` (one per epoch) to an EarlyStopping; (epoch it stopped at or None, best, waits)."""
    stopper = tm.EarlyStopping(monitor="score", restore_best=False, **options)
    history, waits = tm.History(), []
    for epoch, value in enumerate(values):
        history.epochs.append({"epoch": epoch, "score": value})
        stop = stopper(epoch, history, None)
        waits.append(stopper.waited)
        if stop:
            return epoch, stopper.best, waits
    return None, stopper.best, waits


def test_early_stopping_min_mode_improves_only_below_best_minus_min_delta():
    # 3.75 ties best − min_delta (no improvement); 3.5 and 3.0 improve; 3.0 again and 2.875 (within 0.25) do not
    assert run_stopper([4.0, 3.75, 3.5, 3.0, 3.0, 2.875, 2.0], patience=2, min_delta=0.25) == (5, 3.0, [0, 1, 0, 0, 1, 2])
    # without min_delta any decrease improves, a tie does not
    assert run_stopper([4.0, 3.0, 3.0, 2.5, 2.5, 2.5], patience=2) == (5, 2.5, [0, 0, 1, 0, 1, 2])


def test_early_stopping_max_mode_improves_only_above_best_plus_min_delta():
    # the mirror image: 1.25 ties best + min_delta; 2.125 is within 0.25 of 2.0
    assert run_stopper([1.0, 1.25, 1.5, 2.0, 2.0, 2.125, 3.0], mode="max", patience=2, min_delta=0.25) == \
        (5, 2.0, [0, 1, 0, 0, 1, 2])
    assert run_stopper([1.0, 2.0, 2.0, 2.5, 2.5, 2.5], mode="max", patience=2) == (5, 2.5, [0, 0, 1, 0, 1, 2])
    # a decrease never improves in max mode, whatever min_delta
    assert run_stopper([1.0, 0.5, 0.9], mode="max", patience=5, min_delta=0.25) == (None, 1.0, [0, 1, 2])


def test_early_stopping_first_epoch_patience_and_nan():
    assert run_stopper([-1e9, -1e9], mode="max", patience=1) == (1, -1e9, [0, 1])  # the first epoch sets the best
    assert run_stopper([5.0, 6.0], patience=0) == (1, 5.0, [0, 1])  # patience 0: the first epoch without improvement
    assert run_stopper([5.0, 4.0, 3.0, 2.0], patience=1) == (None, 2.0, [0, 0, 0, 0])
    assert run_stopper([np.nan, 2.0, np.nan, 1.5], patience=2) == (None, 1.5, [1, 0, 1, 0])  # NaN never improves
    for options, message in [(dict(min_delta=-0.1), "min_delta must be a finite number ≥ 0"),
                             (dict(patience=-1), "patience must be an integer ≥ 0"),
                             (dict(mode="maximum"), "mode must be 'min' or 'max'")]:
        with pytest.raises(ValueError, match=f"EarlyStopping: {message}"):
            tm.EarlyStopping(**options)


def test_early_stopping_restores_the_parameters_of_the_best_epoch():
    model = tm.nn.Linear(2, 1)
    stopper = tm.EarlyStopping(monitor="accuracy", mode="max", patience=2)
    history, weights = tm.History(), []
    for epoch, accuracy in enumerate([0.5, 0.7, 0.65, 0.69, 0.9]):
        model.weight.data = np.full((1, 2), float(epoch))  # what an epoch of training would change
        weights.append(model.weight.numpy().copy())
        history.epochs.append({"epoch": epoch, "accuracy": accuracy})
        if stopper(epoch, history, model):
            break
    assert epoch == 3 and stopper.best == 0.7
    np.testing.assert_array_equal(model.weight.numpy(), weights[1])


# ---------------------------------------------------------------- History


def test_history_names_the_recorded_keys_for_a_key_no_epoch_recorded():
    X, y = make_regression(64)
    model = tm.nn.Linear(3, 1)
    history = tm.train(model, lambda p, t: F.mse_loss(p[:, 0], t), tm.optim.SGD(model.parameters(), lr=0.01),
                       tm.data.DataLoader(X, y, batch_size=32), epochs=2, metrics={"r2": tm.metrics.r2_score},
                       progress=False)
    assert len(history["loss"]) == 2 and len(history["r2"]) == 2
    with pytest.raises(KeyError, match=r"History: no epoch recorded 'val_loss'; recorded: \['epoch', 'loss', 'time', 'r2'\]"):
        history["val_loss"]
    with pytest.raises(KeyError, match=r"no epoch recorded 'los'"):
        history["los"]
    assert "loss" in history and "val_loss" not in history
    history.epochs[1]["val_loss"] = 0.5  # recorded in some epochs only: one value per epoch that has it
    assert history["val_loss"] == [0.5]
