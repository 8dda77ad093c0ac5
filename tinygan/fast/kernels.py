"""Fused elementwise hot loops: readable NumPy twins beside their Numba-jitted versions.

Each kernel exists twice with the same arguments and the same arithmetic, in the same order:

* ``*_numpy``: whole-array NumPy expressions, the reference a reader follows;
* ``*_numba``: ``@njit(cache=True)`` loops that make one pass over memory instead of several.

Tests assert the twins agree (float64 to 1e-12 relative, float32 to 1e-6). Kernels work in
place on preallocated arrays, so a training step allocates nothing once it is warm.

Activations are named by small integer codes so one jitted loop serves all of them. Every
backward here is written in terms of the activation's *output* y (never its input), which is
all the fused training step needs to keep:
    ReLU      y = max(a, 0)              dy/da = 1[y > 0]
    LeakyReLU y = a if a > 0 else k*a    dy/da = 1 if y > 0 else k        (slope k >= 0)
    Tanh      y = tanh(a)                dy/da = 1 - y^2
    Sigmoid   y = 1 / (1 + e^-a)         dy/da = y (1 - y)
with a the pre-activation (x W + b). Logits are called l; z is reserved for G's noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID = 0, 1, 2, 3, 4
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "tanh": TANH,
    "sigmoid": SIGMOID,
}


def array_module(a: Any):
    """numpy for NumPy arrays, cupy for CuPy arrays (via the array-API hook)."""
    return a.__array_namespace__() if hasattr(a, "__array_namespace__") else np


# ----------------------------------------------------------------------------- NumPy twins
def sigmoid_numpy(x):
    """Stable logistic: e = exp(-|x|) never overflows; 1/(1+e) for x >= 0, e/(1+e) below."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bias_act_forward_numpy(a, b, act: int, slope: float):
    """In place: a <- act(a + b), a (B, n) the product x W, b (n,). Returns a."""
    xp = array_module(a)
    a += b
    if act == RELU:
        xp.maximum(a, 0, out=a)
    elif act == LEAKY_RELU:
        a[...] = xp.where(a > 0, a, slope * a)
    elif act == TANH:
        xp.tanh(a, out=a)
    elif act == SIGMOID:
        a[...] = sigmoid_numpy(a)
    return a


def act_backward_numpy(grad, y, act: int, slope: float):
    """In place: grad <- grad * act'(a), with act' written through the output y. Returns grad."""
    xp = array_module(grad)
    if act == RELU:
        grad *= y > 0
    elif act == LEAKY_RELU:
        grad *= xp.where(y > 0, 1.0, slope).astype(grad.dtype)
    elif act == TANH:
        grad *= 1 - y * y
    elif act == SIGMOID:
        grad *= y * (1 - y)
    return grad


def bce_with_logits_numpy(logits, t, grad):
    """Mean binary cross-entropy of logits l against targets t; writes d(mean)/dl into grad.

    loss_i = max(l, 0) - l t + log(1 + e^{-|l|})   (= -t log s - (1-t) log(1-s), s = sigmoid(l))
    d loss_i / d l = s - t, and the mean divides by N = l.size.

    An infinite logit is a certain answer: its loss is 0 if right and inf if wrong (the formula
    alone would give inf - inf = NaN). The mean is summed in float64, like the Numba twin, so a
    batch of losses near float32's maximum does not overflow.
    """
    xp = array_module(logits)
    n = logits.size
    with np.errstate(invalid="ignore"):  # inf - inf, replaced just below
        losses = xp.maximum(logits, 0) - logits * t + xp.log1p(xp.exp(-xp.abs(logits)))
    wrong = xp.where(logits > 0, 1 - t, t)  # the weight the target puts on the other answer
    certain = xp.where(wrong > 0, np.inf, 0.0)  # (no `if any()`: that would copy to the host on a GPU)
    losses = xp.where(xp.abs(logits) == np.inf, certain, losses)
    grad[...] = (sigmoid_numpy(logits) - t) / n
    return (losses.astype(np.float64).sum() / n).astype(logits.dtype)


def adam_update_numpy(p, g, m, v, lr: float, beta1: float, beta2: float, eps: float, step: int) -> None:
    """One Adam step in place over flat arrays (step counts from 1).

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
    p <- p - (lr / (1 - b1^t)) * m / (sqrt(v / (1 - b2^t)) + eps)
    """
    xp = array_module(p)
    bias1 = 1.0 - beta1**step
    bias2 = 1.0 - beta2**step
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    p -= (lr / bias1) * m / (xp.sqrt(v / bias2) + eps)


def sgd_update_numpy(p, g, buf, lr: float, momentum: float) -> None:
    """SGD in place, PyTorch's form: buf <- momentum buf + g; p <- p - lr buf."""
    buf *= momentum
    buf += g
    p -= lr * buf


# ----------------------------------------------------------------------------- Numba versions
try:
    import numba

    NUMBA_IMPORT_ERROR = ""
