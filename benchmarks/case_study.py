"""Run the default case study (``python demos/mixture.py``) for several seeds and tabulate the results.

    python benchmarks/case_study.py --seeds 0,1,2,3,4 --markdown

Each seed is one ordinary run of the demo in a subprocess (start-up included in its wall time).
The table checks the case study's quality bar on each run's ``samples.npy``: both modes captured,
each mode's weight 0.50 +- 0.05, each mode's mean within 0.2 of the truth, per-axis std in
[0.8, 1.2], energy distance at most 5x its noise floor, no NaN.
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
        "energy": metrics["energy_ratio"] <= 5.0,
        "finite": metrics["finite"],
    }


def run_seed(seed: int, out: Path, extra: list[str]) -> dict:
    folder = out / f"seed{seed}"
    command = [sys.executable, str(ROOT / "demos" / "mixture.py"), "--seed", str(seed), "--out", str(folder)]
    start = time.perf_counter()
    subprocess.run([*command, "--no-progress", *extra], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"seed": seed, "wall_seconds": wall, "metrics": metrics, "checks": check(metrics)}


def table(rows: list[dict], markdown: bool) -> str:
    header = ["seed", "wall s", "weights", "mean error", "std range", "energy / floor", "V(D,G)", "pass"]
    lines = []
    for r in rows:
        m = r["metrics"]
        error = np.linalg.norm(np.array(m["mode_mean"]) - TRUE_MEANS, axis=1).max()
        stds = np.array(m["mode_std"])
        lines.append([
            str(r["seed"]), f"{r['wall_seconds']:.1f}", " / ".join(f"{w:.3f}" for w in m["mode_weight"]),
            f"{error:.3f}", f"{stds.min():.2f}-{stds.max():.2f}", f"{m['energy_ratio']:.2f}x", f"{m['value']:.4f}",
            "yes" if all(r["checks"].values()) else "NO: " + ", ".join(k for k, ok in r["checks"].items() if not ok),
        ])  # fmt: skip
    if markdown:
        rows_md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(rows_md + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--out", default="runs/case_study", help="one folder per seed in here")
    parser.add_argument("--markdown", action="store_true", help="print the table as GitHub markdown")
    parser.add_argument("--json", metavar="PATH", help="write all rows as JSON")
    args, extra = parser.parse_known_args(argv)  # anything else goes to demos/mixture.py
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows.append(run_seed(seed, Path(args.out), extra))
        print(f"seed {seed}: {rows[-1]['wall_seconds']:.1f} s, checks {rows[-1]['checks']}", flush=True)
    print(table(rows, args.markdown))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(all(r["checks"].values()) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
