"""tinygan's GAN written in PyTorch: the oracle for the parity tests and the torch-eager benchmark.

The same networks, losses, optimizers and step as ``tinygan.gan.model.GAN.train_step``, any depth,
packing m (D judges packs of m samples side by side), d_steps and weight average:

    d_steps x  fake = G(z_d) (no graph);  logits = D([real; fake] as packs)  (2B, 1): ONE forward of D
               loss_D = BCE(logits[:B], 1 - smoothing) + BCE(logits[B:], 0)     each half a mean
               backward into D only;  Adam_D.step()
    G step:    logits = D(G(z_g) as packs)                                      (B, 1), D already updated
               loss_G = BCE(logits, 1) (nonsaturating)  or  mean log(1 - D) = -BCE(logits, 0) (minimax)
               backward through D into G's parameters only;  Adam_G.step()
    codes:     with config.latent_codes = K, z = [z, onehot(c)] (noise_dim + K); with config.code_info = lambda
               CE = cross_entropy(Q(fake), c) (mean), and ONE backward of loss_G + CE(Q(scale_grad(fake, lambda)))
               gives G  dL_G/dfake + lambda dCE/dfake  and Q  dCE/dtheta_Q (unscaled);  Adam_Q.step() at G's rate
    average:   G_ema <- G_ema + (1 - ema) (G - G_ema)                           when config.ema > 0

Both Adams follow tinygan's learning-rate schedule (``tinygan.gan.model.lr_multiplier``) step by step.

Two ways to drive it:

* ``train_step_on(real, z_d, z_g)`` takes the batches from outside, so a test can feed tinygan and
  torch the very same numbers (start from tinygan's weights with ``TorchGAN.from_tinygan(gan)``);
* ``train_step()`` draws the batches with torch itself (``torch.Generator``), for timing.

nn.Linear stores its weight as (out, in); tinygan's Dense as (in, out): the copies transpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinygan.gan.codes import Q_HIDDEN, Q_SLOPE
from tinygan.gan.config import pack_spread_gate
from tinygan.gan.model import GANConfig, lr_multiplier
from tinygan.nn.pack_spread import PACK_SPREAD_EPS

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def make_activation(name: str, negative_slope: float) -> nn.Module:
    """The torch twin of a tinygan activation name."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation {name!r}")


