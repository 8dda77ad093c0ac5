"""The whole GAN training step as one Numba-jitted call (the ``numba`` backend's fast path).

It is a twin of ``GAN.train_step`` (gan/model.py), read the same way and tested equal to it:

    train_step_fused                           GAN.train_step
      d_steps x  discriminator_forward_backward   discriminator_forward_backward(real, z)
                 adam_step(D)                     opt_D.step()
      generator_forward_backward                  generator_forward_backward(z)
      adam_step(G)                                opt_G.step()

but without a Python-level call per layer and per elementwise op, which is what a small-batch
step spends most of its time on. Two shortcuts, both exact:

* in the D step, nothing needs dL/d(input of D), so the first layer's input gradient is skipped;
* in the G step, D's parameter gradients would be discarded, so they are never computed.

A network arrives as a ``Network`` tuple (its flat buffers, shared with the Python objects, so
nothing is copied): layer i's weight W_i (n_i, n_{i+1}) and bias b_i (n_{i+1},) sit one after
the other in ``params``, with the widths ``sizes`` = [n_0, n_1, ..., n_L]. Names follow
kernels.py: a is a pre-activation (h W + b), h = act(a) a layer's output, l a logit; z is only
ever G's noise. Matmuls go to BLAS through ``np.dot(x, y, out)``. Every array is allocated
once by ``FusedStep``; a warm step allocates nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import kernels

if kernels.numba is None:  # pragma: no cover
    raise ImportError("tinygan.fused needs numba")

from .kernels import IDENTITY, _act_backward_flat, _adam_flat, _bce_flat, bias_act_forward_numba, njit


class Network(NamedTuple):
    """One MLP as the jitted step sees it."""

    params: np.ndarray  # (P,) [W_0 | b_0 | W_1 | b_1 | ...]: the network's flat.data
    grads: np.ndarray  # (P,) dL/dparams, same layout: flat.grad
    adam_m: np.ndarray  # (P,) Adam's first moment (running mean of the gradient)
    adam_v: np.ndarray  # (P,) Adam's second moment (running mean of its square)
    sizes: np.ndarray  # (L+1,) int64 widths n_0 ... n_L
    activation: int  # hidden layers' activation code (kernels.ACTIVATION_CODES); the last layer is linear
    outputs: np.ndarray  # workspace: each layer's output h_1 ... h_L of the latest forward, one after another;
    # backward reads them (activation derivatives are written through the output)


class Settings(NamedTuple):
    """The scalars of one step (GANConfig's, and this step's scheduled learning rate)."""

    batch: int  # B: D judges B packs per side
    pack: int  # m: samples per pack, so each side has n = B m samples
    negative_slope: float  # LeakyReLU's slope
    real_target: float  # 1 - label_smoothing
    minimax: bool  # G's loss: minimax (mean log(1 - D)) or non-saturating (BCE against 1)
    lr: float  # this step's learning rate, after the schedule
    beta1: float
    beta2: float
    eps: float


class Batches(NamedTuple):
    """The step's random draws, made in Python in GAN.train_step's order."""

    real: np.ndarray  # (d_steps, n, 2) real samples, one batch per D update
    z_d: np.ndarray  # (d_steps, n, noise_dim) G's noise for the fakes D is trained on
    z_g: np.ndarray  # (n, noise_dim) G's noise for the G update


class Workspace(NamedTuple):
    """Buffers the step writes between its stages."""

    d_input: np.ndarray  # (2n, 2) [real; fake] sample by sample; D sees it as (2B, 2m) packs
    targets: np.ndarray  # (2B, 1) BCE targets: [real_target; 0] for D, then G's target
    logits_grad: np.ndarray  # (2B, 1) dL/dl, the loss gradient at D's logits
    fake_grad: np.ndarray  # (n, 2) dL_G/dfake, D's input gradient unpacked sample by sample
    input_grads: np.ndarray  # backward's dL/dh, two halves used in turn: a layer's input gradient is
    # written into one half while its output gradient is read from the other


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
    """Layer ``layer``'s output h_{layer+1}, (rows, n_{layer+1}), inside the outputs workspace."""
    start = 0
    for before in range(layer):
        start += rows * sizes[before + 1]
    return outputs[start : start + rows * sizes[layer + 1]].reshape(rows, sizes[layer + 1])


@njit
def mlp_forward(net, x, slope):
    """h_{i+1} = act(h_i W_i + b_i) from h_0 = x (rows, n_0); the last layer is linear.

    Keeps every h_{i+1} in ``net.outputs`` and returns the last, (rows, n_L)."""
    rows, offset, h = x.shape[0], 0, x
    layers = len(net.sizes) - 1
    for layer in range(layers):
        weight, bias, offset = _layer_slices(net.params, net.sizes, layer, offset)
        a = _layer_output(net.outputs, net.sizes, layer, rows)
        np.dot(h, weight, a)  # (rows, n_i) @ (n_i, n_{i+1})
        bias_act_forward_numba(a, bias, net.activation if layer < layers - 1 else IDENTITY, slope)  # a -> h
        h = a
    return h


