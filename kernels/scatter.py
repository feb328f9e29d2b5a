"""Scatter-add of rows: the gradient of indexing rows with an integer array."""
from numba import njit


@njit(cache=True)
def scatter_add_rows(out, index, values):
    """out[index[i], :] += values[i, :] for each i; repeated rows add up; negative indices wrap.

    An index outside [-rows, rows) raises IndexError before anything is written.
    """
    rows = out.shape[0]
    for i in range(index.shape[0]):
        if index[i] < -rows or index[i] >= rows:
            raise IndexError("scatter_add_rows: index out of range")
    for i in range(index.shape[0]):
        r = index[i]
        if r < 0:
            r += rows
        for c in range(out.shape[1]):
            out[r, c] += values[i, c]
