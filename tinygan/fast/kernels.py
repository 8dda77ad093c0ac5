"""The Numba twins of the elementwise math, and the activation loops of the fused step.

The textbook forms live in ``tinygan/nn``, beside their derivations: the stable BCE in
``nn/losses.py`` (``stable_bce``), Adam and SGD in ``nn/optim.py`` (``adam_update``,
``sgd_update``), the activations in ``nn/activations.py``. The NumPy backend runs those; here are
their ``@njit(cache=True)`` twins, loops that make one pass over memory instead of several, with
the same arguments and the same arithmetic. Tests hold each twin equal to its textbook form
(float64 to 1e-12 relative, float32 to 1e-6). Kernels work in place on preallocated arrays, so a
training step allocates nothing once it is warm.

Activations are named by small integer codes so one jitted loop serves all of them. Every
backward here is written in terms of the activation's *output* y (never its input), which is
all the fused training step needs to keep:
    ReLU      y = max(pre, 0)                      dy/dpre = 1[y > 0]
    LeakyReLU y = pre if pre > 0 else slope*pre    dy/dpre = 1 if y > 0 else slope   (slope >= 0)
    Tanh      y = tanh(pre)                        dy/dpre = 1 - y^2
    Sigmoid   y = 1 / (1 + e^-pre)                 dy/dpre = y (1 - y)
with pre the pre-activation (x W + b). Logits are called l; z is reserved for G's noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID = 0, 1, 2, 3, 4
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "tanh": TANH,
    "sigmoid": SIGMOID,
}


# ----------------------------------------------------------------------------- fused loops' reference
# The fused step's activation loops, as whole-array NumPy: what bias_act_forward_numba and
# act_backward_numba are tested against (the readable step runs nn/activations.py instead).
def bias_act_forward_numpy(pre, b, act: int, slope: float):
    """In place: pre <- act(pre + b), pre (B, n) the product x W, b (n,). Returns it."""
    pre += b
    if act == RELU:
        np.maximum(pre, 0, out=pre)
    elif act == LEAKY_RELU:
        pre[...] = np.where(pre > 0, pre, slope * pre)
    elif act == TANH:
        np.tanh(pre, out=pre)
    elif act == SIGMOID:
        e = np.exp(-np.abs(pre))
        pre[...] = np.where(pre >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return pre


def act_backward_numpy(grad, y, act: int, slope: float):
    """In place: grad <- grad * act'(pre), with act' written through the output y. Returns grad."""
    if act == RELU:
        grad *= y > 0
    elif act == LEAKY_RELU:
        grad *= np.where(y > 0, 1.0, slope).astype(grad.dtype)
    elif act == TANH:
        grad *= 1 - y * y
    elif act == SIGMOID:
        grad *= y * (1 - y)
    return grad


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
    def _act(pre, act, slope):
        if act == RELU:
            return pre if pre > 0 else pre * 0
        if act == LEAKY_RELU:
            return pre if pre > 0 else pre * slope
        if act == TANH:
            return math.tanh(pre)
        if act == SIGMOID:
            if pre >= 0:
                return 1.0 / (1.0 + math.exp(-pre))
            e = math.exp(pre)
            return e / (1.0 + e)
        return pre

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
    def bias_act_forward_numba(pre, b, act, slope):
        rows, cols = pre.shape
        for i in range(rows):
            for j in range(cols):
                pre[i, j] = _act(pre[i, j] + b[j], act, slope)
        return pre

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
        """nn.losses.stable_bce's twin: the same loss and d(mean)/dl, one pass over the logits."""
        return bce_part_numba(logits.reshape(-1), t.reshape(-1), grad.reshape(-1), logits.size)

    @njit
    def _adam_flat(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bias2, eps):
        for i in range(p.size):
            m[i] = beta1 * m[i] + one_minus_beta1 * g[i]
            v[i] = beta2 * v[i] + one_minus_beta2 * (g[i] * g[i])
            p[i] -= step_size * m[i] / (math.sqrt(v[i] / bias2) + eps)

    def adam_update_numba(p, g, m, v, lr, beta1, beta2, eps, step):
        """nn.optim.adam_update's twin, with the bias corrections folded into two scalars:

            lr m_hat / (sqrt(v_hat) + eps) = (lr / (1 - beta1^t)) m / (sqrt(v / (1 - beta2^t)) + eps)

        algebraically the same step (m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)), with one
        multiplication per element fewer; tests hold it equal to the textbook form. Scalars are
        cast to the arrays' dtype, as NumPy treats Python floats: float32 stays float32."""
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
        """nn.optim.sgd_update's twin."""
        s = p.dtype.type
        _sgd_flat(p, g, buf, s(lr), s(momentum))


# ----------------------------------------------------------------------------- kernel sets
@dataclass(frozen=True)
class KernelSet:
    """The fast twins one backend provides to the loss and the optimizers, with the signatures of
    nn's textbook forms (``stable_bce``, ``adam_update``, ``sgd_update``). The NumPy backend has no
    KernelSet: it runs those forms. (bias_act_forward and act_backward are not in it: only the
    fused step uses them.)"""

    name: str
    bce_with_logits: Callable
    adam_update: Callable
    sgd_update: Callable


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
