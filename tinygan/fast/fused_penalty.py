"""The Numba twin of the R1 penalty's gradient (nn/penalty.py), for D as the fused step holds it.

nn/penalty.py is the textbook: it derives the five sweeps and walks a ``Sequential`` module by
module. Here D is a ``Network`` (fused_mlp.py): Dense layer l, then its activation s_l (the hidden
activation, or the output's, the identity for a logit), which gives each layer two of the module
steps. With pre_{l+1} = h_l W_l + b_l and h_{l+1} = s_l(pre_{l+1}):

    gamma_l   d logit / dh_l        (rows, n_l)       gamma_L = 1; gamma_0 = grad_x logit
    delta_l   d logit / dpre_{l+1}  (rows, n_{l+1})   = gamma_{l+1} s_l'(pre_{l+1}); gamma_l = delta_l W_l^T

1. forward                 h_1 ... h_L, into ``outputs``
2. backward to x           gamma_L ... gamma_1 into ``gammas`` (each layer's slot holds gamma_{l+1}), then gamma_0
3. P = 1/(2B) sum ||gamma_0||^2 over the whole batch's B rows; g_bar = dP/dgamma_0 = weight gamma_0 / B
4. step 2 run backwards, l = 0 ... L-1, g_bar = dP/dgamma_l on the way in:
       dP/dW_l += g_bar^T delta_l            (gamma_l = delta_l W_l^T is linear in W_l)
       g_bar <- g_bar W_l                    dP/ddelta_l
       source_l = g_bar gamma_{l+1} s_l''    (s_l' depends on pre_{l+1}: dP/dpre_{l+1} gets this part)
       g_bar <- g_bar s_l'                   dP/dgamma_{l+1}
5. step 1 run backwards, l = L-1 ... 0, only where some s'' is not 0 (Tanh, Sigmoid), h_bar = dP/dh:
       pre_bar = h_bar s_l' + source_l,  dP/dW_l += h_l^T pre_bar,  dP/db_l += sum_rows pre_bar,
       h_bar <- pre_bar W_l^T
   For ReLU and LeakyReLU (s'' = 0) there are no sources: step 5 is skipped, the biases get nothing.

With the pack spread in front of D (``points`` not empty), x = [points, gate log(v + eps)] and the
penalty is on the gradient with respect to the points, J^T gamma_0 (pack_spread_backward), whose
adjoint goes back into gamma_0's as J g_bar (pack_spread_tangent); J depends on the points alone, so
that is all it adds (nn/penalty.py says why).

The same sums as nn/penalty.py in the same order (each dP/dW_l term is formed, then added into the
gradient, as ``grad += a @ b`` does), so the two agree to rounding; tests hold them equal.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .fused_mlp import _layer_output, _layer_slices, layer_offsets, mlp_forward
from .fused_spread import pack_spread_backward, pack_spread_tangent
from .kernels import SIGMOID, TANH, _act_grad, njit


class PenaltyBuffers(NamedTuple):
    """One thread's buffers for the penalty on up to ``rows`` rows of D's input (in a Workspace, every
    thread's, stacked on a leading axis)."""

    outputs: np.ndarray  # h_1 ... h_L, one after another (rows * (n_1 + ... + n_L))
    gammas: np.ndarray  # gamma_1 ... gamma_L in the same layout
    sources: np.ndarray  # source_l (then pre_bar) in the same layout
    chain: np.ndarray  # three slots of rows * widest: g_bar or h_bar in and out, and delta
    weight_grad: np.ndarray  # one layer's dP/dW_l before it is added, (largest n_l n_{l+1},)


def penalty_buffers(sizes: np.ndarray, rows: int, dtype: np.dtype, threads: int) -> PenaltyBuffers:
    """Every thread's buffers for D's widths ``sizes`` and up to ``rows`` rows, each array (threads, length)."""
    outputs = rows * int(sizes[1:].sum())
    chain = 3 * rows * int(sizes.max())
    weight_grad = int(max(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1)))
    lengths = (outputs, outputs, outputs, chain, weight_grad)
    return PenaltyBuffers(*(np.empty((threads, length), dtype) for length in lengths))


