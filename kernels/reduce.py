"""Row-wise reductions over the last axis of a 2-D array."""
import math

from numba import njit


# Reassociation lets the sum vectorise; not fastmath=True, whose no-inf/no-nan
# assumptions would compile the isfinite guard away.
@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def logsumexp_rows(x, out):
    """out[r] = log Σ_c exp(x[r, c]), shifted by the row maximum so that nothing overflows.

    A row of -inf gives -inf; a row containing +inf gives +inf (as numpy's formula).
    """
    rows, cols = x.shape
    for r in range(rows):
        peak = -math.inf
        for c in range(cols):
            if x[r, c] > peak:
                peak = x[r, c]
        if not math.isfinite(peak):
            out[r] = peak
            continue
        total = 0.0
        for c in range(cols):
            total += math.exp(x[r, c] - peak)
        out[r] = math.log(total) + peak
