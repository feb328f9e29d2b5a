"""Optimizer updates fused into one pass over memory."""
import math

from numba import njit


@njit(cache=True, error_model="numpy")
def adam_update(p, g, m, v, out, lr, beta1, beta2, eps, bias_correction1, bias_correction2_sqrt,
                weight_decay, decoupled):
    """One Adam (or AdamW, ``decoupled``) step on 1-D arrays, as PyTorch computes it: m and v in place,
    the new parameters into ``out`` (never into p, which a live graph may have saved)."""
    step_size = lr / bias_correction1
    for i in range(p.shape[0]):
        pi = p[i]
        gi = g[i]
        if decoupled:
            pi = pi * (1.0 - lr * weight_decay)
        elif weight_decay != 0.0:
            gi = gi + weight_decay * pi
        mi = m[i] + (gi - m[i]) * (1.0 - beta1)
        vi = v[i] * beta2 + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        out[i] = pi - step_size * mi / (math.sqrt(vi) / bias_correction2_sqrt + eps)
