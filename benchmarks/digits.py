"""The digits GAN over several seeds: every image measure, mean +- standard error, against the goals.

    python benchmarks/digits.py                         # seeds 0-4, unconditional and conditional
    python benchmarks/digits.py --kinds conditional --seeds 0 1
    python benchmarks/digits.py --kinds unconditional --seeds 0 --set g_output=linear --set lr=5e-4

Each run trains the demo's recipe (demos/digits.py) on the train split, draws as many samples as
there are held-out digits (conditional: the classes in turn), clips them to the pixel range
[-1, 1] and measures them with tinygan.evaluation.image_metrics, against one classifier trained
once. Writes every run's numbers to --json and prints the table of docs/digits.md.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

import numpy as np

from tinygan.outputs import write_json

# measure -> (label, goal test, goal text); the goal tests take one run's result
GOALS = {
    "classes_covered": ("classes covered (of 10)", lambda r: r["generated"]["classes_covered"] == 10, "10"),
    "reverse_kl": ("reverse KL of classes", lambda r: r["generated"]["reverse_kl"] <= 0.02, "<= 0.02"),
    "frechet_ratio": ("Frechet distance / floor", lambda r: r["frechet_ratio"] <= 3.0, "<= 3"),
    "precision": ("precision", lambda r: r["generated"]["precision"] >= 0.7, ">= 0.7"),
    "recall": ("recall", lambda r: r["generated"]["recall"] >= 0.6, ">= 0.6"),
    "memorisation_ratio": ("NN distance / held-out's", lambda r: r["memorisation_ratio"] >= 0.8, ">= 0.8"),
    "conditional_accuracy": (
        "conditional accuracy",
        lambda r: r["generated"].get("conditional_accuracy", 0.0) >= 0.95,
        ">= 0.95",
    ),
}


def parse_args(argv: list[str] | None):
    from tinygan.cli import OneLineParser, number

    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=number(int, 0, "--seeds", strict=False), nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--kinds", nargs="+", choices=["unconditional", "conditional"],
                   default=["unconditional", "conditional"])  # fmt: skip
    p.add_argument("--steps", type=number(int, 0, "--steps"), help="training steps (default: the recipe's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", type=config_setting,
                   help="change a GANConfig field of both recipes, e.g. --set batch_size=64 (repeatable)")  # fmt: skip
    p.add_argument("--threads", type=number(int, 0, "--threads"), help="CPU threads (default: all)")
    p.add_argument("--json", default="bench_digits.json", help="where to write every run (default bench_digits.json)")
    p.add_argument("--force", action="store_true", help="allow --json to overwrite a file tinygan did not write")
    args = p.parse_args(argv)
    args.seeds, args.kinds = list(dict.fromkeys(args.seeds)), list(dict.fromkeys(args.kinds))
    return args


RECIPE_OF = {"unconditional": "digits", "conditional": "digits-conditional"}


def run_config(kind: str, settings: dict) -> Any:
    """The recipe of ``kind`` changed by ``settings`` (--set, --steps), validated: ValueError naming --set."""
    from tinygan.gan.recipes import recipe

    try:
        config = dataclasses.replace(recipe(RECIPE_OF[kind]), **settings)
        config.validate()
    except (ValueError, TypeError) as error:
        raise ValueError(f"--set: {error}") from None
    return config


def prepare(args) -> Any:
    """Before any training: both recipes with the settings, their memory, --json's path. Returns the checked
    output plan (ValueError naming the flag)."""
    from tinygan.gan.memory import require_training_memory
    from tinygan.outputs import OutputPlan

    for kind in args.kinds:
        require_training_memory(run_config(kind, settings_of(args)), f"--set: a {kind} run")
    plan = OutputPlan(force=args.force)
    plan.file(args.json, "--json")
    plan.check()
    return plan


def settings_of(args) -> dict:
    return dict(args.set) | ({"steps": args.steps} if args.steps else {})


def config_setting(text: str) -> tuple[str, object]:
    """'lr=5e-4' -> ('lr', 0.0005); the value as a Python literal, else as a string."""
    import argparse
    import ast

    from tinygan.gan.config import GANConfig

    name, sep, value = text.partition("=")
    if not sep or name not in {f.name for f in dataclasses.fields(GANConfig)}:
        raise argparse.ArgumentTypeError(f"--set needs FIELD=VALUE with a GANConfig field, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def measure(value: str, result: dict) -> float:
    """One number of one run, by the GOALS key."""
    if value in ("frechet_ratio", "memorisation_ratio"):
        return result[value]
    return float(result["generated"].get(value, float("nan")))


def run_one(kind: str, seed: int, settings: dict, threads: int, split, classifier) -> dict:
    from tinygan.evaluation.digits import digits_data
    from tinygan.evaluation.image_metrics import evaluate_images
    from tinygan.gan.model import GAN
    from tinygan.gan.train import train

    config = run_config(kind, settings)
    gan = GAN(digits_data(split), config, seed=seed)
    start = time.perf_counter()
    train(gan, config.steps, progress=False, threads=threads, log_every=config.steps)
    seconds = time.perf_counter() - start
    n = len(split.held_out_x)
    labels = gan.balanced_labels(n) if gan.conditional else None
    samples = np.clip(gan.sample(n, rng=np.random.default_rng([seed, 2]), labels=labels), -1.0, 1.0)
    result = evaluate_images(samples, classifier, split, requested=labels)
    return result | {"kind": kind, "seed": seed, "steps": gan.step, "train_seconds": seconds,
                     "fused": gan.fused is not None, "config": config.to_dict()}  # fmt: skip


def mean_se(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    digits = 3 if abs(mean) < 1 else 2
    return f"{mean:.{digits}f} +- {se:.{digits}f}"


def held_out_value(key: str, run: dict) -> float | int:
    """What held-out real digits score on a measure (the ratios are 1 by definition)."""
    if key in ("frechet_ratio", "memorisation_ratio"):
        return 1.0
    if key == "conditional_accuracy":  # the classifier's accuracy on real digits
        return run["held_out"]["accuracy"]
    return run["held_out"][key]


def table(runs: list[dict], kinds: list[str]) -> str:
    """Markdown: one row per measure; per kind mean +- s.e. and the seeds meeting the goal; held-out real."""
    header = "| measure | goal | " + " | ".join(f"{k} (mean +- s.e.) | met" for k in kinds) + " | held-out real |"
    lines = [header, "|" + " --- |" * (3 + 2 * len(kinds))]
    held_out = runs[0]
    for key, (label, goal, goal_text) in GOALS.items():
        cells = []
        for kind in kinds:
            own = [r for r in runs if r["kind"] == kind]
            if key == "conditional_accuracy" and kind != "conditional":
                cells += ["-", "-"]
                continue
            cells += [mean_se([measure(key, r) for r in own]), f"{sum(goal(r) for r in own)}/{len(own)}"]
        real = held_out_value(key, held_out)
        real_text = f"{real:.3f}" if isinstance(real, float) else str(real)
        lines.append(f"| {label} | {goal_text} | " + " | ".join(cells) + f" | {real_text} |")
    for kind in kinds:
        own = [r["train_seconds"] for r in runs if r["kind"] == kind]
        lines.append(f"| train time (s), {kind} | <= 60 whole run | " + mean_se(own) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Exit 0; 1 when a run failed (one line each on stderr); 2 for a refused flag (one line, before any work)."""
    args = parse_args(argv)
    try:
        plan = prepare(args)
    except ValueError as error:  # e.g. a --set value GANConfig refuses
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run(args, plan)


