"""Tuned configurations for the three built-in mixtures (``demos/mixture.py --mixture NAME``).

two (the article's case): small MLPs (H = 64), batch 512, Adam 2e-4 with betas (0, 0.9), two D
updates per G update, 13,000 steps with a linear learning-rate decay to 0, and G sampled from an
exponential moving average (0.999) of its weights. With a constant rate the generator keeps
orbiting the target (the game has no pull towards rest); the decay lets it settle, the average
smooths what is left of the orbit, and the second D update keeps D near its optimum, so G follows
the JSD's gradient rather than a stale D's. docs/case_study.md gives the measurements.

ring8 / grid25 (mode coverage): 3 x 256 nets, batch 64, 50,000 steps with a cosine decay from
40% of the run to 1% of the rate. Both pack 2 samples for D (PacGAN2), which keeps every mode;
sample G from an exponential moving average (0.9995) of its weights; and leave out the 3% of
noise where G stretches most (Jacobian truncation, truncation.py), which removes the samples G
must leave on the bridges between modes. The grid is fed to the networks divided by 4.
docs/mode_coverage.md gives the measurements and the methods that lost.
"""

from __future__ import annotations

import dataclasses

from .config import GANConfig

RECIPES: dict[str, GANConfig] = {
    "two": GANConfig(d_steps=2, ema=0.999, steps=13_000),
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


def recipe(name: str) -> GANConfig:
    """A fresh copy of the tuned config for the built-in mixture ``name`` (two, ring8 or grid25).

    For your own data, start from ``recipe("two")`` for small 2-D problems, or from ``GANConfig()``."""
    if name not in RECIPES:
        raise ValueError(f"mixture must be one of {sorted(RECIPES)}, got {name!r}")
    return dataclasses.replace(RECIPES[name])
