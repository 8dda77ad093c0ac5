"""The whole GAN training step as one Numba-jitted call (the ``numba`` backend's fast path).

It is a twin of ``GAN.train_step`` (gan/model.py), read the same way and tested equal to it:

    train_step_fused                           GAN.train_step
      d_steps x  discriminator_forward_backward   discriminator_forward_backward(real, z)
                   and R1 / R2 (fused_penalty.py)   and r1_penalty (nn/penalty.py)
                 adam_step(D)                     opt_D.step()
      generator_forward_backward                  generator_forward_backward(z)
        and, with latent codes, Q's term            code_reader.generator_gradient (codes.py)
      adam_step(Q)                                  and Q's Adam step inside it
      adam_step(G)                                opt_G.step()
        and G's weight average                    _update_ema()

but without a Python-level call per layer and per elementwise op, which is what a small-batch
step spends most of its time on. Three shortcuts, all exact:

* in the D step, nothing needs dL/d(input of D), so the first layer's input gradient is skipped;
* in the G step, D's parameter gradients would be discarded, so they are never computed;
* with latent codes, G's input ends in a one-hot code of K values: its first layer adds the code's
  row of W instead of multiplying all K columns (one_hot_input_forward), and its weight gradient
  adds g into that row (on the grid's recipe, K = 150 of G's 152 inputs).

A class-conditional GAN (K classes) runs here too: G's input ends in the one-hot label y as it
would in a latent code, G([z, y]), so its first layer skips y's zeros the same way; each sample D
judges is [x, y] (d + K values, packed (d + K) pack), and D's first layer multiplies the labels as
any input, by BLAS, so the label rows of its weight get their gradient y^T g (a D-step gradient; the
G step forms none of D's). In the G step, D's input gradient g W^T is dL/d[fake, y]; the labels are
no output of G, so G receives its first d columns of each sample. (Skipping the label's zeros in D
too, through one_hot_input_forward with pack 1, made the digits recipe's step slower: its loop over
the 64 pixel columns is slower than BLAS, and the label is 10 of D's 74 inputs.)

Every core takes a share of the batch (data parallelism): the batch's packs are cut into one
contiguous share per Numba thread, and each thread runs the forward and backward passes on its
share, BLAS single-threaded, into its own buffers. A sample's way through G and D never meets
another share's, so the only sums across threads are the losses and the parameter gradients,
dL/dtheta = sum over shares; ``adam_step`` adds the shares' gradients up, then updates. With
one thread this is the plain serial step; with several, only the order in which the gradient's
terms are added changes, so results agree with the readable step to float rounding. The threads
are Numba's (``numba.set_num_threads`` sets how many), from its default threading layer (OpenMP
where it is available). OpenMP's idle threads spin a while before they sleep: on a quiet 2-core
AMD EPYC that made the case study's step 1.8x faster than Numba's ``workqueue`` layer, whose
threads always sleep (0.97 against 1.73 ms), but on a machine shared with other work the spinning
costs 5-20x the CPU time of a step. There, train with one thread (``--threads 1``) or set
NUMBA_THREADING_LAYER=workqueue.

Nothing here imports from the layers above: the GAN hands each network over as a ``FusedNet``
(views of its flat buffers and its Adam's moments, so nothing is copied) and the step's constants
as ``Settings``. Inside the jitted step a network is a ``Network`` tuple: layer i's weight
W_i (n_i, n_{i+1}) and bias b_i (n_{i+1},) sit one after the other in ``params``, with the widths
``sizes`` = [n_0, n_1, ..., n_L]. Names follow
kernels.py: pre is a pre-activation (h W + b), h = act(pre) a layer's output, l a logit, pack the
samples per pack (n = b pack samples in a share of b packs), m and v Adam's moments; z is only
ever G's noise. Matmuls go to BLAS through ``np.dot(x, y, out)``. Every array is allocated
once by ``FusedStep``; a warm step allocates nothing but, with latent codes, its noise draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numba
import numpy as np

from . import kernels

if kernels.numba is None:  # pragma: no cover
    raise ImportError("tinygan.fused needs numba")

from .fused_mlp import Network, mlp_backward, mlp_forward
from .fused_penalty import PenaltyBuffers, penalty_buffers, r1_penalty_backward
from .fused_spread import pack_spread_backward, pack_spread_forward
from .kernels import IDENTITY, bce_part_numba, njit

parallel_njit = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")  # as kernels.njit


class Settings(NamedTuple):
    """The scalars of one step: constants of the GAN's config, handed in by GAN.build_fused_step, and
    this step's scheduled learning rate and spread gate, which FusedStep.step puts in."""

    batch: int  # B: D judges B packs per side
    pack: int  # samples per pack, so each side has n = B pack samples
    negative_slope: float  # LeakyReLU's slope
    real_target: float  # 1 - label_smoothing
    minimax: bool  # G's loss: minimax (mean log(1 - D)) or non-saturating (BCE against 1)
    lr: float  # this step's learning rate, after the schedule
    beta1: float
    beta2: float
    eps: float
    pack_spread: bool  # D's input gains log of each pack's spread (nn/pack_spread.py)
    spread_eps: float  # its eps
    spread_gate: float  # and its gate: D sees gate log(v + eps)
    code_info: float  # lambda of the latent codes' InfoGAN term (gan/codes.py); 0: no Q
    g_one_hot: int  # G's input ends in this many one-hot columns (a latent code of K values or a class label of
    # K classes), whose zeros G's first layer skips (0: none, or multiply them as any input)
    num_classes: int  # K > 0: class-conditional, each sample D judges is [x, y] with y G's one-hot label (0: none)
    q_slope: float  # Q's LeakyReLU slope
    r1: float  # gamma of R1 on the real packs (fused_penalty.py; 0: off)
    r2: float  # gamma of R2 on the fake packs


