"""Train a GAN on handwritten digits (scikit-learn's 8x8 images, bundled: no download), judged like an image GAN.

    python demos/digits.py                  # unconditional: any digit from noise (recipe digits-codes)
    python demos/digits.py --conditional    # class-conditional: ask for a 3, get a 3
    python demos/digits.py --stop-after 3000 --checkpoint run.npz   # pause; it prints the command to continue

The digits are scaled to [-1, 1] and split once (30% of each class held out, never trained on).
A classifier made of tinygan's own layers, trained on the train split, judges the samples against
the held-out digits (docs/digits.md): classes covered, reverse KL of the class histogram,
Frechet distance of its features, k-NN precision and recall, memorisation, conditional accuracy.

Writes into --out: samples.npy (and labels.npy with --conditional), metrics.json, samples.png
(one row per class when conditional), training.gif (fixed noise over training), interpolation.png
(G between two noise vectors), real_vs_generated.png, losses.png, and .tinygan-run.json (the list of
files the run wrote). A run into a folder used before first removes the files the earlier run listed
there (an earlier conditional run's labels.npy too), and nothing else; it refuses to overwrite a
file tinygan did not create unless --force is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

SCRIPT = os.path.abspath(__file__)  # the continue command names it in full, to work from any folder
DEFAULT_OUT = "runs/digits"
OUT_FILES = ("samples.npy", "labels.npy", "metrics.json", "samples.png", "training.gif", "interpolation.png",
             "real_vs_generated.png", "losses.png")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from tinygan.cli import OneLineParser, add_training_flags, check_training_flags, number

    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conditional", action="store_true", help="class-conditional GAN (one-hot label to G and D)")
    add_training_flags(p, default_out=DEFAULT_OUT)
    p.add_argument("--frames", type=number(int, 1, "--frames"), default=30, help="GIF frames (default 30)")
    args = p.parse_args(argv)
    check_training_flags(p, args)
    return args


def build(args: argparse.Namespace):
    """The GAN and the digits' split: a fresh run from the recipe and the flags, or the run in --resume."""
    from tinygan.cli import check_training_memory, choose_backend, config_overrides, validate_config
    from tinygan.evaluation.digits import digits_data, digits_split
    from tinygan.gan.model import GAN
    from tinygan.gan.recipes import recipe

    split = digits_split()
    data = digits_data(split)
    if args.resume:
        return resume(args, data), split
    choose_backend(args)
    config = dataclasses.replace(
        recipe("digits-conditional" if args.conditional else "digits-codes"), **config_overrides(args)
    )
    validate_config(config, args)
    check_training_memory(config)  # before GAN() allocates the networks
    return GAN(data, config, seed=args.seed or 0), split


def resume(args: argparse.Namespace, data):
    """The run saved in --resume, with its config, seed and total; conditional or not as it was trained.
    A flag that would change the run is a conflict; --steps beyond the saved total extends the run."""
    from tinygan.cli import (
        check_training_memory,
        choose_backend,
        extend_run,
        load_resumed,
        resume_conflicts,
        resume_info,
    )

    info = resume_info(args)
    choose_backend(args, info["backend"])  # the run keeps its backend
    if args.conditional and info["config"].num_classes == 0:
        raise ValueError(
            f"--conditional conflicts with the checkpoint {args.resume!r}, which trained an unconditional GAN "
            "(leave --conditional out to continue the run)"
        )
    resume_conflicts(args, info["config"], info["seed"])
    gan = load_resumed(args, data)  # refuses a checkpoint trained on other data
    extend_run(gan, args.steps)
    check_training_memory(gan.config)
    return gan


def continue_command(args: argparse.Namespace, checkpoint: str) -> str:
    """The command that continues this run: the checkpoint knows everything else."""
    from tinygan import cli

    return cli.continue_command(SCRIPT, checkpoint, out=args.out)


