"""Watch a GAN learn a 2-D Gaussian mixture (the source article's case study, section 4.3).

    python demos/mixture.py                      # 1/2 N((-2,-2), I) + 1/2 N((2,2), I), the article's case
    python demos/mixture.py --mixture ring8      # 8 modes on a circle (PacGAN2, truncated sampling)
    python demos/mixture.py --mixture grid25     # 25 modes on a grid (PacGAN2, truncated sampling)
    python demos/mixture.py --data points.csv    # your own points

How long each run takes, with the hardware it was measured on: docs/performance.md.

Writes into --out: samples.npy, metrics.json, contours.png, discriminator.png, losses.png, samples.png,
and truncation.png when samples are drawn with Jacobian truncation (the grid's recipe, or --truncation),
training.gif with --animate, and .tinygan-run.json (the list of files the run wrote). A run into a
folder used before first removes the files the earlier run listed there, and nothing else; it
refuses to overwrite a file tinygan did not create unless --force is given.
--data may hold points of any dimension d; for d != 2 the 2-D pictures (and --animate) are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

import numpy as np

SCRIPT = os.path.abspath(__file__)  # the continue command names it in full, to work from any folder
DEFAULT_OUT = "runs/mixture"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from tinygan.cli import OneLineParser, add_training_flags, check_training_flags, number, path_text

    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixture", choices=["two", "ring8", "grid25"], help="built-in data (default: two)")
    p.add_argument("--data", type=path_text, metavar="PATH", help="your own points (.npy of shape (n, d), or .csv)")
    add_training_flags(p, default_out=DEFAULT_OUT)
    p.add_argument("--truncation", type=number(float, 0.0, "--truncation", strict=False, below=1.0), metavar="Q",
                   help="leave out this fraction of noise, where G stretches most (default: the recipe's)")  # fmt: skip
    p.add_argument("--samples", type=number(int, 0, "--samples"), default=5000, help="samples to write")
    p.add_argument("--animate", action="store_true", help="also write training.gif (samples, D, G's gradient)")
    p.add_argument("--frames", type=number(int, 1, "--frames"), default=60, help="GIF frames (default 60)")
    args = p.parse_args(argv)
    check_training_flags(p, args)
    if args.mixture is not None and args.data is not None:
        p.error("argument --data: not allowed with --mixture (the data is one or the other)")
    if args.samples < 10:
        p.error(f"argument --samples: at least 10 (the plots estimate densities from them), got {args.samples}")
    return args


OUTPUTS = ("samples.npy", "metrics.json", "contours.png", "samples.png", "discriminator.png", "losses.png",
           "truncation.png", "training.gif")  # fmt: skip


def build(args: argparse.Namespace):
    """The GAN and its data: a fresh run from the recipe and the flags, or the run in --resume."""
    from tinygan.cli import check_memory, choose_backend, config_overrides, validate_config
    from tinygan.gan.model import GAN
    from tinygan.gan.recipes import recipe

    if args.resume:
        return resume(args)
    choose_backend(args)
    data = load_data(args.mixture or "two", args.data)
    overrides = config_overrides(args)
    if args.truncation is not None:
        overrides["jacobian_truncation"] = args.truncation
    config = dataclasses.replace(recipe(args.mixture or "two"), **overrides)
    config.data_dim = data.dim  # a user's points may have any dimension
    validate_config(config, args)
    check_memory(config, samples=args.samples)  # before GAN() allocates the networks
    return GAN(data, config, seed=args.seed or 0), data


def load_data(name: str | None, path: str | None):
    """The built-in mixture ``name``, or the points in ``path`` (the input loader); a refusal names --data."""
    from tinygan.evaluation.data import make_data

    try:
        return make_data(name, path)
    except (ValueError, OSError) as error:
        if path is None:
            raise
        raise ValueError(f"--data {path}: {error}") from None


def resume(args: argparse.Namespace):
    """The run saved in --resume, with its own data, config, seed and total. A flag that would change
    the run is a conflict; --steps beyond the saved total extends the run, and says so."""
    from tinygan.cli import check_memory, choose_backend, extend_run, load_resumed, resume_conflicts, resume_info
    from tinygan.gan.checkpoint import data_record, describe_data

    info = resume_info(args)
    choose_backend(args, info["backend"])  # the run keeps its backend
    data = None
    if args.mixture is not None or args.data is not None:
        data = load_data(args.mixture, args.data)
        record = info["data"]
        if record is not None and data_record(data).get("sha256") != record.get("sha256"):
            flag = f"--mixture {args.mixture}" if args.mixture else f"--data {args.data}"
            raise ValueError(
                f"{flag} conflicts with the checkpoint {args.resume!r}, which trained on {describe_data(record)} "
                "(leave the flag out to continue on the same data)"
            )
    resume_conflicts(args, info["config"], info["seed"])
    gan = load_resumed(args, data)
    extend_run(gan, args.steps)
    if args.truncation is not None:  # sampling only: the run itself is unchanged
        gan.config.jacobian_truncation = args.truncation
    check_memory(gan.config, samples=args.samples)
    return gan, gan.data


def check_before_training(args: argparse.Namespace, gan, data):
    """Everything that can fail after training, refused before it (one line naming the flag); returns
    the run's checked output plan."""
    from tinygan.cli import plan_outputs
    from tinygan.evaluation.data import EmpiricalData

    inputs = {"--data": getattr(data, "path", None), "--resume": args.resume}
    plan = plan_outputs(args, gan, inputs=inputs, out_names=OUTPUTS)
    user_2d = isinstance(data, EmpiricalData) and data.dim == 2  # other dimensions skip the 2-D pictures
    if user_2d and np.linalg.matrix_rank(np.cov(data.points.T.astype(np.float64))) < 2:
        raise ValueError(
            f"--data {args.data}: the points lie on a line or a single point; the density plots need 2-D spread"
        )
    return plan