@njit
def mlp_backward(net, x, grad_out, slope, input_grads, want_param_grads, want_input_grad):
    """Backward through mlp_forward's cached outputs, from g_L = dL/dh_L = ``grad_out`` (overwritten).

    Per layer, from the last: g <- g * act'(a) (hidden layers), then
    dL/dW_i = h_i^T g and dL/db_i = sum over rows of g, WRITTEN (not added) into ``net.grads`` when
    ``want_param_grads``; and dL/dh_i = g W_i^T. Returns dL/dx (rows, n_0) when ``want_input_grad``,
    else an empty array (the first layer's input gradient is then never computed).
    """
    rows, layers = x.shape[0], len(net.sizes) - 1
    offsets = np.zeros(layers, np.int64)  # where each layer starts in the flat buffers
    for layer in range(1, layers):
        offsets[layer] = offsets[layer - 1] + net.sizes[layer - 1] * net.sizes[layer] + net.sizes[layer]
    g = grad_out  # dL/dh_{i+1}, (rows, n_{i+1})
    for layer in range(layers - 1, -1, -1):
        n_in = net.sizes[layer]
        weight, _, _ = _layer_slices(net.params, net.sizes, layer, offsets[layer])
        if layer < layers - 1:  # through the activation: g <- g * act'(a), written through the output h
            h_out = _layer_output(net.outputs, net.sizes, layer, rows)
            _act_backward_flat(g.reshape(-1), h_out.reshape(-1), net.activation, slope)
        h_in = x if layer == 0 else _layer_output(net.outputs, net.sizes, layer - 1, rows)
        if want_param_grads:
            grad_weight, grad_bias, _ = _layer_slices(net.grads, net.sizes, layer, offsets[layer])
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


@njit
def adam_step(net, settings, step):
    """One Adam step over the network's flat buffers (step counts from 1), as kernels.adam_update_numba:

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - (lr / (1 - b1^t)) m / (sqrt(v / (1 - b2^t)) + eps)
    with every scalar cast to the buffers' dtype first (float32 buffers get float32 scalars, as in NumPy).
    """
    b1, b2 = settings.beta1, settings.beta2
    s = np.empty(7, net.params.dtype)  # storing into it casts
    s[0], s[1], s[2], s[3] = b1, 1.0 - b1, b2, 1.0 - b2
    s[4], s[5], s[6] = settings.lr / (1.0 - b1**step), 1.0 - b2**step, settings.eps
    _adam_flat(net.params, net.grads, net.adam_m, net.adam_v, s[0], s[1], s[2], s[3], s[4], s[5], s[6])


@njit
def discriminator_forward_backward(G, D, settings, real, z, work):
    """D's loss on real (n, 2) vs G(z) (n, 2), leaving dL_D/dparams in D.grads. Returns the loss.

    L_D = BCE(D(real), real_target) + BCE(D(fake), 0), each a mean over its own B packs."""
    batch, n = settings.batch, settings.batch * settings.pack
    fake = mlp_forward(G, z, settings.negative_slope)  # (n, 2)
    work.d_input[:n] = real
    work.d_input[n:] = fake
    packed = work.d_input.reshape(2 * batch, -1)  # (2B, 2m): packs of m samples side by side
    logits = mlp_forward(D, packed, settings.negative_slope)  # (2B, 1)
    work.targets[:batch] = settings.real_target
    work.targets[batch:] = 0
    flat_logits, t, grad = logits.reshape(-1), work.targets.reshape(-1), work.logits_grad.reshape(-1)  # (2B,)
    d_loss = _bce_flat(flat_logits[:batch], t[:batch], grad[:batch])
    d_loss += _bce_flat(flat_logits[batch:], t[batch:], grad[batch:])
    mlp_backward(D, packed, work.logits_grad, settings.negative_slope, work.input_grads, True, False)
    return d_loss


