"""The GAN: a generator G, a discriminator D, one Adam each, and the training step.

Read ``GAN.train_step`` top to bottom: it is the whole algorithm.

    D step:  real x ~ p_data, fake = G(z);  D maximises  E log D(x) + E log(1 - D(fake))
    G step:  fake = G(z');  G minimises its loss on D(fake); the gradient flows back *through*
             D (D.backward returns dloss/dfake), then D's parameter gradients are thrown away.

Shapes (B = batch_size, H = hidden, m = pack): real, z and fake are (B*m, 2); D sees packs of
m samples side by side, (B, 2m), and returns logits (B, 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fast.backend import get_backend, to_numpy
from ..fast.kernels import sigmoid_numpy
from ..nn.features import FourierFeatures
from ..nn.layers import Sequential, as_float_dtype, mlp
from ..nn.losses import discriminator_loss, generator_loss
from ..nn.optim import Adam
from .config import GANConfig, lr_multiplier
from .truncation import draws_needed, split_by_jacobian


class GAN:
    """Generator and discriminator MLPs trained on ``data`` (anything with ``sample(n, rng)``)."""

    def __init__(self, data: Any, config: GANConfig | None = None, *, seed: int = 0) -> None:
        self.config = config = config or GANConfig()
        config.validate()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if getattr(data, "dim", config.data_dim) != config.data_dim:
            raise ValueError(f"data has dimension {data.dim} but config.data_dim is {config.data_dim}")
        self.data, self.seed = data, int(seed)
        self.xp = get_backend().xp
        self.dtype = as_float_dtype(config.dtype)
        init_rng = np.random.default_rng([self.seed, 0])  # weights
        self.rng = self._make_rng([self.seed, 1])  # noise and data, on the backend's device
        hidden = [config.hidden] * config.depth
        self.G = mlp([config.noise_dim, *hidden, config.data_dim], config.g_activation,
                     negative_slope=config.negative_slope, rng=init_rng, dtype=self.dtype)  # fmt: skip
        d_input = config.data_dim * config.pack  # (B, 2m): a pack of m samples
        self.features = None  # random Fourier features of D's input, when config.fourier_features > 0
        if config.fourier_features:
            self.features = FourierFeatures(d_input, config.fourier_features, config.fourier_max_scale,
                                            rng=np.random.default_rng([self.seed, 6]), dtype=self.dtype)  # fmt: skip
            d_input = self.features.out_features
        self.D = mlp([d_input, *hidden, 1], config.d_activation,
                     negative_slope=config.negative_slope, rng=init_rng, dtype=self.dtype)  # fmt: skip
        if self.features is not None:
            self.D = Sequential(self.features, *self.D.layers)
        self.opt_G = Adam(self.G.parameters(), config.lr, config.betas, config.eps)
        self.opt_D = Adam(self.D.parameters(), config.lr, config.betas, config.eps)
        self.fused = None  # the numba backend runs the same step as one jitted call
        if get_backend().name == "numba" and self.features is None:  # the fused step knows only plain MLPs
            from ..fast.fused import FusedStep

            self.fused = FusedStep(self)
        # theta_ema <- theta_ema + (1 - ema) (theta - theta_ema) after every G update
        self.G_ema = self.xp.array(self.G.flat.data) if config.ema > 0 else None
        self.step = 0  # G steps taken so far
        self.history: list[dict[str, float]] = []
        if self.features is not None:
            self.features.set_window(self.fourier_window(0))

    def _make_rng(self, seed: list[int]) -> Any:
        if self.xp is np:
            return np.random.default_rng(seed)
        return self.xp.random.default_rng(int(np.random.SeedSequence(seed).generate_state(1)[0]))

    # ------------------------------------------------------------------ one training step
    def sample_real(self, n: int) -> Any:
        return self.data.sample(n, self.rng) / self.config.data_scale  # (n, 2), network units

    def sample_noise(self, n: int) -> Any:
        return self.rng.standard_normal((n, self.config.noise_dim), dtype=self.dtype)  # (n, noise_dim)

    def train_step(self) -> dict[str, Any]:
        """One round: ``d_steps`` D updates, then one G update. Returns the losses (device scalars)."""
        c = self.config
        n = c.batch_size * c.pack  # samples per side
        self.opt_D.lr = self.opt_G.lr = c.lr * lr_multiplier(c, self.step)
        if self.features is not None:
            self.features.set_window(self.fourier_window(self.step))
        if self.fused is not None:
            return self._train_step_fused()

        for _ in range(c.d_steps):
            d_loss = self.discriminator_forward_backward(self.sample_real(n), self.sample_noise(n))
            self.opt_D.step()
        g_loss = self.generator_forward_backward(self.sample_noise(n))
        self.opt_G.step()
        self._update_ema()
        self.step += 1
        return {"d_loss": d_loss, "g_loss": g_loss}

    def fourier_window(self, step: int) -> float:
        """alpha for FourierFeatures at G step ``step``: 0 to 1 + width over fourier_anneal * schedule_steps."""
        c, full = self.config, 1.0 + self.features.width
        if c.fourier_anneal == 0:
            return full
        return full * min(1.0, step / (c.fourier_anneal * c.schedule_steps))

    def discriminator_forward_backward(self, real: Any, z: Any) -> Any:
        """D's loss on real (n, 2) vs G(z) (n, 2); leaves dloss/dtheta_D in D's grads. Returns the loss."""
        batch = self.config.batch_size
        fake = self.G.forward(z)  # (n, 2); G is not trained here, its cache is simply overwritten later
        both = self.xp.concatenate([real, fake]).reshape(2 * batch, -1)  # (2B, 2m): packs of m samples
        logits = self.D.forward(both)  # (2B, 1)
        real_target = 1.0 - self.config.label_smoothing
        d_loss, grad_real, grad_fake = discriminator_loss(logits[:batch], logits[batch:], real_target)
        self.D.zero_grad()
        self.D.backward(self.xp.concatenate([grad_real, grad_fake]))  # fills D's grads
        return d_loss

    def generator_forward_backward(self, z: Any) -> Any:
        """G's loss on D(G(z)); leaves dloss/dtheta_G in G's grads and D's grads at zero. Returns the loss.

        dL/dtheta_G = (dL/dfake) (dfake/dtheta_G), and dL/dfake comes out of D.backward: the
        gradient flows through D. D's parameter gradients, filled on the way, are discarded.
        """
        n = self.config.batch_size * self.config.pack
        fake = self.G.forward(z)  # (n, 2)
        logits = self.D.forward(fake.reshape(self.config.batch_size, -1))  # (B, 1)
        g_loss, grad_logits = generator_loss(logits, self.config.loss)
        grad_fake = self.D.backward(grad_logits).reshape(n, -1)  # dL_G/dfake, (n, 2)
        self.D.zero_grad()  # D is not updated by the G step
        self.G.zero_grad()
        self.G.backward(grad_fake)  # fills G's grads
        return g_loss

    def _train_step_fused(self) -> dict[str, Any]:
        """The same step, the same batches drawn in the same order, in one Numba call (fused.py)."""
        d_loss, g_loss = self.fused.step(self)
        self._update_ema()
        self.step += 1
        return {"d_loss": d_loss, "g_loss": g_loss}

    def _update_ema(self) -> None:
        if self.G_ema is not None:
            self.G_ema += (1.0 - self.config.ema) * (self.G.flat.data - self.G_ema)

    # ------------------------------------------------------------------ using the model
    def sample(
        self, n: int, *, rng: Any = None, jacobian_truncation: float | None = None, return_left_out: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """n generated points on the host, (n, 2), in data units.

        With ``config.ema`` > 0 they come from the averaged weights. With a jacobian truncation
        q > 0 (default ``config.jacobian_truncation``), ceil(n / (1 - q)) noise vectors are drawn
        and the fraction q where G stretches most, the bridges between modes, is left out
        (truncation.py). ``return_left_out=True`` also returns those points, (m - n, 2).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        q = self.config.jacobian_truncation if jacobian_truncation is None else jacobian_truncation
        draws = draws_needed(int(n), q)  # validates q
        noise_rng = rng if rng is not None else self.rng
        z = self.xp.asarray(noise_rng.standard_normal((draws, self.config.noise_dim), dtype=self.dtype))
        trained = self.G.flat.data.copy() if self.G_ema is not None else None
        if trained is not None:
            self.G.flat.data[...] = self.G_ema  # sample with the averaged weights
        try:
            if q > 0:
                kept, left_out = split_by_jacobian(self.G, z, int(n))  # (n, 2), (m - n, 2)
            else:
                kept, left_out = self.G.forward(z), self.xp.zeros((0, self.config.data_dim), self.dtype)
        finally:
            if trained is not None:
                self.G.flat.data[...] = trained
        scale = self.config.data_scale
        if return_left_out:
            return to_numpy(kept * scale), to_numpy(left_out * scale)
        return to_numpy(kept * scale)

    def logits(self, x: Any) -> np.ndarray:
        """D's logit for points x (n, 2) in data units, on the host in float64, shape (n,).

        With pack m > 1, D judges a pack of m copies of each point."""
        x = self.xp.asarray(np.asarray(x, dtype=self.dtype) if isinstance(x, np.ndarray) else x)
        if x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(f"x must have shape (n, {self.config.data_dim}), got {tuple(x.shape)}")
        if self.config.pack != 1:
            x = self.xp.tile(x, (1, self.config.pack))
        return to_numpy(self.D.forward(x / self.config.data_scale)).astype(np.float64)[:, 0]

    def discriminate(self, x: Any) -> np.ndarray:
        """D(x) = sigmoid(logit), the probability D gives that x is real, shape (n,)."""
        return sigmoid_numpy(self.logits(x))

    def sample_gradients(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points G(z) and dL_G/dG(z) at each (data units, host), without changing any state that training uses.

        -dL_G/dG(z) is the direction the G step pushes each sample: the arrows of GAN Lab.
        Needs pack 1 (with packing a sample's gradient depends on its pack-mates).
        """
        if self.config.pack != 1:
            raise ValueError("sample_gradients needs pack = 1")
        fake = self.G.forward(self.xp.asarray(np.asarray(z, dtype=self.dtype)))  # (n, 2)
        _, grad_logits = generator_loss(self.D.forward(fake), self.config.loss)
        grad_fake = self.D.backward(grad_logits * len(z))  # per-sample gradient, not divided by n
        self.D.zero_grad()
        return to_numpy(fake) * self.config.data_scale, to_numpy(grad_fake) / self.config.data_scale

    def state_dict(self) -> dict[str, Any]:
        """Host copies of everything needed to resume: weights, optimizers, step, RNG state, config."""
        state = {f"G.{k}": v for k, v in self.G.state_dict().items()}
        state |= {f"D.{k}": v for k, v in self.D.state_dict().items()}
        state |= {f"opt_G.{k}": v for k, v in self.opt_G.state_dict().items()}
        state |= {f"opt_D.{k}": v for k, v in self.opt_D.state_dict().items()}
        if self.G_ema is not None:
            state["G_ema"] = to_numpy(self.G_ema).copy()
        state["step"] = np.int64(self.step)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        def part(prefix: str) -> dict[str, Any]:
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

        self.G.load_state_dict(part("G."))
        self.D.load_state_dict(part("D."))
        self.opt_G.load_state_dict(part("opt_G."))
        self.opt_D.load_state_dict(part("opt_D."))
        if self.G_ema is not None:
            if "G_ema" not in state or np.shape(state["G_ema"]) != tuple(self.G_ema.shape):
                raise ValueError(f"state has no G_ema of shape {tuple(self.G_ema.shape)} (config.ema > 0)")
            self.G_ema[...] = self.xp.asarray(np.asarray(state["G_ema"], dtype=self.dtype))
        self.step = int(state["step"])
        if self.features is not None:
            self.features.set_window(self.fourier_window(self.step))
