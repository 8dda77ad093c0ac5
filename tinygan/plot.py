"""Pictures of a run (matplotlib, headless: figures are built with ``Figure``, never pyplot).

* ``contours``: real vs generated density side by side (the article's picture), Gaussian KDE;
* ``samples_over_density``: generated points over the real density;
* ``discriminator_heatmap``: D(x) on a grid with its D = 0.5 boundary;
* ``training_curves``: D and G losses, and V(D, G) with the -log 4 line of the optimum;
* ``truncation``: the samples Jacobian truncation kept and the ones it left out;
* images: ``image_grid``, ``real_beside_generated``, ``interpolation_strip`` and
  ``ImageAnimation`` (a GIF of fixed noise over training), for the digits.

Every picture is written through the output layer (``tinygan.outputs``): ``target`` is a path
(written atomically) or a declared output of a run, ``plan.target(name)`` (written atomically and
recorded in the run's manifest). The format comes from the name's extension (.png, .gif, ...).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from .evaluation.metrics import LOG4
from .outputs import Target, write_to

Destination = str | os.PathLike | Target  # a path, or a run's declared output (OutputPlan.target)


def save_figure(fig: Figure, target: Destination, *, dpi: int = 110) -> None:
    """Write ``fig`` to ``target`` atomically, in the format its extension names (png by default)."""
    write_to(target, lambda file: fig.savefig(file, format=_format(target), dpi=dpi))


def _format(target: Destination) -> str:
    extension = os.path.splitext(os.fspath(getattr(target, "path", target)))[1].lstrip(".").lower()
    return extension or "png"


def plot_window(points: np.ndarray, margin: float = 0.15) -> tuple[float, float, float, float]:
    """A square-ish window around the bulk (0.5%-99.5% quantiles) of the points."""
    low, high = np.quantile(points, [0.005, 0.995], axis=0)
    pad = margin * (high - low).max() + 1e-3
    return float(low[0] - pad), float(high[0] + pad), float(low[1] - pad), float(high[1] + pad)


def _grid(window: Sequence[float], n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys = np.linspace(window[0], window[1], n), np.linspace(window[2], window[3], n)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy, np.stack([gx.ravel(), gy.ravel()], axis=1)  # (n*n, 2)


def kde_density(points: np.ndarray, grid_points: np.ndarray, max_points: int = 2500) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth) of up to ``max_points`` points, evaluated on the grid.

    Samples that collapsed onto a line or a point (a GAN's mode collapse, which the pictures must
    show rather than fail on after training) have a singular covariance, where a KDE is undefined:
    they (and samples so narrow that the KDE is 0 on the whole grid) are spread by a fixed jitter
    of 0.5% of the grid's extent (seeded: the same picture each time)."""
    points = points[np.all(np.isfinite(points), axis=1)][:max_points]
    try:
        with np.errstate(all="ignore"):
            density = gaussian_kde(points.T)(grid_points.T)
        if np.all(np.isfinite(density)) and density.max() > 0:  # else too narrow to show on the grid
            return density
    except np.linalg.LinAlgError:  # singular covariance, by scipy's own test (a rank test does not match it)
        pass
    extent = float(np.ptp(grid_points, axis=0).max())
    spread = points + np.random.default_rng(0).normal(scale=0.005 * extent, size=points.shape)
    return gaussian_kde(spread.T)(grid_points.T)


def contours(real: np.ndarray, fake: np.ndarray, path: Destination, *, title: str = "") -> None:
    """Side-by-side filled contours of the real and the generated density, on shared levels."""
    window = plot_window(real)
    gx, gy, grid = _grid(window)
    dens_real = kde_density(real, grid).reshape(gx.shape)
    dens_fake = kde_density(fake, grid).reshape(gx.shape)
    levels = np.linspace(0, max(dens_real.max(), dens_fake.max()), 12)
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, dens, name in ((axes[0], dens_real, "real data"), (axes[1], dens_fake, "generated")):
        filled = ax.contourf(gx, gy, dens, levels=levels, cmap="viridis")
        ax.contour(gx, gy, dens, levels=levels[1:], colors="white", linewidths=0.4)
        ax.set_title(f"{name} density (KDE)")
        ax.set_aspect("equal")
    fig.colorbar(filled, ax=axes, shrink=0.8, label="density")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def _over_real_density(real: np.ndarray) -> tuple[Figure, Any]:
    """A square figure with the real density (KDE) as grey filled contours, zoomed to the real data."""
    window = plot_window(real)
    gx, gy, grid = _grid(window)
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    ax.contourf(gx, gy, kde_density(real, grid).reshape(gx.shape), levels=12, cmap="Greys")
    ax.set(xlim=window[:2], ylim=window[2:], aspect="equal")
    return fig, ax


