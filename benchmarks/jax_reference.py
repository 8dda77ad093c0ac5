"""tinygan's GAN in JAX + optax: the whole training step, sampling included, under one ``jax.jit``.

The same networks, losses, Adam and step as ``tinygan.gan.model.GAN.train_step``, any depth,
packing m, d_steps and weight average:

    key -> real ~ mixture, z_d, z_g ~ N(0, I)                                  jax.random, in the jit
    d_steps x  logits = D([real; G(z_d)] as packs of m)  (2B, 1);  loss_D = BCE(real half, 1) + BCE(fake half, 0)
    G step:    logits = D'(G(z_g) as packs) with the updated D';  loss_G = BCE(logits, 1) or mean log(1 - D)
    average:   G_ema <- G_ema + (1 - ema) (G - G_ema)                           when config.ema > 0

Parameters are lists of (W (in, out), b (out,)) as in tinygan, so y = x @ W + b and weights copy
across without transposes. Adam is optax's ``scale_by_adam`` times -lr, where lr comes from
``tinygan.gan.model.lr_multiplier`` on the host and is passed to the jitted step each call, exactly as
tinygan sets its optimizers' lr each step. float64 needs JAX's x64 mode (``JAX_ENABLE_X64=1`` or
``jax.enable_x64``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

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


def torch_like_init(sizes: list[int], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as tinygan's default init (used without a state)."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)))
    return layers


class JaxGAN:
    """G, D and their optax Adam states in one pytree; ``train_step`` is one jitted call."""

    def __init__(
        self,
        config: GANConfig,
        data: Any = None,
        *,
        seed: int = 0,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """``state``: a tinygan ``GAN.state_dict()`` to start from; ``data``: a GaussianMixture, or
        points (EmpiricalData, the digits)."""
        config.validate()
        self.config = c = config
        self.dtype = jnp.dtype(c.dtype)
        if jnp.zeros((), self.dtype).dtype != self.dtype:
            raise ValueError("float64 needs JAX's x64 mode: set JAX_ENABLE_X64=1 or use jax.enable_x64(True)")
        hidden = [c.hidden] * c.depth
        d_inputs = c.data_dim * c.pack + (1 if c.pack_spread else 0)  # the packs (and their log spread)
        g_sizes, d_sizes = [c.noise_dim, *hidden, c.data_dim], [d_inputs, *hidden, 1]
        self._d_first = 1 if c.pack_spread else 0  # tinygan's D has the spread feature at index 0
        if state is None:
            rng = np.random.default_rng([seed, 0])
            g_host, d_host = torch_like_init(g_sizes, rng), torch_like_init(d_sizes, rng)
        else:
            g_host = self._from_tinygan(state, "G", g_sizes, 0)
            d_host = self._from_tinygan(state, "D", d_sizes, self._d_first)
        g_params, d_params = self._to_device(g_host), self._to_device(d_host)
        self.g_act = make_activation(c.g_activation, c.negative_slope)
        self.g_out = (lambda x: x) if c.g_output == "linear" else make_activation(c.g_output, c.negative_slope)
        self.d_act = make_activation(c.d_activation, c.negative_slope)
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
        """Host copies with tinygan's keys: {'G.0.weight': (in, out), 'G.0.bias': (out,), ...}."""
        out = {}
        for net, first in (("G", 0), ("D", self._d_first)):
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
        z_d = jax.random.normal(k_d, (d, n, c.noise_dim), dt)
        z_g = jax.random.normal(k_g, (n, c.noise_dim), dt)
        return key, real.reshape(d, n, -1) / c.data_scale, z_d, z_g

    def _generate(self, g_params: Params, z: jax.Array) -> jax.Array:
        """G(z): the MLP, then G's output activation (config.g_output; none when 'linear')."""
        return self.g_out(mlp_apply(g_params, z, self.g_act))

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
        """real, z_d (d_steps, n, 2); z_g (n, noise_dim); n = B m; gate: the pack spread's."""
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

        def g_loss_fn(g_params: Params) -> jax.Array:
            fake = self._packs(self._generate(g_params, z_g), b, gate)  # (B, m data_dim)
            logits = mlp_apply(d_params, fake, self.d_act)  # (B, 1)
            if c.loss == "minimax":
                return -jnp.mean(bce_with_logits(logits, 0.0))  # mean log(1 - D(G(z)))
            return jnp.mean(bce_with_logits(logits, 1.0))

        g_loss, g_grads = jax.value_and_grad(g_loss_fn)(state["G"])  # D's weight grads are never formed
        g_params, opt_g = self._adam(g_grads, state["opt_G"], state["G"], lr)
        new_state = {"G": g_params, "D": d_params, "opt_G": opt_g, "opt_D": opt_d, "key": state["key"]}
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
        when d_steps is 1, z_g (n, noise_dim), host arrays."""
        c = self.config
        real, z_d = (np.reshape(a, (c.d_steps, c.batch_size * c.pack, -1)) for a in (real, z_d))
        arrays = (jnp.asarray(a, dtype=self.dtype) for a in (real, z_d, z_g))
        self.state, losses = self._step_on(self.state, *self._schedule(), *arrays)
        return losses

    def synchronize(self) -> None:
        """Wait until every queued step has finished."""
        jax.block_until_ready(self.state)
