"""Run the default case study (``python demos/mixture.py``) for several seeds and tabulate the results.

    python benchmarks/case_study.py --seeds 0,1,2,3,4 --markdown

Each seed is one ordinary run of the demo in a subprocess (start-up included in its wall time).
The table checks the case study's quality bar on each run's ``samples.npy``: both modes captured,
each mode's weight 0.50 +- 0.05, each mode's mean within 0.2 of the truth, per-axis std in
[0.8, 1.2], energy distance at most 5x its noise floor, no NaN. A second, stricter goal asks
that the samples be indistinguishable from the data, not only close: energy distance at most 2x
its noise floor, each weight 0.50 +- 0.03, each per-axis std in [0.9, 1.1] (column "faithful").
A "true sampler" row applies both to points drawn from the mixture itself (``--true-trials``):
how often a perfect generator passes each goal, evaluated exactly as a run is.

    python benchmarks/case_study.py --seeds 0,1 --set steps=40000            # a variant of the recipe

``--set FIELD=VALUE`` (repeatable) changes the recipe and trains in this process, as the demo
does (same GAN, same training loop, same ``evaluate``), without writing the demo's pictures;
``--in-process`` does the same with the recipe unchanged. Runs trained in this process are also
scored with the energy ratio averaged over ``--energy-draws`` independent draws of 5000 points
(column "energy, R draws"): one draw is too noisy a yardstick for a 2x bar (see the true sampler).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRUE_MEANS = np.array([[-2.0, -2.0], [2.0, 2.0]])


def check(metrics: dict) -> dict:
    """The quality bar, criterion by criterion."""
    weights, means, stds = (np.array(metrics[k]) for k in ("mode_weight", "mode_mean", "mode_std"))
    return {
        "modes": metrics["modes_captured_strict"] == 2,
        "weights": bool(np.all(np.abs(weights - 0.5) <= 0.05)),
        "means": bool(np.all(np.linalg.norm(means - TRUE_MEANS, axis=1) <= 0.2)),
        "stds": bool(np.all((stds >= 0.8) & (stds <= 1.2))),
        "energy": bool(metrics["energy_ratio"] <= 5.0),
        "finite": metrics["finite"],
    }


def faithful(metrics: dict, averaged: bool = False) -> dict:
    """The stricter goal, criterion by criterion: energy <= 2x floor, weights 0.50 +- 0.03, stds in [0.9, 1.1].

    ``averaged``: judge the energy by the ratio averaged over several draws (run_variant's), not evaluate's."""
    weights, stds = np.array(metrics["mode_weight"]), np.array(metrics["mode_std"])
    energy = metrics["energy_ratio_averaged"] if averaged else metrics["energy_ratio"]
    return {
        "modes": metrics["modes_captured_strict"] == 2,
        "energy_2x": bool(energy <= 2.0),
        "weights_0.03": bool(np.all(np.abs(weights - 0.5) <= 0.03)),
        "stds_0.9_1.1": bool(np.all((stds >= 0.9) & (stds <= 1.1))),
    }


def true_sampler(trials: int, n: int = 5000, seed: int = 2024) -> dict:
    """Both goals applied to ``n`` points from the mixture itself, ``trials`` times, as evaluate() scores a run.

    Returns the fraction of trials passing each criterion, and the largest energy ratio seen."""
    from tinygan.evaluation.data import mixture
    from tinygan.evaluation.metrics import energy_distance, mode_statistics

    source = mixture("two", dtype=np.float64)
    rng = np.random.default_rng(seed)
    passed: dict[str, int] = {}
    ratios = []
    for _ in range(trials):
        fake, real, other = (source.sample(n, rng) for _ in range(3))  # (n, 2) each
        metrics = mode_statistics(fake, source) | {"finite": True}
        metrics["energy_ratio"] = energy_distance(fake, real) / energy_distance(real, other)
        ratios.append(metrics["energy_ratio"])
        for name, ok in ({f"bar:{k}": v for k, v in check(metrics).items()} | faithful(metrics)).items():
            passed[name] = passed.get(name, 0) + bool(ok)
    return {"trials": trials, "pass_fraction": {k: v / trials for k, v in passed.items()},
            "energy_ratio_max": float(max(ratios)), "energy_ratio_median": float(np.median(ratios))}  # fmt: skip


def run_variant(seed: int, overrides: dict, energy_draws: int = 0) -> dict:
    """The demo's run for one seed with the recipe changed by ``overrides``, in this process.

    With ``energy_draws`` R > 0, metrics also hold "energy_ratio_averaged" over R draws."""
    import dataclasses

    from tinygan.evaluation.data import make_data
    from tinygan.evaluation.metrics import averaged_energy_ratio, evaluate
    from tinygan.gan.model import GAN
    from tinygan.gan.recipes import recipe
    from tinygan.gan.train import train

    data = make_data("two")
    gan = GAN(data, dataclasses.replace(recipe("two"), **overrides), seed=seed)
    start = time.perf_counter()
    train(gan, progress=False)
    wall = time.perf_counter() - start
    metrics = evaluate(gan, data, n=5000) | {"steps": gan.step, "train_seconds": wall, "seed": seed}
    if energy_draws:
        rng = np.random.default_rng([seed, 7])  # fresh draws, apart from evaluate's

        def real() -> np.ndarray:
            return np.asarray(data.sample(5000, rng), dtype=np.float64)

        fakes = [gan.sample(5000, rng=rng).astype(np.float64) for _ in range(energy_draws)]
        reals, others = [real() for _ in range(energy_draws)], [real() for _ in range(energy_draws)]
        metrics["energy_ratio_averaged"] = averaged_energy_ratio(fakes, reals, others)
        metrics["energy_draws"] = energy_draws
    row = {"seed": seed, "wall_seconds": wall, "metrics": metrics, "checks": check(metrics),
           "faithful": faithful(metrics)}  # fmt: skip
    if energy_draws:
        row["faithful_averaged"] = faithful(metrics, averaged=True)
    return row


def _override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes FIELD=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def seed_list(text: str) -> list[int]:
    """--seeds: comma-separated integers >= 0, e.g. 0,1,2 (repeats dropped)."""
    try:
        seeds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds takes integers >= 0, got {text!r}")
    return list(dict.fromkeys(seeds))


DEMO_FLAGS_SET_HERE = ("--seed", "--resume", "--checkpoint", "--stop-after")  # a seed's run is one whole run


def load_demo():
    """demos/mixture.py as a module (its parser checks the flags passed on to it; its OUTPUTS)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("case_study_mixture_demo", ROOT / "demos" / "mixture.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def check_demo_flags(parser: argparse.ArgumentParser, extra: list[str]) -> None:
    """The flags passed on to demos/mixture.py, checked by its own parser now (one line, exit 2), not in
    the first seed's subprocess."""
    for flag in DEMO_FLAGS_SET_HERE:
        if any(item == flag or item.startswith(flag + "=") for item in extra):
            parser.error(f"argument {flag}: not allowed here (case_study.py runs the demo once per --seeds seed)")
    load_demo().parse_args([*extra, "--no-progress"])


def check_recipe(overrides: dict) -> None:
    """--set changes the recipe: refused now if GANConfig refuses it (ValueError naming --set)."""
    import dataclasses

    from tinygan.gan.recipes import recipe

    try:
        dataclasses.replace(recipe("two"), **overrides).validate()
    except (ValueError, TypeError) as error:
        raise ValueError(f"--set: {error}") from None


def output_plan(args: argparse.Namespace, in_process: bool) -> Any:
    """The plan that writes --json, checked together with each seed's demo folder in --out (only checked
    here: each demo run writes its folder through its own plan)."""
    from tinygan.outputs import OutputPlan

    everything, plan = OutputPlan(force=args.force), OutputPlan(force=args.force)
    if not in_process:
        names = getattr(load_demo(), "OUTPUTS", ())
        for seed in args.seeds:
            everything.folder(Path(args.out) / f"seed{seed}", names, "--out")
    for each in (everything, plan):
        each.file(args.json, "--json")
        each.check()
    return plan


def run_seed(seed: int, out: Path, extra: list[str]) -> dict:
    """One ordinary run of the demo for ``seed`` in a subprocess, into OUT/seedSEED; RuntimeError if it fails."""
    folder = out / f"seed{seed}"
    command = [sys.executable, str(ROOT / "demos" / "mixture.py"), "--seed", str(seed), "--out", str(folder)]
    start = time.perf_counter()
    done = subprocess.run([*command, "--no-progress", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"demos/mixture.py exited with {done.returncode}: {lines[-1] if lines else ''}")
    wall = time.perf_counter() - start
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"seed": seed, "wall_seconds": wall, "metrics": metrics, "checks": check(metrics),
            "faithful": faithful(metrics)}  # fmt: skip


def table(rows: list[dict], markdown: bool) -> str:
    header = ["seed", "wall s", "weights", "mean error", "std range", "energy / floor", "V(D,G)", "pass", "faithful"]
    averaged = all("faithful_averaged" in r for r in rows)
    if averaged:
        header += ["energy, R draws", "faithful, R draws"]
    lines = []
    for r in rows:
        m = r["metrics"]
        error = np.linalg.norm(np.array(m["mode_mean"]) - TRUE_MEANS, axis=1).max()
        stds = np.array(m["mode_std"])
        lines.append([
            str(r["seed"]), f"{r['wall_seconds']:.1f}", " / ".join(f"{w:.3f}" for w in m["mode_weight"]),
            f"{error:.3f}", f"{stds.min():.2f}-{stds.max():.2f}", f"{m['energy_ratio']:.2f}x", f"{m['value']:.4f}",
            _verdict(r["checks"]), _verdict(r["faithful"]),
        ])  # fmt: skip
        if averaged:
            lines[-1] += [f"{m['energy_ratio_averaged']:.2f}x ({m['energy_draws']})", _verdict(r["faithful_averaged"])]
    if markdown:
        rows_md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(rows_md + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def _verdict(checks: dict) -> str:
    return "yes" if all(checks.values()) else "NO: " + ", ".join(k for k, ok in checks.items() if not ok)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The case study's flags and, apart, the flags passed on to demos/mixture.py; all checked now."""
    from tinygan.cli import OneLineParser, number

    # no abbreviations: a demo flag such as --seed must not pass for --seeds
    parser = OneLineParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--seeds", type=seed_list, default=[0, 1, 2, 3, 4], help="comma-separated seeds")
    parser.add_argument("--out", default="runs/case_study", help="one folder per seed in here")
    parser.add_argument("--markdown", action="store_true", help="print the table as GitHub markdown")
    parser.add_argument("--json", metavar="PATH", help="write all rows as JSON")
    parser.add_argument("--force", action="store_true",
                        help="allow writing over files in --out or --json that tinygan did not write")  # fmt: skip
    parser.add_argument("--true-trials", type=number(int, 0, "--true-trials", strict=False), default=0,
                        help="also score the true sampler this many times")  # fmt: skip
    parser.add_argument("--in-process", action="store_true", help="train here (as --set does), no pictures")
    parser.add_argument("--energy-draws", type=number(int, 0, "--energy-draws", strict=False), default=10,
                        help="draws for the averaged energy ratio of runs trained here (0: skip)")  # fmt: skip
    parser.add_argument("--set", dest="overrides", type=_override, action="append", default=[],
                        metavar="FIELD=VALUE", help="change the recipe (trains here, no pictures)")  # fmt: skip
    args, extra = parser.parse_known_args(argv)  # anything else goes to demos/mixture.py
    args.in_process = bool(args.overrides or args.in_process)
    if args.in_process and extra:
        parser.error(f"--set trains in this process; demo arguments {extra} do not apply")
    if args.force and not args.in_process:
        extra.append("--force")  # each seed's demo may then write over files that are not tinygan's too
    if extra:
        check_demo_flags(parser, extra)
    return args, extra


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every run passes the article's bar; 1 when one misses it or fails (one line each on
    stderr); 2 for a refused flag or path (one line, before any run)."""
    args, extra = parse_args(argv)
    try:
        if args.in_process:
            check_recipe(dict(args.overrides))
        plan = output_plan(args, args.in_process)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows, failed = [], []
    for seed in args.seeds:
        try:
            if args.in_process:
                rows.append(run_variant(seed, dict(args.overrides), args.energy_draws))
            else:
                rows.append(run_seed(seed, Path(args.out), extra))
        except Exception as error:  # one failed seed must not hide the others
            failed.append(f"seed {seed}: {type(error).__name__}: {(str(error).strip() or '-').splitlines()[0]}")
            print(f"seed {seed}: FAILED", flush=True)
            continue
        print(f"seed {seed}: {rows[-1]['wall_seconds']:.1f} s, checks {rows[-1]['checks']}", flush=True)
    if rows:
        report(rows, args.markdown)
    truth = true_sampler(args.true_trials) if args.true_trials > 0 else None
    if truth is not None:
        fractions = ", ".join(f"{k} {100 * v:.0f}%" for k, v in truth["pass_fraction"].items())
        print(f"true sampler, {truth['trials']} draws: passes {fractions}; energy ratio median "
              f"{truth['energy_ratio_median']:.2f}, max {truth['energy_ratio_max']:.2f}")  # fmt: skip
    if args.json:
        from tinygan.outputs import write_json

        write_json(plan, args.json, {"runs": rows, "true_sampler": truth, "failed": failed})
        plan.finish()
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 0 if rows and not failed and all(all(r["checks"].values()) for r in rows) else 1


def report(rows: list[dict], markdown: bool) -> None:
    """The table, then how many seeds meet the faithful goal (with the averaged energy ratio too, if measured)."""
    print(table(rows, markdown))
    passed = sum(all(r["faithful"].values()) for r in rows)
    if all("faithful_averaged" in r for r in rows):
        averaged = sum(all(r["faithful_averaged"].values()) for r in rows)
        print(f"faithful goal with the energy ratio averaged over draws: {averaged} of {len(rows)} seeds")
    print(
        f"faithful goal (energy <= 2x floor, weights 0.50 +- 0.03, stds in [0.9, 1.1]): {passed} of {len(rows)} seeds"
    )


if __name__ == "__main__":
    sys.exit(main())