class Batches(NamedTuple):
    """The step's random draws, made in Python in GAN.train_step's order."""

    real: np.ndarray  # (d_steps, n, 2) real samples, one batch per D update
    z_d: np.ndarray  # (d_steps, n, noise_width) G's noise for the fakes D is trained on: z, then any one-hot
    # code or label (conditional: the labels of the real batch beside them, which D reads from here too)
    z_g: np.ndarray  # (n, noise_width) G's noise for the G update (conditional: ending in the labels asked for)
    codes_g: np.ndarray  # (n,) int64 the G update's latent codes, which Q reads back (empty without Q)


class ShareBuffers(NamedTuple):
    """What one thread writes while it runs its share of the batch (b packs, n = b pack samples)."""

    g_outputs: np.ndarray  # G's layer outputs h_1 ... h_L of the latest forward, one after another
    d_outputs: np.ndarray  # D's, likewise; backward reads them (act' is written through the output)
    d_input: np.ndarray  # (2n, d + K) [real; fake] sample by sample, each [x, y] with its one-hot label y when
    # conditional (K classes; else K = 0); D sees it as (2b, (d + K) pack) packs
    d_features: np.ndarray  # (2b, 2 pack + 1) the packs and their log spread, when settings.pack_spread
    targets: np.ndarray  # (2b, 1) BCE targets: [real_target; 0] for D, then G's target
    logits_grad: np.ndarray  # (2b, 1) dL/dl, the loss gradient at D's logits
    d_input_grad: np.ndarray  # (n, d + K) dL_G/d[fake, y] sample by sample, back through the pack spread
    fake_grad: np.ndarray  # (n, d) dL_G/dfake: D's input gradient unpacked sample by sample, its first d columns
    input_grads: np.ndarray  # backward's dL/dh, two halves used in turn: a layer's input gradient is
    # written into one half while its output gradient is read from the other
    q_outputs: np.ndarray  # Q's layer outputs, as g_outputs (empty without Q)
    q_logits_grad: np.ndarray  # (n, K) dCE/d(Q's logits)
    penalty: PenaltyBuffers  # R1 / R2's (empty arrays when both are off)


