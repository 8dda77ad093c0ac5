"""Screen remedies for the width of the generated modes: one short run, three ways of sampling it.

    python benchmarks/width_screen.py ring8 0 15000                     # the recipe, seed 0, 15,000 steps
    python benchmarks/width_screen.py ring8 0 15000 pack_spread=false   # a GANConfig field changed
    python benchmarks/width_screen.py ring8 0 15000 energy=10           # a remedy that is not in tinygan

Trains ``tinygan.recipe(MIXTURE)`` (the schedule spans STEPS) and, at 50%, 75% and 100% of the run,
scores 2500 samples of G itself ("raw"), of its weight average ("ema") and of the average with
Jacobian truncation ("jbt"): [strict modes, % high quality, reverse KL, width ratio] each
(tinygan.evaluation.metrics.mode_statistics); "far": of the average's untruncated samples, the % more
than 4 std from every mode and the % of those within 15 degrees of an axis through their nearest
mode (on the grid: on the line to a neighbour); with output_noise, "scale": the average's s in
data units. Prints one JSON line.

FIELD=VALUE sets a GANConfig field (latent_codes=K code_info=L: G's noise gains a code that Q reads
back, tinygan/gan/codes.py; latent_codes=0 code_info=0 trains the grid's recipe without them);
backend=numpy or numba chooses the backend (a seed's run differs between them in the last bits,
and 15,000 steps of a GAN amplify them). Five remedies that tinygan does not ship are built here
on the readable path (they need the numpy backend, which they select):

* ``energy=L``: G's loss gains L times the energy distance between its batch and a fresh real batch
  in network units, 2 E|x - y| - E|x - x'|. Its gradient for a generated point x_i is
  (2 / (n m)) sum_j u(x_i - y_j) - (2 / (n (n - 1))) sum_k u(x_i - x_k), u(v) = v / |v|: unit pulls
  to real points and unit pushes from the other generated points, at every scale.
* ``d_lr=K``: D's learning rate is K times G's (two time-scale updates).
* ``instance_noise=S``: real and generated points get N(0, s^2) noise before D, s falling linearly
  from S to 0 over the first 60% of the run.
* ``output_noise=1``: G's output gains learned per-axis noise, fake = G(z) + s * eps, eps ~ N(0, I)
  fresh for every sample, s (d,) starting at 0 and trained by its own Adam at G's rate:
  dL/ds_j = sum_i dL/dfake_ij eps_ij. G could then draw each mode as a point and let s give the width.
  Scored samples use the average (0.999) of s.
* ``noise_scale=C``: G's noise is C z. The same as G's first weights W starting C times larger and
  learning at C times the rate (Adam moves W by about lr a step, C W by C lr): G's first layer
  could cut the noise into modes with steeper slopes, and leave less of it on the bridges.

Noise, real batches and the scoring samples come from fixed seeds, so a line is reproducible on one machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

import numpy as np

import tinygan as tg
from tinygan.evaluation.metrics import assign_modes, mode_statistics
from tinygan.gan.model import GAN
from tinygan.gan.truncation import draws_needed, split_by_jacobian
from tinygan.nn.losses import generator_loss
from tinygan.outputs import json_safe

REMEDIES = ("energy", "d_lr", "instance_noise", "output_noise", "noise_scale")


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
        if self.remedies.get("output_noise"):
            self._eps = self.rng.standard_normal(fake.shape, dtype=fake.dtype)  # (n, d)
            fake = fake + self.noise_scale.astype(fake.dtype) * self._eps
        scale = self._noise_scale()
        if scale > 0:
            fake = fake + (scale * self.rng.standard_normal(fake.shape)).astype(fake.dtype)
        return fake

    def sample_noise(self, n):
        return draw_noise(self, self.rng, n)

    def setup_output_noise(self) -> None:
        """s (d,) = 0, Adam's moments for it, and its running average (output_noise)."""
        d = self.config.data_dim
        self.noise_scale, self.noise_scale_average = np.zeros(d), np.zeros(d)
        self._scale_m, self._scale_v, self._scale_steps, self._eps = np.zeros(d), np.zeros(d), 0, None

    def generator_forward_backward(self, z, labels=None):
        weight = self.remedies.get("energy", 0.0)
        if weight == 0 and not self.remedies.get("output_noise"):
            return super().generator_forward_backward(z, labels)
        n = self.config.batch_size * self.config.pack
        fake = self.generate(z)  # (n, d)
        logits = self.D.forward(fake.reshape(self.config.batch_size, -1))
        g_loss, grad_logits = generator_loss(logits, self.config.loss)
        grad_fake = self.D.backward(grad_logits).reshape(n, -1)
        if weight:
            real = self.sample_real(n)
            grad_fake += weight * energy_gradient(fake.astype(np.float64), real.astype(np.float64)).astype(fake.dtype)
        self.D.zero_grad()
        self.G.zero_grad()
        self.G.backward(grad_fake)
        if self.remedies.get("output_noise"):
            self._adam_on_scale((grad_fake * self._eps).sum(axis=0).astype(np.float64))  # dL/ds, (d,)
        return g_loss

    def _adam_on_scale(self, grad: np.ndarray) -> None:
        (b1, b2), lr = self.config.betas, self.opt_G.lr
        self._scale_steps += 1
        self._scale_m = b1 * self._scale_m + (1 - b1) * grad
        self._scale_v = b2 * self._scale_v + (1 - b2) * grad * grad
        m_hat, v_hat = self._scale_m / (1 - b1**self._scale_steps), self._scale_v / (1 - b2**self._scale_steps)
        self.noise_scale -= lr * m_hat / (np.sqrt(v_hat) + self.config.eps)
        rate = 1 - (self.config.ema or 0.999)
        self.noise_scale_average += rate * (self.noise_scale - self.noise_scale_average)