def summary_table(m: dict) -> str:
    """Generated vs held-out real digits, one measure a line."""
    fake, real = m["generated"], m["held_out"]
    rows = [
        ("steps / train time", f"{m['steps']} / {m['train_seconds']:.1f} s (whole run {m['total_seconds']:.1f} s)"),
        ("", "generated   held-out real"),
        ("classes covered (of 10)", f"{fake['classes_covered']:>9}   {real['classes_covered']:>13}"),
        ("reverse KL of classes", f"{fake['reverse_kl']:>9.4f}   {real['reverse_kl']:>13.4f}"),
        ("Frechet distance", f"{fake['frechet_distance']:>9.2f}   {real['frechet_distance']:>13.2f}"),
        ("precision", f"{fake['precision']:>9.3f}   {real['precision']:>13.3f}"),
        ("recall", f"{fake['recall']:>9.3f}   {real['recall']:>13.3f}"),
        (
            "median distance to train",
            f"{fake['nearest_train_distance']:>9.3f}   {real['nearest_train_distance']:>13.3f}",
        ),
        ("Frechet ratio / memorisation ratio", f"{m['frechet_ratio']:.2f} / {m['memorisation_ratio']:.2f}"),
    ]
    if "conditional_accuracy" in fake:
        rows.append(("conditional accuracy", f"{fake['conditional_accuracy']:.3f} (held-out: {real['accuracy']:.3f})"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    from tinygan import get_backend, plot
    from tinygan.cli import plan_outputs, train_run
    from tinygan.evaluation.classifier import train_digit_classifier
    from tinygan.evaluation.image_metrics import evaluate_images
    from tinygan.fast.backend import to_numpy
    from tinygan.outputs import write_json

    begin = time.perf_counter()
    gan, split = build(args)
    total = gan.config.steps
    stop = min(total, args.stop_after) if args.stop_after else total
    checkpoint = args.checkpoint or args.resume  # a resumed run keeps saving into its own file
    plan = plan_outputs(args, gan, inputs={"--resume": args.resume}, out_names=OUT_FILES)
    kind = "class-conditional" if gan.conditional else "unconditional"
    path = "fused step" if gan.fused is not None else "layer by layer"
    print(f"tinygan: {kind} GAN on {len(split.train_x)} digits, backend {get_backend().name} ({path}), "
          f"{stop - gan.step} steps to go (total {total}), seed {gan.seed}")  # fmt: skip

    # the GIF: the same noise (and labels) at every frame, drawn from an RNG training never touches
    fixed_z = gan.draw_noise(100, np.random.default_rng([gan.seed, 6]))  # z, then the latent code if any
    fixed_labels = np.repeat(np.arange(10), 10) if gan.conditional else None  # one row per class
    animation = plot.ImageAnimation(lambda: gan.decode(fixed_z, fixed_labels))
    animation.capture(gan)
    start = time.perf_counter()
    status = train_run(
        args,
        gan,
        stop,
        checkpoint,
        lambda saved: continue_command(args, saved),
        callback=animation.capture,
        callback_every=max(1, (stop - gan.step) // args.frames),
    )
    if status is not None:  # paused at --stop-after, or interrupted
        return status
    seconds = time.perf_counter() - start

    n = len(split.held_out_x)  # as many samples as held-out digits: the measures depend on n
    labels = gan.balanced_labels(n) if gan.conditional else None
    samples = np.clip(gan.sample(n, rng=np.random.default_rng([gan.seed, 2]), labels=labels), -1.0, 1.0)
    plan.write("samples.npy", lambda file: np.save(file, samples))
    if labels is not None:
        plan.write("labels.npy", lambda file: np.save(file, labels))
    classifier = train_digit_classifier(split.train_x, split.train_y)
    metrics = evaluate_images(samples, classifier, split, requested=labels)
    metrics |= {"steps": gan.step, "train_seconds": seconds, "seed": gan.seed, "backend": get_backend().name,
                "conditional": gan.conditional, "config": gan.config.to_dict(), "history": gan.history}  # fmt: skip

    grid = gan.decode(fixed_z, fixed_labels)  # (100, 64): ten of each class when conditional
    title = f"{kind}, step {gan.step}" + (": one row per class" if gan.conditional else "")
    plot.image_grid(grid, plan.target("samples.png"), title=title)
    # 50 of each side; conditional: five of each class in order, the real ones picked the same way
    real = np.concatenate([split.held_out_x[split.held_out_y == k][:5] for k in range(10)])
    generated = grid[::2] if gan.conditional else grid[:50]
    plot.real_beside_generated(real if gan.conditional else split.held_out_x[:50], generated,
                               plan.target("real_vs_generated.png"))  # fmt: skip
    t = np.linspace(0.0, 1.0, 10)[:, None]
    z_ends = to_numpy(gan.draw_noise(2, np.random.default_rng([gan.seed, 8])))
    z_ends[1, gan.config.noise_dim :] = z_ends[0, gan.config.noise_dim :]  # one latent code along the strip
    strip_labels = np.full(10, 3) if gan.conditional else None  # conditional: interpolate within one class
    plot.interpolation_strip(gan.decode((1 - t) * z_ends[0] + t * z_ends[1], strip_labels),
                             plan.target("interpolation.png"))  # fmt: skip
    animation.save(plan.target("training.gif"))
    plot.training_curves(gan.history, plan.target("losses.png"))
    metrics["total_seconds"] = time.perf_counter() - begin
    write_json(plan, "metrics.json", metrics)  # NaN (a collapsed run's measure) as null
    plan.finish()
    print(summary_table(metrics))
    written = [name for name in OUT_FILES if name != "labels.npy" or labels is not None]
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from tinygan.cli import exit_status

    return exit_status(run, parse_args(argv), usage_errors=(ImportError,))  # ImportError: no scikit-learn


if __name__ == "__main__":
    sys.exit(main())
