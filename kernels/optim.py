"""Optimizer updates fused into one pass over memory, each in a serial and a parallel (prange) form.

The parameters' new values go into ``out``, never into p, which a live graph may have saved; the
optimizer's own state (moments, momentum buffer) is updated in place. No fastmath: the results equal
numpy's (and PyTorch's) operation by operation.

Each kernel first checks that its arrays have one length (a mismatch would read and write past an
array's end): ``tinygrad_mat.dispatch`` checks shapes and dtypes before calling, this is the last guard
for a direct call.
"""
import math

from numba import njit, prange


@njit(inline="always")
def _same_length(p, g, state, other, out):
    n = p.shape[0]
    if g.shape[0] != n or state.shape[0] != n or other.shape[0] != n or out.shape[0] != n:
        raise ValueError("optimizer kernel: p, g, the state arrays and out must have one length")


@njit(inline="always", error_model="numpy")
def _adam_element(pi, gi, mi, vi, lr, beta1, beta2, eps, step_size, bias_correction2_sqrt, weight_decay, decoupled):
    if decoupled:
        pi = pi * (1.0 - lr * weight_decay)
    elif weight_decay != 0.0:
        gi = gi + weight_decay * pi
    mi = mi + (gi - mi) * (1.0 - beta1)
    vi = vi * beta2 + (1.0 - beta2) * gi * gi
    return mi, vi, pi - step_size * mi / (math.sqrt(vi) / bias_correction2_sqrt + eps)


@njit(cache=True, error_model="numpy")
def adam_update(p, g, m, v, out, lr, beta1, beta2, eps, bias_correction1, bias_correction2_sqrt,
                weight_decay, decoupled):
    """One Adam (or AdamW, ``decoupled``) step on 1-D arrays, as PyTorch computes it: m and v in place,
    the new parameters into ``out``."""
    _same_length(p, g, m, v, out)
    step_size = lr / bias_correction1
    for i in range(p.shape[0]):
        m[i], v[i], out[i] = _adam_element(p[i], g[i], m[i], v[i], lr, beta1, beta2, eps, step_size,
                                           bias_correction2_sqrt, weight_decay, decoupled)


@njit(cache=True, parallel=True, error_model="numpy")
def adam_update_parallel(p, g, m, v, out, lr, beta1, beta2, eps, bias_correction1, bias_correction2_sqrt,
                         weight_decay, decoupled):
    """``adam_update`` with the loop spread over numba's threads (each entry is independent)."""
    _same_length(p, g, m, v, out)
    step_size = lr / bias_correction1
    for i in prange(p.shape[0]):
        m[i], v[i], out[i] = _adam_element(p[i], g[i], m[i], v[i], lr, beta1, beta2, eps, step_size,
                                           bias_correction2_sqrt, weight_decay, decoupled)


@njit(inline="always", error_model="numpy")
def _sgd_element(pi, gi, bi, lr, momentum, dampening, weight_decay, nesterov, first):
    if weight_decay != 0.0:
        gi = gi + weight_decay * pi
    if first:
        bi = gi
    else:
        bi = bi * momentum + (1.0 - dampening) * gi
    if nesterov:
        gi = gi + momentum * bi
    else:
        gi = bi
    return bi, pi - lr * gi


@njit(cache=True, error_model="numpy")
def sgd_momentum_update(p, g, buf, out, lr, momentum, dampening, weight_decay, nesterov, first):
    """One SGD step with momentum (and dampening, weight decay, Nesterov), as PyTorch computes it:
    the momentum buffer in place (set to the gradient on the ``first`` step), the new parameters into
    ``out``."""
    _same_length(p, g, buf, buf, out)
    for i in range(p.shape[0]):
        buf[i], out[i] = _sgd_element(p[i], g[i], buf[i], lr, momentum, dampening, weight_decay, nesterov, first)


@njit(cache=True, parallel=True, error_model="numpy")
def sgd_momentum_update_parallel(p, g, buf, out, lr, momentum, dampening, weight_decay, nesterov, first):
    """``sgd_momentum_update`` with the loop spread over numba's threads."""
    _same_length(p, g, buf, buf, out)
    for i in prange(p.shape[0]):
        buf[i], out[i] = _sgd_element(p[i], g[i], buf[i], lr, momentum, dampening, weight_decay, nesterov, first)
