"""What the grid's latent codes cost: steps/s of ``recipe("grid25")`` (codes read back by Q) on the
fused Numba step, on the same step with G's first layer multiplying the one-hot code like any input
(instead of adding the code's row of W), and on the readable step (Numba's kernels), against the
same recipe without codes on the fused step, in alternating rounds of 600 steps after 200 of
warm-up, so that a slow spell of the machine falls on all four.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/codes_cost.py
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import tinygan as tg

ROUNDS, STEPS, WARM_UP = 5, 600, 200
FUSED_WITHOUT = "without codes, fused step"


def main() -> None:
    tg.set_backend("numba")
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
        for _ in range(WARM_UP):
            gan.train_step()
    rates: dict[str, list[float]] = {name: [] for name in gans}
    for _ in range(ROUNDS):
        for name, gan in gans.items():
            start = time.perf_counter()
            for _ in range(STEPS):
                gan.train_step()
            rates[name].append(STEPS / (time.perf_counter() - start))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, r in rates.items():
        ratio = medians[FUSED_WITHOUT] / medians[name]
        print(f"{name:27s} steps/s {', '.join(f'{x:.0f}' for x in r)}  median {medians[name]:.0f}  "
              f"(a step {ratio:.2f}x as long as without codes)")  # fmt: skip


if __name__ == "__main__":
    main()
