"""The whole GAN training step as one Numba-jitted call (the ``numba`` backend's fast path).

It computes exactly what ``GAN.train_step`` computes layer by layer (tests hold the two equal),
but without a Python-level call per layer and per elementwise op, which is what a small-batch
step spends most of its time on. Two shortcuts, both exact:

* in the D step, nothing needs dL/d(input of D), so the first layer's input gradient is skipped;
* in the G step, D's parameter gradients would be discarded, so they are never computed.

A network is described by its flat parameter buffer (see ``parameters.py``) and its layer widths
``sizes`` = [n_0, n_1, ..., n_L]; layer l's weight W_l (n_l, n_{l+1}) and bias b_l (n_{l+1},)
sit one after the other in the buffer. Activations of every layer live in one flat workspace.
Matmuls go to BLAS through ``np.dot(a, b, out)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels

if kernels.numba is None:  # pragma: no cover
    raise ImportError("tinygan.fused needs numba")

from .kernels import IDENTITY, _act_backward_flat, _adam_flat, _bce_flat, bias_act_forward_numba, njit


@njit
def _weight(params, sizes, layer, offset):
    n_in, n_out = sizes[layer], sizes[layer + 1]
    weight = params[offset : offset + n_in * n_out].reshape(n_in, n_out)
    bias = params[offset + n_in * n_out : offset + n_in * n_out + n_out]
    return weight, bias, offset + n_in * n_out + n_out


@njit
def _output(work, sizes, layer, rows):
    """Layer ``layer``'s output, (rows, n_{layer+1}), inside the workspace."""
    start = 0
    for before in range(layer):
        start += rows * sizes[before + 1]
    return work[start : start + rows * sizes[layer + 1]].reshape(rows, sizes[layer + 1])


@njit
def mlp_forward(params, sizes, hidden_act, slope, x, work):
    """h_{l+1} = act(h_l W_l + b_l); the last layer is linear. Returns the output (rows, n_L)."""
    rows, offset, h = x.shape[0], 0, x
    layers = len(sizes) - 1
    for layer in range(layers):
        weight, bias, offset = _weight(params, sizes, layer, offset)
        out = _output(work, sizes, layer, rows)
        np.dot(h, weight, out)  # (rows, n_l) @ (n_l, n_{l+1})
        bias_act_forward_numba(out, bias, hidden_act if layer < layers - 1 else IDENTITY, slope)
        h = out
    return h