def samples_over_density(real: np.ndarray, fake: np.ndarray, path: Destination, n: int = 2000) -> None:
    fig, ax = _over_real_density(real)
    ax.scatter(fake[:n, 0], fake[:n, 1], s=3, c="tab:orange", alpha=0.6, label="generated")
    ax.set_title("generated samples over the real density")
    ax.legend(loc="upper left")
    save_figure(fig, path)


def truncation(real: np.ndarray, kept: np.ndarray, left_out: np.ndarray, path: Destination) -> None:
    """Kept samples over the real density, and in red the ones Jacobian truncation left out."""
    fig, ax = _over_real_density(real)
    ax.scatter(kept[:, 0], kept[:, 1], s=2, c="tab:blue", alpha=0.4, label=f"kept ({len(kept)})")
    ax.scatter(left_out[:, 0], left_out[:, 1], s=9, c="tab:red", label=f"left out ({len(left_out)})")
    share = len(left_out) / max(1, len(kept) + len(left_out))
    ax.set_title(f"Jacobian truncation: the {share:.1%} of noise where G stretches most")
    ax.legend(loc="upper left")
    save_figure(fig, path)


def discriminator_heatmap(
    discriminate: Callable[[np.ndarray], np.ndarray],
    real: np.ndarray,
    fake: np.ndarray,
    path: Destination,
    n: int = 600,
) -> None:
    """D(x) on a grid (blue: D calls it real), the D = 0.5 boundary, and samples of both kinds."""
    window = plot_window(np.concatenate([real, fake[np.all(np.isfinite(fake), axis=1)]]))
    gx, gy, grid = _grid(window, 120)
    d = discriminate(grid).reshape(gx.shape)
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    image = ax.contourf(gx, gy, d, levels=np.linspace(0, 1, 21), cmap="RdBu")
    if d.min() < 0.5 < d.max():
        ax.contour(gx, gy, d, levels=[0.5], colors="black", linewidths=1.5)
    ax.scatter(real[:n, 0], real[:n, 1], s=3, c="navy", alpha=0.5, label="real")
    ax.scatter(fake[:n, 0], fake[:n, 1], s=3, c="darkorange", alpha=0.5, label="generated")
    ax.set(xlim=window[:2], ylim=window[2:], aspect="equal", title="discriminator D(x); black line: D = 0.5")
    fig.colorbar(image, ax=ax, label="D(x)")
    ax.legend(loc="upper left")
    save_figure(fig, path)


def training_curves(history: list[dict], path: Destination) -> None:
    """Losses and the V(D, G) estimate against the step, with V's optimum -log 4."""
    steps = [h["step"] for h in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(steps, [h["d_loss"] for h in history], label="D loss")
    left.plot(steps, [h["g_loss"] for h in history], label="G loss")
    left.set(xlabel="step", title="losses")
    left.legend()
    right.plot(steps, [h["value"] for h in history], label="V(D, G) estimate")
    right.axhline(-LOG4, color="black", linestyle="--", label="-log 4 (p_g = p_data, D = 1/2)")
    right.set(xlabel="step", title="value function")
    right.legend()
    save_figure(fig, path)


class TrainingAnimation:
    """Frames of a run, GAN-Lab style: D(x) as a heatmap, the real density's contours, G's samples,
    and arrows -dL_G/dx showing where the next G step pushes each sample. Saved as a GIF (Pillow)."""

    def __init__(self, real: np.ndarray, n_samples: int = 300, n_arrows: int = 120, seed: int = 0) -> None:
        self.window = plot_window(real)
        self.gx, self.gy, self.grid = _grid(self.window, 60)
        self.real_density = kde_density(real, self.grid).reshape(self.gx.shape)
        self.z = np.random.default_rng(seed).standard_normal((n_samples, 2))
        self.n_arrows = n_arrows
        self.frames: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def capture(self, gan) -> None:
        """Record D on the grid, the samples and their gradients (uses no training randomness)."""
        points, grads = gan.sample_gradients(self.z)
        self.frames.append((gan.step, gan.discriminate(self.grid).reshape(self.gx.shape), points, grads))

    def save(self, path: Destination, fps: int = 8) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from PIL import Image

        fig = Figure(figsize=(5.5, 5), layout="constrained")
        ax = fig.subplots()
        scale = max(float(np.percentile(np.linalg.norm(g, axis=1), 90)) for _, _, _, g in self.frames) + 1e-12
        arrow = 0.08 * (self.window[1] - self.window[0]) / scale  # the 90th-percentile arrow is 8% of the view

        def draw(i: int) -> None:
            step, d, points, grads = self.frames[i]
            ax.clear()
            ax.contourf(self.gx, self.gy, d, levels=np.linspace(0, 1, 21), cmap="RdBu", alpha=0.8)
            ax.contour(self.gx, self.gy, self.real_density, levels=6, colors="black", linewidths=0.5)
            ax.scatter(points[:, 0], points[:, 1], s=5, c="darkorange")
            k = self.n_arrows
            ax.quiver(points[:k, 0], points[:k, 1], -grads[:k, 0] * arrow, -grads[:k, 1] * arrow,
                      angles="xy", scale_units="xy", scale=1, color="black", width=0.003)  # fmt: skip
            ax.set(xlim=self.window[:2], ylim=self.window[2:], aspect="equal")
            ax.set_title(f"step {step}: D(x) (blue = real), samples, -dL_G/dx")

        canvas = FigureCanvasAgg(fig)
        images = []
        for i in range(len(self.frames)):
            draw(i)
            canvas.draw()
            images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB"))
        save_gif(images, path, fps)


def save_gif(frames: list, target: Destination, fps: float) -> None:
    """Pillow images as a looping GIF at ``fps`` frames a second, written atomically to ``target``."""
    duration = round(1000 / fps)
    write_to(target, lambda file: frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:],
                                                 duration=duration, loop=0))  # fmt: skip


