"""Watch a GAN learn a 2-D Gaussian mixture (the source article's case study, section 4.3).

    python demos/mixture.py                      # 1/2 N((-2,-2), I) + 1/2 N((2,2), I), ~30 s
    python demos/mixture.py --mixture ring8      # 8 modes on a circle (PacGAN2, truncated sampling), ~3 min*
    python demos/mixture.py --mixture grid25     # 25 modes on a grid (PacGAN2, truncated sampling), ~4 min*
    python demos/mixture.py --data points.csv    # your own 2-D points

Times are from the 2-core build machine; a CPU with slower matmuls takes longer (README, Mode coverage).
*Estimated: there the unpacked grid recipe trained in about 3 min and the ring with packing 4 in 5;
packing 2 makes a grid step 1.19x slower, and a ring step 0.64x as long as packing 4.

Writes into --out: samples.npy, metrics.json, contours.png, discriminator.png, losses.png, samples.png,
and truncation.png when samples are drawn with Jacobian truncation (the grid's recipe, or --truncation).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _number(kind, minimum, name, strict=True):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"{name} must be a finite number {relation} {minimum}, got {text!r}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixture", default="two", choices=["two", "ring8", "grid25"], help="built-in data (default: two)")
    p.add_argument("--data", metavar="PATH", help="your own 2-D points (.npy of shape (n, 2), or .csv)")
    p.add_argument("--steps", type=_number(int, 0, "--steps"), help="total training steps (default: the recipe's)")
    p.add_argument("--batch-size", type=_number(int, 0, "--batch-size"), help="samples per batch")
    p.add_argument("--lr", type=_number(float, 0.0, "--lr"), help="Adam learning rate")
    p.add_argument(
        "--betas",
        type=_number(float, 0.0, "--betas", strict=False),
        nargs=2,
        metavar=("B1", "B2"),
        help="Adam betas, each in [0, 1)",
    )
    p.add_argument("--hidden", type=_number(int, 0, "--hidden"), help="hidden width of G and D")
    p.add_argument("--seed", type=_number(int, 0, "--seed", strict=False), default=0, help="random seed (default 0)")
    p.add_argument("--loss", choices=["nonsaturating", "minimax"], help="generator loss (default nonsaturating)")
    p.add_argument("--pack", type=_number(int, 0, "--pack"), help="PacGAN: D judges this many samples at once")
    p.add_argument("--truncation", type=_number(float, 0.0, "--truncation", strict=False), metavar="Q",
                   help="leave out this fraction of noise, where G stretches most (default: the recipe's)")  # fmt: skip
    p.add_argument("--backend", choices=["numpy", "numba", "cupy"], help="default: numba if installed")
    p.add_argument("--out", default="runs/mixture", help="output folder (default runs/mixture)")
    p.add_argument("--checkpoint", metavar="PATH", help="save a checkpoint here every --checkpoint-every steps")
    p.add_argument("--checkpoint-every", type=_number(int, 0, "--checkpoint-every"), default=1000)
    p.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint")
    p.add_argument("--stop-after", type=_number(int, 0, "--stop-after"),
                   help="stop (and checkpoint) at this step, to finish later with --resume")  # fmt: skip
    p.add_argument("--samples", type=_number(int, 0, "--samples"), default=5000, help="samples to write")
    p.add_argument("--log-every", type=_number(int, 0, "--log-every"), default=250)
    p.add_argument(
        "--threads",
        type=_number(int, 0, "--threads"),
        default=1,
        help="BLAS threads (default 1: the matrices are small, and spare threads spin on busy cores)",
    )
    p.add_argument("--animate", action="store_true", help="also write training.gif (samples, D, G's gradient)")
    p.add_argument("--frames", type=_number(int, 1, "--frames"), default=60, help="GIF frames (default 60)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.truncation is not None and not args.truncation < 1:
        p.error(f"argument --truncation: must be in [0, 1), got {args.truncation}")
    if args.betas is not None and not all(b < 1 for b in args.betas):
        p.error(f"argument --betas: each beta must be in [0, 1), got {args.betas}")
    return args


def build(args: argparse.Namespace):
    from tinygan import set_backend
    from tinygan.evaluation.data import make_data
    from tinygan.gan.checkpoint import load_checkpoint
    from tinygan.gan.model import GAN
    from tinygan.gan.recipes import recipe

    if args.backend:
        set_backend(args.backend)
    data = make_data(args.mixture, args.data)
    if args.resume:
        gan = load_checkpoint(args.resume, data)
        if args.truncation is not None:  # sampling only: the run itself is unchanged
            gan.config.jacobian_truncation = args.truncation
        return gan, data
    overrides = {
        "batch_size": args.batch_size,
        "lr": args.lr,
        "hidden": args.hidden,
        "loss": args.loss,
        "pack": args.pack,
        "jacobian_truncation": args.truncation,
    }
    config = dataclasses.replace(recipe(args.mixture), **{k: v for k, v in overrides.items() if v is not None})
    return GAN(data, config, seed=args.seed), data


def summary_table(m: dict) -> str:
    """The final metrics as aligned 'name  value' lines."""
    rows = [("steps", m["steps"]), ("time (s)", f"{m['train_seconds']:.1f}")]
    config = m.get("config", {})
    sampler = f"average of G's weights (decay {config['ema']})" if config.get("ema") else "G"
    if config.get("jacobian_truncation"):
        sampler += f", leaving out {config['jacobian_truncation']:.0%} of noise (Jacobian truncation)"
    rows.append(("samples drawn from", sampler))
    if "mode_weight" in m:
        if len(m["mode_weight"]) <= 4:
            for k, (w, mu, sd) in enumerate(zip(m["mode_weight"], m["mode_mean"], m["mode_std"])):
                rows.append(
                    (
                        f"mode {k}: weight / mean / std",
                        f"{w:.3f} / ({mu[0]:+.2f}, {mu[1]:+.2f}) / ({sd[0]:.2f}, {sd[1]:.2f})",
                    )
                )  # noqa: E501
        captured = f"{m['modes_captured']} ({m['modes_captured_strict']}) of {m['modes_total']}"
        rows += [
            ("modes captured (strict)", captured),
            ("high-quality fraction", f"{m['high_quality_fraction']:.3f}"),
            ("reverse KL over modes (true sampler ~0)", f"{m['reverse_kl']:.4f}"),
            ("width of modes / data's (true sampler 0.97)", f"{m['width_ratio']:.2f}"),
        ]
    energy = f"{m['energy_distance']:.5f} / {m['energy_noise_floor']:.5f} = {m['energy_ratio']:.2f}x"
    rows += [
        ("energy distance / noise floor", energy),
        ("V(D, G)  (optimum -log 4 = -1.386)", f"{m['value']:.4f}"),
        ("mean D(real) / D(fake)", f"{m['mean_d_real']:.3f} / {m['mean_d_fake']:.3f}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    from tinygan import get_backend, plot
    from tinygan.evaluation.metrics import evaluate
    from tinygan.gan.train import train

    gan, data = build(args)
    steps = args.steps or gan.config.schedule_steps
    stop = min(steps, args.stop_after) if args.stop_after else steps
    os.makedirs(args.out, exist_ok=True)
    todo = stop - gan.step
    print(f"tinygan: {data!r}, backend {get_backend().name}, {todo} steps to go (total {steps}), seed {gan.seed}")
    animation, callback_every = None, max(1, (stop - gan.step) // args.frames)
    if args.animate:
        if gan.config.pack != 1:
            raise ValueError("--animate needs --pack 1 (a packed sample's gradient depends on its pack-mates)")
        real_points = np.asarray(data.sample(3000, np.random.default_rng([gan.seed, 5])), dtype=np.float64)
        animation = plot.TrainingAnimation(real_points, seed=gan.seed)
        animation.capture(gan)
    start = time.perf_counter()
    train(gan, stop, log_every=args.log_every, checkpoint_path=args.checkpoint,
          checkpoint_every=args.checkpoint_every, progress=not args.no_progress, threads=args.threads,
          callback=animation.capture if animation else None, callback_every=callback_every)  # fmt: skip
    seconds = time.perf_counter() - start
    if stop < steps:
        print(f"stopped at step {gan.step} of {steps}; continue with --resume {args.checkpoint}")
        return 0

    # independent of training; left_out: what Jacobian truncation removed (none without it)
    samples, left_out = gan.sample(args.samples, rng=np.random.default_rng([gan.seed, 2]), return_left_out=True)
    np.save(os.path.join(args.out, "samples.npy"), samples)
    metrics = evaluate(gan, data, n=min(args.samples, 5000))
    metrics |= {"steps": gan.step, "train_seconds": seconds, "seed": gan.seed, "backend": get_backend().name,
                "config": gan.config.to_dict(), "history": gan.history}  # fmt: skip
    with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
    real = np.asarray(data.sample(len(samples), np.random.default_rng([gan.seed, 4])), dtype=np.float64)
    title = f"tinygan after {gan.step} steps (seed {gan.seed})"
    plot.contours(real, samples, os.path.join(args.out, "contours.png"), title=title)
    plot.samples_over_density(real, samples, os.path.join(args.out, "samples.png"))
    plot.discriminator_heatmap(gan.discriminate, real, samples, os.path.join(args.out, "discriminator.png"))
    plot.training_curves(gan.history, os.path.join(args.out, "losses.png"))
    written = "samples.npy, metrics.json, contours.png, samples.png, discriminator.png, losses.png"
    if len(left_out):
        plot.truncation(real, samples, left_out, os.path.join(args.out, "truncation.png"))
        written += ", truncation.png"
    if animation is not None:
        animation.save(os.path.join(args.out, "training.gif"))
    print(summary_table(metrics))
    print(f"wrote {written} to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tinygan.fast.backend import BackendUnavailableError
    from tinygan.gan.train import TrainingDiverged

    try:
        return run(args)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, BackendUnavailableError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