@njit
def generator_forward_backward(G, D, settings, z, work):
    """G's loss on D(G(z)), leaving dL_G/dparams in G.grads (D's grads are never formed). Returns the loss.

    dL_G/dtheta_G = (dL_G/dfake) (dfake/dtheta_G): dL_G/dfake comes out of D's backward."""
    batch, slope = settings.batch, settings.negative_slope
    fake = mlp_forward(G, z, slope)  # (n, 2)
    packed_fake = fake.reshape(batch, -1)  # (B, 2m)
    logits = mlp_forward(D, packed_fake, slope)  # (B, 1)
    flat_logits, t = logits.reshape(-1), work.targets[:batch].reshape(-1)  # (B,)
    grad = work.logits_grad[:batch]  # (B, 1)
    if settings.minimax:  # L_G = mean log(1 - sigmoid(l)) = -BCE(l, 0)
        t[:] = 0
        g_loss = -_bce_flat(flat_logits, t, grad.reshape(-1))
        for i in range(batch):
            grad[i, 0] = -grad[i, 0]
    else:  # non-saturating: L_G = BCE(l, 1)
        t[:] = 1
        g_loss = _bce_flat(flat_logits, t, grad.reshape(-1))
    grad_packed = mlp_backward(D, packed_fake, grad, slope, work.input_grads, False, True)  # (B, 2m)
    work.fake_grad[:] = grad_packed.reshape(work.fake_grad.shape)  # (n, 2)
    mlp_backward(G, z, work.fake_grad, slope, work.input_grads, True, False)
    return g_loss


@njit
def train_step_fused(G, D, settings, batches, work, d_steps_done, g_steps_done):
    """``d_steps`` = len(batches.real) D updates, then one G update, as GAN.train_step.

    ``d_steps_done`` / ``g_steps_done``: the Adam steps each network took before (for bias correction).
    Returns (d_loss of the last D update, g_loss)."""
    d_loss = 0.0
    for k in range(batches.real.shape[0]):
        d_loss = discriminator_forward_backward(G, D, settings, batches.real[k], batches.z_d[k], work)
        adam_step(D, settings, d_steps_done + k + 1)
    g_loss = generator_forward_backward(G, D, settings, batches.z_g, work)
    adam_step(G, settings, g_steps_done + 1)
    return d_loss, g_loss


class FusedStep:
    """Workspaces sized for one GAN's batch, and the call into ``train_step_fused``."""

    def __init__(self, gan: Any) -> None:
        c = gan.config
        n, dtype = c.batch_size * c.pack, gan.dtype
        self.g_sizes = np.array([c.noise_dim] + [c.hidden] * c.depth + [c.data_dim], np.int64)
        self.d_sizes = np.array([c.data_dim * c.pack] + [c.hidden] * c.depth + [1], np.int64)
        self.g_outputs = np.empty(n * int(self.g_sizes[1:].sum()), dtype)  # G runs on n rows
        self.d_outputs = np.empty(2 * c.batch_size * int(self.d_sizes[1:].sum()), dtype)  # D on up to 2B rows
        widest = max(c.hidden, c.data_dim * c.pack, c.noise_dim)
        self.work = Workspace(
            d_input=np.empty((2 * n, c.data_dim), dtype),
            targets=np.empty((2 * c.batch_size, 1), dtype),
            logits_grad=np.empty((2 * c.batch_size, 1), dtype),
            fake_grad=np.empty((n, c.data_dim), dtype),
            input_grads=np.empty(2 * 2 * n * widest, dtype),
        )
        self.batches = Batches(
            real=np.empty((c.d_steps, n, c.data_dim), dtype),
            z_d=np.empty((c.d_steps, n, c.noise_dim), dtype),
            z_g=np.empty((n, c.noise_dim), dtype),
        )

    def _network(self, net: Any, opt: Any, sizes: np.ndarray, activation: str, outputs: np.ndarray) -> Network:
        code = kernels.ACTIVATION_CODES[activation]
        return Network(net.flat.data, net.flat.grad, opt.m[0], opt.v[0], sizes, code, outputs)

    def step(self, gan: Any) -> tuple[float, float]:
        """Draw the batches in GAN.train_step's order (into the buffers), then one jitted call."""
        c, n, b = gan.config, gan.config.batch_size * gan.config.pack, self.batches
        for k in range(c.d_steps):
            b.real[k] = gan.sample_real(n)
            gan.rng.standard_normal(out=b.z_d[k], dtype=gan.dtype)
        gan.rng.standard_normal(out=b.z_g, dtype=gan.dtype)
        G = self._network(gan.G, gan.opt_G, self.g_sizes, c.g_activation, self.g_outputs)
        D = self._network(gan.D, gan.opt_D, self.d_sizes, c.d_activation, self.d_outputs)
        settings = Settings(
            batch=c.batch_size,
            pack=c.pack,
            negative_slope=c.negative_slope,
            real_target=1.0 - c.label_smoothing,
            minimax=c.loss == "minimax",
            lr=gan.opt_G.lr,
            beta1=c.betas[0],
            beta2=c.betas[1],
            eps=c.eps,
        )
        losses = train_step_fused(G, D, settings, b, self.work, gan.opt_D.step_count, gan.opt_G.step_count)
        gan.opt_D.step_count += c.d_steps
        gan.opt_G.step_count += 1
        return losses