@njit
def _second_derivative(h, act):
    """s''(pre) read off h = s(pre): tanh -2 h (1 - h^2), sigmoid h (1 - h) (1 - 2 h); 0 for the rest."""
    if act == TANH:
        return -2.0 * h * (1.0 - h * h)
    if act == SIGMOID:
        return h * (1.0 - h) * (1.0 - 2.0 * h)
    return 0.0


@njit
def _curved(act):
    return act == TANH or act == SIGMOID


@njit
def _slot(chain, k, rows, width):
    """Slot k (0, 1 or 2) of the chain buffer as a (rows, width) array."""
    size = chain.size // 3
    return chain[k * size : k * size + rows * width].reshape(rows, width)


@njit
def r1_penalty_backward(D, x, weight, batch_total, slope, buffers, points, pack, eps, gate):
    """Adds weight * dP/dtheta into D.grads for P = 1/(2B) sum over x's rows of ||grad_x logit||^2,
    x (rows, n_0) one share of the batch, B = ``batch_total`` rows in the whole batch; returns weight
    times this share's part of P. nn/penalty.r1_penalty for a Network; the steps: the module docstring.

    With the pack spread, x = [points, gate log(v + eps)] is its output for the packs ``points``
    (rows, pack d; ``pack``, ``eps``, ``gate`` its settings) and P is on the gradient with respect to
    the points; without, ``points`` has no columns (rows, 0) and the other three are not read."""
    rows, layers, sizes = x.shape[0], len(D.sizes) - 1, D.sizes
    offsets = layer_offsets(sizes)
    mlp_forward(D, buffers.outputs, x, slope)  # step 1: h_1 ... h_L
    curved = _curved(D.output_activation) or (layers > 1 and _curved(D.activation))  # any s'' != 0: step 5
    _layer_output(buffers.gammas, sizes, layers - 1, rows)[:] = 1  # gamma_L = d logit / d logit (rows, 1)
    for layer in range(layers - 1, -1, -1):  # step 2: gamma_l = (gamma_{l+1} s_l') W_l^T
        act = D.activation if layer < layers - 1 else D.output_activation
        delta = _delta(D, buffers, layer, act, rows, slope)  # (rows, n_{l+1})
        w = _layer_slices(D.params, sizes, layer, offsets[layer])[0]
        gamma_in = (
            _slot(buffers.chain, 0, rows, sizes[0])
            if layer == 0
            else _layer_output(buffers.gammas, sizes, layer - 1, rows)
        )
        np.dot(delta, w.T, gamma_in)  # (rows, n_{l+1}) @ (n_{l+1}, n_l)
    g0 = _slot(buffers.chain, 0, rows, sizes[0])  # gamma_0 = grad_x logit
    spread = points.shape[1] > 0
    if spread:  # the gradient with respect to the points: J^T gamma_0 (rows, pack d)
        g0 = _slot(buffers.chain, 1, rows, points.shape[1])
        pack_spread_backward(points, _slot(buffers.chain, 0, rows, sizes[0]), pack, eps, gate, g0)
    penalty = 0.0
    for i in range(rows):
        for j in range(g0.shape[1]):
            penalty += 0.5 * float(g0[i, j]) ** 2 / batch_total
    scale = np.empty(1, x.dtype)  # storing into it casts weight / B to the buffers' dtype, as NumPy does
    scale[0] = weight / batch_total
    g_bar = g0
    for i in range(rows):  # step 3: g_bar = weight gamma_0 / B, in place
        for j in range(g0.shape[1]):
            g_bar[i, j] = g0[i, j] * scale[0]
    if spread:  # and back through the spread's backward: dP/dgamma_0 = J g_bar (rows, pack d + 1)
        g_bar = _slot(buffers.chain, 0, rows, sizes[0])
        pack_spread_tangent(points, g0, pack, eps, gate, g_bar)
    for layer in range(layers):  # step 4
        act = D.activation if layer < layers - 1 else D.output_activation
        delta = _delta(D, buffers, layer, act, rows, slope)
        w, _, _ = _layer_slices(D.params, sizes, layer, offsets[layer])
        grad_w, _, _ = _layer_slices(D.grads, sizes, layer, offsets[layer])
        _add_product(g_bar.T, delta, grad_w, buffers.weight_grad)  # dP/dW_l += g_bar^T delta_l
        g_next = _slot(buffers.chain, 1 - layer % 2, rows, sizes[layer + 1])
        np.dot(g_bar, w, g_next)  # (rows, n_l) @ (n_l, n_{l+1}): dP/ddelta_l
        h, gamma = _layer_output(buffers.outputs, sizes, layer, rows), _layer_output(buffers.gammas, sizes, layer, rows)
        source = _layer_output(buffers.sources, sizes, layer, rows)
        with_source = _curved(act)
        for i in range(rows):
            for j in range(sizes[layer + 1]):
                if with_source:
                    source[i, j] = g_next[i, j] * gamma[i, j] * _second_derivative(h[i, j], act)
                g_next[i, j] = g_next[i, j] * _act_grad(h[i, j], act, slope)  # dP/dgamma_{l+1}
        g_bar = g_next
    if curved:
        _forward_adjoint(D, x, buffers, offsets, rows, slope)
    return weight * penalty