def draw_noise(gan: GAN, rng: np.random.Generator, n: int) -> np.ndarray:
    """G's noise for n samples (GAN.draw_noise), with z (its first noise_dim columns) times c =
    noise_scale, (n, noise_width)."""
    noise = gan.draw_noise(n, rng)
    scale = gan.remedies.get("noise_scale", 1.0) if isinstance(gan, ScreenedGAN) else 1.0
    if scale != 1.0:
        noise[:, : gan.config.noise_dim] *= gan.dtype.type(scale)
    return noise


def averaged_sample(gan: ScreenedGAN, n: int, seed: int, truncation: float) -> np.ndarray:
    """GAN.sample for the output-noise and noise-scale remedies: the averaged weights, Jacobian
    truncation ranked by z's columns, and the averaged output noise added last (data units, (n, d))."""
    rng = np.random.default_rng(seed)
    noise = draw_noise(gan, rng, draws_needed(n, truncation))  # (m, noise_width)
    with gan.averaged_weights():
        points, _ = split_by_jacobian(gan.G, noise, n, gan.config.noise_dim, gan.codes_of(noise))  # (n, d)
    if gan.remedies.get("output_noise"):
        points = points + gan.noise_scale_average * rng.standard_normal(points.shape)
    return np.asarray(points) * gan.config.data_scale


def far_from_modes(points: np.ndarray, data) -> list[float]:
    """[% of points beyond 4 std of every mode, % of those within 15 degrees of an axis from their mode]."""
    nearest, distance = assign_modes(points, data.means)
    far = distance > 4 * data.stds[nearest]
    offset = np.abs(points[far] - data.means[nearest[far]])  # (f, d)
    angle = np.degrees(np.arctan2(offset.min(axis=1), offset.max(axis=1)))  # 0: on an axis
    return [round(100 * float(far.mean()), 2), round(100 * float((angle < 15).mean()), 1) if far.any() else 0.0]


