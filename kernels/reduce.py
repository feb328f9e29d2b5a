"""Row-wise reductions over the last axis of a 2-D array."""
import math

from numba import njit


# Reassociation lets the sum vectorise; not fastmath=True, whose no-inf/no-nan
# assumptions would compile the isfinite and isnan guards away.
@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def logsumexp_rows(x, out):
    """out[r] = log Σ_c exp(x[r, c]), shifted by the row maximum so that nothing overflows.

    As the numpy formula: a row with a NaN gives NaN, a row containing +inf gives +inf, a row of -inf
    (or an empty row) gives -inf.
    """
    rows, cols = x.shape
    for r in range(rows):
        peak = -math.inf
        nan = False
        for c in range(cols):
            v = x[r, c]
            if math.isnan(v):
                nan = True
            elif v > peak:
                peak = v
        if nan:
            out[r] = math.nan
            continue
        if not math.isfinite(peak):
            out[r] = peak
            continue
        total = 0.0
        for c in range(cols):
            total += math.exp(x[r, c] - peak)
        out[r] = math.log(total) + peak