@njit
def _delta(D, buffers, layer, act, rows, slope):
    """delta_l = gamma_{l+1} s_l'(pre_{l+1}) (rows, n_{l+1}) into the chain's third slot."""
    n_out = D.sizes[layer + 1]
    delta = _slot(buffers.chain, 2, rows, n_out)
    h, gamma = _layer_output(buffers.outputs, D.sizes, layer, rows), _layer_output(buffers.gammas, D.sizes, layer, rows)
    for i in range(rows):
        for j in range(n_out):
            delta[i, j] = gamma[i, j] * _act_grad(h[i, j], act, slope)
    return delta


@njit
def _add_product(a, b, out, scratch):
    """out += a @ b: the product formed in ``scratch`` first, then added (as NumPy's ``out += a @ b``)."""
    product = scratch[: out.size].reshape(out.shape)
    np.dot(a, b, product)
    out += product


@njit
def _forward_adjoint(D, x, buffers, offsets, rows, slope):
    """Step 5: pre_bar = h_bar s_l' + source_l, dP/dW_l += h_l^T pre_bar, dP/db_l += sum pre_bar,
    h_bar = pre_bar W_l^T, from the output down (h_bar_L = 0: P depends on D's slopes, not its value).
    A layer without a source (identity, ReLU, LeakyReLU) above every curved one adds nothing: skipped."""
    sizes, layers = D.sizes, len(D.sizes) - 1
    started = False
    h_bar = _slot(buffers.chain, 0, rows, sizes[layers])
    for layer in range(layers - 1, -1, -1):
        act = D.activation if layer < layers - 1 else D.output_activation
        with_source = _curved(act)
        if not (started or with_source):
            continue
        h = _layer_output(buffers.outputs, sizes, layer, rows)
        pre_bar = _layer_output(buffers.sources, sizes, layer, rows)  # holds source_l where act is curved
        for i in range(rows):
            for j in range(sizes[layer + 1]):
                from_above = h_bar[i, j] * _act_grad(h[i, j], act, slope) if started else 0.0
                pre_bar[i, j] = from_above + pre_bar[i, j] if with_source else from_above
        started = True
        w, _, _ = _layer_slices(D.params, sizes, layer, offsets[layer])
        grad_w, grad_b, _ = _layer_slices(D.grads, sizes, layer, offsets[layer])
        h_in = x if layer == 0 else _layer_output(buffers.outputs, sizes, layer - 1, rows)
        _add_product(h_in.T, pre_bar, grad_w, buffers.weight_grad)  # (n_l, rows) @ (rows, n_{l+1})
        bias_sum = buffers.weight_grad[: sizes[layer + 1]]
        bias_sum[:] = 0
        for i in range(rows):
            bias_sum += pre_bar[i]
        grad_b += bias_sum
        if layer > 0:
            h_bar = _slot(buffers.chain, layer % 2, rows, sizes[layer])
            np.dot(pre_bar, w.T, h_bar)  # (rows, n_{l+1}) @ (n_{l+1}, n_l)