def score(gan: GAN, data) -> dict[str, list]:
    """[strict modes, % HQ, reverse KL, width] of G itself, its average, and the average truncated."""
    rng = np.random.default_rng(777)
    z = gan.with_codes(rng.standard_normal((2500, gan.config.noise_dim)).astype(gan.dtype), rng)  # (2500, noise_width)
    if any(gan.remedies.get(name) for name in ("output_noise", "noise_scale")):
        rng = np.random.default_rng(777)
        raw = np.asarray(gan.G.forward(draw_noise(gan, rng, 2500)))  # G itself, (2500, d)
        if gan.remedies.get("output_noise"):
            raw = raw + gan.noise_scale * rng.standard_normal(raw.shape)
        raw = raw * gan.config.data_scale
        q = gan.config.jacobian_truncation
        samples = {"ema": averaged_sample(gan, 2500, 778, 0.0), "jbt": averaged_sample(gan, 2500, 779, q)}
    else:
        raw = np.asarray(gan.G.forward(z)) * gan.config.data_scale
        samples = {"ema": gan.sample(2500, rng=778, jacobian_truncation=0.0), "jbt": gan.sample(2500, rng=779)}
    out = {}
    for name, points in (("raw", raw), *samples.items()):
        s = mode_statistics(points, data)
        out[name] = [s["modes_captured_strict"], round(100 * s["high_quality_fraction"], 2),
                     round(s["reverse_kl"], 4), round(s["width_ratio"], 3)]  # fmt: skip
    out["far"] = far_from_modes(samples["ema"], data)
    if gan.remedies.get("output_noise"):
        out["scale"] = [round(float(v) * gan.config.data_scale, 4) for v in np.abs(gan.noise_scale_average)]
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """MIXTURE SEED STEPS [FIELD=VALUE ...], each checked now: one ``error:`` line naming the argument, exit 2.
    Sets args.config (the recipe with the fields and STEPS), args.remedies and args.backend."""
    from tinygan.cli import OneLineParser, number

    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mixture", metavar="MIXTURE", choices=("two", "ring8", "grid25"), help="two, ring8 or grid25")
    p.add_argument("seed", metavar="SEED", type=number(int, 0, "SEED", strict=False), help="the run's seed")
    p.add_argument("steps", metavar="STEPS", type=number(int, 0, "STEPS"), help="the run's G steps")
    p.add_argument("settings", metavar="FIELD=VALUE", nargs="*", type=setting,
                   help="a GANConfig field, a remedy (" + ", ".join(REMEDIES) + ") or backend=numpy|numba")  # fmt: skip
    args = p.parse_args(argv)
    settings = dict(args.settings)
    args.remedies = {k: settings.pop(k) for k in REMEDIES if k in settings}
    args.backend = settings.pop("backend", "numpy" if args.remedies else None)
    if args.backend not in (None, "numpy", "numba"):
        p.error(f"argument FIELD=VALUE: backend must be numpy or numba, got {args.backend!r}")
    if args.remedies and args.backend != "numpy":
        p.error(f"argument FIELD=VALUE: {sorted(args.remedies)} run on the readable path: backend=numpy "
                f"(got {args.backend})")  # fmt: skip
    try:
        args.config = screened_config(args.mixture, args.steps, settings)
    except (ValueError, TypeError) as error:
        p.error(f"argument FIELD=VALUE: {error}")
    return args


def setting(text: str) -> tuple[str, Any]:
    """FIELD=VALUE: a remedy's value is a finite number; a field's value is kept as text until the recipe
    says its type (screened_config)."""
    import math

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"settings take FIELD=VALUE, got {text!r}")
    if key in REMEDIES:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise argparse.ArgumentTypeError(f"{key} must be a finite number >= 0, got {value!r}")
        return key, number
    return key, value


def screened_config(mixture: str, steps: int, settings: dict[str, str]) -> Any:
    """The mixture's recipe with ``settings`` (text, converted to each field's type) and ``steps``, validated."""
    config = tg.recipe(mixture)
    fields = {}
    for key, text in settings.items():
        if not hasattr(config, key):
            raise ValueError(f"{key} is not a GANConfig field, a remedy or backend")
        kind = type(getattr(config, key))
        if kind is bool:
            if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise ValueError(f"{key} takes true or false, got {text!r}")
            fields[key] = text.lower() in ("1", "true", "yes")
        elif kind in (int, float, str):
            try:
                fields[key] = kind(text)
            except ValueError:
                raise ValueError(f"{key} takes {kind.__name__} values, got {text!r}") from None
        else:
            raise ValueError(f"{key} cannot be set here (a {kind.__name__})")
    config = dataclasses.replace(config, steps=steps, **fields)
    config.validate()
    return config


def main(argv: list[str] | None = None) -> int:
    """Train the screened run, print its JSON line; a refused argument is one line and exit 2."""
    args = parse_args(argv)
    config = args.config
    from tinygan.fast.backend import BackendUnavailableError

    try:
        if args.backend is not None:
            tg.set_backend(args.backend)
        from tinygan.gan.memory import require_training_memory

        require_training_memory(config, f"hidden {config.hidden}, batch {config.batch_size}")
    except (ValueError, BackendUnavailableError) as error:
        print(f"error: argument FIELD=VALUE: {error}", file=sys.stderr)
        return 2
    print(json.dumps(json_safe(screen(args)), allow_nan=False))  # NaN and inf as null
    return 0


def screen(args: argparse.Namespace) -> dict[str, Any]:
    """Train the screened run and score it at 50%, 75% and 100%: the printed line, as a dict."""
    remedies, config, steps, mixture, seed = args.remedies, args.config, args.steps, args.mixture, args.seed
    data = tg.mixture(mixture)
    ScreenedGAN.remedies = remedies
    gan = ScreenedGAN(data, config, seed=seed)
    if "output_noise" in remedies:
        gan.setup_output_noise()
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
    settings = [f"{key}={value:g}" if key in REMEDIES else f"{key}={value}" for key, value in args.settings]
    line = {"mixture": mixture, "seed": seed, "steps": steps, "settings": settings, "seconds": seconds}
    return line | {"scores": scores}


if __name__ == "__main__":
    sys.exit(main())