def continue_command(args: argparse.Namespace, checkpoint: str) -> str:
    """The command that continues this run: the checkpoint knows everything else."""
    from tinygan import cli

    return cli.continue_command(SCRIPT, checkpoint, out=args.out)


def _number(value: float | None, spec: str) -> str:
    """``value`` formatted, or "-" for a mode without samples (NaN here, null in metrics.json)."""
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


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
                mean, spread = ", ".join(_number(v, "+.2f") for v in mu), ", ".join(_number(v, ".2f") for v in sd)
                rows.append((f"mode {k}: weight / mean / std", f"{w:.3f} / ({mean}) / ({spread})"))
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
    from tinygan.cli import train_run
    from tinygan.evaluation.metrics import evaluate
    from tinygan.outputs import write_json

    gan, data = build(args)
    total = gan.config.steps
    stop = min(total, args.stop_after) if args.stop_after else total
    checkpoint = args.checkpoint or args.resume  # a resumed run keeps saving into its own file
    plan = check_before_training(args, gan, data)
    print(f"tinygan: {data!r}, backend {get_backend().name}, {stop - gan.step} steps to go (total {total}), "
          f"seed {gan.seed}")  # fmt: skip
    print(f"training step: {gan.step_code}")
    animation, callback_every = None, max(1, (stop - gan.step) // args.frames)
    if args.animate and data.dim != 2:
        print(f"skipping --animate: the training animation draws 2-D data, these points are {data.dim}-D")
    elif args.animate:
        real_points = np.asarray(data.sample(3000, np.random.default_rng([gan.seed, 5])), dtype=np.float64)
        animation = plot.TrainingAnimation(real_points, seed=gan.seed)
        animation.capture(gan)
    start = time.perf_counter()
    status = train_run(
        args,
        gan,
        stop,
        checkpoint,
        lambda saved: continue_command(args, saved),
        callback=animation.capture if animation else None,
        callback_every=callback_every,
    )
    if status is not None:  # paused at --stop-after, or interrupted
        return status
    seconds = time.perf_counter() - start

    # independent of training; left_out: what Jacobian truncation removed (none without it)
    samples, left_out = gan.sample(args.samples, rng=np.random.default_rng([gan.seed, 2]), return_left_out=True)
    plan.write("samples.npy", lambda file: np.save(file, samples))
    metrics = evaluate(gan, data, n=min(args.samples, 5000))
    metrics |= {"steps": gan.step, "train_seconds": seconds, "seed": gan.seed, "backend": get_backend().name,
                "config": gan.config.to_dict(), "history": gan.history}  # fmt: skip
    write_json(plan, "metrics.json", metrics)
    plot.training_curves(gan.history, plan.target("losses.png"))
    written = "samples.npy, metrics.json, losses.png"
    if data.dim != 2:
        print(f"skipping the 2-D pictures (contours, samples, discriminator): these points are {data.dim}-D")
    else:
        real = np.asarray(data.sample(len(samples), np.random.default_rng([gan.seed, 4])), dtype=np.float64)
        title = f"tinygan after {gan.step} steps (seed {gan.seed})"
        plot.contours(real, samples, plan.target("contours.png"), title=title)
        plot.samples_over_density(real, samples, plan.target("samples.png"))
        plot.discriminator_heatmap(gan.discriminate, real, samples, plan.target("discriminator.png"))
        written += ", contours.png, samples.png, discriminator.png"
        if len(left_out):
            plot.truncation(real, samples, left_out, plan.target("truncation.png"))
            written += ", truncation.png"
    if animation is not None:
        animation.save(plan.target("training.gif"))
        written += ", training.gif"
    plan.finish()
    print(summary_table(metrics))
    print(f"wrote {written} to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from tinygan.cli import exit_status

    return exit_status(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
