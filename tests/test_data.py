"""DataLoader selects rows by position for every input it names (numpy, memmap, h5py, zarr, dask,
pandas, lists), shuffled or not, and its length is the number of batches it yields."""
import importlib.util
import math

import numpy as np
import pytest

import tinygrad_mat as tm

N = 23
X = np.arange(2.0 * N).reshape(N, 2)
Y = np.arange(N)


def _make_pandas(_):
    import pandas as pd

    # an index that is neither 0..n-1 nor sorted, as train_test_split leaves it: labels must be ignored
    index = np.random.default_rng(0).permutation(N) + 100
    return pd.DataFrame(X, columns=["a", "b"], index=index), pd.Series(Y, index=index)


def _make_h5py(tmp_path):
    import h5py

    f = h5py.File(tmp_path / "data.h5", "w")
    return f.create_dataset("X", data=X), f.create_dataset("y", data=Y)


def _make_zarr(_):
    import zarr

    Xz = zarr.create_array(store={}, shape=X.shape, dtype="f8", chunks=(5, 2))
    Xz[:] = X
    yz = zarr.create_array(store={}, shape=Y.shape, dtype="i8", chunks=(5,))
    yz[:] = Y
    return Xz, yz


def _make_dask(_):
    import dask.array as da

    return da.from_array(X, chunks=(5, 2)), da.from_array(Y, chunks=5)


def _make_memmap(tmp_path):
    Xm = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="w+", shape=X.shape)
    Xm[:] = X
    return Xm, Y


SOURCES = {
    "numpy": (None, lambda _: (X, Y)),
    "lists": (None, lambda _: (X.tolist(), Y.tolist())),
    "tuples": (None, lambda _: (tuple(map(tuple, X)), tuple(Y))),
    "memmap": (None, _make_memmap),
    "pandas": ("pandas", _make_pandas),
    "h5py": ("h5py", _make_h5py),
    "zarr": ("zarr", _make_zarr),
    "dask": ("dask", _make_dask),
}


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("source", list(SOURCES))
def test_rows_are_selected_by_position(source, shuffle, tmp_path):
    module, make = SOURCES[source]
    if module is not None and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is an optional data format and is not installed here")
    Xs, ys = make(tmp_path)
    loader = tm.data.DataLoader(Xs, ys, batch_size=5, shuffle=shuffle, seed=2)
    seen = []
    for Xb, yb in loader:
        assert isinstance(Xb, np.ndarray) and Xb.shape[1:] == (2,)
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)  # rows stay paired with their labels
        seen.extend(np.asarray(yb).tolist())
    assert sorted(seen) == list(range(N))
    assert (seen != sorted(seen)) == shuffle


def test_pandas_rows_follow_position_not_index_labels():
    pd = pytest.importorskip("pandas", reason="pandas is an optional data format")
    frame = pd.DataFrame({"a": [10.0, 20.0, 30.0]}, index=[2, 0, 1])
    target = pd.Series([1, 2, 3], index=[2, 0, 1])
    batches = list(tm.data.DataLoader(frame, target, batch_size=2))
    np.testing.assert_array_equal(batches[0][0], [[10.0], [20.0]])
    np.testing.assert_array_equal(batches[0][1], [1, 2])
    np.testing.assert_array_equal(batches[1][1], [3])


@pytest.mark.parametrize("drop_last", [False, True])
def test_length_is_the_number_of_batches_yielded(drop_last):
    for n in range(1, 25):
        for batch_size in range(1, 9):
            loader = tm.data.DataLoader(np.zeros((n, 1)), batch_size=batch_size, drop_last=drop_last)
            expected = n // batch_size if drop_last else math.ceil(n / batch_size)
            assert len(loader) == expected == sum(1 for _ in loader), (n, batch_size, drop_last)


def test_ragged_lists_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="X is a list whose rows do not form an array"):
        tm.data.DataLoader([[1.0, 2.0], [3.0]], [0, 1])
    with pytest.raises(TypeError, match="sliceable with a length"):
        tm.data.DataLoader(5)
