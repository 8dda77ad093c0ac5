"""What the command-line tools share: a one-line-error parser, number parsers, the training flags,
and the checks a run passes before it starts (conflicts on resume, output paths, memory).

A demo builds its parser with ``OneLineParser``, adds ``add_training_flags``, then calls
``check_training_flags`` after parsing. Every refusal is a ``ValueError`` (or an argparse error)
whose one line names the flag, so ``main`` can print it and exit with status 2.
This module imports no plotting library; the GAN part is imported only inside functions.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

# flag (argparse dest) -> GANConfig field, for the flags that change the run itself
CONFIG_FLAGS = {
    "steps": "steps",
    "batch_size": "batch_size",
    "lr": "lr",
    "betas": "betas",
    "hidden": "hidden",
    "loss": "loss",
    "pack": "pack",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def number(kind: type, minimum: float, name: str, *, strict: bool = True, below: float | None = None) -> Callable:
    """An argparse ``type``: text -> ``kind`` (int or float), finite, > minimum (>= if not strict),
    and < ``below`` if given; otherwise an error naming ``name``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"{name} must be a finite number {relation} {minimum}, got {text!r}")
        if below is not None and not value < below:
            raise argparse.ArgumentTypeError(f"{name} must be < {below}, got {text!r}")
        return value

    return parse


def flag_name(dest: str) -> str:
    """argparse dest -> the flag a user types: batch_size -> --batch-size."""
    return "--" + dest.replace("_", "-")


