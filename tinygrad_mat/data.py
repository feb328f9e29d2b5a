"""Batches for training: ``DataLoader`` over anything sliceable with a length.

numpy arrays, ``np.memmap``, h5py datasets, zarr and dask arrays, pandas DataFrames and Series, and
Python lists all work. Rows are always selected by position (pandas through ``.iloc``, never by index
label). One batch is read at a time (in increasing row order, which h5py needs, then put in the
shuffled order), so memory stays bounded by the batch size however large the data set. For splitting
and scaling use scikit-learn's ``train_test_split`` and ``StandardScaler``.
"""
import numpy as np


class DataLoader:
    """(X_batch, y_batch) numpy arrays, ``batch_size`` rows at a time, as PyTorch's DataLoader.

    ``shuffle`` draws a new order every epoch from a generator seeded by ``seed``; ``drop_last``
    skips a last, smaller batch. A batch with NaN or inf raises an error naming it
    (``check_finite=False`` turns the check off).

    >>> import numpy as np, tinygrad_mat as tm
    >>> loader = tm.data.DataLoader(np.arange(10.0).reshape(5, 2), np.arange(5), batch_size=2)
    >>> [yb.tolist() for _, yb in loader]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, X, y=None, batch_size=32, shuffle=False, drop_last=False, seed=None, check_finite=True):
        X, y = _sliceable(X, "X"), None if y is None else _sliceable(y, "y")
        self.n = _length(X)
        if self.n == 0:
            raise ValueError("DataLoader: the data set is empty")
        if y is not None and _length(y) != self.n:
            raise ValueError(f"DataLoader: X has {self.n} rows but y has {_length(y)}")
        if int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.check_finite = check_finite
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    @staticmethod
    def _read(A, start, stop, order):
        if order is None:
            return _rows(A, slice(start, stop))
        rows = order[start:stop]
        ascending = np.sort(rows)
        block = _rows(A, ascending)
        return block[np.searchsorted(ascending, rows)]

    def __iter__(self):
        order = self.rng.permutation(self.n) if self.shuffle else None
        for k, start in enumerate(range(0, self.n, self.batch_size)):
            stop = min(start + self.batch_size, self.n)
            if self.drop_last and stop - start < self.batch_size:
                break
            Xb = self._read(self.X, start, stop, order)
            yb = None if self.y is None else self._read(self.y, start, stop, order)
            if self.check_finite:
                for name, block in (("X", Xb), ("y", yb)):
                    if block is not None and block.dtype.kind == "f" and not np.isfinite(block).all():
                        raise ValueError(f"DataLoader: batch {k} (rows {start}–{stop - 1}) has NaN or inf in {name}")
            yield (Xb, yb) if self.y is not None else Xb


def _sliceable(A, name):
    """``A`` as the loader reads it: lists and tuples (already in memory) as one array, the rest as given."""
    if isinstance(A, (list, tuple)):
        try:
            return np.asarray(A)
        except ValueError as error:
            raise ValueError(f"DataLoader: {name} is a list whose rows do not form an array: {error}") from None
    if not hasattr(A, "__getitem__") or not (hasattr(A, "__len__") or len(getattr(A, "shape", ())) >= 1):
        raise TypeError(f"DataLoader: {name} must be sliceable with a length, got {type(A).__name__}")
    return A


def _length(A):
    """The number of rows (zarr arrays have a shape but no len())."""
    return len(A) if hasattr(A, "__len__") else A.shape[0]


def _rows(A, index):
    """Rows of ``A`` by position (a slice, or row numbers in increasing order) as a numpy array."""
    if hasattr(A, "iloc"):  # pandas: A[index] would select columns (DataFrame) or labels (Series)
        return A.iloc[index].to_numpy()
    return np.asarray(A[index])