def judge() -> tuple[Any, Any]:
    """(the digits' split, the classifier trained once on its train part) that every run is measured with."""
    from tinygan.evaluation.classifier import train_digit_classifier
    from tinygan.evaluation.digits import digits_split

    split = digits_split()
    return split, train_digit_classifier(split.train_x, split.train_y)


def run(args, plan) -> int:
    """Every (kind, seed) run, --json rewritten after each; exit 1 if one failed (one line each on stderr)."""
    from tqdm import tqdm

    split, classifier = judge()
    settings = settings_of(args)
    runs, failed = [], []
    jobs = [(kind, seed) for kind in args.kinds for seed in args.seeds]
    plan.start()
    for kind, seed in tqdm(jobs, desc="digits runs", unit="run"):
        try:
            runs.append(run_one(kind, seed, settings, args.threads, split, classifier))
        except Exception as error:  # one failed run must not stop the others
            failed.append(f"{kind} seed {seed}: {type(error).__name__}: {(str(error).strip() or '-').splitlines()[0]}")
            continue
        write_json(plan, args.json, runs)  # after every run: a long benchmark keeps its progress
    plan.finish()
    if runs:
        print(table(runs, [kind for kind in args.kinds if any(r["kind"] == kind for r in runs)]))
    if settings:
        print(f"(recipes changed by {settings})")
    print(f"wrote {len(runs)} runs to {args.json}" if runs else "no run finished; nothing written")
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