def add_training_flags(p: argparse.ArgumentParser, *, default_out: str) -> None:
    """The flags every training demo takes. Flags that define the run default to None (= the recipe's,
    or the checkpoint's with --resume), so a later check can tell what the user actually typed."""
    p.add_argument("--steps", type=number(int, 0, "--steps"),
                   help="the run's total G steps; the lr schedule spans them (default: the recipe's)")  # fmt: skip
    p.add_argument("--batch-size", type=number(int, 0, "--batch-size"), help="samples per batch")
    p.add_argument("--lr", type=number(float, 0.0, "--lr"), help="Adam learning rate")
    p.add_argument("--betas", type=number(float, 0.0, "--betas", strict=False, below=1.0), nargs=2,
                   metavar=("B1", "B2"), help="Adam betas, each in [0, 1)")  # fmt: skip
    p.add_argument("--hidden", type=number(int, 0, "--hidden"), help="hidden width of G and D")
    p.add_argument("--seed", type=number(int, 0, "--seed", strict=False), help="random seed (default 0)")
    p.add_argument("--loss", choices=["nonsaturating", "minimax"], help="generator loss (default nonsaturating)")
    p.add_argument("--pack", type=number(int, 0, "--pack"), help="PacGAN: D judges this many samples at once")
    p.add_argument("--backend", choices=["numpy", "numba", "cupy"], help="default: numba if installed")
    p.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="save a checkpoint here every --checkpoint-every steps (with --resume: that file)")  # fmt: skip
    p.add_argument("--checkpoint-every", type=number(int, 0, "--checkpoint-every"), default=1000)
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run saved in this checkpoint (its data, config, seed and total)")  # fmt: skip
    p.add_argument("--stop-after", type=number(int, 0, "--stop-after"),
                   help="stop (and checkpoint) at this step, to finish later with --resume")  # fmt: skip
    p.add_argument("--log-every", type=number(int, 0, "--log-every"), default=250)
    p.add_argument("--threads", type=number(int, 0, "--threads"), default=1,
                   help="BLAS threads (default 1: small matrices; spare threads spin on busy cores)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_training_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refusals that need only the flags themselves (argparse's one-line error, exit 2)."""
    if args.stop_after is not None and args.checkpoint is None and args.resume is None:
        p.error("argument --stop-after: needs --checkpoint PATH (where to save the run to finish later)")
    if args.stop_after is not None and args.steps is not None and args.stop_after > args.steps:
        p.error(f"argument --stop-after: {args.stop_after} is beyond the run's total --steps {args.steps}")


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The GANConfig fields the user set on the command line, {field: value}."""
    values = {field: getattr(args, dest, None) for dest, field in CONFIG_FLAGS.items()}
    if values["betas"] is not None:
        values["betas"] = tuple(values["betas"])
    return {field: value for field, value in values.items() if value is not None}


def resume_conflicts(args: argparse.Namespace, config: Any, seed: int) -> None:
    """ValueError naming the first flag whose value differs from the checkpoint's run.

    ``--steps`` is not a conflict when it lengthens the run: that is how a run is extended on purpose."""
    for dest, field in CONFIG_FLAGS.items():
        given = getattr(args, dest, None)
        if given is None or dest == "steps":
            continue
        saved = getattr(config, field)
        if (tuple(given) if dest == "betas" else given) != saved:
            raise ValueError(
                f"{flag_name(dest)} {_show(given)} conflicts with the checkpoint {args.resume!r}, "
                f"which trained with {field} = {_show(saved)} (leave {flag_name(dest)} out to continue the run)"
            )
    if args.seed is not None and args.seed != seed:
        raise ValueError(f"--seed {args.seed} conflicts with the checkpoint {args.resume!r}, which has seed {seed}")
    if args.steps is not None and args.steps < config.steps:
        raise ValueError(
            f"--steps {args.steps} would shorten the checkpoint's run of {config.steps} steps; "
            f"to stop early use --stop-after {args.steps}"
        )


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def check_output_paths(inputs: dict[str, str | None], checkpoint: str | None, out_files: Iterable[str]) -> None:
    """Refuse, before training, any write over an input file or over a file that is not ours.

    ``inputs``: {flag: path} of files the run reads (e.g. --data, --resume); ``checkpoint``: the
    --checkpoint path (may equal --resume: the run continues in its own file); ``out_files``: the
    paths the run will write into --out."""
    from .gan.checkpoint import is_checkpoint

    read = {os.path.realpath(path): flag for flag, path in inputs.items() if path}
    for path in out_files:
        if os.path.realpath(path) in read:
            raise ValueError(f"--out would overwrite {path}, which is the {read[os.path.realpath(path)]} input")
    if checkpoint is None:
        return
    real = os.path.realpath(checkpoint)
    if real in read and read[real] != "--resume":
        raise ValueError(f"--checkpoint {checkpoint} is the {read[real]} input; choose another file")
    if real in {os.path.realpath(path) for path in out_files}:
        raise ValueError(f"--checkpoint {checkpoint} is one of the files written into --out; choose another file")
    if os.path.isdir(checkpoint):
        raise ValueError(f"--checkpoint {checkpoint} is a folder; give a file path such as run.npz")
    if os.path.exists(checkpoint) and not is_checkpoint(checkpoint):
        raise ValueError(f"--checkpoint {checkpoint} exists and is not a tinygan checkpoint; it would be lost")
    folder = os.path.dirname(os.path.abspath(checkpoint))
    parent = folder
    while not os.path.exists(parent):  # the nearest folder that exists must let us create what is missing
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--checkpoint {checkpoint}: cannot write into {parent}")


def check_memory(config: Any, *, samples: int) -> None:
    """Refuse a run whose training or sampling would not fit in this machine's memory, naming the flags."""
    from .gan.memory import available_bytes, describe_bytes, sampling_bytes, training_bytes

    have = available_bytes()
    need = training_bytes(config)
    if need > have:
        raise ValueError(
            f"--hidden {config.hidden} --batch-size {config.batch_size} --pack {config.pack}: training needs about "
            f"{describe_bytes(need)}, more than the {describe_bytes(have)} of memory available"
        )
    need = sampling_bytes(config, samples)
    if need > have:
        raise ValueError(
            f"--samples {samples} with --truncation {config.jacobian_truncation:g}: sampling needs about "
            f"{describe_bytes(need)}, more than the {describe_bytes(have)} of memory available"
        )