class Workspace(NamedTuple):
    """Every thread's buffers, stacked on a leading axis of length ``threads``."""

    g_outputs: np.ndarray  # (threads, n_max * (n_1 + ... + n_L) of G)
    d_outputs: np.ndarray  # (threads, 2b_max * (n_1 + ... + n_L) of D)
    d_input: np.ndarray  # (threads, 2 n_max, d + K)
    d_features: np.ndarray  # (threads, 2b_max, (d + K) pack + 1)
    targets: np.ndarray  # (threads, 2b_max, 1)
    logits_grad: np.ndarray  # (threads, 2b_max, 1)
    d_input_grad: np.ndarray  # (threads, n_max, d + K)
    fake_grad: np.ndarray  # (threads, n_max, d)
    input_grads: np.ndarray  # (threads, 2 * 2 n_max * widest layer)
    q_outputs: np.ndarray  # (threads, n_max * (n_1 + ... + n_L) of Q); (threads, 0) without Q
    q_logits_grad: np.ndarray  # (threads, n_max, K); (threads, 0, 0) without Q
    g_grads: np.ndarray  # (threads, P_G) each share's dL_G/dtheta_G
    d_grads: np.ndarray  # (threads, P_D) each share's dL_D/dtheta_D
    q_grads: np.ndarray  # (threads, P_Q) each share's dCE/dtheta_Q; (threads, 0) without Q
    # R1 / R2's PenaltyBuffers for b_max rows, each field as penalty_FIELD (threads, length), or (threads, 0)
    # without them: flat, as a parallel jitted function takes no tuple nested in a tuple
    penalty_outputs: np.ndarray
    penalty_gammas: np.ndarray
    penalty_sources: np.ndarray
    penalty_chain: np.ndarray
    penalty_weight_grad: np.ndarray
    losses: np.ndarray  # (threads,) float64 each share's part of the loss


@njit
def _d_input(settings, packed, buffers):
    """What D's first layer sees: the packs themselves, or the packs and their log spread."""
    if not settings.pack_spread:
        return packed
    out = buffers.d_features[: packed.shape[0]]
    return pack_spread_forward(packed, out, settings.pack, settings.spread_eps, settings.spread_gate)


@njit
def _labelled(settings, x, z, out):
    """out (n, d + K) = [x, y]: the samples x (n, d) as D judges them, each followed by the one-hot label
    y that G was asked for, the last K columns of its noise z (conditional; K = 0: out = x). Returns out."""
    d, classes = x.shape[1], settings.num_classes
    out[:, :d] = x
    if classes > 0:
        out[:, d:] = z[:, z.shape[1] - classes :]
    return out


@njit
def discriminator_forward_backward(G, D, settings, real, z, buffers):
    """D's loss on real (n, d) vs G(z) (n, d), one share of b packs: leaves this share's part of
    dL_D/dparams in D.grads and returns its part of the loss.

    L_D = BCE(D(real), real_target) + BCE(D(fake), 0), each a mean over the whole batch's B packs.
    Conditional (K classes): z = [z, y] ends in the one-hot label y (n, K) asked of G, and real and
    fake alike are judged with it, D([x, y]), as GAN.discriminator_forward_backward: the real batch's
    labels. D's first layer then multiplies [x, y] (2b, (d + K) pack) by all its rows, so the label
    rows get their weight gradient dL/dW_y = y^T g like any input's (y's zeros give zero terms)."""
    batch, slope = real.shape[0] // settings.pack, settings.negative_slope  # b, this share's packs
    n = real.shape[0]
    fake = mlp_forward(G, buffers.g_outputs, z, slope, settings.g_one_hot)  # (n, d)
    _labelled(settings, real, z, buffers.d_input[:n])  # (n, d + K)
    _labelled(settings, fake, z, buffers.d_input[n:])
    points = buffers.d_input.reshape(2 * batch, -1)  # (2b, (d + K) pack): packs of `pack` samples
    packed = _d_input(settings, points, buffers)  # D's input: the packs [and their log spread]
    logits = mlp_forward(D, buffers.d_outputs, packed, slope)  # (2b, 1)
    buffers.targets[:batch] = settings.real_target
    buffers.targets[batch:] = 0
    flat_logits, t, grad = logits.reshape(-1), buffers.targets.reshape(-1), buffers.logits_grad.reshape(-1)  # (2b,)
    d_loss = bce_part_numba(flat_logits[:batch], t[:batch], grad[:batch], settings.batch)
    d_loss += bce_part_numba(flat_logits[batch:], t[batch:], grad[batch:], settings.batch)
    mlp_backward(D, buffers.d_outputs, packed, buffers.logits_grad, slope, buffers.input_grads, True, False)
    # + gamma dP/dtheta_D on the real packs, then on the fake ones (fused_penalty.py), P on the gradient
    # with respect to the points (through their log spread, if D sees it)
    through = points if settings.pack_spread else points[:, :0]
    for weight, rows in ((settings.r1, slice(0, batch)), (settings.r2, slice(batch, 2 * batch))):
        if weight > 0:
            r1_penalty_backward(D, packed[rows], weight, settings.batch, slope, buffers.penalty, through[rows],
                                settings.pack, settings.spread_eps, settings.spread_gate)  # fmt: skip
    return d_loss