except ImportError as error:  # pragma: no cover - exercised only where numba is missing
    numba = None
    NUMBA_IMPORT_ERROR = str(error)

if numba is not None:
    # error_model="numpy": a float division by zero gives inf/nan as in NumPy instead of raising
    # ZeroDivisionError. No loop here divides by zero; the point is speed: without the per-division
    # check LLVM vectorises the loops (AVX), which made Adam over 133k float32 parameters about 6x faster.
    njit = numba.njit(cache=True, nogil=True, error_model="numpy")

    @njit
    def _act(a, act, slope):
        if act == RELU:
            return a if a > 0 else a * 0
        if act == LEAKY_RELU:
            return a if a > 0 else a * slope
        if act == TANH:
            return math.tanh(a)
        if act == SIGMOID:
            if a >= 0:
                return 1.0 / (1.0 + math.exp(-a))
            e = math.exp(a)
            return e / (1.0 + e)
        return a

    @njit
    def _act_grad(y, act, slope):
        if act == RELU:
            return 1.0 if y > 0 else 0.0
        if act == LEAKY_RELU:
            return 1.0 if y > 0 else slope
        if act == TANH:
            return 1.0 - y * y
        if act == SIGMOID:
            return y * (1.0 - y)
        return 1.0

    @njit
    def bias_act_forward_numba(a, b, act, slope):
        rows, cols = a.shape
        for i in range(rows):
            for j in range(cols):
                a[i, j] = _act(a[i, j] + b[j], act, slope)
        return a

    @njit
    def _act_backward_flat(grad, y, act, slope):
        for i in range(grad.size):
            grad[i] = grad[i] * _act_grad(y[i], act, slope)

    def act_backward_numba(grad, y, act: int, slope: float):
        _act_backward_flat(grad.reshape(-1), y.reshape(-1), act, slope)
        return grad

    @njit
    def bce_part_numba(logits, t, grad, count):
        """BCE on flat logits l against targets t, summed over this part and divided by ``count``, the
        size of the whole batch the mean is over; writes d(mean)/dl = (sigmoid(l) - t) / count into
        grad. With count = l.size it is the mean; the fused step passes the batch a share belongs to."""
        total = 0.0
        for i in range(logits.size):
            li = logits[i]
            e = math.exp(-abs(li))
            if math.isinf(li):  # a certain answer: 0 if right, inf if wrong (not inf - inf)
                wrong = 1.0 - t[i] if li > 0 else t[i]
                total += math.inf if wrong > 0 else 0.0
            else:
                total += max(li, 0.0) - li * t[i] + math.log1p(e)
            s = 1.0 / (1.0 + e) if li >= 0 else e / (1.0 + e)
            grad[i] = (s - t[i]) / count
        return total / count

    def bce_with_logits_numba(logits, t, grad):
        return bce_part_numba(logits.reshape(-1), t.reshape(-1), grad.reshape(-1), logits.size)

    @njit
    def _adam_flat(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bias2, eps):
        for i in range(p.size):
            m[i] = beta1 * m[i] + one_minus_beta1 * g[i]
            v[i] = beta2 * v[i] + one_minus_beta2 * (g[i] * g[i])
            p[i] -= step_size * m[i] / (math.sqrt(v[i] / bias2) + eps)

    def adam_update_numba(p, g, m, v, lr, beta1, beta2, eps, step):
        # Scalars in the arrays' dtype, as NumPy treats Python floats: float32 stays float32.
        s = p.dtype.type
        _adam_flat(
            p,
            g,
            m,
            v,
            s(beta1),
            s(1.0 - beta1),
            s(beta2),
            s(1.0 - beta2),
            s(lr / (1.0 - beta1**step)),
            s(1.0 - beta2**step),
            s(eps),
        )

    @njit
    def _sgd_flat(p, g, buf, lr, momentum):
        for i in range(p.size):
            buf[i] = momentum * buf[i] + g[i]
            p[i] -= lr * buf[i]

    def sgd_update_numba(p, g, buf, lr, momentum):
        s = p.dtype.type
        _sgd_flat(p, g, buf, s(lr), s(momentum))


# ----------------------------------------------------------------------------- kernel sets
@dataclass(frozen=True)
class KernelSet:
    """The fused loops one backend provides to the loss and the optimizers; all share the NumPy twins'
    signatures. (bias_act_forward and act_backward are not in it: only the fused step uses them,
    as Numba loops; their NumPy twins above are the readable reference the tests hold them to.)"""

    name: str
    bce_with_logits: Callable
    adam_update: Callable
    sgd_update: Callable


NUMPY_KERNELS = KernelSet(
    "numpy",
    bce_with_logits_numpy,
    adam_update_numpy,
    sgd_update_numpy,
)

NUMBA_KERNELS = (
    KernelSet(
        "numba",
        bce_with_logits_numba,
        adam_update_numba,
        sgd_update_numba,
    )
    if numba is not None
    else None
)
