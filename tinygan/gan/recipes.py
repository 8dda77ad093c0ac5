"""Tuned configurations for the three built-in mixtures (``demos/mixture.py --mixture NAME``).

two (the article's case, 1/2 N((-2,-2), I) + 1/2 N((2,2), I)): small MLPs, H = 64, batch 512,
Adam lr 2e-4 with betas (0, 0.9), two D updates per G update, a linear learning-rate decay to 0
over 20,000 steps, and G sampled with an exponential moving average (0.999) of its weights.
With a constant rate the generator keeps orbiting the target (the game has no pull towards
rest), so where a run stops decides its quality; the decay lets it settle, and the average
smooths what is left of the orbit. The second D update keeps D close to its optimum, so G
follows the JSD's gradient rather than a stale D's. Measured against the case study's quality
bar (README): this recipe passed 9 of seeds 0-9; one D step, no average, 10,000 steps passed 4 of
seeds 0-4; two D steps, no average, 10,000 steps passed 8 of seeds 0-9.

ring8 / grid25 (mode-coverage benchmarks): wider, deeper nets (3 x 256), a small batch (64) and
50,000 steps with a cosine decay from 40% of the run down to 1% of the rate. Both pack 2 samples
for D (PacGAN2), sample G from an exponential moving average (0.9995) of its weights, and leave
out the 3% of noise where G stretches most (Jacobian-based truncation, truncation.py). The grid
is seen standardised (divided by 4) by the networks. What keeps the high-quality fraction below
a perfect sampler's 98.9% is samples bridging neighbouring modes: G is a continuous map of a
Gaussian, so some noise must land between modes. The long low-rate tail of the schedule narrows
those bridges: at 20,000 steps packing 2 reached 96.5% (ring) and 92.2% (grid) on seed 0, at
50,000 steps 97.0% and 97.4%. Truncation removes what is left of them. Measured over seeds 0-9
at 50,000 steps (benchmarks/mode_coverage.py; goal: every mode covered and at least 97% high
quality in every seed): on the ring, packing 4 without truncation met it in 10 of 10 seeds on
the build machine (8/8, 97.2-98.2%), but its step costs 1.6x a packed-2 step and the demo took 5
min 5 s there; packing 2 with 3% truncation met it in 10 of 10 on the second machine (8/8 strict,
99.3-100.0%). On the grid, packing kept all 25 modes in every seed on both machines we ran (20
of 20 runs with packing 2), where unpacked runs lost modes in 3-4 of 10 seeds; but packing alone
left 2.6-4.1% of samples on the bridges (96.7% high quality on average, the goal met in 2 of 10
seeds, 3 sampled from the average). Truncating 3% took the same 10 runs to 98.7-99.9% (mean
99.5%), all 25 modes (strict count too) in every seed: 10 of 10. Without truncation the best
grid method, label smoothing 0.1 (unpacked), met the goal in 7 of 10 seeds on each of two
machines.

digits / digits-conditional (demos/digits.py, docs/digits.md): 8x8 images as 64-D points in [-1, 1].
G ends in tanh: with a linear output layer (which the fused step needs) the same runs lost
classes and stayed 8.6x the real Frechet floor (5 seeds), with tanh about 4x on seed 0 and every
class kept. Adam at lr 1e-3 with betas (0, 0.9) lifted k-NN recall from 0.05 (2e-4, (0.5,
0.999)) to 0.6-0.7; batch 128 kept the class histogram closest to the data's. The conditional
recipe keeps batch 64 (measured on seed 0: Frechet 2.7x the floor, recall 0.63). A decaying
rate and G's weight average, which help the mixtures, lowered recall here.
"""

from __future__ import annotations

import dataclasses

from .config import GANConfig

RECIPES: dict[str, GANConfig] = {
    "two": GANConfig(d_steps=2, ema=0.999, steps=20_000),
    "ring8": GANConfig(
        hidden=256, depth=3, lr=2e-4, betas=(0.5, 0.999), batch_size=64, pack=2,
        schedule="cosine", decay_start=0.4, final_lr_fraction=0.01, steps=50_000,
        ema=0.9995, jacobian_truncation=0.03,
    ),
    "grid25": GANConfig(
        hidden=256, depth=3, lr=2e-4, betas=(0.5, 0.999), batch_size=64, pack=2,
        schedule="cosine", decay_start=0.4, final_lr_fraction=0.01, steps=50_000, data_scale=4.0,
        ema=0.9995, jacobian_truncation=0.03,
    ),
}  # fmt: skip
RECIPES["digits"] = GANConfig(
    data_dim=64, noise_dim=16, hidden=256, depth=2, g_output="tanh", lr=1e-3, betas=(0.0, 0.9),
    batch_size=128, schedule="constant", steps=6000,
)  # fmt: skip
RECIPES["digits-conditional"] = dataclasses.replace(RECIPES["digits"], batch_size=64, num_classes=10)


def recipe(name: str) -> GANConfig:
    """A fresh copy of the tuned config for a mixture (or the case-study default for user data)."""
    if name not in RECIPES:
        raise ValueError(f"mixture must be one of {sorted(RECIPES)}, got {name!r}")
    return dataclasses.replace(RECIPES[name])