@njit
def _fake_gradient(settings, samples, grad_input, buffers):
    """buffers.fake_grad (n, d) = dL/dfake from D's input gradient grad_input (b, (d + K) pack [+ 1]),
    for the samples (n, d + K) D judged: back through the pack spread (when settings.pack_spread), then
    unpacked sample by sample, (n, d + K), of which G made only the first d columns: a label's
    columns are no output of G, their gradient is dropped (GAN.generator_forward_backward's slice)."""
    batch = samples.shape[0] // settings.pack
    if settings.pack_spread:  # (b, (d + K) pack + 1) -> (b, (d + K) pack)
        grad_samples = buffers.d_input_grad.reshape(batch, -1)
        pack_spread_backward(samples.reshape(batch, -1), grad_input, settings.pack, settings.spread_eps,
                             settings.spread_gate, grad_samples)  # fmt: skip
    else:
        grad_samples = grad_input
    d = buffers.fake_grad.shape[1]
    buffers.fake_grad[:] = grad_samples.reshape(samples.shape)[:, :d]  # (n, d)


@njit
def softmax_cross_entropy_grad(logits, codes, grad, n_total):
    """grad (rows, K) = (softmax(l) - onehot(c)) / N for the logits (rows, K) of this share and their
    codes (rows,), N = n_total the whole batch's rows: losses.softmax_cross_entropy's gradient, with
    the same stable shift by each row's largest logit."""
    for i in range(logits.shape[0]):
        largest = logits[i].max()
        total = 0.0
        for k in range(logits.shape[1]):
            grad[i, k] = math.exp(logits[i, k] - largest)
            total += grad[i, k]
        for k in range(logits.shape[1]):
            grad[i, k] /= total
        grad[i, codes[i]] -= 1.0
        for k in range(logits.shape[1]):
            grad[i, k] /= n_total


