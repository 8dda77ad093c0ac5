"""Train a discriminator against a *fixed* generator distribution and compare it with theory.

For two known 1-D densities p_data and p_g, the best discriminator is D*(x) = p_data / (p_data + p_g),
and the value it reaches is V(D*, G) = -log 4 + 2 JSD(p_data || p_g) (docs/theory.md). This demo
trains a tinygan MLP on samples only (it never sees the densities), then checks:

* the learned D(x) against D*(x) on a grid (plot, and max |D - D*| where the densities carry mass);
* V(D, G) by Monte Carlo with the trained D, against V(D*, G) and -log 4 + 2 JSD, both integrated;
* the case p_g = p_data: D = 1/2 everywhere and V = -log 4.

    python demos/optimal_discriminator.py --out runs/optimal_discriminator --seed 0

Writes optimal_discriminator.png and optimal_discriminator.json into --out (and .tinygan-run.json, the list of the
files it wrote); it refuses to overwrite a file tinygan did not create unless --force is given.
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinygan.cli import OneLineParser, number, path_text  # noqa: E402
from tinygan.evaluation import theory  # noqa: E402
from tinygan.evaluation.data import GaussianMixture  # noqa: E402
from tinygan.evaluation.loader import available_memory, describe_size  # noqa: E402
from tinygan.fast.backend import limit_threads  # noqa: E402
from tinygan.outputs import OutputPlan, write_json  # noqa: E402
from tinygan.plot import Destination, save_figure  # noqa: E402


def gaussians(means: list[float], stds: list[float]) -> GaussianMixture:
    """An equal-weight 1-D Gaussian mixture in float64 (samples (n, 1), density on (N, 1) points)."""
    return GaussianMixture([[m] for m in means], [s**2 for s in stds], dtype=np.float64)


# name: (label of p_data, p_data, label of p_g, p_g)
CASES = {
    "gaussian": ("N(0, 1)", gaussians([0.0], [1.0]), "N(1.5, 0.7²)", gaussians([1.5], [0.7])),
    "mixture": (
        "½N(-2, 0.5²) + ½N(2, 0.5²)",
        gaussians([-2.0, 2.0], [0.5, 0.5]),
        "N(0, 1.5²)",
        gaussians([0.0], [1.5]),
    ),  # fmt: skip
    "equal": ("N(0, 1)", gaussians([0.0], [1.0]), "N(0, 1)", gaussians([0.0], [1.0])),
}


def run_case(p_data: GaussianMixture, p_g: GaussianMixture, args: argparse.Namespace, seed: int) -> dict:
    """Train D on samples, then measure it against the integrals. Returns numbers and curves."""
    points, weights = theory.make_grid([(-10.0, 10.0)], 4001)  # (N, 1), (N,)
    a, b = p_data.density(points), p_g.density(points)  # (N,) each
    d_star = theory.optimal_discriminator(a, b)
    start = time.perf_counter()
    D = theory.train_discriminator(p_data.sample, p_g.sample, 1, steps=args.steps, seed=seed)
    seconds = time.perf_counter() - start
    d = theory.discriminator_probability(D, points)
    bulk = (a + b) / 2 > 0.01  # where the two densities (averaged) carry the mass
    rng = np.random.default_rng([seed, 2])  # fresh samples, never seen in training
    n = args.samples
    return {
        "V_monte_carlo_trained_D": theory.value_monte_carlo(D, p_data.sample(n, rng), p_g.sample(n, rng)),
        "V_optimal_integrated": theory.optimal_value(a, b, weights),
        "minus_log4_plus_2JSD": theory.jsd_value(a, b, weights),
        "JSD": theory.js_divergence(a, b, weights),
        "max_abs_D_minus_Dstar_bulk": float(np.abs(d - d_star)[bulk].max()),
        "train_seconds": seconds,
        "_curves": (points[:, 0], a, b, d_star, d),
    }


def plot(results: dict, path: Destination) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.6))
    for ax, (name, r) in zip(np.atleast_1d(axes), results.items()):
        x, a, b, d_star, d = r["_curves"]
        label_data, _, label_g, _ = CASES[name]
        dens = ax.twinx()  # densities on their own axis, D on [0, 1]
        dens.fill_between(x, a, color="tab:blue", alpha=0.15, label="p_data")
        dens.fill_between(x, b, color="tab:orange", alpha=0.15, label="p_g")
        dens.set_ylim(0, 1.15 * max(a.max(), b.max()))
        dens.set_ylabel("density")
        outside = (a + b) / 2 <= 0.01  # no samples land here: D is unconstrained, error not measured
        ax.fill_between(x, 0, 1, where=outside, color="0.85", alpha=0.6, lw=0, label="not measured")
        ax.plot(x, d_star, "k-", lw=2, label="D*(x) = p_data / (p_data + p_g)")
        ax.plot(x, d, "r--", lw=2, label="trained D(x)")
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
        ax.set_zorder(dens.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(-7, 7)
        ax.set_xlabel("x")
        ax.set_ylabel("D(x)")
        ax.set_title(
            f"p_data = {label_data},  p_g = {label_g}\n"
            f"max|D - D*| = {r['max_abs_D_minus_Dstar_bulk']:.3f};  V(D) MC = "
            f"{r['V_monte_carlo_trained_D']:.4f};  -log4+2JSD = {r['minus_log4_plus_2JSD']:.4f}",
            fontsize=9,
        )
    handles = ax.get_legend_handles_labels()[0] + dens.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def check_monte_carlo_memory(samples: int) -> None:
    """Refuse before any training a --samples whose draws D cannot judge in this machine's memory: per
    point, the draw and D's float64 activations (64 wide, a few layers), on both sides."""
    needed = 2 * samples * 64 * 8 * 4
    available = available_memory()
    if needed > available:
        raise ValueError(
            f"--samples {samples}: the Monte-Carlo estimate needs about {describe_size(needed)}, more than the "
            f"{describe_size(available)} of memory available"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=path_text, default="runs/optimal_discriminator", help="output folder")
    parser.add_argument("--force", action="store_true", help="allow overwriting files tinygan did not create")
    parser.add_argument("--seed", type=number(int, 0, "--seed", strict=False), default=0)
    parser.add_argument(
        "--steps", type=number(int, 0, "--steps"), default=3000, help="Adam steps for each discriminator"
    )
    parser.add_argument(
        "--samples", type=number(int, 0, "--samples"), default=200_000, help="Monte-Carlo samples per side"
    )
    args = parser.parse_args(argv)
    plan = OutputPlan(force=args.force)
    plan.folder(args.out, ("optimal_discriminator.png", "optimal_discriminator.json"))
    try:
        plan.check()  # before any work
        check_monte_carlo_memory(args.samples)
    except ValueError as error:
        parser.error(str(error))

    with limit_threads(1):
        results = {name: run_case(p_data, p_g, args, args.seed) for name, (_, p_data, _, p_g) in CASES.items()}

    print(f"-log 4 = {-theory.LOG4:.4f}")
    header = f"{'case':<9} {'V(D) MC':>9} {'V(D*,G)':>9} {'-log4+2JSD':>11} {'JSD':>7} {'max|D-D*|':>10}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:<9} {r['V_monte_carlo_trained_D']:>9.4f} {r['V_optimal_integrated']:>9.4f} "
            f"{r['minus_log4_plus_2JSD']:>11.4f} {r['JSD']:>7.4f} {r['max_abs_D_minus_Dstar_bulk']:>10.4f}"
        )

    plot(results, plan.target("optimal_discriminator.png"))
    numbers = {name: {k: v for k, v in r.items() if not k.startswith("_")} for name, r in results.items()}
    summary = {"seed": args.seed, "steps": args.steps, "samples": args.samples, "minus_log4": -theory.LOG4}
    write_json(plan, "optimal_discriminator.json", summary | {"cases": numbers})
    plan.finish()
    print(f"wrote optimal_discriminator.png and optimal_discriminator.json to {args.out}")
    return numbers


if __name__ == "__main__":
    main()
