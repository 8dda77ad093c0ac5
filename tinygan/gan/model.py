"""The GAN: a generator G, a discriminator D, one Adam each, and the training step.

Read ``GAN.train_step`` and the two methods it calls, ``step_discriminator`` and ``step_generator``,
top to bottom: they are the whole algorithm.

    D step:  real x ~ p_data, fake = G(z);  D maximises  E log D(x) + E log(1 - D(fake))
    G step:  fake = G(z');  G minimises its loss on D(fake); the gradient flows back *through*
             D (D.backward returns dloss/dfake), then D's parameter gradients are thrown away.

Shapes (B = batch_size, H = hidden, pack = samples per pack, d = data_dim): real, z and fake are
(n, d) with n = B pack; D sees each pack's samples side by side, (B, d pack), and returns logits (B, 1).

Class-conditional (``config.num_classes`` = K > 0; Mirza & Osindero, 2014): the data yields
(x, labels), and a one-hot label y (K,) is concatenated to G's noise, G(z, y) = G([z, y]), and to
each sample D judges, D([x, y]). Fakes are asked for the labels of the real batch in the D step
(so D cannot tell them apart by label frequencies) and for labels drawn from the data in the G
step. D's gradient with respect to its input [fake, y] is sliced back to the fake part, the
only part G made. Widths: G (noise_dim + K) -> d; D (d + K) pack -> 1.

Latent codes (``config.latent_codes`` = K > 0, codes.py): a one-hot code of K equally likely values
follows z in G's noise, G([z, onehot(c)]) (noise_dim + K) -> d, and with ``config.code_info`` > 0 a
network Q learns to read the code back from G's output, and G's gradient gains the term that makes
it readable (InfoGAN).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..evaluation.data import EmpiricalData
from ..evaluation.loader import available_memory
from ..fast.backend import get_backend, to_numpy
from ..nn.activations import sigmoid
from ..nn.features import FourierFeatures
from ..nn.layers import Sequential, as_float_dtype, mlp
from ..nn.losses import discriminator_loss, generator_loss
from ..nn.optim import Adam
from ..nn.pack_spread import PackSpread
from ..nn.penalty import add_penalty_gradient, penalty_layers
from .codes import CodeReader
from .config import GANConfig, lr_multiplier, pack_spread_gate
from .memory import describe_bytes, sampling_bytes
from .truncation import draws_needed, split_by_jacobian

PACK_MATE_DRAWS = 8  # logits() of a packed D: the mean over this many packs of real mates


def _checked_data_and_config(data: Any, config: GANConfig | dict | None) -> tuple[Any, GANConfig]:
    """The data source (an array of points becomes EmpiricalData) and a validated config; a clear
    error naming the argument otherwise."""
    if isinstance(data, (np.ndarray, list, tuple)):
        data = EmpiricalData(data)
    elif not callable(getattr(data, "sample", None)):
        raise TypeError(
            "data must be a data source with sample(n, rng) (e.g. tinygan.mixture('two')) "
            f"or an array of points (n, 2), got {type(data).__name__}"
        )
    if isinstance(config, dict):
        config = GANConfig.from_dict(config)
    elif config is not None and not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig or a dict of its fields, got {type(config).__name__}")
    config = config or GANConfig()
    config.validate()
    if getattr(data, "dim", config.data_dim) != config.data_dim:
        raise ValueError(f"data has dimension {data.dim} but config.data_dim is {config.data_dim}")
    if config.num_classes and getattr(data, "num_classes", None) != config.num_classes:
        raise ValueError(
            f"config.num_classes is {config.num_classes}: data must be labelled with as many classes "
            f"(sample_labelled and num_classes, e.g. LabelledData), got {data!r}"
        )
    return data, config


class GAN:
    """Generator and discriminator MLPs trained on ``data`` (anything with ``sample(n, rng)``)."""

    def __init__(self, data: Any, config: GANConfig | dict | None = None, *, seed: int = 0) -> None:
        """``data``: a data source (anything with ``sample(n, rng)``) or an array of points (n, 2);
        ``config``: a GANConfig, or a dict of its fields (None: the defaults)."""
        self.data, self.config = _checked_data_and_config(data, config)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self.xp = get_backend().xp
        self.dtype = as_float_dtype(self.config.dtype)
        self.rng = self._make_rng([self.seed, 1])  # noise and data, on the backend's device
        self._build_networks(np.random.default_rng([self.seed, 0]))  # G, then D, from one weight stream
        self._build_optimizers()
        self._build_code_reader()
        self._build_weight_average()
        self.fused = self.build_fused_step()
        self.step = 0  # G steps taken so far
        self.history: list[dict[str, float]] = []
        self._mates = None  # the real pack-mates of logits() with pack > 1, drawn when first needed
        self._open_input_features()

    def _build_networks(self, init_rng: np.random.Generator) -> None:
        """G, then D with its input features (Fourier features, pack spread) in front of its MLP.

        G (noise_width + K) -> hidden ... -> d; D ((d + K) pack [-> features]) -> hidden ... -> 1,
        with K the classes (0 if unconditional). G's and D's weights come from ``init_rng`` in this order."""
        config, classes = self.config, self.config.num_classes
        hidden = [config.hidden] * config.depth
        g_output = None if config.g_output == "linear" else config.g_output
        self.G = mlp([self.noise_width + classes, *hidden, config.data_dim], config.g_activation, g_output,
                     negative_slope=config.negative_slope, rng=init_rng, dtype=self.dtype)  # fmt: skip
        d_input = (config.data_dim + classes) * config.pack  # (B, (d + K) pack): a pack of samples per row
        self.features = None  # random Fourier features of D's input, when config.fourier_features > 0
        if config.fourier_features:
            self.features = FourierFeatures(d_input, config.fourier_features, config.fourier_max_scale,
                                            rng=np.random.default_rng([self.seed, 6]), dtype=self.dtype)  # fmt: skip
            d_input = self.features.out_features
        self.spread = None  # log of each pack's spread, when config.pack_spread
        if config.pack_spread:
            self.spread = PackSpread(config.pack, config.data_dim + classes, dtype=self.dtype)
            d_input = self.spread.out_features
        self.D = mlp([d_input, *hidden, 1], config.d_activation,
                     negative_slope=config.negative_slope, rng=init_rng, dtype=self.dtype)  # fmt: skip
        for front in (self.features, self.spread):
            if front is not None:
                self.D = Sequential(front, *self.D.layers)

    def _build_optimizers(self) -> None:
        """One Adam per network, so that their moment estimates never mix."""
        config = self.config
        self.opt_G = Adam(self.G.parameters(), config.lr, config.betas, config.eps)
        self.opt_D = Adam(self.D.parameters(), config.lr, config.betas, config.eps)

    def _build_code_reader(self) -> None:
        """Q, reading G's latent code back from its output (config.code_info > 0; codes.py), or None."""
        config = self.config
        self.code_reader = None
        if config.code_info > 0:
            self.code_reader = CodeReader(config.data_dim, config.latent_codes, config.code_info, lr=config.lr,
                                          betas=config.betas, eps=config.eps, rng=np.random.default_rng([self.seed, 9]),
                                          dtype=self.dtype)  # fmt: skip

    def _build_weight_average(self) -> None:
        """G_ema, the average of G's weights (config.ema > 0) that sampling uses, or None:
        theta_ema <- theta_ema + (1 - ema) (theta - theta_ema) after every G update."""
        self.G_ema = self.xp.array(self.G.flat.data) if self.config.ema > 0 else None

    def build_fused_step(self) -> Any:
        """The numba backend's twin of ``train_step`` as one jitted call (fast/fused.py), for MLPs,
        unconditional or class-conditional; None on other backends or models. Everything it needs is
        handed over here: G, D and Q's buffers and Adam moments, G's weight average and the step's
        constants (rebuild it after changing ``config.d_steps``, which sizes its batch buffers)."""
        if get_backend().name != "numba" or self.features is not None:  # MLPs without Fourier features
            return None
        from ..fast.fused import FusedNet, FusedStep, Settings, layer_widths

        c, reader = self.config, self.code_reader
        g_sizes, d_sizes = layer_widths(c)
        g_output = "identity" if c.g_output == "linear" else c.g_output
        G = FusedNet(self.G.flat.data, self.G.flat.grad, self.opt_G.m[0], self.opt_G.v[0], g_sizes,
                     c.g_activation, g_output)  # fmt: skip
        D = FusedNet(self.D.flat.data, self.D.flat.grad, self.opt_D.m[0], self.opt_D.v[0], d_sizes, c.d_activation)
        Q = None
        if reader is not None:
            Q = FusedNet(reader.Q.flat.data, reader.Q.flat.grad, reader.opt.m[0], reader.opt.v[0], reader.sizes,
                         "leaky_relu")  # fmt: skip
        settings = Settings(
            batch=c.batch_size,
            pack=c.pack,
            negative_slope=c.negative_slope,
            real_target=1.0 - c.label_smoothing,
            minimax=c.loss == "minimax",
            lr=c.lr,  # replaced by the scheduled rate at each step
            beta1=c.betas[0],
            beta2=c.betas[1],
            eps=c.eps,
            pack_spread=c.pack_spread,
            spread_eps=self.spread.eps if self.spread is not None else 1.0,
            spread_gate=0.0,  # replaced by the scheduled gate at each step
            code_info=c.code_info if reader else 0.0,
            g_one_hot=c.latent_codes + c.num_classes,  # G's input ends in a one-hot code or label (never both)
            num_classes=c.num_classes,
            q_slope=reader.slope if reader else 0.0,
            r1=c.r1,
            r2=c.r2,
        )
        return FusedStep(G, D, Q, settings, d_steps=c.d_steps, g_average=self.G_ema, average_rate=1.0 - c.ema)

    @property
    def conditional(self) -> bool:
        return self.config.num_classes > 0

    @property
    def noise_width(self) -> int:
        """Columns of G's noise: z (noise_dim), then the one-hot latent code (latent_codes) if any."""
        return self.config.noise_dim + self.config.latent_codes

    def _make_rng(self, seed: list[int]) -> Any:
        if self.xp is np:
            return np.random.default_rng(seed)
        return self.xp.random.default_rng(int(np.random.SeedSequence(seed).generate_state(1)[0]))

    # ------------------------------------------------------------------ one training step
    def sample_real(self, n: int) -> Any:
        return self.data.sample(n, self.rng) / self.config.data_scale  # (n, d), network units

    def sample_real_labelled(self, n: int) -> tuple[Any, Any]:
        """Real points (n, d) in network units and their labels (n,) (conditional GANs)."""
        x, labels = self.data.sample_labelled(n, self.rng)
        return x / self.config.data_scale, labels

    def sample_noise(self, n: int) -> Any:
        return self.draw_noise(n, self.rng)  # (n, noise_width)

    def draw_noise(self, n: int, rng: Any) -> Any:
        """G's noise for n samples from ``rng``: z ~ N(0, I) (n, noise_dim), then, with latent codes,
        a one-hot code of K equally likely values drawn after it, (n, noise_dim + K)."""
        return self.with_codes(rng.standard_normal((n, self.config.noise_dim), dtype=self.dtype), rng)

    def with_codes(self, z: Any, rng: Any) -> Any:
        """[z, onehot(c)] (n, noise_dim + K) with the latent codes c drawn from ``rng`` after z;
        z itself when the GAN has no latent codes."""
        if not self.config.latent_codes:
            return z
        n, width = z.shape
        codes = self.xp.asarray(rng.integers(0, self.config.latent_codes, n))  # (n,)
        noise = self.xp.zeros((n, width + self.config.latent_codes), dtype=self.dtype)  # (n, noise_dim + K)
        noise[:, :width] = self.xp.asarray(z)
        noise[self.xp.arange(n), width + codes] = 1  # the one-hot code after z
        return noise

    def codes_of(self, z: Any) -> Any:
        """The latent code of each row of G's noise z (n, noise_dim + K), (n,); None without codes."""
        return z[:, self.config.noise_dim :].argmax(axis=1) if self.config.latent_codes else None

    def with_labels(self, x: Any, labels: Any) -> Any:
        """[x, onehot(labels)] (n, width + K) for a conditional GAN; x itself when labels is None."""
        if labels is None:
            return x
        one_hot = self.xp.eye(self.config.num_classes, dtype=self.dtype)[labels]  # (n, K)
        return self.xp.concatenate([x, one_hot], axis=1)

    def generate(self, z: Any, labels: Any = None) -> Any:
        """G(z) (or G(z, y)) on the device, in network units, (n, d)."""
        return self.G.forward(self.with_labels(z, labels))

    def train_step(self) -> dict[str, Any]:
        """One round: ``d_steps`` D updates, then one G update. Returns the losses (device scalars)."""
        if self.fused is not None:  # the numba backend: the same round in one jitted call
            self.opt_D.lr = self.opt_G.lr = self.config.lr * lr_multiplier(self.config, self.step)
            self._open_input_features()
            return self._train_step_fused()
        for _ in range(self.config.d_steps):
            d_loss = self.step_discriminator()
        g_loss = self.step_generator()
        return {"d_loss": d_loss, "g_loss": g_loss}

    def step_discriminator(self) -> Any:
        """One D update: a fresh real batch against G(z) on fresh noise, D's backward, Adam on D.

        G's weights, the step count and G's weight average are untouched (the live view's "step D").
        Returns D's loss (a device scalar)."""
        n = self.config.batch_size * self.config.pack  # samples per side
        self.opt_D.lr = self.config.lr * lr_multiplier(self.config, self.step)
        self._open_input_features()
        if self.conditional:
            real, labels = self.sample_real_labelled(n)  # (n, d), (n,)
        else:
            real, labels = self.sample_real(n), None  # (n, d)
        d_loss = self.discriminator_forward_backward(real, self.sample_noise(n), labels)
        self.opt_D.step()
        return d_loss

    def step_generator(self) -> Any:
        """One G update: G(z) on fresh noise, its loss's gradient through D into G, Adam on G.

        D's weights are untouched. It moves G's weight average and counts as a step (``self.step``
        counts G updates). Returns G's loss (a device scalar)."""
        n = self.config.batch_size * self.config.pack
        self.opt_G.lr = self.config.lr * lr_multiplier(self.config, self.step)
        self._open_input_features()
        z = self.sample_noise(n)  # (n, noise_width)
        labels = self.data.sample_labels(n, self.rng) if self.conditional else None  # asked-for classes
        g_loss = self.generator_forward_backward(z, labels)
        self.opt_G.step()
        self._update_ema()
        self.step += 1
        return g_loss

    def _open_input_features(self) -> None:
        """D's Fourier features and pack spread (if any) open as scheduled for the current step."""
        if self.features is not None:
            self.features.set_window(self.fourier_window(self.step))
        if self.spread is not None:
            self.spread.gate = pack_spread_gate(self.config, self.step)

    def fourier_window(self, step: int) -> float:
        """alpha for FourierFeatures at G step ``step``: 0 to 1 + width over fourier_anneal * steps."""
        c, full = self.config, 1.0 + self.features.width
        if c.fourier_anneal == 0:
            return full
        return full * min(1.0, step / (c.fourier_anneal * c.steps))

    def discriminator_forward_backward(self, real: Any, z: Any, labels: Any = None) -> Any:
        """D's loss on real (n, d) vs G(z) (n, d); leaves dloss/dtheta_D in D's grads. Returns the loss.

        Conditional: real and fake alike carry ``labels`` (n,), so D judges [x, y] (n, d + K)."""
        batch = self.config.batch_size
        fake = self.generate(z, labels)  # (n, d); G is not trained here, its cache is simply overwritten later
        real, fake = self.with_labels(real, labels), self.with_labels(fake, labels)  # (n, d + K) if conditional
        both = self.xp.concatenate([real, fake]).reshape(2 * batch, -1)  # (2B, d pack): rows of `pack` samples
        logits = self.D.forward(both)  # (2B, 1)
        real_target = 1.0 - self.config.label_smoothing
        d_loss, grad_real, grad_fake = discriminator_loss(logits[:batch], logits[batch:], real_target)
        self.D.zero_grad()
        self.D.backward(self.xp.concatenate([grad_real, grad_fake]))  # fills D's grads
        # R1 / R2 (nn/penalty.py): gamma/2 mean ||grad D||^2 on the real / fake rows (packs), its gradient added
        if self.config.r1:
            add_penalty_gradient(penalty_layers(self.D), both[:batch], self.config.r1)
        if self.config.r2:
            add_penalty_gradient(penalty_layers(self.D), both[batch:], self.config.r2)
        return d_loss

    def generator_forward_backward(self, z: Any, labels: Any = None) -> Any:
        """G's loss on D(G(z)); leaves dloss/dtheta_G in G's grads and D's grads at zero. Returns the loss.

        dL/dtheta_G = (dL/dfake) (dfake/dtheta_G), and dL/dfake comes out of D.backward: the
        gradient flows through D. D's parameter gradients, filled on the way, are discarded.
        Conditional: D.backward gives dL/d[fake, y] (n, d + K); G made only the first d columns.
        """
        n, d = self.config.batch_size * self.config.pack, self.config.data_dim
        fake = self.generate(z, labels)  # (n, d)
        logits = self.D.forward(self.with_labels(fake, labels).reshape(self.config.batch_size, -1))  # (B, 1)
        g_loss, grad_logits = generator_loss(logits, self.config.loss)
        grad_input = self.D.backward(grad_logits).reshape(n, -1)  # dL_G/d(D's input), (n, d) or (n, d + K)
        grad_fake = grad_input[:, :d]  # dL_G/dfake, (n, d): the label columns are not G's to change
        if self.code_reader is not None:  # + lambda dCE/dfake: make the code readable (codes.py); Q steps
            _, grad_info = self.code_reader.generator_gradient(fake, z[:, self.config.noise_dim :], self.opt_G.lr)
            grad_fake = grad_fake + grad_info
        self.D.zero_grad()  # D is not updated by the G step
        self.G.zero_grad()
        self.G.backward(grad_fake)  # fills G's grads
        return g_loss

    @property
    def step_code(self) -> str:
        """Which code runs ``train_step``, in one line: the readable path, or its fused Numba twin."""
        if self.fused is not None:
            return "the fused Numba twin of GAN.train_step (tinygan/fast/fused.py; backend numpy runs the readable one)"
        return "GAN.train_step layer by layer (tinygan/gan/model.py, the code docs/backprop.md follows)"

    def _train_step_fused(self) -> dict[str, Any]:
        """The same step, the same batches drawn in the same order, in one Numba call (fused.py), which
        also moves G's weight average as _update_ema does and Q's Adam step at G's rate."""
        self._draw_fused_batches()
        reader = self.code_reader
        gate = self.spread.gate if self.spread is not None else 0.0
        steps_done = (self.opt_D.step_count, self.opt_G.step_count, reader.opt.step_count if reader else 0)
        if reader is not None:
            reader.opt.lr = self.opt_G.lr  # Q steps at G's scheduled rate
        d_loss, g_loss = self.fused.step(self.opt_G.lr, gate, steps_done)
        self.opt_D.step_count += self.config.d_steps
        self.opt_G.step_count += 1
        if reader is not None:
            reader.opt.step_count += 1
        self.step += 1
        return {"d_loss": d_loss, "g_loss": g_loss}

    def _draw_fused_batches(self) -> None:
        """The fused step's batches, drawn in the readable step's order into its buffers. Conditional:
        G's noise ends in the one-hot label, [z, y], from which the fused step also reads D's labels."""
        c, batches = self.config, self.fused.batches
        n = c.batch_size * c.pack
        if self.conditional:
            self._draw_fused_labelled_batches(n)
            return
        for k in range(c.d_steps):
            batches.real[k] = self.sample_real(n)
            if c.latent_codes:  # z, then the codes (draw_noise)
                batches.z_d[k] = self.draw_noise(n, self.rng)
            else:
                self.rng.standard_normal(out=batches.z_d[k], dtype=self.dtype)
        if c.latent_codes:
            batches.z_g[...] = self.draw_noise(n, self.rng)
            if self.code_reader is not None:
                batches.codes_g[...] = self.codes_of(batches.z_g)
        else:
            self.rng.standard_normal(out=batches.z_g, dtype=self.dtype)

    def _draw_fused_labelled_batches(self, n: int) -> None:
        """A conditional GAN's batches, as step_discriminator and step_generator draw them: per D update
        real points and their labels, then z, the fakes asked for the real batch's labels; for the G
        update z, then labels drawn from the data."""
        batches = self.fused.batches
        for k in range(self.config.d_steps):
            batches.real[k], labels = self.sample_real_labelled(n)  # (n, d), (n,)
            batches.z_d[k] = self.with_labels(self.sample_noise(n), labels)  # (n, noise_dim + K)
        z = self.sample_noise(n)
        batches.z_g[...] = self.with_labels(z, self.data.sample_labels(n, self.rng))

    def _update_ema(self) -> None:
        if self.G_ema is not None:
            self.G_ema += (1.0 - self.config.ema) * (self.G.flat.data - self.G_ema)

    # ------------------------------------------------------------------ using the model
    def sample(
        self,
        n: int,
        *,
        rng: Any = None,
        labels: Any = None,
        jacobian_truncation: float | None = None,
        return_left_out: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """n generated points on the host, (n, d), in data units.

        ``rng``: a numpy Generator or an int seed (default: the GAN's own noise RNG).
        With ``config.ema`` > 0 they come from the averaged weights. With a jacobian truncation
        q > 0 (default ``config.jacobian_truncation``), ceil(n / (1 - q)) noise vectors are drawn
        and the fraction q where G stretches most, the bridges between modes, is left out
        (truncation.py); with latent codes, the fraction q of each code's draws, so that the codes
        keep their equal weights. ``return_left_out=True`` also returns those points, (draws - n, d).
        A conditional GAN draws sample i of class ``labels[i]`` (n,); by default the classes in
        turn, 0, 1, ..., K - 1, 0, 1, ... (see ``balanced_labels``).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        q = self.config.jacobian_truncation if jacobian_truncation is None else jacobian_truncation
        draws = draws_needed(int(n), q)  # validates q
        need, have = sampling_bytes(self.config, int(n), q), available_memory()
        if need > have:
            raise ValueError(
                f"n = {n} samples (with jacobian_truncation {q:g}) need about {describe_bytes(need)}, "
                f"more than the {describe_bytes(have)} of memory available"
            )
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            if rng < 0:
                raise ValueError(f"rng as a seed must be >= 0, got {rng}")
            rng = np.random.default_rng(int(rng))  # an int is a seed
        elif rng is not None and not callable(getattr(rng, "standard_normal", None)):
            raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")
        if self.conditional:
            if q > 0:
                raise ValueError("jacobian_truncation is for unconditional GANs (num_classes = 0)")
            labels = self.xp.asarray(self.check_labels(self.balanced_labels(n) if labels is None else labels, n))
        elif labels is not None:
            raise ValueError("labels are for class-conditional GANs (config.num_classes > 0)")
        noise_rng = rng if rng is not None else self.rng
        z = self.xp.asarray(self.draw_noise(draws, noise_rng))  # (draws, noise_width)
        z = self.with_labels(z, labels)  # (draws, noise_dim + K) if conditional
        with self.averaged_weights():
            if q > 0:  # ranked by the Jacobian with respect to z alone: a code's columns are not continuous
                codes = self.codes_of(z)  # (draws,) or None: each code loses the same share
                kept, left_out = split_by_jacobian(
                    self.G, z, int(n), self.config.noise_dim, codes
                )  # (n, d), (draws-n, d)
            else:
                kept, left_out = self.G.forward(z), self.xp.zeros((0, self.config.data_dim), self.dtype)  # (n, d)
        scale = self.config.data_scale
        if return_left_out:
            return to_numpy(kept * scale), to_numpy(left_out * scale)
        return to_numpy(kept * scale)

    def decode(self, z: Any, labels: Any = None) -> np.ndarray:
        """G(z) (conditional: G(z, y)) for given noise z (n, noise_width), on the host in data units,
        with the averaged weights when ``config.ema`` > 0: ``sample`` without the random draw.
        With latent codes, z's last ``latent_codes`` columns are the one-hot code (``draw_noise``)."""
        z = self.xp.asarray(np.asarray(z, dtype=self.dtype) if isinstance(z, np.ndarray) else z)
        if z.ndim != 2 or z.shape[1] != self.noise_width:
            raise ValueError(f"z must have shape (n, {self.noise_width}), got {tuple(z.shape)}")
        if self.conditional:
            labels = self.xp.asarray(
                self.check_labels(self.balanced_labels(len(z)) if labels is None else labels, len(z))
            )
        elif labels is not None:
            raise ValueError("labels are for class-conditional GANs (config.num_classes > 0)")
        with self.averaged_weights():
            return to_numpy(self.generate(z, labels)) * self.config.data_scale  # (n, d)

    @contextlib.contextmanager
    def averaged_weights(self) -> Iterator[None]:
        """Within the block G holds its weight average (when ``config.ema`` > 0; else its own
        weights); the trained weights come back afterwards, also after an error."""
        if self.G_ema is None:
            yield
            return
        trained = self.G.flat.data.copy()
        self.G.flat.data[...] = self.G_ema
        try:
            yield
        finally:
            self.G.flat.data[...] = trained

    def balanced_labels(self, n: int) -> np.ndarray:
        """0, 1, ..., K - 1, 0, 1, ... : n labels, every class as often as n allows, (n,)."""
        return np.arange(n) % self.config.num_classes

    def check_labels(self, labels: Any, n: int) -> Any:
        """Labels (n,) as integers in [0, K) on the host or device; ValueError otherwise."""
        labels = labels if isinstance(labels, self.xp.ndarray) else np.asarray(labels)
        if tuple(labels.shape) != (n,) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be {n} integers, got shape {tuple(labels.shape)} of {labels.dtype}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= self.config.num_classes):
            raise ValueError(f"labels must lie in [0, {self.config.num_classes - 1}]")
        return labels

    def logits(self, x: Any, labels: Any = None) -> np.ndarray:
        """D's logit for points x (n, d) in data units, on the host in float64, shape (n,).

        With pack > 1, D judges each point beside pack - 1 real points: the mean logit over
        PACK_MATE_DRAWS such packs, the mates drawn once with a fixed seed, so a heatmap does not
        flicker (a conditional D judges pack copies of the point instead). A conditional D needs the
        ``labels`` (n,) the points claim to be."""
        x = self.xp.asarray(x if isinstance(x, self.xp.ndarray) and self.xp is not np else self._host_points(x))
        if x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(f"x must have shape (n, {self.config.data_dim}), got {tuple(x.shape)}")
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional discriminator needs the labels of the points")
            labels = self.xp.asarray(self.check_labels(labels, len(x)))
        elif labels is not None:
            raise ValueError("labels are for class-conditional GANs (config.num_classes > 0)")
        x = self.with_labels(x / self.config.data_scale, labels)  # (n, d) or (n, d + K)

        def judged(packs: Any) -> np.ndarray:  # D's logits for rows of packs, host float64 (n,)
            return to_numpy(self.D.forward(packs)).astype(np.float64)[:, 0]

        if self.config.pack == 1:
            return judged(x)
        if self.conditional:
            return judged(self.xp.tile(x, (1, self.config.pack)))
        total = np.zeros(len(x))
        for mates in self._pack_mates():  # (pack - 1, d) real points in network units
            total += judged(self.xp.concatenate([x, self.xp.tile(mates.reshape(1, -1), (len(x), 1))], axis=1))
        return total / PACK_MATE_DRAWS

    def _pack_mates(self) -> Any:
        """(PACK_MATE_DRAWS, pack - 1, d) real points that ``logits`` packs a point with (drawn once)."""
        if self._mates is None:
            rng = np.random.default_rng([self.seed, 7])
            n = PACK_MATE_DRAWS * (self.config.pack - 1)
            mates = np.asarray(to_numpy(self.data.sample(n, rng)), dtype=self.dtype) / self.config.data_scale
            self._mates = self.xp.asarray(mates.reshape(PACK_MATE_DRAWS, self.config.pack - 1, -1))
        return self._mates

    def _host_points(self, x: Any) -> np.ndarray:
        """Points given on the host (an array of any real dtype, or nested lists) in the model's dtype."""
        try:
            points = np.asarray(x)
        except (TypeError, ValueError) as error:  # ragged lists
            raise ValueError(f"x must be an array of points (n, {self.config.data_dim}): {error}") from None
        if points.dtype.kind not in "fiu":
            raise TypeError(f"x must hold real numbers, got dtype {points.dtype}")
        return points.astype(self.dtype)

    def discriminate(self, x: Any, labels: Any = None) -> np.ndarray:
        """D(x) = sigmoid(logit), the probability D gives that x is real, shape (n,); x must be finite
        (``logits`` itself takes any points: the health check judges a diverged G's NaN samples)."""
        points = x if isinstance(x, self.xp.ndarray) and self.xp is not np else self._host_points(x)  # device: as is
        if points.size and not bool(self.xp.isfinite(points).all()):
            raise ValueError("x must hold finite numbers: it has NaN or inf")
        return sigmoid(self.logits(points, labels))

    def sample_gradients(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points G(z) and dL_G/dG(z) at each (data units, host), without changing any state that training uses.

        -dL_G/dG(z) is the direction the G step pushes each sample: the arrows of GAN Lab.
        With pack > 1, consecutive samples form the packs, as in training, so a sample's arrow
        depends on its pack-mates; n must then be a multiple of pack.
        """
        pack = self.config.pack
        if self.conditional or len(z) % pack:
            raise ValueError(f"sample_gradients needs an unconditional GAN and a multiple of pack={pack} noise vectors")
        fake = self.G.forward(self.xp.asarray(np.asarray(z, dtype=self.dtype)))  # (n, 2)
        packs = len(z) // pack
        _, grad_logits = generator_loss(self.D.forward(fake.reshape(packs, -1)), self.config.loss)  # (packs, 1)
        grad_fake = self.D.backward(grad_logits * packs).reshape(len(z), -1)  # per pack, not over packs
        self.D.zero_grad()
        return to_numpy(fake) * self.config.data_scale, to_numpy(grad_fake) / self.config.data_scale

    def state_dict(self) -> dict[str, Any]:
        """Host copies of the arrays a run needs to resume: weights, optimizers' moments and step counts,
        G's weight average, the step. The RNG state, seed, config and history are added by
        ``checkpoint.save_checkpoint``, which writes them beside these arrays."""
        state = {f"G.{k}": v for k, v in self.G.state_dict().items()}
        state |= {f"D.{k}": v for k, v in self.D.state_dict().items()}
        state |= {f"opt_G.{k}": v for k, v in self.opt_G.state_dict().items()}
        state |= {f"opt_D.{k}": v for k, v in self.opt_D.state_dict().items()}
        if self.G_ema is not None:
            state["G_ema"] = to_numpy(self.G_ema).copy()
        if self.code_reader is not None:
            state |= {f"Q.{k}": v for k, v in self.code_reader.Q.state_dict().items()}
            state |= {f"opt_Q.{k}": v for k, v in self.code_reader.opt.state_dict().items()}
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
        if self.code_reader is not None:
            self.code_reader.Q.load_state_dict(part("Q."))
            self.code_reader.opt.load_state_dict(part("opt_Q."))
        self.step = int(state["step"])
        self._open_input_features()
