"""What the grid's latent codes cost: steps/s of ``recipe("grid25")`` (codes read back by Q) on the
fused Numba step, on the same step with G's first layer multiplying the one-hot code like any input
(instead of adding the code's row of W), and on the readable step (Numba's kernels), against the
same recipe without codes on the fused step, in alternating rounds of 600 steps after 200 of
warm-up, so that a slow spell of the machine falls on all four.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/codes_cost.py
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import tinygan as tg
from tinygan.cli import OneLineParser, number

ROUNDS, STEPS, WARM_UP = 5, 600, 200
FUSED_WITHOUT = "without codes, fused step"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=number(int, 0, "--rounds"), default=ROUNDS, help=f"timed rounds (default {ROUNDS})")
    p.add_argument("--steps", type=number(int, 0, "--steps"), default=STEPS,
                   help=f"steps per timed round (default {STEPS})")  # fmt: skip
    p.add_argument("--warm-up", type=number(int, 0, "--warm-up", strict=False), default=WARM_UP,
                   help=f"untimed steps first (default {WARM_UP})")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Time the four steps and print one line each; a refused flag or a missing Numba is one line, exit 2."""
    from tinygan.fast.backend import BackendUnavailableError

    args = parse_args(argv)
    try:
        tg.set_backend("numba")
    except BackendUnavailableError as error:
        print(f"error: codes_cost.py times the fused Numba step: {error}", file=sys.stderr)
        return 2
    rates = time_steps(args.rounds, args.steps, args.warm_up)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, r in rates.items():
        ratio = medians[FUSED_WITHOUT] / medians[name]
        print(f"{name:27s} steps/s {', '.join(f'{x:.0f}' for x in r)}  median {medians[name]:.0f}  "
              f"(a step {ratio:.2f}x as long as without codes)")  # fmt: skip
    return 0


def time_steps(rounds: int, steps: int, warm_up: int) -> dict[str, list[float]]:
    """Steps/s of each of the four ways, ``rounds`` times ``steps`` steps in alternation after ``warm_up``."""
    with_codes = tg.recipe("grid25")
    without = dataclasses.replace(with_codes, latent_codes=0, code_info=0.0)
    readable = tg.GAN(tg.mixture("grid25"), with_codes, seed=0)
    readable.fused = None  # GAN.train_step layer by layer, as on the numpy backend
    multiplied = tg.GAN(tg.mixture("grid25"), with_codes, seed=0)
    multiplied.fused.skip_code_zeros = False
    gans = {
        "with codes, fused step": tg.GAN(tg.mixture("grid25"), with_codes, seed=0),
        "codes multiplied, fused": multiplied,
        "with codes, readable step": readable,
        FUSED_WITHOUT: tg.GAN(tg.mixture("grid25"), without, seed=0),
    }
    for gan in gans.values():
        for _ in range(warm_up):
            gan.train_step()
    rates: dict[str, list[float]] = {name: [] for name in gans}
    for _ in range(rounds):
        for name, gan in gans.items():
            start = time.perf_counter()
            for _ in range(steps):
                gan.train_step()
            rates[name].append(steps / (time.perf_counter() - start))
    return rates


if __name__ == "__main__":
    sys.exit(main())