@njit
def generator_forward_backward(G, D, Q, settings, z, codes, buffers):
    """G's loss on D(G(z)) for one share (z (n, noise_width)): leaves its part of dL_G/dparams in
    G.grads (D's grads are never formed) and returns its part of the loss.

    dL_G/dtheta_G = (dL_G/dfake) (dfake/dtheta_G): dL_G/dfake comes out of D's backward. Conditional:
    D judges [fake, y] with y the one-hot label that ends z, and its backward gives dL_G/d[fake, y]
    = g W_0^T (n, d + K) per sample; y is no function of theta_G, so dL_G/dfake is its first d columns
    (_fake_gradient). With latent codes read back by Q (settings.code_info = lambda > 0), lambda
    dCE/dfake is added to it, and Q's part of dCE/dtheta_Q lands in Q.grads, as
    CodeReader.generator_gradient (gan/codes.py)."""
    batch, slope = z.shape[0] // settings.pack, settings.negative_slope
    fake = mlp_forward(G, buffers.g_outputs, z, slope, settings.g_one_hot)  # (n, d)
    samples = _labelled(settings, fake, z, buffers.d_input[: fake.shape[0]])  # (n, d + K)
    packed_fake = _d_input(settings, samples.reshape(batch, -1), buffers)  # (b, (d + K) pack)
    logits = mlp_forward(D, buffers.d_outputs, packed_fake, slope)  # (b, 1)
    flat_logits, t = logits.reshape(-1), buffers.targets[:batch].reshape(-1)  # (b,)
    grad = buffers.logits_grad[:batch]  # (b, 1)
    if settings.minimax:  # L_G = mean log(1 - sigmoid(l)) = -BCE(l, 0)
        t[:] = 0
        g_loss = -bce_part_numba(flat_logits, t, grad.reshape(-1), settings.batch)
        for i in range(batch):
            grad[i, 0] = -grad[i, 0]
    else:  # non-saturating: L_G = BCE(l, 1)
        t[:] = 1
        g_loss = bce_part_numba(flat_logits, t, grad.reshape(-1), settings.batch)
    grad_input = mlp_backward(D, buffers.d_outputs, packed_fake, grad, slope, buffers.input_grads, False, True)
    _fake_gradient(settings, samples, grad_input, buffers)  # (n, d)
    if settings.code_info > 0:  # + lambda dCE/dfake, Q's gradients on the way
        code_logits = mlp_forward(Q, buffers.q_outputs, fake, settings.q_slope)  # (n, K)
        softmax_cross_entropy_grad(code_logits, codes, buffers.q_logits_grad, settings.batch * settings.pack)
        grad_info = mlp_backward(
            Q, buffers.q_outputs, fake, buffers.q_logits_grad, settings.q_slope, buffers.input_grads, True, True
        )  # fmt: skip  (n, 2)
        lam = np.empty(1, fake.dtype)  # storing into it casts lambda to the buffers' dtype, as NumPy does
        lam[0] = settings.code_info
        for i in range(fake.shape[0]):
            for j in range(fake.shape[1]):
                buffers.fake_grad[i, j] += lam[0] * grad_info[i, j]
    mlp_backward(G, buffers.g_outputs, z, buffers.fake_grad, slope, buffers.input_grads, True, False,
                 settings.g_one_hot)  # fmt: skip
    return g_loss


@njit
def adam_step(net, share_grads, settings, step, average, average_rate):
    """net.grads <- the sum of the shares' gradients (share_grads (threads, P)), then one Adam step
    (step counts from 1) as kernels.adam_update_numba, the parameters split over the cores:

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - (lr / (1 - b1^t)) m / (sqrt(v / (1 - b2^t)) + eps)
    (nn.optim.adam_update's lr m_hat / (sqrt(v_hat) + eps) with the bias corrections folded in: the same step)
    with every scalar cast to the buffers' dtype first (float32 buffers get float32 scalars, as in NumPy).
    If ``average`` (P,) is not empty, it moves towards the new p as GAN._update_ema, in the same pass:
    average <- average + average_rate (p - average), average_rate = 1 - config.ema.
    """
    b1, b2 = settings.beta1, settings.beta2
    s = np.empty(8, net.params.dtype)  # storing into it casts
    s[0], s[1], s[2], s[3] = b1, 1.0 - b1, b2, 1.0 - b2
    s[4], s[5], s[6], s[7] = settings.lr / (1.0 - b1**step), 1.0 - b2**step, settings.eps, average_rate
    _sum_shares_and_adam(
        net.params, net.grads, net.adam_m, net.adam_v, share_grads, s[0], s[1], s[2], s[3], s[4], s[5], s[6],
        average, s[7],
    )  # fmt: skip


@parallel_njit
def _sum_shares_and_adam(
    p, g, m, v, share_grads, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bias2, eps, average, rate
):
    """kernels._adam_flat, with g first set to the sum of share_grads' rows (share 0 + share 1 + ...),
    and the weight average after it (unless ``average`` is empty); each pass shared out among the cores.

    The sum is its own passes, one per share, before Adam's: with the sum over shares inside Adam's
    loop, LLVM did not vectorise that loop, and with 2 shares it took 4-6x longer (133k float32
    parameters on 2 cores: 244-312 us against 48-52 us, the same numbers)."""
    averaging = average.size > 0
    for i in numba.prange(p.size):
        g[i] = share_grads[0, i]
    for share in range(1, share_grads.shape[0]):
        row = share_grads[share]
        for i in numba.prange(p.size):
            g[i] += row[i]
    for i in numba.prange(p.size):
        m[i] = beta1 * m[i] + one_minus_beta1 * g[i]
        v[i] = beta2 * v[i] + one_minus_beta2 * (g[i] * g[i])
        p[i] -= step_size * m[i] / (math.sqrt(v[i] / bias2) + eps)
        if averaging:
            average[i] += rate * (p[i] - average[i])


