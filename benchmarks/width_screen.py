"""Screen remedies for the width of the generated modes: one short run, three ways of sampling it.

    python benchmarks/width_screen.py ring8 0 15000                     # the recipe, seed 0, 15,000 steps
    python benchmarks/width_screen.py ring8 0 15000 pack_spread=false   # a GANConfig field changed
    python benchmarks/width_screen.py ring8 0 15000 energy=10           # a remedy that is not in tinygan

Trains ``tinygan.recipe(MIXTURE)`` (the schedule spans STEPS) and, at 50%, 75% and 100% of the run,
scores 2500 samples of G itself ("raw"), of its weight average ("ema") and of the average with
Jacobian truncation ("jbt"): [strict modes, % high quality, reverse KL, width ratio] each
(tinygan.evaluation.metrics.mode_statistics). Prints one JSON line.

FIELD=VALUE sets a GANConfig field; backend=numpy or numba chooses the backend (a seed's run differs
between them in the last bits, and 15,000 steps of a GAN amplify them). Three remedies that tinygan
does not ship are built here on the readable path (they need the numpy backend, which they select):

* ``energy=L``: G's loss gains L times the energy distance between its batch and a fresh real batch
  in network units, 2 E|x - y| - E|x - x'|. Its gradient for a generated point x_i is
  (2 / (n m)) sum_j u(x_i - y_j) - (2 / (n (n - 1))) sum_k u(x_i - x_k), u(v) = v / |v|: unit pulls
  to real points and unit pushes from the other generated points, at every scale.
* ``d_lr=K``: D's learning rate is K times G's (two time-scale updates).
* ``instance_noise=S``: real and generated points get N(0, s^2) noise before D, s falling linearly
  from S to 0 over the first 60% of the run.

Noise, real batches and the scoring samples come from fixed seeds, so a line is reproducible on one machine.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import numpy as np

import tinygan as tg
from tinygan.evaluation.metrics import mode_statistics
from tinygan.gan.model import GAN
from tinygan.nn.losses import generator_loss

REMEDIES = ("energy", "d_lr", "instance_noise")


def energy_gradient(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d/dx_i of 2 E|x - y| - E|x - x'| (V-statistic over y, U-statistic over x'), (n, d)."""
    n, m = len(x), len(y)
    to_real = x[:, None, :] - y[None, :, :]  # (n, m, d)
    to_fake = x[:, None, :] - x[None, :, :]  # (n, n, d)
    pull = to_real / (np.linalg.norm(to_real, axis=2, keepdims=True) + 1e-12)
    push = to_fake / (np.linalg.norm(to_fake, axis=2, keepdims=True) + 1e-12)
    return (2.0 / (n * m)) * pull.sum(1) - (2.0 / (n * (n - 1))) * push.sum(1)


class ScreenedGAN(GAN):
    """GAN with the screened remedies as hooks on the readable step."""

    remedies: dict[str, float] = {}

    def _noise_scale(self) -> float:
        start = self.remedies.get("instance_noise", 0.0)
        return start * max(0.0, 1.0 - self.step / (0.6 * self.config.steps))

    def discriminator_forward_backward(self, real, z, labels=None):
        scale = self._noise_scale()
        if scale > 0:
            real = real + (scale * self.rng.standard_normal(real.shape)).astype(real.dtype)
        return super().discriminator_forward_backward(real, z, labels)

    def generate(self, z, labels=None):
        fake = super().generate(z, labels)
        scale = self._noise_scale()
        if scale > 0:
            fake = fake + (scale * self.rng.standard_normal(fake.shape)).astype(fake.dtype)
        return fake

    def generator_forward_backward(self, z, labels=None):
        weight = self.remedies.get("energy", 0.0)
        if weight == 0:
            return super().generator_forward_backward(z, labels)
        n = self.config.batch_size * self.config.pack
        fake = self.generate(z)  # (n, d)
        logits = self.D.forward(fake.reshape(self.config.batch_size, -1))
        g_loss, grad_logits = generator_loss(logits, self.config.loss)
        grad_fake = self.D.backward(grad_logits).reshape(n, -1)
        real = self.sample_real(n)
        grad_fake += weight * energy_gradient(fake.astype(np.float64), real.astype(np.float64)).astype(fake.dtype)
        self.D.zero_grad()
        self.G.zero_grad()
        self.G.backward(grad_fake)
        return g_loss


def score(gan: GAN, data) -> dict[str, list]:
    """[strict modes, % HQ, reverse KL, width] of G itself, its average, and the average truncated."""
    z = np.random.default_rng(777).standard_normal((2500, gan.config.noise_dim)).astype(gan.dtype)
    raw = np.asarray(gan.G.forward(z)) * gan.config.data_scale
    out = {}
    for name, points in (("raw", raw), ("ema", gan.sample(2500, rng=778, jacobian_truncation=0.0)),
                         ("jbt", gan.sample(2500, rng=779))):  # fmt: skip
        s = mode_statistics(points, data)
        out[name] = [s["modes_captured_strict"], round(100 * s["high_quality_fraction"], 2),
                     round(s["reverse_kl"], 4), round(s["width_ratio"], 3)]  # fmt: skip
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    mixture, seed, steps = argv[0], int(argv[1]), int(argv[2])
    settings = dict(arg.split("=", 1) for arg in argv[3:])
    remedies = {k: float(settings.pop(k)) for k in REMEDIES if k in settings}
    backend = settings.pop("backend", "numpy" if remedies else None)
    if remedies and backend != "numpy":
        raise SystemExit(f"{sorted(remedies)} run on the readable path: backend=numpy (got {backend})")
    config = tg.recipe(mixture)
    fields = {}
    for key, text in settings.items():
        kind = type(getattr(config, key))
        fields[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    config = dataclasses.replace(config, steps=steps, **fields)
    if backend is not None:
        tg.set_backend(backend)
    data = tg.mixture(mixture)
    ScreenedGAN.remedies = remedies
    gan = ScreenedGAN(data, config, seed=seed)
    if "d_lr" in remedies:
        step_d = gan.opt_D.step

        def faster_d() -> None:
            gan.opt_D.lr = gan.opt_D.lr * remedies["d_lr"]
            step_d()

        gan.opt_D.step = faster_d
    marks = {int(steps * f) for f in (0.5, 0.75, 1.0)}
    start, scores = time.perf_counter(), {}
    for i in range(1, steps + 1):
        gan.train_step()
        if i in marks:
            scores[i] = score(gan, data)
    seconds = round(time.perf_counter() - start, 1)
    line = {"mixture": mixture, "seed": seed, "steps": steps, "settings": argv[3:], "seconds": seconds}
    print(json.dumps(line | {"scores": scores}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