# ---------------------------------------------------------------------------------- images (digits)
def mosaic(images: np.ndarray, columns: int, shape: tuple[int, int] = (8, 8), gap: int = 1) -> np.ndarray:
    """Images (n, h*w) tiled into one array, ``columns`` to a row, ``gap`` pixels of -1 between them."""
    h, w = shape
    rows = -(-len(images) // columns)
    canvas = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), -1.0)
    for k, image in enumerate(np.clip(images, -1, 1)):
        r, c = divmod(k, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image.reshape(shape)
    return canvas


def _show_mosaic(ax: Any, canvas: np.ndarray, title: str = "") -> Any:
    """White ink on black (pixel values in [-1, 1]), no ticks."""
    picture = ax.imshow(canvas, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return picture


def image_grid(
    images: np.ndarray, path: Destination, *, columns: int = 10, shape: tuple[int, int] = (8, 8), title: str = ""
) -> None:
    """Images (n, h*w) in rows of ``columns`` (a conditional run: one row per class)."""
    canvas = mosaic(images, columns, shape)
    fig = Figure(figsize=(canvas.shape[1] / 14 + 0.3, canvas.shape[0] / 14 + 0.5), layout="constrained")
    _show_mosaic(fig.subplots(), canvas, title)
    save_figure(fig, path)


def real_beside_generated(
    real: np.ndarray, generated: np.ndarray, path: Destination, *, columns: int = 10, shape=(8, 8)
) -> None:
    """Two grids side by side: real digits (left) and generated ones (right)."""
    left, right = mosaic(real, columns, shape), mosaic(generated, columns, shape)
    fig = Figure(figsize=(2 * left.shape[1] / 14 + 0.6, left.shape[0] / 14 + 0.5), layout="constrained")
    axes = fig.subplots(1, 2)
    _show_mosaic(axes[0], left, "real (held out)")
    _show_mosaic(axes[1], right, "generated")
    save_figure(fig, path)


def interpolation_strip(images: np.ndarray, path: Destination, *, shape: tuple[int, int] = (8, 8)) -> None:
    """G along a straight line between two noise vectors: one image per step, left to right."""
    canvas = mosaic(images, len(images), shape)
    fig = Figure(figsize=(canvas.shape[1] / 10 + 0.3, canvas.shape[0] / 10 + 0.6), layout="constrained")
    _show_mosaic(fig.subplots(), canvas, "G from one noise vector to another")
    save_figure(fig, path)


class ImageAnimation:
    """Frames of G's images for one fixed batch of noise over training, saved as a GIF (Pillow)."""

    def __init__(self, sample: Callable[[], np.ndarray], *, columns: int = 10, shape: tuple[int, int] = (8, 8)):
        self.sample, self.columns, self.shape = sample, columns, shape
        self.frames: list[tuple[int, np.ndarray]] = []

    def capture(self, gan) -> None:
        """Record G's images of the fixed noise (``sample`` must not draw from gan.rng)."""
        self.frames.append((gan.step, mosaic(self.sample(), self.columns, self.shape)))

    def save(self, path: Destination, fps: int = 6, zoom: int = 4) -> None:
        """Each frame's mosaic as grey pixels, ``zoom`` times larger, its step written above it (Pillow:
        drawing pixels directly is ~100x quicker than a matplotlib figure per frame)."""
        from PIL import Image, ImageDraw

        frames = []
        for step, canvas in self.frames:
            grey = np.round((canvas + 1) * 127.5).astype(np.uint8).repeat(zoom, 0).repeat(zoom, 1)
            frame = Image.new("L", (grey.shape[1], grey.shape[0] + 14), 0)
            frame.paste(Image.fromarray(grey), (0, 14))
            ImageDraw.Draw(frame).text((2, 1), f"step {step}", fill=255)
            frames.append(frame)
        save_gif(frames, path, fps)