@njit
def _share(net, grads):
    """The network as one share sees it: the same parameters, its own gradient buffer."""
    return Network(net.params, grads, net.adam_m, net.adam_v, net.sizes, net.activation, net.output_activation)


@njit
def _share_buffers(work, share, packs, pack):
    """Thread ``share``'s buffers, cut to its b = ``packs`` packs of ``pack`` samples."""
    n = packs * pack
    return ShareBuffers(
        work.g_outputs[share],
        work.d_outputs[share],
        work.d_input[share, : 2 * n],
        work.d_features[share, : 2 * packs],
        work.targets[share, : 2 * packs],
        work.logits_grad[share, : 2 * packs],
        work.d_input_grad[share, :n],
        work.fake_grad[share, :n],
        work.input_grads[share],
        work.q_outputs[share],
        work.q_logits_grad[share, :n],
        PenaltyBuffers(
            work.penalty_outputs[share],
            work.penalty_gammas[share],
            work.penalty_sources[share],
            work.penalty_chain[share],
            work.penalty_weight_grad[share],
        ),
    )


@njit
def _packs_of_share(batch, threads, share):
    """Share ``share`` of ``threads`` takes packs [lo, hi) of the batch's B (sizes differ by at most one)."""
    return share * batch // threads, (share + 1) * batch // threads


@parallel_njit
def discriminator_shares(G, D, settings, real, z, work, losses):
    """discriminator_forward_backward on every share at once, one per thread, into work.d_grads and
    losses (threads,); real and z (n, 2) are the whole batch."""
    threads, pack = losses.size, settings.pack
    for share in numba.prange(threads):
        lo, hi = _packs_of_share(settings.batch, threads, share)
        buffers = _share_buffers(work, share, hi - lo, pack)
        D_share = _share(D, work.d_grads[share])
        losses[share] = discriminator_forward_backward(
            G, D_share, settings, real[pack * lo : pack * hi], z[pack * lo : pack * hi], buffers
        )


@parallel_njit
def generator_shares(G, D, Q, settings, z, codes, work, losses):
    """generator_forward_backward on every share at once, one per thread, into work.g_grads (and
    work.q_grads) and losses."""
    threads, pack = losses.size, settings.pack
    for share in numba.prange(threads):
        lo, hi = _packs_of_share(settings.batch, threads, share)
        buffers = _share_buffers(work, share, hi - lo, pack)
        G_share, Q_share = _share(G, work.g_grads[share]), _share(Q, work.q_grads[share])
        losses[share] = generator_forward_backward(G_share, D, Q_share, settings, z[pack * lo : pack * hi],
                                                   codes[pack * lo : pack * hi], buffers)  # fmt: skip


@njit
def train_step_fused(G, D, Q, settings, batches, work, d_steps_done, g_steps_done, q_steps_done, g_average,
                     average_rate):  # fmt: skip
    """``d_steps`` = len(batches.real) D updates, then one G update, as GAN.train_step; with latent codes
    read back by Q (settings.code_info > 0), Q's Adam step (at G's rate, its own step count being G's) too.

    Each pass runs on every share of the batch at once (one per thread, ``threads`` = len(work.losses));
    the shares' losses and gradients are then added up. ``d_steps_done`` / ``g_steps_done`` /
    ``q_steps_done``: the Adam steps each network took before (for bias correction). ``g_average``
    (P_G,): G's weight average, moved with rate ``average_rate`` after G's update (empty: none).
    Returns (d_loss of the last D update, g_loss)."""
    d_loss = 0.0
    for k in range(batches.real.shape[0]):
        discriminator_shares(G, D, settings, batches.real[k], batches.z_d[k], work, work.losses)
        d_loss = work.losses.sum()
        adam_step(D, work.d_grads, settings, d_steps_done + k + 1, g_average[:0], average_rate)
    generator_shares(G, D, Q, settings, batches.z_g, batches.codes_g, work, work.losses)
    g_loss = work.losses.sum()
    if settings.code_info > 0:
        adam_step(Q, work.q_grads, settings, q_steps_done + 1, g_average[:0], average_rate)
    adam_step(G, work.g_grads, settings, g_steps_done + 1, g_average, average_rate)
    return d_loss, g_loss