def make_mlp(sizes: list[int], activation: str, negative_slope: float) -> nn.Sequential:
    """Linear, act, ..., Linear: indices match tinygan's Sequential ('0.weight', '2.weight', ...)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(make_activation(activation, negative_slope))
    return nn.Sequential(*layers)


class TorchMixture:
    """A tinygan ``GaussianMixture`` sampled on torch: component k ~ w, then mu_k + L_k eps."""

    def __init__(self, mixture: Any, device: torch.device, dtype: torch.dtype) -> None:
        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)

        self.cum_weights = tensor(np.cumsum(mixture.weights)[:-1])  # (K-1,)
        self.means = tensor(mixture.means)  # (K, d)
        self.chol = tensor(mixture.chol)  # (K, d, d)
        self.dim = int(mixture.dim)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=self.means.device, dtype=self.means.dtype)
        component = torch.searchsorted(self.cum_weights, u, right=True)  # (n,)
        eps = torch.randn(n, self.dim, 1, generator=generator, device=u.device, dtype=u.dtype)  # (n, d, 1)
        return self.means[component] + torch.bmm(self.chol[component], eps)[:, :, 0]  # (n, d)


class TorchPoints:
    """A tinygan ``EmpiricalData`` (the digits, a user's points) sampled on torch: rows uniformly, with replacement."""

    def __init__(self, data: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.points = torch.as_tensor(np.asarray(data.points, dtype=np.float64), dtype=dtype, device=device)  # (N, d)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=self.points.device, dtype=self.points.dtype)
        index = torch.clamp((u * len(self.points)).long(), max=len(self.points) - 1)  # (n,)
        return self.points[index]  # (n, d)


def torch_sampler(data: Any, device: torch.device, dtype: torch.dtype) -> TorchMixture | TorchPoints:
    """The torch twin of a tinygan data source: a Gaussian mixture, or a set of points."""
    return TorchMixture(data, device, dtype) if hasattr(data, "means") else TorchPoints(data, device, dtype)


class ScaleGrad(torch.autograd.Function):
    """y = x forward, dL/dx = scale dL/dy backward: lambda reaches G through Q's input, not Q's weights."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return ctx.scale * grad, None


class PackSpread(nn.Module):
    """x (B, m d) -> [x, gate * log(v + eps)], v = each pack's mean squared distance to its mean
    (tinygan.nn.pack_spread, here differentiated by autograd)."""

    def __init__(self, pack: int) -> None:
        super().__init__()
        self.pack, self.gate = pack, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        points = x.reshape(len(x), self.pack, -1)  # (B, m, d)
        spread = ((points - points.mean(1, keepdim=True)) ** 2).sum(2).mean(1, keepdim=True)  # (B, 1)
        return torch.cat([x, self.gate * torch.log(spread + PACK_SPREAD_EPS)], dim=1)


class TorchGAN:
    """G and D (and Q, with config.code_info > 0) as nn.Sequential, one Adam each (``fused=True`` for
    torch's fused Adam kernel; ``code_rows=True``: G's first layer picks the latent code's row of its
    weight instead of multiplying the one-hot code, as tinygan's fused step does)."""

    def __init__(
        self,
        config: GANConfig,
        *,
        data: Any = None,
        device: str | torch.device = "cpu",
        fused: bool = False,
        code_rows: bool = False,
        seed: int = 0,
    ) -> None:
        config.validate()
        self.config = c = config
        self.device = torch.device(device)
        self.dtype = TORCH_DTYPES[c.dtype]
        self.fused = fused
        self.code_rows = code_rows and c.latent_codes > 0
        hidden = [c.hidden] * c.depth
        factory = {"device": self.device, "dtype": self.dtype}
        self.G = make_mlp([c.noise_dim + c.latent_codes, *hidden, c.data_dim], c.g_activation, c.negative_slope)
        if c.g_output != "linear":  # e.g. the digits' tanh, after the last Linear as in tinygan
            self.G.append(make_activation(c.g_output, c.negative_slope))
        self.G = self.G.to(**factory)
        d_inputs = c.data_dim * c.pack + (1 if c.pack_spread else 0)  # the packs (and their log spread)
        self.D = make_mlp([d_inputs, *hidden, 1], c.d_activation, c.negative_slope).to(**factory)
        if c.pack_spread:  # first in D, as in tinygan, so that the layers' names (and indices) agree
            self.D = nn.Sequential(PackSpread(c.pack), *self.D)
        self.g_params = list(self.G.parameters())
        self.g_ema = [p.detach().clone() for p in self.g_params] if c.ema > 0 else None
        adam = {"lr": c.lr, "betas": tuple(c.betas), "eps": c.eps, "fused": True if fused else None}
        self.opt_G = torch.optim.Adam(self.g_params, **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), **adam)
        self.Q, self.opt_Q, self.q_params = None, None, []  # reads G's latent code back (tinygan.gan.codes)
        if c.code_info > 0:
            self.Q = make_mlp([c.data_dim, Q_HIDDEN, Q_HIDDEN, c.latent_codes], "leaky_relu", Q_SLOPE).to(**factory)
            self.q_params = list(self.Q.parameters())
            self.opt_Q = torch.optim.Adam(self.q_params, **adam)
        self.nets = {"G": self.G, "D": self.D} | ({"Q": self.Q} if self.Q is not None else {})
        b = c.batch_size
        real_target = 1.0 - c.label_smoothing
        # [real; fake] targets; D's loss is sum/B = mean over the real half + mean over the fake half
        self._d_targets = torch.cat([torch.full((b, 1), real_target, **factory), torch.zeros(b, 1, **factory)])
        self._g_targets = torch.full((b, 1), 1.0 if c.loss == "nonsaturating" else 0.0, **factory)
        self.mixture = torch_sampler(data, self.device, self.dtype) if data is not None else None
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.step = 0  # G steps taken, drives the learning-rate schedule like tinygan's GAN.step

    # ------------------------------------------------------------------ weights in tinygan's layout
    @classmethod
    def from_tinygan(cls, gan: Any, **kwargs: Any) -> TorchGAN:
        """A TorchGAN with the config and current weights of a tinygan ``GAN`` (fresh Adam state)."""
        model = cls(gan.config, data=kwargs.pop("data", gan.data), **kwargs)
        model.load_tinygan_state(gan.state_dict())
        if model.g_ema is not None:
            model.g_ema = [p.detach().clone() for p in model.g_params]
        model.step = int(gan.step)
        return model

    def load_tinygan_state(self, state: Mapping[str, Any]) -> None:
        """Copy weights from tinygan keys 'G.0.weight' (in, out), 'G.0.bias', ..., 'D.*' and 'Q.*'
        (extra keys ignored)."""
        with torch.no_grad():
            for prefix, net in self.nets.items():
                for name, param in net.named_parameters():
                    value = np.asarray(state[f"{prefix}.{name}"])
                    value = value.T if name.endswith("weight") else value  # (in, out) -> (out, in)
                    param.copy_(torch.as_tensor(np.ascontiguousarray(value)))

    def tinygan_state(self) -> dict[str, np.ndarray]:
        """Host copies in tinygan's layout and keys: {'G.0.weight': (in, out), ..., 'D.*', 'Q.*'}."""
        state = {}
        for prefix, net in self.nets.items():
            for name, param in net.named_parameters():
                value = param.detach().cpu().numpy()
                state[f"{prefix}.{name}"] = value.T.copy() if name.endswith("weight") else value.copy()
        return state

    # ------------------------------------------------------------------ one training step
    def _codes(self, z: torch.Tensor) -> torch.Tensor:
        """The latent code of each row of G's noise z (n, noise_dim + K), (n,)."""
        return z[:, self.config.noise_dim :].argmax(1)

    def _generate(self, z: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) for z (n, noise_dim + K). With ``code_rows``, G's first layer is z_noise W_noise^T + b plus the
        code's column of W (the one-hot code's product without its zeros); its gradient lands in those columns.
        ``codes``: z's codes (n,) when the caller has them already."""
        if not self.code_rows:
            return self.G(z)
        first, noise_dim = self.G[0], self.config.noise_dim
        codes = self._codes(z) if codes is None else codes  # (n,)
        h = F.linear(z[:, :noise_dim], first.weight[:, :noise_dim], first.bias)  # (n, hidden)
        return self.G[1:](h + first.weight[:, noise_dim:].T[codes])

    def _set_lr(self) -> None:
        lr = self.config.lr * lr_multiplier(self.config, self.step)
        for opt in (self.opt_D, self.opt_G, self.opt_Q):  # Q steps at G's rate
            if opt is None:
                continue
            for group in opt.param_groups:
                group["lr"] = lr

    def train_step_on(self, real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor) -> dict[str, Any]:
        """d_steps D updates on (real[k], G(z_d[k])), then one G update on z_g (and one Q update with
        config.code_info > 0). real and z_d are (d_steps, n, 2), or (n, 2) when d_steps is 1; z_g (n, noise_dim
        + latent_codes), the one-hot codes last; n = B m. Losses as 0-d tensors (G's without Q's term)."""
        c = self.config
        b = c.batch_size
        self._set_lr()
        real, z_d = (t.reshape(c.d_steps, b * c.pack, -1) for t in (real, z_d))
        if c.pack_spread:
            self.D[0].gate = pack_spread_gate(c, self.step)

        for k in range(c.d_steps):
            with torch.no_grad():
                fake = self._generate(z_d[k])  # (n, 2); no graph: D's loss does not reach G
            logits = self.D(torch.cat([real[k], fake]).reshape(2 * b, -1))  # (2B, 1), packs of m samples
            d_loss = F.binary_cross_entropy_with_logits(logits, self._d_targets, reduction="sum") / b
            self.opt_D.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_D.step()

        codes_g = self._codes(z_g) if self.Q is not None or self.code_rows else None  # (n,), read once
        fake = self._generate(z_g, codes_g)  # (n, d)
        logits = self.D(fake.reshape(b, -1))  # (B, 1), through the updated D
        g_loss = F.binary_cross_entropy_with_logits(logits, self._g_targets)
        if c.loss == "minimax":
            g_loss = -g_loss  # mean log(1 - sigmoid(logits))
        loss = g_loss
        if self.Q is not None:  # G gets dL_G/dfake + lambda dCE/dfake, Q dCE/dtheta_Q, from the one backward
            code_logits = self.Q(ScaleGrad.apply(fake, c.code_info))  # (n, K)
            loss = g_loss + F.cross_entropy(code_logits, codes_g)  # + CE, a mean over n
            self.opt_Q.zero_grad(set_to_none=True)
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward(inputs=self.g_params + self.q_params)  # through D, but only G's (and Q's) parameters get .grad
        if self.Q is not None:
            self.opt_Q.step()
        self.opt_G.step()
        if self.g_ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self.g_ema, self.g_params, 1.0 - c.ema)  # ema + (1 - decay) (p - ema)
        self.step += 1
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def sample_batches(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """real (d_steps, n, 2) from the mixture, noise z_d (d_steps, n, noise_width) and z_g (n, noise_width),
        all drawn on torch (n = B m; noise_width = noise_dim + latent_codes: z, then the one-hot code)."""
        if self.mixture is None:
            raise RuntimeError("TorchGAN(data=...) is needed to sample real batches")
        c, gen = self.config, self.generator
        n = c.batch_size * c.pack
        real = (self.mixture.sample(c.d_steps * n, gen) / c.data_scale).reshape(c.d_steps, n, -1)
        return real, self.sample_noise((c.d_steps, n)), self.sample_noise((n,))

    def sample_noise(self, rows: tuple[int, ...]) -> torch.Tensor:
        """G's noise (*rows, noise_dim + K): z ~ N(0, I), then with latent codes onehot(c), c uniform on {0..K-1}."""
        c, gen, factory = self.config, self.generator, {"device": self.device, "dtype": self.dtype}
        z = torch.randn((*rows, c.noise_dim), generator=gen, **factory)
        if not c.latent_codes:
            return z
        codes = torch.randint(0, c.latent_codes, rows, generator=gen, device=self.device)
        return torch.cat([z, F.one_hot(codes, c.latent_codes).to(self.dtype)], dim=-1)

    def train_step(self) -> dict[str, Any]:
        """One step on batches sampled by torch itself (the timing mode)."""
        return self.train_step_on(*self.sample_batches())

    def synchronize(self) -> None:
        """Wait for queued GPU work (a no-op on the CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
