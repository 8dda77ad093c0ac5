"""One MLP inside the fused step: its flat layout, and its forward and backward passes as Numba loops.

A network is a ``Network`` tuple: layer i's weight W_i (n_i, n_{i+1}) and bias b_i (n_{i+1},) sit one
after the other in ``params``, with the widths ``sizes`` = [n_0, n_1, ..., n_L] -- the layout of a
``Sequential``'s ``flat.data``, so the fused step works on the network's own buffers. Names follow
kernels.py: pre is a pre-activation (h W + b), h = act(pre) a layer's output. Matmuls go to BLAS
through ``np.dot(x, y, out)``. fused.py (the training step) and fused_penalty.py (R1) run these.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .kernels import IDENTITY, _act_backward_flat, bias_act_forward_numba, njit


class Network(NamedTuple):
    """One MLP as the jitted step sees it."""

    params: np.ndarray  # (P,) [W_0 | b_0 | W_1 | b_1 | ...]: the network's flat.data
    grads: np.ndarray  # (P,) dL/dparams, same layout (flat.grad; a share's own buffer inside a step)
    adam_m: np.ndarray  # (P,) Adam's first moment (running mean of the gradient)
    adam_v: np.ndarray  # (P,) second moment (running mean of its square)
    sizes: np.ndarray  # (L+1,) int64 widths n_0 ... n_L
    activation: int  # hidden layers' activation code (kernels.ACTIVATION_CODES)
    output_activation: int  # the last layer's: IDENTITY (linear), or e.g. TANH for G on images in [-1, 1]


@njit
def layer_offsets(sizes):
    """Where each layer's W_i starts in the flat buffers, (L,) int64: W_0 at 0, then past W_i and b_i."""
    layers = len(sizes) - 1
    offsets = np.zeros(layers, np.int64)
    for layer in range(1, layers):
        offsets[layer] = offsets[layer - 1] + sizes[layer - 1] * sizes[layer] + sizes[layer]
    return offsets


@njit
def _layer_slices(params, sizes, layer, offset):
    """Views of layer ``layer``'s weight (n_in, n_out) and bias (n_out,) in a flat buffer at ``offset``,
    and the offset of the next layer."""
    n_in, n_out = sizes[layer], sizes[layer + 1]
    weight = params[offset : offset + n_in * n_out].reshape(n_in, n_out)
    bias = params[offset + n_in * n_out : offset + n_in * n_out + n_out]
    return weight, bias, offset + n_in * n_out + n_out


@njit
def _layer_output(outputs, sizes, layer, rows):
    """Layer ``layer``'s output h_{layer+1}, (rows, n_{layer+1}), inside an outputs buffer."""
    start = 0
    for before in range(layer):
        start += rows * sizes[before + 1]
    return outputs[start : start + rows * sizes[layer + 1]].reshape(rows, sizes[layer + 1])


@njit
def one_hot_input_forward(x, weight, pre, one_hot):
    """pre = x W (rows, n_out) for an input x (rows, n_in) whose last ``one_hot`` columns are mostly zeros
    (G's one-hot latent code): a dense product over the first n_in - one_hot columns, then, for each
    nonzero x_ic among the last ones, pre_i += x_ic W_c. The same sum as np.dot, without the zeros'
    products: for a one-hot code that is one row of W, where the matmul would multiply all K."""
    dense, width = x.shape[1] - one_hot, weight.shape[1]
    for i in range(x.shape[0]):
        for k in range(width):
            pre[i, k] = 0
        for j in range(x.shape[1]):
            x_ij = x[i, j]
            if j < dense or x_ij != 0:
                for k in range(width):  # pre_i += x_ij W_j, without a temporary row
                    pre[i, k] += x_ij * weight[j, k]