def layer_widths(config: Any) -> tuple[list[int], list[int]]:
    """G's widths [n_0, ..., n_L] and D's, as the fused step sees them: D's input is a pack of m
    samples (pack d values; conditional, each followed by its one-hot label: pack (d + K)), and its log
    spread when config.pack_spread."""
    c = config
    d_inputs = (c.data_dim + c.num_classes) * c.pack + (1 if c.pack_spread else 0)  # [x, y] per sample
    g_inputs = c.noise_dim + c.latent_codes + c.num_classes  # z, then the one-hot code or label
    return [g_inputs] + [c.hidden] * c.depth + [c.data_dim], [d_inputs] + [c.hidden] * c.depth + [1]


@dataclass(frozen=True)
class FusedNet:
    """One network as its owner hands it to ``FusedStep``: views of the network's flat buffers and of
    its Adam's moment buffers (shared, so nothing is copied and the step updates them in place), its
    widths and its activations by name."""

    params: np.ndarray  # (P,) [W_0 | b_0 | W_1 | b_1 | ...]: the network's flat data
    grads: np.ndarray  # (P,) its flat gradient, same layout
    adam_m: np.ndarray  # (P,) its Adam's first moment
    adam_v: np.ndarray  # (P,) its Adam's second moment
    sizes: Sequence[int]  # widths n_0 ... n_L
    activation: str  # the hidden layers' (a key of kernels.ACTIVATION_CODES)
    output_activation: str = "identity"  # the last layer's

    def network(self) -> Network:
        acts = kernels.ACTIVATION_CODES
        sizes = np.array(self.sizes, np.int64)
        return Network(self.params, self.grads, self.adam_m, self.adam_v, sizes, acts[self.activation],
                       acts[self.output_activation])  # fmt: skip


