"""tinygan's GAN in JAX + optax: the whole training step, sampling included, under one ``jax.jit``.

The same networks, losses, Adam and step as ``tinygan.gan.model.GAN.train_step``, any depth,
packing m, d_steps and weight average:

    key -> real ~ mixture, z_d, z_g ~ N(0, I)                                  jax.random, in the jit
    d_steps x  logits = D([real; G(z_d)] as packs of m)  (2B, 1);  loss_D = BCE(real half, 1) + BCE(fake half, 0)
    G step:    logits = D'(G(z_g) as packs) with the updated D';  loss_G = BCE(logits, 1) or mean log(1 - D)
    codes:     with config.latent_codes = K, z = [z, onehot(c)] (noise_dim + K); with config.code_info = lambda
               one gradient of loss_G + CE(Q(scale_grad(fake, lambda)), c) (CE a mean) gives G
               dL_G/dfake + lambda dCE/dfake and Q dCE/dtheta_Q (unscaled); Q's Adam steps at G's rate
    average:   G_ema <- G_ema + (1 - ema) (G - G_ema)                           when config.ema > 0

Parameters are lists of (W (in, out), b (out,)) as in tinygan, so y = x @ W + b and weights copy
across without transposes. Adam is optax's ``scale_by_adam`` times -lr, where lr comes from
``tinygan.gan.model.lr_multiplier`` on the host and is passed to the jitted step each call, exactly as
tinygan sets its optimizers' lr each step. float64 needs JAX's x64 mode (``JAX_ENABLE_X64=1`` or
``jax.enable_x64``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tinygan.gan.codes import Q_HIDDEN, Q_SLOPE
from tinygan.gan.config import pack_spread_gate
from tinygan.gan.model import GANConfig, lr_multiplier
from tinygan.nn.pack_spread import PACK_SPREAD_EPS

Params = list[tuple[jax.Array, jax.Array]]  # [(W (in, out), b (out,)), ...]


def make_activation(name: str, negative_slope: float) -> Callable[[jax.Array], jax.Array]:
    """The jnp twin of a tinygan activation name."""
    if name == "relu":
        return jax.nn.relu
    if name == "leaky_relu":
        return lambda x: jnp.where(x > 0, x, negative_slope * x)
    if name == "tanh":
        return jnp.tanh
    if name == "sigmoid":
        return jax.nn.sigmoid
    raise ValueError(f"unknown activation {name!r}")


def mlp_apply(params: Params, x: jax.Array, act: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """Dense, act, ..., Dense: x (n, in) -> (n, out)."""
    for weight, bias in params[:-1]:
        x = act(x @ weight + bias)  # (n, h)
    weight, bias = params[-1]
    return x @ weight + bias


def bce_with_logits(z: jax.Array, t: jax.Array | float) -> jax.Array:
    """Elementwise BCE on logits: max(z, 0) - z t + log(1 + e^-|z|) (tinygan's formula)."""
    return jnp.maximum(z, 0) - z * t + jnp.log1p(jnp.exp(-jnp.abs(z)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def scale_grad(x: jax.Array, scale: float) -> jax.Array:
    """y = x forward, dL/dx = scale dL/dy backward: lambda reaches G through Q's input, not Q's weights."""
    return x


def _scale_grad_forward(x: jax.Array, scale: float) -> tuple[jax.Array, None]:
    return x, None


def _scale_grad_backward(scale: float, _: None, grad: jax.Array) -> tuple[jax.Array]:
    return (scale * grad,)


scale_grad.defvjp(_scale_grad_forward, _scale_grad_backward)


def torch_like_init(sizes: list[int], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as tinygan's default init (used without a state)."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)))
    return layers


class JaxGAN:
    """G, D (and Q, with config.code_info > 0) and their optax Adam states in one pytree; ``train_step``
    is one jitted call."""

    def __init__(
        self,
        config: GANConfig,
        data: Any = None,
        *,
        seed: int = 0,
        state: Mapping[str, Any] | None = None,
        code_rows: bool = False,
    ) -> None:
        """``state``: a tinygan ``GAN.state_dict()`` to start from; ``data``: a GaussianMixture, or
        points (EmpiricalData, the digits); ``code_rows``: G's first layer picks the latent code's row
        of its weight instead of multiplying the one-hot code (``_generate``)."""
        config.validate()
        self.config = c = config
        self.code_rows = code_rows and c.latent_codes > 0
        self.dtype = jnp.dtype(c.dtype)
        if jnp.zeros((), self.dtype).dtype != self.dtype:
            raise ValueError("float64 needs JAX's x64 mode: set JAX_ENABLE_X64=1 or use jax.enable_x64(True)")
        hidden = [c.hidden] * c.depth
        d_inputs = c.data_dim * c.pack + (1 if c.pack_spread else 0)  # the packs (and their log spread)
        g_sizes, d_sizes = [c.noise_dim + c.latent_codes, *hidden, c.data_dim], [d_inputs, *hidden, 1]
        q_sizes = [c.data_dim, Q_HIDDEN, Q_HIDDEN, c.latent_codes] if c.code_info > 0 else []  # Q, tinygan.gan.codes
        self._d_first = 1 if c.pack_spread else 0  # tinygan's D has the spread feature at index 0
        if state is None:
            rng = np.random.default_rng([seed, 0])
            g_host, d_host = torch_like_init(g_sizes, rng), torch_like_init(d_sizes, rng)
            q_host = torch_like_init(q_sizes, np.random.default_rng([seed, 9]))
        else:
            g_host = self._from_tinygan(state, "G", g_sizes, 0)
            d_host = self._from_tinygan(state, "D", d_sizes, self._d_first)
            q_host = self._from_tinygan(state, "Q", q_sizes, 0)
        g_params, d_params = self._to_device(g_host), self._to_device(d_host)
        self.g_act = make_activation(c.g_activation, c.negative_slope)
        self.g_out = (lambda x: x) if c.g_output == "linear" else make_activation(c.g_output, c.negative_slope)
        self.d_act = make_activation(c.d_activation, c.negative_slope)
        self.q_act = make_activation("leaky_relu", Q_SLOPE)
        self.tx = optax.scale_by_adam(b1=c.betas[0], b2=c.betas[1], eps=c.eps)
        self.state: dict[str, Any] = {
            "G": g_params,
            "D": d_params,
            "opt_G": self.tx.init(g_params),
            "opt_D": self.tx.init(d_params),
            "key": jax.random.key(seed),
        }
        if c.ema > 0:
            self.state["G_ema"] = jax.tree.map(jnp.copy, g_params)
        if q_sizes:
            self.state["Q"] = self._to_device(q_host)
            self.state["opt_Q"] = self.tx.init(self.state["Q"])
        # the data's constants, baked into the jitted step: a Gaussian mixture's, or a set of points
        self.mixture, self.points = None, None
        if data is not None and hasattr(data, "means"):
            host = (np.cumsum(data.weights)[:-1], data.means, data.chol)
            self.mixture = tuple(jnp.asarray(np.asarray(a, dtype=np.float64), dtype=self.dtype) for a in host)
        elif data is not None:
            self.points = jnp.asarray(np.asarray(data.points, dtype=np.float64), dtype=self.dtype)  # (N, d)
        b = c.batch_size
        self.d_targets = jnp.concatenate(
            [jnp.full((b, 1), 1.0 - c.label_smoothing, self.dtype), jnp.zeros((b, 1), self.dtype)]
        )  # (2B, 1)
        self._step = jax.jit(self._sampled_update, donate_argnums=0)
        self._step_on = jax.jit(self._update, donate_argnums=0)
        self.step = 0  # G steps taken, drives the learning-rate schedule like tinygan's GAN.step

    # ------------------------------------------------------------------ weights in tinygan's layout
    @staticmethod
    def _from_tinygan(state: Mapping[str, Any], net: str, sizes: list[int], first: int) -> list[tuple[Any, Any]]:
        """Dense layers sit at Sequential indices first, first + 2, ... (activations between them)."""
        return [
            (np.asarray(state[f"{net}.{first + 2 * i}.weight"]), np.asarray(state[f"{net}.{first + 2 * i}.bias"]))
            for i in range(len(sizes) - 1)
        ]

    def _to_device(self, layers: list[tuple[Any, Any]]) -> Params:
        return [(jnp.asarray(w, dtype=self.dtype), jnp.asarray(b, dtype=self.dtype)) for w, b in layers]

    def tinygan_state(self) -> dict[str, np.ndarray]:
        """Host copies with tinygan's keys: {'G.0.weight': (in, out), 'G.0.bias': (out,), ..., 'D.*', 'Q.*'}."""
        out = {}
        for net, first in (("G", 0), ("D", self._d_first), ("Q", 0)):
            if net not in self.state:
                continue
            for i, (weight, bias) in enumerate(self.state[net]):
                out[f"{net}.{first + 2 * i}.weight"] = np.array(weight)
                out[f"{net}.{first + 2 * i}.bias"] = np.array(bias)
        return out

    # ------------------------------------------------------------------ one training step (traced)
    def _sample(self, key: jax.Array) -> tuple[jax.Array, ...]:
        c = self.config
        n, d, dt = c.batch_size * c.pack, c.d_steps, self.dtype
        key, k_component, k_eps, k_d, k_g = jax.random.split(key, 5)
        u = jax.random.uniform(k_component, (d * n,), dt)
        if self.points is not None:  # rows uniformly, with replacement
            points = self.points
            real = points[jnp.minimum((u * len(points)).astype(jnp.int32), len(points) - 1)]  # (d n, data_dim)
        else:  # a Gaussian mixture: component k ~ w, then mu_k + L_k eps
            cum_weights, means, chol = self.mixture
            component = jnp.searchsorted(cum_weights, u, side="right")
            eps = jax.random.normal(k_eps, (d * n, c.data_dim), dt)  # (d n, 2)
            real = means[component] + jnp.einsum("nij,nj->ni", chol[component], eps)  # (d n, 2)
        return key, real.reshape(d, n, -1) / c.data_scale, self._noise(k_d, (d, n)), self._noise(k_g, (n,))

    def _noise(self, key: jax.Array, rows: tuple[int, ...]) -> jax.Array:
        """G's noise (*rows, noise_dim + K): z ~ N(0, I), then with latent codes onehot(c), c uniform on {0..K-1}."""
        c = self.config
        if not c.latent_codes:
            return jax.random.normal(key, (*rows, c.noise_dim), self.dtype)
        k_z, k_c = jax.random.split(key)
        z = jax.random.normal(k_z, (*rows, c.noise_dim), self.dtype)
        codes = jax.random.randint(k_c, rows, 0, c.latent_codes)
        return jnp.concatenate([z, jax.nn.one_hot(codes, c.latent_codes, dtype=self.dtype)], axis=-1)

    def _codes(self, z: jax.Array) -> jax.Array:
        """The latent code of each row of G's noise z (n, noise_dim + K), (n,)."""
        return jnp.argmax(z[:, self.config.noise_dim :], axis=1)

    def _generate(self, g_params: Params, z: jax.Array, codes: jax.Array | None = None) -> jax.Array:
        """G(z): the MLP, then G's output activation (config.g_output; none when 'linear'). With
        ``code_rows``, G's first layer is z_noise W_noise + b plus the latent code's row of W (the one-hot
        code's product without its zeros), as tinygan's fused step. ``codes``: z's codes (n,) if known."""
        if not self.code_rows:
            return self.g_out(mlp_apply(g_params, z, self.g_act))
        (weight, bias), noise_dim = g_params[0], self.config.noise_dim
        codes = self._codes(z) if codes is None else codes  # (n,)
        h = self.g_act(z[:, :noise_dim] @ weight[:noise_dim] + bias + weight[noise_dim:][codes])  # (n, hidden)
        return self.g_out(mlp_apply(g_params[1:], h, self.g_act))

    def _adam(self, grads: Params, opt_state: Any, params: Params, lr: jax.Array) -> tuple[Params, Any]:
        """p <- p - lr * m_hat / (sqrt(v_hat) + eps) (optax's scale_by_adam gives the fraction)."""
        direction, opt_state = self.tx.update(grads, opt_state, params)
        return jax.tree.map(lambda p, u: p - (lr * u).astype(p.dtype), params, direction), opt_state

    def _packs(self, samples: jax.Array, packs: int, gate: jax.Array) -> jax.Array:
        """D's input: the samples (packs m, d) as packs (packs, m d), and with config.pack_spread their log
        spread after them (packs, m d + 1), gated by ``gate`` (tinygan.nn.pack_spread)."""
        x = samples.reshape(packs, -1)
        if not self.config.pack_spread:
            return x
        points = samples.reshape(packs, self.config.pack, -1)  # (packs, m, d)
        spread = jnp.mean(jnp.sum((points - points.mean(1, keepdims=True)) ** 2, axis=2), axis=1, keepdims=True)
        return jnp.concatenate([x, gate * jnp.log(spread + PACK_SPREAD_EPS)], axis=1)

    def _update(self, state: dict[str, Any], lr: jax.Array, gate: jax.Array, real: jax.Array, z_d: jax.Array,
                z_g: jax.Array):  # fmt: skip
        """real, z_d (d_steps, n, 2); z_g (n, noise_dim + latent_codes), the one-hot codes last; n = B m;
        gate: the pack spread's."""
        c = self.config
        b = c.batch_size
        d_params, opt_d = state["D"], state["opt_D"]
        for k in range(c.d_steps):  # unrolled: d_steps is small
            fake = jax.lax.stop_gradient(self._generate(state["G"], z_d[k]))  # (n, data_dim)
            both = self._packs(jnp.concatenate([real[k], fake]), 2 * b, gate)  # (2B, 2m): one forward of D

            def d_loss_fn(params: Params, both: jax.Array = both) -> jax.Array:
                logits = mlp_apply(params, both, self.d_act)  # (2B, 1)
                return jnp.sum(bce_with_logits(logits, self.d_targets)) / b  # mean + mean

            d_loss, d_grads = jax.value_and_grad(d_loss_fn)(d_params)
            d_params, opt_d = self._adam(d_grads, opt_d, d_params, lr)

        codes_g = self._codes(z_g) if c.latent_codes else None  # (n,), read once for G and for Q

        def g_loss_fn(g_params: Params, q_params: Params) -> tuple[jax.Array, jax.Array]:
            """(loss_G + CE of Q's reading of the code, loss_G); without Q (q_params []) loss_G twice."""
            fake = self._generate(g_params, z_g, codes_g)  # (n, data_dim)
            logits = mlp_apply(d_params, self._packs(fake, b, gate), self.d_act)  # (B, 1)
            if c.loss == "minimax":
                g_loss = -jnp.mean(bce_with_logits(logits, 0.0))  # mean log(1 - D(G(z)))
            else:
                g_loss = jnp.mean(bce_with_logits(logits, 1.0))
            if not q_params:
                return g_loss, g_loss
            code_logits = mlp_apply(q_params, scale_grad(fake, c.code_info), self.q_act)  # (n, K)
            log_p = jax.nn.log_softmax(code_logits)  # (n, K)
            ce = -jnp.mean(jnp.take_along_axis(log_p, codes_g[:, None], axis=1))  # mean over n
            return g_loss + ce, g_loss

        # D's weight grads are never formed; Q's (with codes) come from the same backward as G's
        (_, g_loss), (g_grads, q_grads) = jax.value_and_grad(g_loss_fn, (0, 1), has_aux=True)(
            state["G"], state.get("Q", [])
        )
        g_params, opt_g = self._adam(g_grads, state["opt_G"], state["G"], lr)
        new_state = {"G": g_params, "D": d_params, "opt_G": opt_g, "opt_D": opt_d, "key": state["key"]}
        if "Q" in state:  # Q steps at G's rate
            new_state["Q"], new_state["opt_Q"] = self._adam(q_grads, state["opt_Q"], state["Q"], lr)
        if "G_ema" in state:  # G_ema + (1 - ema) (G - G_ema)
            new_state["G_ema"] = jax.tree.map(lambda e, p: e + (1.0 - c.ema) * (p - e), state["G_ema"], g_params)
        return new_state, {"d_loss": d_loss, "g_loss": g_loss}

    def _sampled_update(self, state: dict[str, Any], lr: jax.Array, gate: jax.Array):
        key, real, z_d, z_g = self._sample(state["key"])
        new_state, losses = self._update(state, lr, gate, real, z_d, z_g)
        new_state["key"] = key
        return new_state, losses

    # ------------------------------------------------------------------ public
    def _schedule(self) -> tuple[np.ndarray, np.ndarray]:
        """This step's learning rate and pack-spread gate (host scalars, so the jit compiles once); counts the step."""
        lr = self.config.lr * lr_multiplier(self.config, self.step)
        gate = pack_spread_gate(self.config, self.step)
        self.step += 1
        return np.asarray(lr, dtype=self.dtype), np.asarray(gate, dtype=self.dtype)

    def train_step(self) -> dict[str, jax.Array]:
        """One step on batches drawn inside the jit (the timing mode). Losses stay on the device."""
        if self.mixture is None and self.points is None:
            raise RuntimeError("JaxGAN(config, data=...) is needed to sample real batches")
        self.state, losses = self._step(self.state, *self._schedule())
        return losses

    def train_step_on(self, real: Any, z_d: Any, z_g: Any) -> dict[str, jax.Array]:
        """One step on batches given from outside, for parity tests: real, z_d (d_steps, n, 2) or (n, 2)
        when d_steps is 1, z_g (n, noise_dim + latent_codes), host arrays."""
        c = self.config
        real, z_d = (np.reshape(a, (c.d_steps, c.batch_size * c.pack, -1)) for a in (real, z_d))
        arrays = (jnp.asarray(a, dtype=self.dtype) for a in (real, z_d, z_g))
        self.state, losses = self._step_on(self.state, *self._schedule(), *arrays)
        return losses

    def synchronize(self) -> None:
        """Wait until every queued step has finished."""
        jax.block_until_ready(self.state)
