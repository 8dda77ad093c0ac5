"""Tuned configurations: the three built-in mixtures (``demos/mixture.py --mixture NAME``) and the digits.

two (the article's case): small MLPs (H = 64), Adam 2e-4 with betas (0, 0.9), two D updates per
G update, 10,000 steps with a linear learning-rate decay to 0, and G sampled from an exponential
moving average (0.999) of its weights. D judges 256 packs of 2 samples (512 a side) and sees the log
of each pack's spread (nn/pack_spread.py), which holds G's modes to the data's width: the stds stay
in [0.95, 1.01] over seeds 0-9, where without it they ranged over [0.84, 1.13]. With a constant
rate the generator keeps orbiting the target (the game has no pull towards rest); the decay lets
it settle, the average smooths what is left of the orbit, and the second D update keeps D near its
optimum, so G follows the JSD's gradient rather than a stale D's. docs/case_study.md gives the
measurements.

ring8 / grid25 (mode coverage): 3 x 256 nets, batch 64, 40,000 steps on the ring and 50,000 on
the grid (at 40,000 the ring kept every goal in 10 of 10 seeds; 3 x 192 nets lost a goal), with a
cosine decay from 40% of the run to 1% of the rate. Both pack 2 samples for D (PacGAN2), which
keeps every mode; give D the log of each pack's spread, which keeps each mode as wide as the
data's (on the grid it opens after 30% of the run: from the start it cost modes); sample G from an
exponential moving average (0.999) of its weights. The ring's sampling leaves out the 3% of the
noise where G stretches most (Jacobian truncation, truncation.py), which removes the samples G
leaves on the bridges between modes. The grid's G instead gets a one-hot code of 150 values beside
its noise, which a network Q learns to read back from G's output (codes.py, weight 0.1): G then
jumps between modes where the code changes and draws no bridges, so the grid needs no truncation
(sampled with truncation, each code loses the same share of its noise, so the codes keep their
weights). Each code ends up drawing a single mode, so a mode's weight comes in whole codes: with
100 codes (weight 0.2) one seed in ten gave its modes 3 to 6 (reverse KL 0.026); with 200 (weight
0.1) the code term stretched two seeds' modes past 1.25 times the data's width; 150 kept both.
The grid is fed to the networks divided by 4. docs/mode_coverage.md gives the measurements and the
methods that lost.

digits / digits-conditional (demos/digits.py, docs/digits.md): 8x8 images as 64-D points in [-1, 1].
G ends in tanh: with a linear output layer the same runs lost
classes and stayed 8.6x the real Frechet floor (5 seeds); with tanh about 4x on seed 0 and every
class kept. Adam at lr 1e-3 with betas (0, 0.9) lifted k-NN recall from 0.05 (2e-4, (0.5,
0.999)) to 0.6-0.7; batch 128 kept the class histogram closest to the data's. The conditional
recipe keeps batch 64 (measured on seed 0: Frechet 2.7x the floor, recall 0.63).

digits-codes: digits, with a one-hot code of 10 values in G's noise that a network Q must read
back from G's digit (codes.py, weight 1), and G sampled from an exponential moving average
(0.99) of its weights. Without the codes the class histogram stays off the data's (reverse KL
0.034 on average over seeds 0-4) and the features 5.3x the Frechet floor; the codes alone met
every goal in 8 of seeds 0-9, with the average in 10 of 10 (an average of 0.999 cost recall:
9 of 10). docs/digits.md gives the measurements. demos/digits.py trains ``digits``: it draws the
noise of its pictures as noise_dim columns, which a GAN with latent codes refuses.
"""

from __future__ import annotations

import dataclasses

from .config import GANConfig

RECIPES: dict[str, GANConfig] = {
    "two": GANConfig(d_steps=2, ema=0.999, steps=10_000, batch_size=256, pack=2, pack_spread=True),
    "ring8": GANConfig(
        hidden=256, depth=3, lr=2e-4, betas=(0.5, 0.999), batch_size=64, pack=2,
        schedule="cosine", decay_start=0.4, final_lr_fraction=0.01, steps=40_000,
        ema=0.999, jacobian_truncation=0.03, pack_spread=True,
    ),
    "grid25": GANConfig(
        hidden=256, depth=3, lr=2e-4, betas=(0.5, 0.999), batch_size=64, pack=2,
        schedule="cosine", decay_start=0.4, final_lr_fraction=0.01, steps=50_000, data_scale=4.0,
        ema=0.999, pack_spread=True, pack_spread_from=0.3, latent_codes=150, code_info=0.1,
    ),
}  # fmt: skip
RECIPES["digits"] = GANConfig(
    data_dim=64, noise_dim=16, hidden=256, depth=2, g_output="tanh", lr=1e-3, betas=(0.0, 0.9),
    batch_size=128, schedule="constant", steps=6000,
)  # fmt: skip
RECIPES["digits-conditional"] = dataclasses.replace(RECIPES["digits"], batch_size=64, num_classes=10)
RECIPES["digits-codes"] = dataclasses.replace(RECIPES["digits"], latent_codes=10, code_info=1.0, ema=0.99)


def recipe(name: str) -> GANConfig:
    """A fresh copy of the tuned config called ``name`` (two, ring8, grid25, digits, digits-conditional,
    digits-codes).

    For your own data, start from ``recipe("two")`` for small 2-D problems, or from ``GANConfig()``."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return dataclasses.replace(RECIPES[name])