class FusedStep:
    """Buffers sized for one GAN's batch, split over the Numba threads, and the call into ``train_step_fused``.

    Everything comes in explicitly: the networks G, D and (with latent codes read back) Q as
    ``FusedNet``, the step's constants as ``Settings`` (its ``lr`` and ``spread_gate`` are replaced
    at every step), and G's weight average. The caller draws each step's random batches into
    ``batches`` (in the readable step's order), then calls ``step``.
    """

    def __init__(self, G: FusedNet, D: FusedNet, Q: FusedNet | None, settings: Settings, *, d_steps: int,
                 g_average: np.ndarray | None, average_rate: float) -> None:  # fmt: skip
        self.G, self.D = G.network(), D.network()
        dtype = G.params.dtype
        empty = np.empty(0, dtype)
        self.Q = Q.network() if Q else Network(empty, empty, empty, empty, np.zeros(1, np.int64), IDENTITY, IDENTITY)
        self.reading_codes = Q is not None
        self.settings = settings
        self.g_average = g_average if g_average is not None else empty  # the jitted step moves it
        self.average_rate = average_rate
        self.blas = _blas_libraries()
        self.work: Workspace | None = None
        self.skip_code_zeros = True  # False: G's first layer multiplies the one-hot code or label like any input
        n, noise_width, data_dim = settings.batch * settings.pack, int(G.sizes[0]), int(G.sizes[-1])
        self.batches = Batches(
            real=np.empty((d_steps, n, data_dim), dtype),
            z_d=np.empty((d_steps, n, noise_width), dtype),
            z_g=np.empty((n, noise_width), dtype),
            codes_g=np.zeros(n if self.reading_codes else 0, np.int64),
        )

    def _workspace(self, threads: int) -> Workspace:
        """Every share's buffers, for ``threads`` shares (the largest has b_max packs)."""
        c, dtype = self.settings, self.G.params.dtype
        packs = -(-c.batch // threads)  # b_max = ceil(B / threads)
        n, data_dim = packs * c.pack, int(self.G.sizes[-1])
        labelled = data_dim + c.num_classes  # a sample as D sees it, [x, y]
        widest = int(max(self.G.sizes.max(), self.D.sizes.max(), self.Q.sizes.max()))
        q_rows = n if self.reading_codes else 0
        codes = int(self.Q.sizes[-1]) if self.reading_codes else 0
        if c.r1 > 0 or c.r2 > 0:
            penalty = penalty_buffers(self.D.sizes, packs, dtype, threads)
        else:  # no penalty: empty buffers, so the jitted step's types stay the same
            penalty = PenaltyBuffers(*(np.empty((threads, 0), dtype) for _ in PenaltyBuffers._fields))
        return Workspace(
            g_outputs=np.empty((threads, n * int(self.G.sizes[1:].sum())), dtype),  # G runs on n rows
            d_outputs=np.empty((threads, 2 * packs * int(self.D.sizes[1:].sum())), dtype),  # D on up to 2b
            d_input=np.empty((threads, 2 * n, labelled), dtype),
            d_features=np.empty((threads, 2 * packs, labelled * c.pack + 1), dtype),
            targets=np.empty((threads, 2 * packs, 1), dtype),
            logits_grad=np.empty((threads, 2 * packs, 1), dtype),
            d_input_grad=np.empty((threads, n, labelled), dtype),
            fake_grad=np.empty((threads, n, data_dim), dtype),
            input_grads=np.empty((threads, 2 * 2 * n * widest), dtype),
            q_outputs=np.empty((threads, q_rows * int(self.Q.sizes[1:].sum())), dtype),  # Q runs on n rows
            q_logits_grad=np.empty((threads, q_rows, codes), dtype),
            g_grads=np.empty((threads, self.G.params.size), dtype),
            d_grads=np.empty((threads, self.D.params.size), dtype),
            q_grads=np.empty((threads, self.Q.params.size), dtype),
            losses=np.empty(threads, np.float64),
            **{f"penalty_{field}": array for field, array in penalty._asdict().items()},
        )

    def step(self, lr: float, spread_gate: float, steps_done: tuple[int, int, int]) -> tuple[float, float]:
        """One jitted call on the batches the caller drew into ``batches``: d_steps D updates, then one G
        update (and Q's). ``lr``: this step's learning rate; ``spread_gate``: the pack spread's gate;
        ``steps_done``: the Adam steps D, G and Q took before (for bias correction; the caller counts
        them up afterwards). Returns (d_loss of the last D update, g_loss)."""
        threads = max(1, min(numba.get_num_threads(), self.settings.batch))  # a share has at least one pack
        if self.work is None or self.work.losses.size != threads:
            self.work = self._workspace(threads)
        g_one_hot = self.settings.g_one_hot if self.skip_code_zeros else 0
        settings = self.settings._replace(lr=lr, spread_gate=spread_gate, g_one_hot=g_one_hot)
        d_done, g_done, q_done = steps_done
        with _single_threaded(self.blas if threads > 1 else []):  # the threads share the cores already
            return train_step_fused(self.G, self.D, self.Q, settings, self.batches, self.work, d_done, g_done, q_done,
                                    self.g_average, self.average_rate)  # fmt: skip


def _blas_libraries() -> list[Any]:
    """threadpoolctl's handles on the loaded BLAS libraries (Numba's np.dot calls SciPy's, loaded here)."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - both are dependencies
        return []
    return [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]


class _single_threaded:
    """Within the block, each BLAS library runs on the calling thread only; restored afterwards.

    (threadpoolctl's ``threadpool_limits`` does the same, but looks every library up again each time.)"""

    def __init__(self, libraries: list[Any]) -> None:
        self.libraries, self.saved = libraries, []

    def __enter__(self) -> None:
        self.saved = [lib.get_num_threads() for lib in self.libraries]
        for lib in self.libraries:
            lib.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        for lib, threads in zip(self.libraries, self.saved):
            lib.set_num_threads(threads)