@njit
def one_hot_input_weight_grad(x, g, grad_weight, one_hot):
    """dL/dW = x^T g (n_in, n_out) for one_hot_input_forward's x (rows, n_in) and g = dL/da (rows, n_out),
    skipping the zeros of x's last ``one_hot`` columns as the forward does."""
    dense, width = x.shape[1] - one_hot, g.shape[1]
    grad_weight[:] = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x_ij = x[i, j]
            if j < dense or x_ij != 0:
                for k in range(width):  # dW_j += x_ij g_i
                    grad_weight[j, k] += x_ij * g[i, k]


@njit
def mlp_forward(net, outputs, x, slope, one_hot=0):
    """h_{i+1} = act(h_i W_i + b_i) from h_0 = x (rows, n_0); the last layer's act is the output activation.
    ``one_hot``: how many of x's last columns are a one-hot code (one_hot_input_forward skips their zeros).

    Keeps every h_{i+1} in ``outputs`` and returns the last, (rows, n_L)."""
    rows, offset, h = x.shape[0], 0, x
    layers = len(net.sizes) - 1
    for layer in range(layers):
        weight, bias, offset = _layer_slices(net.params, net.sizes, layer, offset)
        pre = _layer_output(outputs, net.sizes, layer, rows)
        if layer == 0 and one_hot > 0:
            one_hot_input_forward(h, weight, pre, one_hot)
        else:
            np.dot(h, weight, pre)  # (rows, n_i) @ (n_i, n_{i+1})
        act = net.activation if layer < layers - 1 else net.output_activation
        bias_act_forward_numba(pre, bias, act, slope)  # pre + b -> act(pre + b), in place
        h = pre
    return h


@njit
def mlp_backward(net, outputs, x, grad_out, slope, input_grads, want_param_grads, want_input_grad, one_hot=0):
    """Backward through mlp_forward's cached outputs, from g_L = dL/dh_L = ``grad_out`` (overwritten).

    Per layer, from the last: g <- g * act'(pre) (skipped where act is the identity), then
    dL/dW_i = h_i^T g and dL/db_i = sum over rows of g, WRITTEN (not added) into ``net.grads`` when
    ``want_param_grads``; and dL/dh_i = g W_i^T. Returns dL/dx (rows, n_0) when ``want_input_grad``,
    else an empty array (the first layer's input gradient is then never computed). ``one_hot`` as in
    mlp_forward: the first layer's dL/dW skips the code's zeros (its dL/dx, when wanted, is g W^T).
    """
    rows, layers = x.shape[0], len(net.sizes) - 1
    offsets = layer_offsets(net.sizes)  # where each layer starts in the flat buffers
    g = grad_out  # dL/dh_{i+1}, (rows, n_{i+1})
    for layer in range(layers - 1, -1, -1):
        n_in = net.sizes[layer]
        weight, _, _ = _layer_slices(net.params, net.sizes, layer, offsets[layer])
        act = net.activation if layer < layers - 1 else net.output_activation
        if act != IDENTITY:  # through the activation: g <- g * act'(pre), written through the output h
            h_out = _layer_output(outputs, net.sizes, layer, rows)
            _act_backward_flat(g.reshape(-1), h_out.reshape(-1), act, slope)
        h_in = x if layer == 0 else _layer_output(outputs, net.sizes, layer - 1, rows)
        if want_param_grads:
            grad_weight, grad_bias, _ = _layer_slices(net.grads, net.sizes, layer, offsets[layer])
            if layer == 0 and one_hot > 0:
                one_hot_input_weight_grad(h_in, g, grad_weight, one_hot)
            else:
                np.dot(h_in.T, g, grad_weight)  # (n_in, rows) @ (rows, n_out)
            grad_bias[:] = 0
            for i in range(rows):
                grad_bias += g[i]
        if layer == 0 and not want_input_grad:
            return input_grads[:0].reshape(0, n_in)
        half = (layer % 2) * (input_grads.size // 2)
        g_in = input_grads[half:][: rows * n_in].reshape(rows, n_in)
        np.dot(g, weight.T, g_in)  # (rows, n_out) @ (n_out, n_in)
        g = g_in
    return g
