"""What the command-line tools share: a one-line-error parser, number parsers, the training flags,
the checks a run passes before it starts (conflicts on resume, output paths, memory), and how a
run ends (a pause with a command to continue it, Ctrl-C, exit statuses).

A demo (demos/mixture.py, demos/digits.py) builds its parser with ``OneLineParser``, adds
``add_training_flags``, then calls ``check_training_flags`` after parsing. Every refusal is a
``ValueError`` (or an argparse error) whose one line names the flag. The demo's ``main`` is
``exit_status(run, args)``: a refusal prints that line and exits 2, a divergence exits 1, Ctrl-C 130.
Training goes through ``train_run``; a paused or interrupted run prints ``continue_command``.
This module imports no plotting library; the GAN part is imported only inside functions.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from .outputs import json_safe, write_json  # noqa: F401  (the demos' JSON helpers live in the output layer)

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


def number(kind: type, minimum: float, name: str, *, strict: bool = True, below: float | None = None,
           at_most: float | None = None) -> Callable:  # fmt: skip
    """An argparse ``type``: text -> ``kind`` (int or float), finite, > minimum (>= if not strict),
    < ``below`` and <= ``at_most`` if given; otherwise an error naming ``name``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        too_low = value < minimum or (strict and value == minimum)
        if at_most is not None and (not math.isfinite(value) or too_low or value > at_most):
            bracket = "(" if strict else "["
            raise argparse.ArgumentTypeError(f"{name} must be in {bracket}{minimum:g}, {at_most:g}], got {text!r}")
        if not math.isfinite(value) or too_low:
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"{name} must be a finite number {relation} {minimum}, got {text!r}")
        if below is not None and not value < below:
            bracket = "(" if strict else "["
            raise argparse.ArgumentTypeError(
                f"{name} must be a number in {bracket}{minimum:g}, {below:g}), got {text!r}"
            )
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
    p.add_argument("--log-every", type=number(int, 0, "--log-every"), default=500,
                   help="record the losses and V(D, G) every N steps (default 500; each record runs G and D on "
                        "2048 points)")  # fmt: skip
    p.add_argument("--threads", type=number(int, 0, "--threads"),
                   help="CPU threads for training: BLAS, and Numba's shares of each batch on the fused step "
                        "(default: all cores)")  # fmt: skip
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
    if parent == folder:  # access() says yes to root everywhere: try it
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise ValueError(f"--checkpoint {checkpoint}: cannot write into {folder} ({error.strerror})") from None


def check_memory(config: Any, *, samples: int) -> None:
    """Refuse a run whose training or sampling would not fit in this machine's memory, naming the flags."""
    check_training_memory(config)
    from .gan.memory import available_bytes, describe_bytes, sampling_bytes

    have, need = available_bytes(), sampling_bytes(config, samples)
    if need > have:
        raise ValueError(
            f"--samples {samples} with --truncation {config.jacobian_truncation:g}: sampling needs about "
            f"{describe_bytes(need)}, more than the {describe_bytes(have)} of memory available"
        )


def check_training_memory(config: Any) -> None:
    """Refuse a run whose training would not fit in this machine's memory, naming the flags that size it."""
    from .gan.memory import available_bytes, describe_bytes, training_bytes

    have, need = available_bytes(), training_bytes(config)
    if need > have:
        raise ValueError(
            f"--hidden {config.hidden} --batch-size {config.batch_size} --pack {config.pack}: training needs about "
            f"{describe_bytes(need)}, more than the {describe_bytes(have)} of memory available"
        )


def extend_run(gan: Any, steps: int | None) -> None:
    """A resumed run keeps its total; ``--steps`` beyond it lengthens the run (the learning-rate
    schedule then spans the new total), announced in one line. Shortening is refused earlier,
    by ``resume_conflicts``."""
    if steps is not None and steps > gan.config.steps:
        print(f"extending the run from {gan.config.steps} to {steps} steps: the learning-rate schedule "
              f"now spans {steps} (from step {gan.step} on)")  # fmt: skip
        gan.config.steps = steps


def check_run_start(args: argparse.Namespace, gan: Any, *, inputs: dict[str, str | None],
                    checkpoint: str | None, out_files: Iterable[str]) -> None:  # fmt: skip
    """The checks every demo passes before training, so nothing fails after it (one line naming the flag):
    no write over an input or a file that is not ours (``check_output_paths``), --out a folder, and
    --stop-after still ahead of the run."""
    check_output_paths(inputs, checkpoint, [os.path.join(args.out, name) for name in out_files])
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file, not a folder")
    if args.stop_after is not None and args.stop_after <= gan.step:
        raise ValueError(f"--stop-after {args.stop_after}: the run is already at step {gan.step}")


def continue_command(script: str, checkpoint: str, *, out: str, default_out: str) -> str:
    """The command that continues a paused run: ``python SCRIPT --resume CHECKPOINT`` (and ``--out``
    when it is not the default). The checkpoint holds the data, config, seed and total, so nothing else
    is needed; paths are quoted for the shell where they must be."""
    command = f"python {script} --resume {shlex.quote(checkpoint)}"
    return command + (f" --out {shlex.quote(out)}" if out != default_out else "")


def train_run(args: argparse.Namespace, gan: Any, stop: int, checkpoint: str | None,
              continue_with: Callable[[str], str], *, callback: Callable[[Any], None] | None = None,
              callback_every: int = 100) -> int | None:  # fmt: skip
    """Train ``gan`` to step ``stop`` with the demo's flags (logging, checkpoints, threads, progress bar).

    Returns None when the run reached its total: the demo goes on to sample and measure. Otherwise
    the demo's exit status, after one line with ``continue_with(checkpoint)``, the command that
    continues the run: 0 when it paused at --stop-after; 130 on Ctrl-C (``TrainingInterrupted``,
    raised at the end of a step after saving the checkpoint if there is one, printed on stderr).
    Overflow warnings are silenced while training: a blow-up is reported by the health check
    (``TrainingDiverged``), in one line."""
    import numpy as np

    from .gan.train import TrainingInterrupted, train

    try:
        with np.errstate(over="ignore", invalid="ignore"):
            train(gan, stop, log_every=args.log_every, checkpoint_path=checkpoint,
                  checkpoint_every=args.checkpoint_every, progress=not args.no_progress, threads=args.threads,
                  callback=callback, callback_every=callback_every)  # fmt: skip
    except TrainingInterrupted as stopped:
        if stopped.checkpoint is None:
            print(f"interrupted at step {stopped.step}; nothing saved (no --checkpoint)", file=sys.stderr)
        else:
            print(f"interrupted at step {stopped.step}; saved; continue with: {continue_with(stopped.checkpoint)}",
                  file=sys.stderr)  # fmt: skip
        return 130
    if gan.step < gan.config.steps:
        print(f"stopped at step {gan.step} of {gan.config.steps}; continue with: {continue_with(checkpoint)}")
        return 0
    return None


def exit_status(run: Callable[[argparse.Namespace], int], args: argparse.Namespace,
                usage_errors: tuple[type[BaseException], ...] = ()) -> int:  # fmt: skip
    """``run(args)``'s status, or the exit status of what stopped it, after one line on stderr:
    Ctrl-C outside training 130, a diverged run 1, a refused input (ValueError, TypeError, an
    unavailable backend, a file error, or one of ``usage_errors``) 2. No traceback."""
    from .fast.backend import BackendUnavailableError
    from .gan.train import TrainingDiverged

    try:
        return run(args)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside training
        print("interrupted", file=sys.stderr)
        return 130
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, BackendUnavailableError, OSError, *usage_errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
