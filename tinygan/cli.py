"""What the command-line tools share: a one-line-error parser, number parsers, the training flags,
the checks a run passes before it starts (conflicts on resume, the backend, the output plan,
memory), and how a run ends (a pause with a command to continue it, Ctrl-C, exit statuses).

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
from collections.abc import Callable, Iterable
from typing import Any

from .outputs import OutputPlan, json_safe, write_json  # noqa: F401  (json_safe, write_json: for the demos)

# flag (argparse dest) -> GANConfig field, for the flags that change the run itself
CONFIG_FLAGS = {
    "steps": "steps",
    "batch_size": "batch_size",
    "lr": "lr",
    "betas": "betas",
    "hidden": "hidden",
    "loss": "loss",
    "pack": "pack",
    "pack_spread": "pack_spread",
    "r1": "r1",
    "r2": "r2",
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


def path_text(text: str) -> str:
    """An argparse ``type`` for a path: any text but the empty one (which names no file)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    return text


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
    p.add_argument("--no-pack-spread", dest="pack_spread", action="store_const", const=False,
                   help="D judges the packed points alone, without each pack's log spread")  # fmt: skip
    p.add_argument("--r1", type=number(float, 0.0, "--r1", strict=False), metavar="GAMMA",
                   help="R1 gradient penalty on real data, gamma/2 E||grad_x D||^2 (0: off)")  # fmt: skip
    p.add_argument("--r2", type=number(float, 0.0, "--r2", strict=False), metavar="GAMMA",
                   help="the same penalty on G's samples (0: off)")  # fmt: skip
    p.add_argument("--backend", choices=["numpy", "numba", "cupy"], help="default: numba if installed")
    p.add_argument("--out", type=path_text, default=default_out, help=f"output folder (default {default_out})")
    p.add_argument("--checkpoint", type=path_text, metavar="PATH",
                   help="save a checkpoint here every --checkpoint-every steps (with --resume: that file)")  # fmt: skip
    p.add_argument("--checkpoint-every", type=number(int, 0, "--checkpoint-every"), default=1000)
    p.add_argument("--resume", type=path_text, metavar="PATH",
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
    p.add_argument("--force", action="store_true",
                   help="allow overwriting files tinygan did not create, and replacing another run's unfinished "
                        "--checkpoint")  # fmt: skip


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


def validate_config(config: Any, args: argparse.Namespace) -> None:
    """``config.validate()``, a refusal naming the flags it comes from: those whose field the message
    names, else every run flag typed (a recipe is valid on its own, so a typed flag made it invalid)."""
    try:
        config.validate()
    except (TypeError, ValueError) as error:
        typed = {dest: getattr(args, dest) for dest in CONFIG_FLAGS if getattr(args, dest, None) is not None}
        named = [dest for dest in typed if CONFIG_FLAGS[dest] in str(error)] or list(typed)
        flags = " ".join(_typed_flag(dest, typed[dest]) for dest in named) or "the recipe"
        raise ValueError(f"{flags}: {error}") from None


def _typed_flag(dest: str, value: Any) -> str:
    """How the user typed a run flag: --lr 0.1, --no-pack-spread."""
    return "--no-pack-spread" if dest == "pack_spread" else f"{flag_name(dest)} {_show(value)}"


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
                f"{_typed_flag(dest, given)} conflicts with the checkpoint {args.resume!r}, which trained with "
                f"{field} = {_show(saved)} (leave {_typed_flag(dest, given).split()[0]} out to continue the run)"
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


def plan_outputs(args: argparse.Namespace, gan: Any, *, inputs: dict[str, str | None],
                 out_names: Iterable[str]) -> OutputPlan:  # fmt: skip
    """The run's output plan (``tinygan.outputs``), checked before any training so nothing fails after it
    (one line naming the flag): --out a writable folder whose files are tinygan's (or ``--force``), no
    output over an input or over another output, the checkpoint a file we may write and not another
    run's unfinished one (``check_checkpoint_owner``), and --stop-after still ahead of the run.

    ``inputs``: {flag: path} of the files the run reads; ``out_names``: what it may write into --out."""
    from .gan.checkpoint import is_checkpoint

    checkpoint = args.checkpoint or args.resume  # a resumed run keeps saving into its own file
    own_file = checkpoint is not None and args.resume is not None and _same_file(checkpoint, args.resume)
    plan = OutputPlan(force=args.force)
    for flag, path in inputs.items():
        if not (flag == "--resume" and own_file):  # the run continues in the file it resumes: read, then rewritten
            plan.input(path, flag)
    plan.folder(args.out, out_names, flag="--out")
    if checkpoint is not None:
        flag = "--checkpoint" if args.checkpoint else "--resume"
        plan.file(checkpoint, flag, ours=is_checkpoint, written_elsewhere=True)
    plan.check()
    if checkpoint is not None and not own_file:
        check_checkpoint_owner(args.checkpoint, force=args.force)
    if args.stop_after is not None and args.stop_after <= gan.step:
        raise ValueError(f"--stop-after {args.stop_after}: the run is already at step {gan.step}")
    return plan


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_checkpoint_owner(checkpoint: str, *, force: bool) -> None:
    """A checkpoint belongs to its run: a run that does not resume it may not replace a checkpoint whose
    run is unfinished (step < total) unless ``force``. A finished run's checkpoint may be replaced."""
    from .gan.checkpoint import checkpoint_progress

    progress = None if force else checkpoint_progress(checkpoint)
    if progress is not None and progress[0] < progress[1]:
        step, total = progress
        raise ValueError(
            f"--checkpoint {checkpoint} holds another run, paused at step {step} of {total}; "
            f"continue it with --resume {checkpoint}, or pass --force to replace it"
        )


def check_memory(config: Any, *, samples: int) -> None:
    """Refuse a run whose training or sampling would not fit in this machine's memory, naming the flags."""
    check_training_memory(config)
    from .evaluation.loader import available_memory
    from .gan.memory import describe_bytes, sampling_bytes

    have, need = available_memory(), sampling_bytes(config, samples)
    if need > have:
        raise ValueError(
            f"--samples {samples} with --truncation {config.jacobian_truncation:g}: sampling needs about "
            f"{describe_bytes(need)}, more than the {describe_bytes(have)} of memory available"
        )


def check_training_memory(config: Any) -> None:
    """Refuse a run whose training would not fit in this machine's memory, naming the flags that size it."""
    from .gan.memory import require_training_memory

    require_training_memory(config, f"--hidden {config.hidden} --batch-size {config.batch_size} --pack {config.pack}")


def choose_backend(args: argparse.Namespace, saved: str | None = None) -> None:
    """Set the backend a run trains on. A fresh run (or a checkpoint that does not record one): --backend,
    else the default. A resumed run keeps the backend its checkpoint records: --backend naming another
    is refused while the saved one is available here; when the saved one is not available (no GPU, no
    Numba), the run is refused in one line saying so, unless --backend names another explicitly, which
    is then used (and said)."""
    from .fast.backend import BackendUnavailableError, set_backend

    if saved is None:
        if args.backend:
            _set_named_backend(args.backend)
        return
    try:
        set_backend(saved)
    except BackendUnavailableError as error:
        if args.backend is None or args.backend == saved:
            raise ValueError(
                f"--resume {args.resume}: the run trained on backend {saved}, which is not available here "
                f"({error}); pass --backend numpy (or another) to continue it on another backend"
            ) from None
        _set_named_backend(args.backend)
        print(f"continuing on backend {args.backend}: the checkpoint's backend {saved} is not available here")
        return
    if args.backend is not None and args.backend != saved:
        raise ValueError(
            f"--backend {args.backend} conflicts with the checkpoint {args.resume!r}, which trained on backend "
            f"{saved} (leave --backend out to continue on {saved})"
        )


def _set_named_backend(name: str) -> None:
    """``set_backend(name)`` for --backend NAME; an unavailable one is refused naming the flag."""
    from .fast.backend import BackendUnavailableError, set_backend

    try:
        set_backend(name)
    except BackendUnavailableError as error:
        raise ValueError(f"--backend {name}: {error}") from None


def resume_info(args: argparse.Namespace) -> dict[str, Any]:
    """The checked headers of the --resume checkpoint (``checkpoint_info``); a refusal names the flag."""
    from .gan.checkpoint import CheckpointError, checkpoint_info

    try:
        return checkpoint_info(args.resume)
    except CheckpointError as error:
        raise ValueError(f"--resume {args.resume}: {error}") from None


def load_resumed(args: argparse.Namespace, data: Any = None) -> Any:
    """The GAN saved in --resume (``load_checkpoint``), on ``data`` or its own; a refusal names the flag."""
    from .gan.checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(args.resume, data)
    except CheckpointError as error:
        raise ValueError(f"--resume {args.resume}: {error}") from None


def extend_run(gan: Any, steps: int | None) -> None:
    """A resumed run keeps its total; ``--steps`` beyond it lengthens the run (the learning-rate
    schedule then spans the new total), announced in one line. Shortening is refused earlier,
    by ``resume_conflicts``."""
    if steps is not None and steps > gan.config.steps:
        print(f"extending the run from {gan.config.steps} to {steps} steps: the learning-rate schedule "
              f"now spans {steps} (from step {gan.step} on)")  # fmt: skip
        gan.config.steps = steps


def continue_command(script: str, checkpoint: str, *, out: str) -> str:
    """The command that continues a paused run: ``python SCRIPT --resume CHECKPOINT --out OUT``, every
    path absolute so it works from any folder. The checkpoint holds the data (its absolute path), the
    config, seed, total and backend, so nothing else is needed; paths are quoted for the shell."""
    paths = (os.path.abspath(path) for path in (script, checkpoint, out))
    return "python {} --resume {} --out {}".format(*(shlex.quote(path) for path in paths))


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
                  callback=callback, callback_every=callback_every, checkpoint_force=args.force)  # fmt: skip
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