@njit
def mlp_backward(params, grads, sizes, hidden_act, slope, x, work, grad_out, scratch, param_grads, input_grad):
    """Backward through mlp_forward's cached outputs; grad_out (rows, n_L) is overwritten.

    Writes (not adds) dL/dW_l = h_l^T g_l and dL/db_l = sum_rows g_l into ``grads`` when
    ``param_grads``; returns dL/dx (rows, n_0) when ``input_grad`` (else an empty array).
    """
    rows, layers = x.shape[0], len(sizes) - 1
    offsets = np.zeros(layers, np.int64)
    for layer in range(1, layers):
        offsets[layer] = offsets[layer - 1] + sizes[layer - 1] * sizes[layer] + sizes[layer]
    g = grad_out
    for layer in range(layers - 1, -1, -1):
        n_in = sizes[layer]
        weight, _, _ = _weight(params, sizes, layer, offsets[layer])
        if layer < layers - 1:  # through the activation: g <- g * act'(z), from the output y
            _act_backward_flat(g.reshape(-1), _output(work, sizes, layer, rows).reshape(-1), hidden_act, slope)
        h = x if layer == 0 else _output(work, sizes, layer - 1, rows)
        if param_grads:
            grad_weight, grad_bias, _ = _weight(grads, sizes, layer, offsets[layer])
            np.dot(h.T, g, grad_weight)  # (n_in, rows) @ (rows, n_out)
            grad_bias[:] = 0
            for i in range(rows):
                grad_bias += g[i]
        if layer == 0 and not input_grad:
            return scratch[:0].reshape(0, n_in)
        g_in = scratch[(layer % 2) * scratch.size // 2 :][: rows * n_in].reshape(rows, n_in)
        np.dot(g, weight.T, g_in)  # (rows, n_out) @ (n_out, n_in)
        g = g_in
    return g


@njit
def train_step_fused(
    g_params, g_grads, g_m, g_v, g_sizes, g_act,
    d_params, d_grads, d_m, d_v, d_sizes, d_act,
    slope, real, z_d, z_g, batch, pack, real_target, minimax,
    lr, beta1, beta2, eps, d_step0, g_step0, work_g, work_d, scratch, logits_grad, targets, d_in, grad_g_out,
):  # fmt: skip
    """d_steps = real.shape[0] D updates then one G update, as GAN.train_step. Returns (d_loss, g_loss).

    Every array is preallocated by FusedStep: nothing is allocated here.
    """
    n = batch * pack
    d_loss = 0.0
    targets[:batch] = real_target
    targets[batch:] = 0
    for k in range(real.shape[0]):
        # ---- D step: D(real) -> 1, D(G(z)) -> 0
        fake = mlp_forward(g_params, g_sizes, g_act, slope, z_d[k], work_g)  # (n, 2)
        d_in[:n] = real[k]
        d_in[n:] = fake
        packed = d_in.reshape(2 * batch, -1)  # (2B, 2m)
        logits = mlp_forward(d_params, d_sizes, d_act, slope, packed, work_d)  # (2B, 1)
        # each half is a mean over its own batch: the two BCE means add up
        d_loss = _bce_flat(logits[:batch].reshape(-1), targets[:batch].reshape(-1), logits_grad[:batch].reshape(-1))
        d_loss += _bce_flat(logits[batch:].reshape(-1), targets[batch:].reshape(-1), logits_grad[batch:].reshape(-1))
        mlp_backward(d_params, d_grads, d_sizes, d_act, slope, packed, work_d, logits_grad, scratch, True, False)
        _adam_lr(d_params, d_grads, d_m, d_v, lr, beta1, beta2, eps, d_step0 + k + 1)
    # ---- G step: the gradient of G's loss flows back through D into G
    fake = mlp_forward(g_params, g_sizes, g_act, slope, z_g, work_g)  # (n, 2)
    packed_fake = fake.reshape(batch, -1)  # (B, 2m)
    logits = mlp_forward(d_params, d_sizes, d_act, slope, packed_fake, work_d)  # (B, 1)
    grad = logits_grad[:batch]
    if minimax:  # L = -BCE(z, 0)
        targets[:batch] = 0
        g_loss = -_bce_flat(logits.reshape(-1), targets[:batch].reshape(-1), grad.reshape(-1))
        for i in range(batch):
            grad[i, 0] = -grad[i, 0]
    else:  # L = BCE(z, 1)
        targets[:batch] = 1
        g_loss = _bce_flat(logits.reshape(-1), targets[:batch].reshape(-1), grad.reshape(-1))
    grad_fake = mlp_backward(d_params, d_grads, d_sizes, d_act, slope, packed_fake, work_d, grad, scratch, False, True)
    grad_g_out[:] = grad_fake.reshape(n, -1)
    mlp_backward(g_params, g_grads, g_sizes, g_act, slope, z_g, work_g, grad_g_out, scratch, True, False)
    _adam_lr(g_params, g_grads, g_m, g_v, lr, beta1, beta2, eps, g_step0 + 1)
    return d_loss, g_loss


@njit
def _adam_lr(p, g, m, v, lr, beta1, beta2, eps, step):
    """Adam over a flat buffer, its scalars cast to the buffer's dtype (as adam_update_numba)."""
    s = np.empty(7, p.dtype)  # storing into it casts: float32 buffers get float32 scalars
    s[0], s[1], s[2], s[3] = beta1, 1.0 - beta1, beta2, 1.0 - beta2
    s[4], s[5], s[6] = lr / (1.0 - beta1**step), 1.0 - beta2**step, eps
    _adam_flat(p, g, m, v, s[0], s[1], s[2], s[3], s[4], s[5], s[6])


class FusedStep:
    """Workspaces sized for one GAN's batch, and the call into ``train_step_fused``."""

    def __init__(self, gan: Any) -> None:
        c = gan.config
        n, dtype = c.batch_size * c.pack, gan.dtype
        self.g_sizes = np.array([c.noise_dim] + [c.hidden] * c.depth + [c.data_dim], np.int64)
        self.d_sizes = np.array([c.data_dim * c.pack] + [c.hidden] * c.depth + [1], np.int64)
        self.g_act = kernels.ACTIVATION_CODES[c.g_activation]
        self.d_act = kernels.ACTIVATION_CODES[c.d_activation]
        self.work_g = np.empty(n * int(self.g_sizes[1:].sum()), dtype)  # every layer's output
        self.work_d = np.empty(2 * c.batch_size * int(self.d_sizes[1:].sum()), dtype)
        self.scratch = np.empty(2 * 2 * n * max(c.hidden, c.data_dim * c.pack, c.noise_dim), dtype)
        self.logits_grad = np.empty((2 * c.batch_size, 1), dtype)
        self.targets = np.empty((2 * c.batch_size, 1), dtype)
        self.d_in = np.empty((2 * n, c.data_dim), dtype)
        self.grad_g_out = np.empty((n, c.data_dim), dtype)
        self.real = np.empty((c.d_steps, n, c.data_dim), dtype)
        self.z_d = np.empty((c.d_steps, n, c.noise_dim), dtype)
        self.z_g = np.empty((n, c.noise_dim), dtype)

    def step(self, gan: Any) -> tuple[float, float]:
        """Draw the batches in GAN.train_step's order (into the buffers), then one jitted call."""
        c, n = gan.config, gan.config.batch_size * gan.config.pack
        for k in range(c.d_steps):
            self.real[k] = gan.sample_real(n)
            gan.rng.standard_normal(out=self.z_d[k], dtype=gan.dtype)
        gan.rng.standard_normal(out=self.z_g, dtype=gan.dtype)
        g, d = gan.G.flat, gan.D.flat
        og, od = gan.opt_G, gan.opt_D
        losses = train_step_fused(
            g.data, g.grad, og.m[0], og.v[0], self.g_sizes, self.g_act,
            d.data, d.grad, od.m[0], od.v[0], self.d_sizes, self.d_act,
            c.negative_slope, self.real, self.z_d, self.z_g, c.batch_size, c.pack, 1.0 - c.label_smoothing,
            c.loss == "minimax", og.lr, c.betas[0], c.betas[1], c.eps, od.step_count, og.step_count,
            self.work_g, self.work_d, self.scratch, self.logits_grad, self.targets, self.d_in, self.grad_g_out,
        )  # fmt: skip
        od.step_count += c.d_steps
        og.step_count += 1
        return losses
