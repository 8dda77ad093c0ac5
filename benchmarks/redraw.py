"""Is a seed's miss its generator's or its draw's? Sample each GAN kept by a mode-coverage sweep again.

A run of ``benchmarks/mode_coverage.py`` scores one draw of 2500 points, and the reverse KL of a single
draw carries sampling noise (a true sampler's averages 0.005 on the grid). This script loads the
checkpoints that ``mode_coverage.py --keep-models`` wrote (OUT/runs/*.model.npz), draws 2500 points
R more times from each, with and without Jacobian truncation, and prints per run the mean and
standard deviation of HQ, reverse KL and width, and the share of draws that pass the faithful bar.

    python benchmarks/mode_coverage.py --mixtures grid25 --methods spread_codes --jobs 2 --keep-models
    python benchmarks/redraw.py runs/mode_coverage --draws 20 --truncation 0.05 --markdown
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mode_coverage import N_SAMPLES, format_table, is_faithful, scored  # noqa: E402

REDRAW_SEED = 1_000  # draw r of every run uses default_rng([REDRAW_SEED + r, 7]), not the sweep's own draw


def redraw(model: Any, draws: int, truncation: float) -> dict[str, Any]:
    """Mode statistics of ``draws`` fresh draws of 2500 points from one GAN (or the path of its checkpoint),
    sampled with ``truncation`` (0: without): {"hq", "reverse_kl", "width"} arrays (draws,) and "faithful"
    (draws,) bools."""
    from tinygan.evaluation.metrics import mode_statistics
    from tinygan.gan.checkpoint import load_checkpoint

    gan = load_checkpoint(model) if isinstance(model, (str, os.PathLike)) else model
    records = []
    for r in range(draws):
        points = gan.sample(N_SAMPLES, rng=np.random.default_rng([REDRAW_SEED + r, 7]), jacobian_truncation=truncation)
        records.append(scored(mode_statistics(points, gan.data), truncated=truncation > 0))
    return {
        "hq": np.array([r["high_quality_fraction"] for r in records]),
        "reverse_kl": np.array([r["reverse_kl"] for r in records]),
        "width": np.array([r["width_ratio"] for r in records]),
        "faithful": np.array([is_faithful(r, truncated=truncation > 0) for r in records]),
    }


def kept_models(folder: str) -> dict[str, Any]:
    """{run name: GAN} of every checkpoint in FOLDER/runs, each loaded with tinygan's checkpoint loader;
    a missing folder, no models, or a model that does not load: ValueError naming FOLDER."""
    from tinygan.gan.checkpoint import load_checkpoint

    runs = os.path.join(folder, "runs")
    if not os.path.isdir(folder):
        raise ValueError(f"FOLDER {folder}: {'not a folder' if os.path.exists(folder) else 'no such folder'}")
    paths = sorted(glob.glob(os.path.join(glob.escape(runs), "*.model.npz")))
    if not paths:
        raise ValueError(f"FOLDER {folder}: no kept models in {runs} (run mode_coverage.py --keep-models)")
    models = {}
    for path in paths:
        try:
            gan = load_checkpoint(path)
        except (ValueError, OSError) as error:  # CheckpointError is a ValueError
            raise ValueError(f"FOLDER {folder}: {os.path.basename(path)} does not load ({error})") from None
        if getattr(gan.data, "means", None) is None:
            raise ValueError(f"FOLDER {folder}: {os.path.basename(path)} was not trained on a built-in mixture")
        models[os.path.basename(path).removesuffix(".model.npz")] = gan
    return models


def rows(models: dict[str, Any], draws: int, truncation: float) -> list[list[str]]:
    """Header, then one row per kept run and sampling (without truncation, then with it)."""
    table = [["run", "truncation", "HQ % (min)", "rev KL ± sd (max)", "width ± sd", "faithful draws"]]
    for name, gan in models.items():
        for q in sorted({0.0, truncation}):
            s = redraw(gan, draws, q)
            with np.errstate(invalid="ignore"):  # a draw with no high-quality point has an infinite reverse KL
                table.append([
                    name, f"{q:g}",
                    f"{100 * s['hq'].mean():.2f} ({100 * s['hq'].min():.2f})",
                    f"{s['reverse_kl'].mean():.4f} ± {s['reverse_kl'].std():.4f} ({s['reverse_kl'].max():.4f})",
                    f"{s['width'].mean():.3f} ± {s['width'].std():.3f}", f"{int(s['faithful'].sum())}/{draws}",
                ])  # fmt: skip
            print(" | ".join(table[-1]), file=sys.stderr, flush=True)  # progress
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from tinygan.cli import OneLineParser, number

    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", metavar="FOLDER", help="a mode_coverage --out folder whose runs/ holds *.model.npz")
    p.add_argument("--draws", type=number(int, 0, "--draws"), default=20,
                   help="fresh draws of 2500 points per run (default 20)")  # fmt: skip
    p.add_argument("--truncation", type=share, default=0.05, help="the truncated sampling's q (default 0.05)")
    p.add_argument("--markdown", action="store_true", help="print the table as GitHub markdown")
    return p.parse_args(argv)


def share(text: str) -> float:
    """--truncation: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"--truncation must be a share in [0, 1), got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Load and check every kept model first (one line naming FOLDER, exit 2), then draw; writes nothing."""
    args = parse_args(argv)
    try:
        models = kept_models(args.folder)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(rows(models, args.draws, args.truncation), markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
