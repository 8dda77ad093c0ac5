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


def run_seed(seed: int, out: Path, extra: list[str]) -> dict:
    folder = out / f"seed{seed}"
    command = [sys.executable, str(ROOT / "demos" / "mixture.py"), "--seed", str(seed), "--out", str(folder)]
    start = time.perf_counter()
    subprocess.run([*command, "--no-progress", *extra], check=True, stdout=subprocess.DEVNULL)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--out", default="runs/case_study", help="one folder per seed in here")
    parser.add_argument("--markdown", action="store_true", help="print the table as GitHub markdown")
    parser.add_argument("--json", metavar="PATH", help="write all rows as JSON")
    parser.add_argument("--true-trials", type=int, default=0, help="also score the true sampler this many times")
    parser.add_argument("--in-process", action="store_true", help="train here (as --set does), no pictures")
    parser.add_argument("--energy-draws", type=int, default=10,
                        help="draws for the averaged energy ratio of runs trained here (0: skip)")  # fmt: skip
    parser.add_argument("--set", dest="overrides", type=_override, action="append", default=[],
                        metavar="FIELD=VALUE", help="change the recipe (trains here, no pictures)")  # fmt: skip
    args, extra = parser.parse_known_args(argv)  # anything else goes to demos/mixture.py
    if (args.overrides or args.in_process) and extra:
        parser.error(f"--set trains in this process; demo arguments {extra} do not apply")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        if args.overrides or args.in_process:
            rows.append(run_variant(seed, dict(args.overrides), args.energy_draws))
        else:
            rows.append(run_seed(seed, Path(args.out), extra))
        print(f"seed {seed}: {rows[-1]['wall_seconds']:.1f} s, checks {rows[-1]['checks']}", flush=True)
    print(table(rows, args.markdown))
    passed = sum(all(r["faithful"].values()) for r in rows)
    if all("faithful_averaged" in r for r in rows):
        averaged = sum(all(r["faithful_averaged"].values()) for r in rows)
        print(f"faithful goal with the energy ratio averaged over draws: {averaged} of {len(rows)} seeds")
    print(
        f"faithful goal (energy <= 2x floor, weights 0.50 +- 0.03, stds in [0.9, 1.1]): {passed} of {len(rows)} seeds"
    )
    truth = true_sampler(args.true_trials) if args.true_trials > 0 else None
    if truth is not None:
        fractions = ", ".join(f"{k} {100 * v:.0f}%" for k, v in truth["pass_fraction"].items())
        print(f"true sampler, {truth['trials']} draws: passes {fractions}; energy ratio median "
              f"{truth['energy_ratio_median']:.2f}, max {truth['energy_ratio_max']:.2f}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "true_sampler": truth}, indent=1))
    return 0 if all(all(r["checks"].values()) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
