"""The live view's trainer: one thread owns the GAN, the page sends it requests.

Everything that touches the model (a training step, a changed setting, new data, a reset, a
checkpoint) runs on this one thread, between two steps, in the order it was asked for: the
page calls ``submit`` (or a method built on it) and never touches the model itself, so a
setting can never race the training loop.

The page reads the model only through ``Frame``s: immutable pictures the thread draws after
every change and, while training, at most ``fps`` times a second and only once the page took
the previous one. A frame costs the training loop about as much as a few training steps (D on
a grid, G and its gradient on a few hundred points), so ``fps`` is the trade-off between a
smooth picture and training speed (docs/live.md measures it).

This module needs no web library: the tests drive it directly, and ``app.py`` puts it on a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from ..evaluation.data import MIXTURES, EmpiricalData, GaussianMixture, mixture
from ..evaluation.metrics import value_function
from ..fast.backend import limit_threads, to_numpy
from ..gan.config import GANConfig
from ..gan.model import GAN
from ..gan.recipes import recipe

log = logging.getLogger("tinygan.live")
LOG4 = math.log(4.0)
HEATMAP_SIZE = 48  # D(x) is drawn on a 48 x 48 grid
SAMPLES, ARROWS = 300, 100  # generated points drawn, and how many of them carry an arrow
MANIFOLD_LINES, MANIFOLD_POINTS = 11, 41  # G's image of an 11 x 11 grid of noise lines over [-2.5, 2.5]^2
REAL_SHOWN = 500  # real points drawn (a sample of a mixture, or a user's points, thinned)
BRUSH_POINTS, BRUSH_SPREAD = 40, 0.03  # a click adds 40 points, std 3% of the view's width
SLOW_MOTION_SECONDS = 0.25  # slow motion: one step, one frame, then this pause
PRESET_POINTS = 1000  # drawing on a mixture first turns it into this many of its points
LOSSES = ("nonsaturating", "minimax")
MAX_LR = 1.0  # a learning rate above 1 only ever diverges
MAX_D_STEPS = 100
FPS_RANGE = (0.5, 60.0)
MAX_SEED = 2**31 - 1


def live_config(data_scale: float = 1.0, **overrides: Any) -> GANConfig:
    """The live view's defaults: the case study's networks and batch (GANConfig()), pack 1 (the arrows
    need it), no weight average, and a constant learning rate, so that the rate set on the page is
    the rate Adam uses (lr_multiplier is 1 at every step)."""
    config = GANConfig(schedule="constant", data_scale=data_scale, **overrides)
    config.validate()
    return config


def view_window(points: np.ndarray, margin: float = 0.3) -> tuple[float, float, float, float]:
    """A square (x0, x1, y0, y1) around points (n, 2): their bounding box, widened by ``margin`` on each side."""
    low, high = points.min(axis=0), points.max(axis=0)  # (2,), (2,)
    center = (low + high) / 2
    half = max(float((high - low).max()) / 2 * (1 + margin), 1.0)
    return (center[0] - half, center[0] + half, center[1] - half, center[1] + half)


@dataclasses.dataclass(frozen=True)
class Frame:
    """One picture of the model, in data units, drawn by the trainer thread. Arrays are never changed."""

    index: int  # frames drawn so far
    step: int  # G steps taken (gan.step)
    steps_per_second: float  # training steps per second over the last ~2 s of play
    playing: bool
    window: tuple[float, float, float, float]  # x0, x1, y0, y1
    heatmap: np.ndarray  # (HEATMAP_SIZE, HEATMAP_SIZE) D(x), row 0 at y0
    real: np.ndarray  # (m, 2) real points
    fake: np.ndarray  # (SAMPLES, 2) G(z) for a fixed z
    arrows: np.ndarray  # (ARROWS, 2) -dL_G/dx at the first ARROWS fakes, per sample
    manifold: np.ndarray  # (2 * MANIFOLD_LINES, MANIFOLD_POINTS, 2): G's image of the noise grid lines
    history_length: int  # records in trainer.history when the frame was drawn
    settings: dict[str, Any]  # lr, d_steps, loss, fps, slow_motion, seed, data
    message: str  # the last thing the trainer has to say (saved files, an error), or ""


class LiveTrainer:
    """Owns a GAN and the thread that trains it. Every public method may be called from any thread."""

    def __init__(
        self,
        data: str | EmpiricalData = "two",
        *,
        seed: int = 0,
        fps: float = 15.0,
        out: str | os.PathLike = "runs/live",
        threads: int | None = 1,
        config: GANConfig | None = None,
    ) -> None:
        self._check_fps(fps)
        self.fps = float(fps)
        self.out = os.fspath(out)
        self.threads = threads
        self.seed = self._check_seed(seed)
        self.config = config or live_config()
        self.playing = False
        self.slow_motion = False
        self.history: list[dict[str, float]] = []  # one record per frame: step, d_loss, g_loss, value, jsd
        self.message = ""
        self._requests: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frame: Frame | None = None
        self._frame_taken = True
        self._frames = 0
        self._frame_due = 0.0  # perf_counter time when the next frame is due while training
        self._rates: deque[tuple[float, int]] = deque()  # (time, steps trained) at recent frames
        self._steps_trained = 0
        self._recent_d: list[float] = []  # losses since the last frame
        self._recent_g: list[float] = []
        self._logged: set[str] = set()  # errors of the thread already logged
        self._set_data(data)
        self._new_gan()

    # ------------------------------------------------------------------ thread and requests
    def start(self) -> LiveTrainer:
        """Start the training thread (paused); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tinygan-live-trainer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the current step; pending requests are cancelled."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        while not self._requests.empty():
            self._requests.get_nowait()[1].cancel()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, request: Callable[[], Any]) -> Future:
        """Run ``request()`` on the trainer thread before its next step; its result or error lands in the Future."""
        future: Future = Future()
        self._requests.put((request, future))
        return future

    def call(self, request: Callable[[GAN], Any], timeout: float = 10.0) -> Any:
        """``request(gan)`` on the trainer thread, waiting for the result (for tests and scripts)."""
        return self.submit(lambda: request(self.gan)).result(timeout)

    def latest_frame(self) -> Frame | None:
        """The newest frame (None before the first); taking it lets the thread draw the next one."""
        self._frame_taken = True
        return self._frame

    # ------------------------------------------------------------------ requests the page sends
    def play(self) -> Future:
        return self.submit(lambda: setattr(self, "playing", True))

    def pause(self) -> Future:
        return self.submit(lambda: setattr(self, "playing", False))

    def step_both(self) -> Future:
        """One training round: d_steps D updates, then one G update."""
        return self.submit(self._train_step)

    def step_discriminator(self) -> Future:
        """One D update; G is untouched."""
        return self.submit(lambda: self._recent_d.append(float(self.gan.step_discriminator())))

    def step_generator(self) -> Future:
        """One G update; D is untouched."""
        return self.submit(lambda: self._recent_g.append(float(self.gan.step_generator())))

    def set_learning_rate(self, lr: float) -> Future:
        """Adam's rate for both networks from the next step on (the live schedule is constant); lr in (0, 1]."""
        if not is_real(lr) or not 0 < lr <= MAX_LR:
            raise ValueError(f"learning rate must be a number in (0, {MAX_LR:g}], got {lr!r}")
        return self.submit(lambda: self._set_config(lr=float(lr)))

    def set_d_steps(self, d_steps: int) -> Future:
        """D updates per G update, an int in [1, MAX_D_STEPS]."""
        if not is_whole(d_steps) or not 1 <= d_steps <= MAX_D_STEPS:
            raise ValueError(f"d_steps must be an int in [1, {MAX_D_STEPS}], got {d_steps!r}")
        return self.submit(lambda: self._set_config(d_steps=int(d_steps)))

    def set_loss(self, loss: str) -> Future:
        """The generator loss: "nonsaturating" (-log D(G(z))) or "minimax" (log(1 - D(G(z))))."""
        if not isinstance(loss, str) or loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        return self.submit(lambda: self._set_config(loss=loss))

    def set_slow_motion(self, on: bool) -> Future:
        """Slow motion: one step per frame, SLOW_MOTION_SECONDS apart."""
        if not isinstance(on, (bool, np.bool_)):
            raise ValueError(f"slow motion must be True or False, got {on!r}")
        return self.submit(lambda: setattr(self, "slow_motion", bool(on)))

    def set_fps(self, fps: float) -> Future:
        """At most this many frames a second while training (the throttle: fewer frames, faster training)."""
        self._check_fps(fps)
        return self.submit(lambda: setattr(self, "fps", float(fps)))

    def reset(self, seed: int | None = None) -> Future:
        """Fresh networks (seeded ``seed``, default the current one), the same data and settings."""
        seed = self.seed if seed is None else self._check_seed(seed)
        return self.submit(lambda: self._reset(seed))

    def use_preset(self, name: str) -> Future:
        """Train on a built-in mixture (two, ring8, grid25), from fresh networks."""
        if not isinstance(name, str) or name not in MIXTURES:
            raise ValueError(f"mixture must be one of {MIXTURES}, got {name!r}")
        return self.submit(lambda: self._use_data(name))

    def use_points(self, data: EmpiricalData) -> Future:
        """Train on a user's points (validated by EmpiricalData / load_points), from fresh networks."""
        if not isinstance(data, EmpiricalData):
            raise TypeError(f"data must be an EmpiricalData (see load_points), got {type(data).__name__}")
        check_plane(data)
        return self.submit(lambda: self._use_data(data))

    def add_points(self, center: tuple[float, float]) -> Future:
        """Draw data: BRUSH_POINTS points around ``center`` (x, y) join the data; the networks keep training."""
        if not isinstance(center, (tuple, list, np.ndarray)) or len(center) != 2 or not all(map(is_real, center)):
            raise ValueError(f"a drawn point must be two finite numbers (x, y), got {center!r}")
        center = np.asarray(center, dtype=np.float64)  # (2,)
        return self.submit(lambda: self._add_points(center))

    def clear_points(self) -> Future:
        """Start drawing from scratch: the next click's points replace the data."""
        return self.submit(self._clear_points)

    def save(self) -> Future:
        """Write checkpoint.npz, discriminator.png, contours.png and losses.png into ``out``; returns the paths."""
        return self.submit(self._save)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        with limit_threads(self.threads):
            while not self._stop.is_set():
                try:
                    self._cycle()
                except Exception as error:  # a failing step or frame must not kill the thread: pause, say why
                    self._fail(error)

    def _cycle(self) -> None:
        """Requests, then (playing) a training step and, when one is due, a frame."""
        if self._frame is None:
            self._draw_frame()
        self._apply_requests(wait=0.0 if self.playing else 0.1)
        if self.playing and not self._stop.is_set():
            self._train_step()
            if self.slow_motion:
                self._draw_frame()
                self._apply_requests(wait=SLOW_MOTION_SECONDS)
            elif self._frame_taken and time.perf_counter() >= self._frame_due:
                self._draw_frame()

    def _fail(self, error: Exception) -> None:
        """Pause and keep the error as the message; log it as one line, once per distinct error."""
        self.playing = False
        self.message = f"error: {type(error).__name__}: {error}"
        if self.message not in self._logged:
            self._logged.add(self.message)
            log.error("tinygan live trainer: %s", self.message)
        with contextlib.suppress(Exception):  # a frame carries the message to the page, if one can be drawn
            self._draw_frame()
        self._stop.wait(0.1)  # a failure that repeats (a frame that cannot be drawn) does not spin

    def _apply_requests(self, wait: float) -> None:
        """Run every pending request (waiting up to ``wait`` s for the first); draw a frame if any ran."""
        ran = False
        while not self._stop.is_set():
            block = wait > 0 and not ran  # wait only for the first request
            try:
                request, future = self._requests.get(timeout=wait) if block else self._requests.get_nowait()
            except queue.Empty:
                break
            ran = True
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(request())
                except Exception as error:  # a bad request must not kill the trainer
                    self.message = f"error: {error}"
                    self.playing = False
                    future.set_exception(error)
        if ran:
            self._draw_frame()

    def _train_step(self) -> None:
        losses = self.gan.train_step()
        d_loss, g_loss = float(losses["d_loss"]), float(losses["g_loss"])
        self._steps_trained += 1
        self._recent_d.append(d_loss)
        self._recent_g.append(g_loss)
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            self.playing = False
            self.message = (
                f"training diverged at step {self.gan.step} (a loss is NaN/inf): lower the learning rate and reset"
            )

    # ------------------------------------------------------------------ model and data (trainer thread only)
    def _set_data(self, data: str | EmpiricalData) -> None:
        """Switch to new data; everything is checked and computed before the first attribute changes."""
        if isinstance(data, str):
            if data not in MIXTURES:
                raise ValueError(f"mixture must be one of {MIXTURES}, got {data!r}")
            name, source = data, mixture(data)
            data_scale = recipe(data).data_scale  # the grid is seen divided by 4
            shown = source.sample(REAL_SHOWN, np.random.default_rng([self.seed, 4]))
        elif isinstance(data, EmpiricalData):
            check_plane(data)
            name, source = "your points", data
            data_scale = max(1.0, float(np.abs(data.points).max()) / 4)  # networks see roughly [-4, 4]
            shown = self._thin(data.points)
        else:
            raise TypeError(f"data must be a mixture name or an EmpiricalData, got {type(data).__name__}")
        real = np.asarray(shown, dtype=np.float64)  # (m, 2)
        window = view_window(real)
        self.data_name, self.data, self.data_scale, self.real, self.window = name, source, data_scale, real, window
        self._drawn: np.ndarray | None = None  # points drawn since the last clear, if drawing from scratch

    def _thin(self, points: np.ndarray) -> np.ndarray:
        if len(points) <= REAL_SHOWN:
            return np.asarray(points, dtype=np.float64)
        keep = np.random.default_rng([self.seed, 4]).choice(len(points), REAL_SHOWN, replace=False)
        return np.asarray(points[keep], dtype=np.float64)

    def _new_gan(self) -> None:
        self.config = dataclasses.replace(self.config, data_scale=self.data_scale)
        self.gan = GAN(self.data, self.config, seed=self.seed)
        self.config = self.gan.config  # one object: a setting changed later reaches train_step
        self.history = []
        self._recent_d, self._recent_g = [], []
        self._fixed_inputs()

    def _fixed_inputs(self) -> None:
        """The noise behind the drawn samples and the evaluation batch, fixed so frames change only with the model."""
        rng = np.random.default_rng([self.seed, 5])
        self._z = rng.standard_normal((SAMPLES, self.config.noise_dim))  # (SAMPLES, noise_dim)
        line = np.linspace(-2.5, 2.5, MANIFOLD_POINTS)
        across = np.linspace(-2.5, 2.5, MANIFOLD_LINES)
        rows = [np.stack([line, np.full_like(line, a)], 1) for a in across]  # horizontal lines
        cols = [np.stack([np.full_like(line, a), line], 1) for a in across]  # vertical lines
        self._z_grid = np.concatenate(rows + cols)  # (2 * LINES * POINTS, 2)
        self._eval_real = to_numpy(self.data.sample(1024, rng)).astype(np.float64)  # (1024, 2)
        self._eval_z = rng.standard_normal((1024, self.config.noise_dim)).astype(self.gan.dtype)

    def _set_config(self, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(self.config, name, value)
        self.config.validate()
        if "d_steps" in changes and self.gan.fused is not None:
            self.gan.fused = self.gan.build_fused_step()  # its batch buffers are sized by d_steps

    def _reset(self, seed: int) -> None:
        self.seed = seed
        self._new_gan()
        self.message = f"reset with seed {seed}"

    def _use_data(self, data: str | EmpiricalData) -> None:
        self._set_data(data)
        self._new_gan()
        self.message = f"data: {self.data_name}"

    def _add_points(self, center: np.ndarray) -> None:
        x0, x1 = self.window[:2]
        rng = np.random.default_rng([self.seed, 6, len(self.real)])
        blob = center + BRUSH_SPREAD * (x1 - x0) * rng.standard_normal((BRUSH_POINTS, 2))  # (BRUSH_POINTS, 2)
        if self._drawn is not None:  # drawing from scratch
            base = self._drawn
        elif isinstance(self.data, GaussianMixture):
            base = self.data.sample(PRESET_POINTS, np.random.default_rng([self.seed, 7]))
        else:
            base = self.data.points
        points = np.concatenate([np.asarray(base, dtype=np.float64), blob])
        self.data = EmpiricalData(points)  # validated like --data
        self.gan.data = self.data  # the networks keep their weights and train on the new data
        self.data_name = "your points"
        self._drawn = points if self._drawn is not None else None
        self.real = self._thin(points)
        self._fixed_inputs()
        self.message = f"{len(points)} data points"

    def _clear_points(self) -> None:
        self.playing = False
        self._drawn = np.zeros((0, 2))
        self.message = "click the plot to draw points"

    def _save(self) -> list[str]:
        """Write through the shared output layer: checked first (a file in ``out`` that tinygan did not
        write is refused, not replaced), each file atomic, the folder's manifest kept, and the files of
        the folder's previous save that this one does not write (e.g. losses.png) removed."""
        from .. import plot
        from ..gan.checkpoint import is_checkpoint, save_checkpoint
        from ..outputs import OutputPlan

        names = ["discriminator.png", "contours.png"] + (["losses.png"] if len(self.history) >= 2 else [])
        plan = OutputPlan()
        plan.folder(self.out, names, flag="--out")
        checkpoint = os.path.join(self.out, "checkpoint.npz")
        plan.file(checkpoint, "--out", ours=is_checkpoint, written_elsewhere=True)
        plan.check()
        plan.start()
        save_checkpoint(self.gan, checkpoint)  # atomic; replaces only a tinygan checkpoint
        fake = self.gan.sample(2000, rng=np.random.default_rng([self.seed, 8]))
        plot.discriminator_heatmap(self.gan.discriminate, self.real, fake, plan.target("discriminator.png"))
        plot.contours(self.real, fake, plan.target("contours.png"), title=f"step {self.gan.step}")
        if "losses.png" in names:
            plot.training_curves(self.history, plan.target("losses.png"))
        plan.finish()
        paths = [checkpoint] + [os.path.join(self.out, name) for name in names]
        self.message = "saved " + ", ".join(paths)
        return paths

    # ------------------------------------------------------------------ frames (trainer thread only)
    def _draw_frame(self) -> None:
        gan, (x0, x1, y0, y1) = self.gan, self.window
        xs = np.linspace(x0, x1, HEATMAP_SIZE)
        ys = np.linspace(y0, y1, HEATMAP_SIZE)
        grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)  # (S*S, 2), row-major from y0 up
        heatmap = gan.discriminate(grid).reshape(HEATMAP_SIZE, HEATMAP_SIZE)
        fake, grads = gan.sample_gradients(self._z)  # (SAMPLES, 2) each
        manifold = to_numpy(gan.G.forward(gan.xp.asarray(self._z_grid.astype(gan.dtype)))) * self.config.data_scale
        fake_eval = to_numpy(gan.G.forward(gan.xp.asarray(self._eval_z))) * self.config.data_scale
        value = value_function(gan.logits(self._eval_real), gan.logits(fake_eval))
        if self._recent_d or self._recent_g or not self.history:
            self._record(value)
        now = time.perf_counter()
        self._rates.append((now, self._steps_trained))
        while len(self._rates) > 2 and now - self._rates[0][0] > 2.0:
            self._rates.popleft()
        (t_first, s_first) = self._rates[0]
        rate = (self._steps_trained - s_first) / (now - t_first) if now > t_first else 0.0
        self._frames += 1
        self._frame = Frame(
            index=self._frames,
            step=gan.step,
            steps_per_second=rate if self.playing else 0.0,
            playing=self.playing,
            window=self.window,
            heatmap=heatmap,
            real=self.real,
            fake=fake,
            arrows=-grads[:ARROWS],
            manifold=manifold.reshape(2 * MANIFOLD_LINES, MANIFOLD_POINTS, 2),
            history_length=len(self.history),
            settings=self.settings(),
            message=self.message,
        )
        self._frame_taken = False
        # frames keep a steady clock, one due every 1/fps s; after a late one, the next waits at least half a period
        period = 1 / self.fps
        self._frame_due = max(self._frame_due, now - period / 2) + period

    def _record(self, value: float) -> None:
        last = self.history[-1] if self.history else {"d_loss": math.nan, "g_loss": math.nan}
        d_loss = float(np.mean(self._recent_d)) if self._recent_d else last["d_loss"]
        g_loss = float(np.mean(self._recent_g)) if self._recent_g else last["g_loss"]
        # V(D, G) = -log 4 + 2 JSD when D is optimal, so (V + log 4) / 2 estimates the JSD (from below)
        record = {"step": self.gan.step, "d_loss": d_loss, "g_loss": g_loss, "value": value, "jsd": (value + LOG4) / 2}
        self.history.append(record)
        self._recent_d, self._recent_g = [], []

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {"lr": c.lr, "d_steps": c.d_steps, "loss": c.loss, "fps": self.fps, "slow_motion": self.slow_motion,
                "seed": self.seed, "data": self.data_name}  # fmt: skip

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_fps(fps: float) -> None:
        low, high = FPS_RANGE
        if not is_real(fps) or not low <= fps <= high:
            raise ValueError(f"fps must be a number in [{low:g}, {high:g}], got {fps!r}")

    @staticmethod
    def _check_seed(seed: int) -> int:
        if not is_whole(seed) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an int in [0, {MAX_SEED}], got {seed!r}")
        return int(seed)


def is_real(value: Any) -> bool:
    """A finite real number: int or float (NumPy's too), not bool, not NaN or inf."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def is_whole(value: Any) -> bool:
    """An int (Python's or NumPy's), not bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_plane(data: EmpiricalData) -> None:
    """ValueError unless the points are 2-D: the page draws the plane, and nothing else."""
    if data.dim != 2:
        raise ValueError(
            f"the live view shows 2-D points, but the data has {data.dim} column(s): shape {data.points.shape}"
        )
