"""Mode coverage on ring8 and grid25: plain GAN, PacGAN 2/3/4, label smoothing, EMA, Jacobian truncation.

For each mixture and method, train from the mixture's recipe (``tinygan.gan.recipes``) for several seeds,
draw 2500 samples, and count with ``tinygan.evaluation.metrics.mode_statistics``: modes captured (the published
definition: at least one sample within 3 std of the mode), modes captured strictly (each mode also
holds >= 20% of its fair share of the samples) and the % of high-quality samples (within 3 std of
the nearest mode). Two more numbers say whether the modes are faithful, not only covered: the
reverse KL over modes (PacGAN's third column) and the width ratio (median over modes of the
high-quality samples' per-axis std over the data's; a true sampler scores 0.974). Prints mean ±
standard error over seeds beside the published PacGAN and VEEGAN rows and a "true sampler" row
measured here (2500 points from the mixture itself, many times).

    python benchmarks/mode_coverage.py --jobs 2                           # the full benchmark
    python benchmarks/mode_coverage.py --jobs 2 --resume --markdown      # reuse finished runs, print markdown
    python benchmarks/mode_coverage.py --report-only --markdown          # only tabulate the finished runs
    python benchmarks/mode_coverage.py --steps 50 --seeds 1 --methods gan,pack2 --set hidden=16   # smoke run
    python benchmarks/mode_coverage.py --scheduler tcp://HOST:8786      # runs go to a Dask cluster

The runs are independent, so they spread over workers: ``--jobs N`` starts N local processes, and
``--scheduler ADDRESS`` submits them to a running Dask cluster (``pip install -e ".[sweep]"``; each
worker needs tinygan installed). Each run is seeded on its own, so the records are the same
wherever they ran (tests hold a Dask run equal to a local one, bit for bit).

Methods: gan (pack 1), pack2, pack3, pack4 (PacGAN), smooth (pack 1, real targets 1 - 0.1), and two
sampled from an exponential moving average of G's weights (decay 0.9995): smooth_ema and pack2_ema.
pack2_jbt trains exactly pack2_ema's runs and samples them with Jacobian-based truncation: the 3% of
noise where G stretches most, the bridges between modes, is left out (``tinygan.gan.truncation``).
pack2_rff is pack2_ema with D also seeing 64 random Fourier features of its input, opened from coarse
to fine over the first 60% of the run (``tinygan.nn.features``), so that D can resolve a mode's
width; pack2_rff_jbt samples the same runs with truncation. r1_jbt, r1_jbt_pack1 and r1_codes put
the R1 penalty (gamma 1, ``GANConfig.r1``) in place of the recipes' pack spread: the ring's recipe
with PacGAN2 or without packing, and the grid's with its latent codes; spread_jbt_r1 and
spread_codes_r1 add it to the two recipes (through the pack spread). A
shorter ``--steps`` also shortens the recipe's learning-rate schedule, so every run still decays.
Writes into --out: results.json (every run and the summary), table.txt, table.md, samples.npz,
samples.png (one seed per mixture x method) and runs/ (one file per finished run, for --resume;
with --keep-models each trained GAN too, which benchmarks/redraw.py samples again). Every flag, the
runs' configs and every output path are checked before the first run (one ``error:`` line naming the
flag, exit 2); a file tinygan did not write is never overwritten without ``--force``. A run that raises
is one ``failed:`` line and exit status 1, the other runs tabulated; a run that diverges is a result
(it captures nothing), not a failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import IO, Any, NamedTuple

import numpy as np

from tinygan.cli import OneLineParser, number
from tinygan.outputs import json_safe

MIXTURES = ("ring8", "grid25")


class Method(NamedTuple):
    """A way to train: its name in tables and the GANConfig fields it sets on the mixture's recipe."""

    label: str
    settings: dict[str, Any]


NONE = {
    "pack": 1,
    "label_smoothing": 0.0,
    "ema": 0.0,
    "jacobian_truncation": 0.0,
    "fourier_features": 0,
    "pack_spread": False,
    "latent_codes": 0,
    "code_info": 0.0,
}


def spread_codes(codes: int, weight: float) -> Method:
    """PacGAN2 + pack spread + ``codes`` latent codes read back by Q at ``weight`` + EMA + 5% truncation."""
    label = (f"PacGAN2 + pack spread + {codes} latent codes read by Q (InfoGAN, {weight:g}) + EMA of G (0.999) "
             "+ Jacobian truncation 5%")  # fmt: skip
    return Method(label, NONE | {"pack": 2, "ema": 0.999, "jacobian_truncation": 0.05, "pack_spread": True,
                                 "latent_codes": codes, "code_info": weight})  # fmt: skip


METHODS: dict[str, Method] = {
    "gan": Method("GAN (pack 1)", NONE),
    "pack2": Method("PacGAN2", NONE | {"pack": 2}),
    "pack2_ema": Method("PacGAN2 + EMA of G", NONE | {"pack": 2, "ema": 0.9995}),
    "pack2_jbt": Method("PacGAN2 + EMA of G + Jacobian truncation 3%",
                        NONE | {"pack": 2, "ema": 0.9995, "jacobian_truncation": 0.03}),
    "pack3": Method("PacGAN3", NONE | {"pack": 3}),
    "pack4": Method("PacGAN4", NONE | {"pack": 4}),
    "smooth": Method("GAN + label smoothing 0.1", NONE | {"label_smoothing": 0.1}),
    "smooth_ema": Method("GAN + label smoothing 0.1 + EMA of G", NONE | {"label_smoothing": 0.1, "ema": 0.9995}),
    "pack2_rff": Method("PacGAN2 + EMA of G + Fourier features of D's input",
                        NONE | {"pack": 2, "ema": 0.9995, "fourier_features": 64}),
    "pack2_rff_jbt": Method("PacGAN2 + EMA of G + Fourier features + Jacobian truncation 3%",
                            NONE | {"pack": 2, "ema": 0.9995, "jacobian_truncation": 0.03, "fourier_features": 64}),
    "spread_jbt": Method("PacGAN2 + pack spread + EMA of G (0.999) + Jacobian truncation 3%",
                         NONE | {"pack": 2, "ema": 0.999, "jacobian_truncation": 0.03, "pack_spread": True}),
    "spread_jbt5": Method("PacGAN2 + pack spread + EMA of G (0.999) + Jacobian truncation 5%",
                          NONE | {"pack": 2, "ema": 0.999, "jacobian_truncation": 0.05, "pack_spread": True}),
    "spread_codes": spread_codes(150, 0.1),  # the grid's recipe
    "spread_codes100": spread_codes(100, 0.2),
    "spread_codes200": spread_codes(200, 0.1),
}  # fmt: skip


def with_r1(base: str, label: str, **changes: Any) -> Method:
    """Method ``base``'s settings with ``changes`` and R1 at gamma 1 (``GANConfig.r1``)."""
    return Method(label, METHODS[base].settings | changes | {"r1": 1.0})


# R1 in place of the recipes' pack spread (r1_*), and added to the recipes, through their spread (*_r1)
METHODS |= {
    "r1_jbt": with_r1("spread_jbt", "PacGAN2 + R1 (1) + EMA of G (0.999) + Jacobian truncation 3%",
                      pack_spread=False),
    "r1_jbt_pack1": with_r1("spread_jbt", "GAN (pack 1) + R1 (1) + EMA of G (0.999) + Jacobian truncation 3%",
                            pack_spread=False, pack=1),
    "r1_codes": with_r1("spread_codes", "PacGAN2 + R1 (1) + 150 latent codes read by Q (InfoGAN, 0.1) + EMA of G "
                        "(0.999) + Jacobian truncation 5%", pack_spread=False),
    "spread_jbt_r1": with_r1("spread_jbt", "the ring's recipe (spread_jbt) + R1 (1)"),
    "spread_codes_r1": with_r1("spread_codes", "the grid's recipe (spread_codes) + R1 (1)"),
}  # fmt: skip
UNTRUNCATED = "_untruncated"  # a truncated run's samples drawn again without truncation: METHOD + UNTRUNCATED
N_SAMPLES = 2500  # generated points per run, as in the PacGAN and VEEGAN papers
GOAL_HQ = 0.97  # the goal: every seed captures every mode with >= 97% high-quality samples
# faithful: every mode (strict), HQ >= 97% (98.5% when truncated), reverse KL <= 0.02, width in [0.8, 1.25]
FAITHFUL_HQ, FAITHFUL_HQ_TRUNCATED, FAITHFUL_REVERSE_KL, FAITHFUL_WIDTH = 0.97, 0.985, 0.02, (0.8, 1.25)
TRUE_SAMPLER_SEED = 20_250_107
DASK_CONNECT_TIMEOUT = "20s"  # how long --scheduler waits for its scheduler to answer
# (source, method, {mixture: (modes, % high quality, reverse KL or None)}): averages over 10 trials.
# The VEEGAN paper reports no reverse KL; neither paper reports the width of the modes.
PUBLISHED: list[tuple[str, str, dict[str, tuple[float, float, float | None]]]] = [
    ("PacGAN paper, Table 1", "GAN", {"ring8": (6.3, 98.2, None), "grid25": (17.3, 94.8, None)}),
    ("PacGAN paper, Table 1", "ALI", {"ring8": (6.6, 97.6, None), "grid25": (24.1, 95.7, None)}),
    ("PacGAN paper, Table 1", "PacGAN2", {"ring8": (7.9, 95.6, None), "grid25": (23.8, 91.3, None)}),
    ("PacGAN paper, Table 1", "PacGAN3", {"ring8": (7.8, 97.7, None), "grid25": (24.6, 94.2, None)}),
    ("PacGAN paper, Table 1", "PacGAN4", {"ring8": (7.8, 95.9, None), "grid25": (24.8, 93.6, None)}),
    ("VEEGAN paper, Table 1", "VEEGAN", {"ring8": (8.0, 52.9, None), "grid25": (24.6, 40.0, None)}),
    ("VEEGAN paper, Table 1", "Unrolled GAN", {"ring8": (7.6, 35.6, None), "grid25": (23.6, 16.0, None)}),
]
# PacGAN's Table 1 also reports the reverse KL over modes; its best rows: ring 0.07 +- 0.02, grid 0.04 +- 0.01.
BEST_PUBLISHED_REVERSE_KL = {"ring8": 0.07, "grid25": 0.04}
PUBLISHED_PERFECT_HQ = 98.9  # "a perfect sampler reaches 98.9% high quality" (PacGAN paper)


# ----------------------------------------------------------------------------- one run
class RunSpec(NamedTuple):
    """Everything one training run needs; picklable, so it can go to a worker process."""

    mixture: str
    method: str
    seed: int
    steps: int
    config: dict  # GANConfig.to_dict()
    backend: str | None = None
    keep_model: bool = False  # return the trained GAN as checkpoint bytes under "model"

    @property
    def key(self) -> str:
        return run_key(self._asdict())


def run_key(run: dict[str, Any]) -> str:
    """The name of a run (a spec's fields or a record): its files and its place in the results."""
    return f"{run['mixture']}_{run['method']}_s{run['seed']}"


def method_config(mixture: str, method: str, steps: int | None = None, overrides: dict | None = None) -> Any:
    """The mixture's recipe with the method's pack, label smoothing and EMA; ``steps``: the run's total.

    ``overrides`` (any GANConfig fields but those three) is the hook for tiny test configs.
    """
    from tinygan.gan.model import GANConfig
    from tinygan.gan.recipes import recipe

    if mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {MIXTURES}, got {mixture!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    overrides = dict(overrides or {})
    clash = sorted(set(overrides) & set(METHODS[method].settings))
    if clash:
        raise ValueError(f"{clash} are set by the method; choose them with --methods")
    config = dataclasses.replace(recipe(mixture), **METHODS[method].settings)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    if overrides:
        config = GANConfig.from_dict(config.to_dict() | overrides)
    config.validate()
    return config


def make_specs(
    mixtures: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    steps: int | None = None,
    overrides: dict | None = None,
    backend: str | None = None,
    keep_models: bool = False,
) -> list[RunSpec]:
    """All runs, seed-major (every mixture x method for seed 0 first), so a partial run is balanced."""
    specs = []
    for seed in seeds:
        for mixture in mixtures:
            for method in methods:
                config = method_config(mixture, method, steps, overrides)
                total = steps if steps is not None else config.steps
                specs.append(RunSpec(mixture, method, int(seed), int(total), config.to_dict(), backend, keep_models))
    return specs


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Train one GAN, sample 2500 points, count modes. The record holds the samples under "samples"."""
    from tinygan import get_backend, set_backend
    from tinygan.evaluation.data import mixture
    from tinygan.evaluation.metrics import mode_statistics
    from tinygan.gan.model import GAN, GANConfig
    from tinygan.gan.train import TrainingDiverged, train

    if spec.backend is not None:
        set_backend(spec.backend)
    source = mixture(spec.mixture)
    gan = GAN(source, GANConfig.from_dict(spec.config), seed=spec.seed)
    diverged, start = False, time.perf_counter()
    try:  # the first step alone (Numba may compile); splitting train() does not change the run
        train(gan, 1, progress=False, threads=1)
        first = time.perf_counter() - start
        train(gan, spec.steps, progress=False, threads=1)
    except TrainingDiverged:
        diverged, first = True, time.perf_counter() - start
    seconds = time.perf_counter() - start
    samples = gan.sample(N_SAMPLES, rng=np.random.default_rng([spec.seed, 2])).astype(np.float32)
    record: dict[str, Any] = {
        "mixture": spec.mixture,
        "method": spec.method,
        "seed": spec.seed,
        "steps": spec.steps,
        "steps_done": gan.step,
        "seconds": seconds,  # training, the first step included
        "first_step_seconds": first,
        "backend": get_backend().name,
        "diverged": diverged or not bool(np.all(np.isfinite(samples))),
    }
    if record["diverged"]:  # a run that blew up captures nothing
        k = len(source.weights)
        stats = {"modes_captured": 0, "modes_captured_strict": 0, "modes_total": k, "high_quality_fraction": 0.0}
        stats |= {"mode_weight": [0.0] * k, "reverse_kl": math.inf, "width_ratio": math.nan}
    else:
        stats = mode_statistics(samples, source)
    truncated = spec.config.get("jacobian_truncation", 0) > 0
    record |= scored(stats, truncated)
    if truncated and not record["diverged"]:  # the same G sampled without truncation: a row of its own
        plain = gan.sample(N_SAMPLES, rng=np.random.default_rng([spec.seed, 2]), jacobian_truncation=0.0)
        record["untruncated"] = scored(mode_statistics(plain, source), truncated=False)
    record["config"] = spec.config
    record["samples"] = samples
    if spec.keep_model:
        record["model"] = checkpoint_bytes(gan)
    return record


def checkpoint_bytes(gan: Any) -> bytes:
    """The GAN as a tinygan checkpoint (``save_checkpoint``), in bytes a worker can send back."""
    import tempfile

    from tinygan.gan.checkpoint import save_checkpoint

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        save_checkpoint(gan, path)
        with open(path, "rb") as f:
            return f.read()


def scored(stats: dict[str, Any], truncated: bool) -> dict[str, Any]:
    """A run's record fields from mode_statistics: the counts, HQ, weights, reverse KL, width, and
    whether they meet the coverage goal and the faithful bar (``truncated``: its stricter HQ)."""
    fields = {name: stats[name] for name in ("modes_captured", "modes_captured_strict", "modes_total")}
    fields["high_quality_fraction"] = float(stats["high_quality_fraction"])
    fields["mode_weight"] = [float(w) for w in stats["mode_weight"]]
    fields["reverse_kl"], fields["width_ratio"] = float(stats["reverse_kl"]), float(stats["width_ratio"])
    fields["goal_met"] = meets_goal(fields)
    fields["faithful"] = is_faithful(fields, truncated=truncated)
    return fields


def meets_goal(record: dict[str, Any]) -> bool:
    """The coverage goal for one seed: every mode captured and >= 97% high-quality samples."""
    return record["modes_captured"] == record["modes_total"] and record["high_quality_fraction"] >= GOAL_HQ


def is_faithful(record: dict[str, Any], truncated: bool = False) -> bool:
    """The faithful bar for one seed: every mode (strict count), HQ >= 97% (98.5% when sampled with
    truncation), reverse KL <= 0.02 and width ratio in [0.8, 1.25]. NaN or inf never pass."""
    low, high = FAITHFUL_WIDTH
    hq = FAITHFUL_HQ_TRUNCATED if truncated else FAITHFUL_HQ
    return bool(
        record["modes_captured_strict"] == record["modes_total"]
        and record["high_quality_fraction"] >= hq
        and record["reverse_kl"] <= FAITHFUL_REVERSE_KL
        and low <= record["width_ratio"] <= high
    )


def attempt(spec: RunSpec) -> dict[str, Any]:
    """``run_one(spec)``, or, if it raised, a record of the run with its "error" (one line): one failing run
    must not stop the others of a sweep."""
    try:
        return run_one(spec)
    except Exception as error:  # reported as a failed run; the sweep goes on
        return {"mixture": spec.mixture, "method": spec.method, "seed": spec.seed, "error": first_line(error)}


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _init_worker(backend: str | None) -> None:
    """Worker processes: one Numba thread each (run_one's train(threads=1) keeps BLAS to one thread too),
    so that two workers on two cores do not fight over them."""
    import numba

    numba.set_num_threads(1)
    if backend is not None:
        from tinygan import set_backend

        set_backend(backend)


def execute(
    specs: Sequence[RunSpec],
    jobs: int = 1,
    on_done: Callable[[dict], None] | None = None,
    scheduler: str | None = None,
) -> list[dict]:
    """Run every spec, ``jobs`` at a time in worker processes (in this process when jobs is 1),
    or on the Dask cluster whose scheduler listens at ``scheduler`` (then ``jobs`` is unused).

    ``on_done(record)`` is called in this process as each run finishes; records come back in spec order.
    """
    by_key: dict[str, dict] = {}

    def finish(record: dict) -> None:
        by_key[run_key(record)] = record
        if on_done is not None:
            on_done(record)

    if scheduler is not None:
        if specs:
            _execute_on_dask(specs, scheduler, finish)
    elif jobs == 1 or len(specs) <= 1:
        for spec in specs:
            finish(attempt(spec))
    else:
        backend = specs[0].backend
        with ProcessPoolExecutor(max_workers=min(jobs, len(specs)), initializer=_init_worker,
                                 initargs=(backend,)) as pool:  # fmt: skip
            futures = [pool.submit(attempt, spec) for spec in specs]
            try:
                for future in as_completed(futures):
                    finish(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return [by_key[spec.key] for spec in specs]


def _execute_on_dask(specs: Sequence[RunSpec], scheduler: str, finish: Callable[[dict], None]) -> None:
    """Submit one task per run to a Dask cluster; ``finish`` each record here as it comes back."""
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError('--scheduler needs dask.distributed: pip install -e ".[sweep]"') from None
    with Client(scheduler, timeout=DASK_CONNECT_TIMEOUT) as client:  # OSError (a TimeoutError) if nobody listens there
        futures = [client.submit(attempt, spec, pure=False) for spec in specs]  # a task per run
        try:
            for future in dask_completed(futures):
                finish(future.result())
        except BaseException:
            client.cancel(futures)
            raise


# ----------------------------------------------------------------------------- statistics
def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std with ddof 1, over sqrt n); se is nan for n < 2."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    with np.errstate(invalid="ignore"):  # inf (a run with no high-quality sample) gives an inf mean, nan se
        se = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan
        return float(a.mean()), se


def with_untruncated(records: Sequence[dict]) -> list[dict]:
    """The records, and after them each truncated run again as method METHOD_untruncated, holding the
    statistics of the same G sampled without truncation."""
    plain = [r | r["untruncated"] | {"method": r["method"] + UNTRUNCATED} for r in records if "untruncated" in r]
    return [*records, *plain]


def method_label(method: str) -> str:
    """The table's name for a method (or for a truncated method's runs sampled without truncation)."""
    if method.endswith(UNTRUNCATED):
        return METHODS[method.removesuffix(UNTRUNCATED)].label + ", sampled without truncation"
    return METHODS[method].label


def summarise(records: Sequence[dict]) -> list[dict[str, Any]]:
    """One row per (mixture, method), in first-seen order: mean ± se of modes, strict modes, HQ %.
    A truncated method's runs also give a row sampled without truncation (with_untruncated)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in with_untruncated(records):
        groups.setdefault((record["mixture"], record["method"]), []).append(record)
    rows = []
    for (mixture, method), group in groups.items():
        row: dict[str, Any] = {"mixture": mixture, "method": method, "seeds": [r["seed"] for r in group]}
        row["n"] = len(group)
        row["modes_total"] = group[0]["modes_total"]
        row["modes"], row["modes_se"] = mean_se(r["modes_captured"] for r in group)
        row["strict"], row["strict_se"] = mean_se(r["modes_captured_strict"] for r in group)
        row["hq_pct"], row["hq_pct_se"] = mean_se(100 * r["high_quality_fraction"] for r in group)
        row["reverse_kl"], row["reverse_kl_se"] = mean_se(r.get("reverse_kl", math.nan) for r in group)
        row["width"], row["width_se"] = mean_se(r.get("width_ratio", math.nan) for r in group)
        row["seconds"] = float(np.mean([r["seconds"] for r in group]))
        row["diverged"] = sum(bool(r["diverged"]) for r in group)
        row["seeds_meeting_goal"] = sum(bool(r["goal_met"]) for r in group)
        row["goal_met"] = row["seeds_meeting_goal"] == row["n"]
        row["seeds_faithful"] = sum(bool(r.get("faithful", False)) for r in group)
        rows.append(row)
    return rows


def true_sampler(mixture_name: str, trials: int = 500, n: int = N_SAMPLES, seed: int = TRUE_SAMPLER_SEED) -> dict:
    """The same statistics for ``n`` points drawn from the mixture itself, ``trials`` times.

    The expected high-quality fraction of a 2-D isotropic Gaussian is P(chi2_2 <= 9) = 1 - e^-4.5 = 98.89%.
    """
    from tinygan.evaluation.data import mixture
    from tinygan.evaluation.metrics import mode_statistics

    source = mixture(mixture_name)
    rng = np.random.default_rng([seed, MIXTURES.index(mixture_name)])
    stats = [mode_statistics(source.sample(n, rng), source) for _ in range(trials)]
    records = [
        {
            "mixture": mixture_name,
            "method": "true",
            "seed": t,
            "seconds": 0.0,
            "diverged": False,
            "modes_captured": s["modes_captured"],
            "modes_captured_strict": s["modes_captured_strict"],
            "modes_total": s["modes_total"],
            "high_quality_fraction": s["high_quality_fraction"],
            "reverse_kl": s["reverse_kl"],
            "width_ratio": s["width_ratio"],
        }
        for t, s in enumerate(stats)
    ]
    for record in records:
        record["goal_met"] = meets_goal(record)
        record["faithful"] = is_faithful(record)
    row = summarise(records)[0]
    del row["seeds"]
    row["trials"] = trials
    row["min_hq_pct"] = 100 * min(r["high_quality_fraction"] for r in records)
    row["min_modes"] = min(r["modes_captured"] for r in records)
    row["max_reverse_kl"] = max(r["reverse_kl"] for r in records)
    row["width_range"] = [min(r["width_ratio"] for r in records), max(r["width_ratio"] for r in records)]
    row["expected_hq_pct"] = 100 * (1 - math.exp(-4.5))
    return row


# ----------------------------------------------------------------------------- the table
def _pm(mean: float, se: float, digits: int = 1) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(se) else f"{mean:.{digits}f} ± {se:.{digits}f}"


def table_rows(summary: Sequence[dict], true_rows: dict[str, dict], mixtures: Sequence[str]) -> list[list[str]]:
    """Header, then: published rows, the measured true sampler, the goals, and tinygan's rows."""
    header = ["method", "source"]
    for m in mixtures:
        header += [f"{m} {column}" for column in ("modes", "strict", "HQ %", "rev KL", "width", "goal", "faithful")]
    rows = [header]
    for source, method, values in PUBLISHED:
        row = [method, source]
        for m in mixtures:
            modes, hq, rkl = values[m]
            row += [f"{modes:g}", "–", f"{hq:g}", "–" if rkl is None else f"{rkl:.2f}", "–", "–", "–"]
        rows.append(row)
    row = ["best reverse KL", "PacGAN paper, Table 1"]
    for m in mixtures:
        row += ["–", "–", "–", f"{BEST_PUBLISHED_REVERSE_KL[m]:.2f}", "–", "–", "–"]
    rows.append(row)
    if true_rows:
        trials = next(iter(true_rows.values()))["trials"]
        row = ["true sampler", f"measured, {trials} draws of {N_SAMPLES}"]
        for m in mixtures:
            t = true_rows.get(m)
            if t is None:
                row += ["–"] * 7
                continue
            row += [_pm(t["modes"], t["modes_se"]), _pm(t["strict"], t["strict_se"]),
                    _pm(t["hq_pct"], t["hq_pct_se"], 2), _pm(t["reverse_kl"], t["reverse_kl_se"], 4),
                    _pm(t["width"], t["width_se"], 3), f"{t['seeds_meeting_goal']}/{t['n']}",
                    f"{t['seeds_faithful']}/{t['n']}"]  # fmt: skip
        rows.append(row)
    row = ["goal", "every seed"]
    low, high = FAITHFUL_WIDTH
    for m in mixtures:
        total = _modes_total(m)
        row += [f"{total}/{total}", f"{total}/{total}", f"≥ {100 * GOAL_HQ:g}", f"≤ {FAITHFUL_REVERSE_KL:g}",
                f"{low:g}–{high:g}", "all", "all"]  # fmt: skip
    rows.append(row)
    by_key = {(r["mixture"], r["method"]): r for r in summary}
    methods = list(dict.fromkeys(r["method"] for r in summary))
    for method in methods:
        n = {by_key[(m, method)]["n"] for m in mixtures if (m, method) in by_key}
        seeds = "/".join(map(str, sorted(n)))
        row = [method_label(method), f"tinygan, {seeds} seed{'' if seeds == '1' else 's'}"]
        for m in mixtures:
            r = by_key.get((m, method))
            if r is None:
                row += ["–"] * 7
                continue
            goal = f"{'✓' if r['goal_met'] else '✗'} {r['seeds_meeting_goal']}/{r['n']}"
            faithful = f"{'✓' if r['seeds_faithful'] == r['n'] else '✗'} {r['seeds_faithful']}/{r['n']}"
            row += [_pm(r["modes"], r["modes_se"]), _pm(r["strict"], r["strict_se"]),
                    _pm(r["hq_pct"], r["hq_pct_se"]), _pm(r["reverse_kl"], r["reverse_kl_se"], 4),
                    _pm(r["width"], r["width_se"], 2), goal, faithful]  # fmt: skip
        rows.append(row)
    return rows


def per_seed_rows(records: Sequence[dict]) -> list[list[str]]:
    """Header, then one row per run (and per run sampled without truncation): the faithful goal's numbers."""
    rows = [["mixture", "method", "seed", "modes (strict)", "HQ %", "rev KL", "width", "faithful", "train s"]]
    for r in sorted(with_untruncated(records), key=lambda r: (r["mixture"], r["method"], r["seed"])):
        rows.append([r["mixture"], r["method"], str(r["seed"]),
                     f"{r['modes_captured_strict']}/{r['modes_total']}", f"{100 * r['high_quality_fraction']:.2f}",
                     f"{_number(r['reverse_kl']):.4f}", f"{_number(r['width_ratio']):.3f}",
                     "yes" if r.get("faithful") else "no",
                     f"{r['seconds']:.0f}"])  # fmt: skip
    return rows


def _number(value: float | None) -> float:
    """A record's number; a run reloaded with --resume has null where JSON cannot hold inf or nan."""
    return math.nan if value is None else float(value)


def _modes_total(name: str) -> int:
    from tinygan.evaluation.data import mixture

    return len(mixture(name).weights)


def format_table(rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """Aligned text columns, or a GitHub markdown table."""
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


TABLE_NOTE = (
    "modes: modes with at least one sample within 3 std (the published definition); strict: each mode also holds "
    ">= 20% of its fair share; HQ %: samples within 3 std of their nearest mode; {n_samples} samples per run. "
    "Published rows: averages over 10 trials (the PacGAN paper says a perfect sampler reaches {perfect}% HQ). "
    "tinygan rows: mean ± standard error over seeds; goal: seeds with every mode captured and HQ >= {goal}%. "
    "rev KL: KL(generated || data) over the histogram of high-quality samples per mode (PacGAN's definition; "
    "an empty mode adds 0). width: median over modes and axes of the high-quality samples' std over the data's "
    "(a true sampler: 0.974). faithful: seeds with every mode (strict), HQ >= {goal}% (>= {goal_truncated}% when "
    "sampled with truncation), rev KL <= {rkl:g} and width in [{low:g}, {high:g}]."
)


def table_note() -> str:
    low, high = FAITHFUL_WIDTH
    return TABLE_NOTE.format(n_samples=N_SAMPLES, perfect=PUBLISHED_PERFECT_HQ, goal=f"{100 * GOAL_HQ:g}",
                             goal_truncated=f"{100 * FAITHFUL_HQ_TRUNCATED:g}", rkl=FAITHFUL_REVERSE_KL, low=low,
                             high=high)  # fmt: skip


# ----------------------------------------------------------------------------- the picture
def plot_samples(records: Sequence[dict], path: str | os.PathLike | IO[bytes], seed: int) -> None:
    """Scatter of the generated points, one panel per mixture x method for one seed, real modes marked."""
    from matplotlib.figure import Figure

    from tinygan.evaluation.data import mixture

    chosen = [r for r in records if r["seed"] == seed and "samples" in r]
    mixtures = list(dict.fromkeys(r["mixture"] for r in chosen))
    methods = list(dict.fromkeys(r["method"] for r in chosen))
    if not chosen:
        raise ValueError(f"no samples for seed {seed} to plot")
    fig = Figure(figsize=(3.0 * len(methods), 3.2 * len(mixtures)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(mixtures), len(methods), squeeze=False))
    by_key = {(r["mixture"], r["method"]): r for r in chosen}
    for i, mixture_name in enumerate(mixtures):
        means = mixture(mixture_name).means
        pad = 0.5 if mixture_name == "ring8" else 1.5
        low, high = means.min() - pad, means.max() + pad
        for j, method in enumerate(methods):
            ax = axes[i, j]
            r = by_key.get((mixture_name, method))
            ax.set_xlim(low, high)
            ax.set_ylim(low, high)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
            if r is None:
                ax.set_axis_off()
                continue
            points = np.asarray(r["samples"])
            ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.35, color="tab:blue", linewidths=0)
            ax.scatter(
                means[:, 0], means[:, 1], s=45, marker="o", facecolors="none", edgecolors="tab:red", linewidths=1
            )
            ax.set_title(
                f"{mixture_name} · {METHODS[method].label}\n{r['modes_captured']}/{r['modes_total']} modes "
                f"(strict {r['modes_captured_strict']}), HQ {100 * r['high_quality_fraction']:.1f}%",
                fontsize=8,
            )
    fig.suptitle(f"generated samples ({N_SAMPLES} per panel, seed {seed}); red circles: real modes", fontsize=10)
    fig.savefig(path, dpi=100, format="png")


# ----------------------------------------------------------------------------- the command line
def _choices(name: str, allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in allowed]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"{name} takes a comma list of {','.join(allowed)}, got {text!r}")
        return list(dict.fromkeys(items))

    return parse


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed-list takes comma-separated integers, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seed-list takes non-negative integers, got {text!r}")
    return list(dict.fromkeys(seeds))


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes FIELD=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # a bare string such as relu
    return key.strip(), parsed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixtures", type=_choices("--mixtures", MIXTURES), default=list(MIXTURES),
                   help="comma list (default ring8,grid25)")  # fmt: skip
    p.add_argument("--methods", type=_choices("--methods", tuple(METHODS)), default=list(METHODS),
                   help=f"comma list of {','.join(METHODS)} (default: all)")  # fmt: skip
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=number(int, 0, "--seeds"), default=10, help="seeds 0..N-1 (default 10)")
    seeds.add_argument("--seed-list", type=_seed_list, help="explicit seeds, e.g. 0,1,2")
    p.add_argument("--steps", type=number(int, 0, "--steps"),
                   help="G steps per run (default: the recipe's total; the schedule spans the run)")  # fmt: skip
    p.add_argument("--jobs", type=number(int, 0, "--jobs"), default=1,
                   help="runs in parallel, one process and one BLAS thread each (default 1)")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="submit the runs to this Dask scheduler (e.g. tcp://host:8786) instead of local processes; "
                        "needs dask.distributed (the 'sweep' extra) and tinygan on every worker")  # fmt: skip
    p.add_argument("--set", dest="overrides", type=_override, action="append", default=[], metavar="FIELD=VALUE",
                   help="override a GANConfig field for every run, e.g. --set hidden=16 (repeatable)")  # fmt: skip
    p.add_argument("--backend", choices=["numpy", "numba"], help="default: numba if installed")
    p.add_argument("--out", default="runs/mode_coverage", help="output folder (default runs/mode_coverage)")
    p.add_argument("--report-only", action="store_true",
                   help="tabulate the finished runs in OUT/runs (as --resume) and train nothing")  # fmt: skip
    p.add_argument("--json", metavar="PATH", help="results JSON (default OUT/results.json)")
    p.add_argument("--png", metavar="PATH", help="sample scatter grid (default OUT/samples.png)")
    p.add_argument("--no-png", action="store_true", help="skip the picture")
    p.add_argument(
        "--png-seed",
        type=number(int, 0, "--png-seed", strict=False),
        help="seed shown in the picture (default: the first seed)",
    )
    p.add_argument("--true-trials", type=number(int, 0, "--true-trials"), default=500,
                   help="draws of 2500 points for the true-sampler row (default 500)")  # fmt: skip
    p.add_argument(
        "--resume", action="store_true", help="reuse runs in OUT/runs with the same config, steps and backend"
    )
    p.add_argument("--keep-models", action="store_true",
                   help="also write each trained GAN as OUT/runs/KEY.model.npz, a tinygan checkpoint")  # fmt: skip
    p.add_argument("--markdown", action="store_true", help="print the table as GitHub markdown")
    p.add_argument("--per-seed", action="store_true", help="also print one row per run")
    p.add_argument("--force", action="store_true",
                   help="allow writing over files in --out, --json or --png that tinygan did not write")  # fmt: skip
    args = p.parse_args(argv)
    args.seeds = args.seed_list if args.seed_list is not None else list(range(args.seeds))
    args.overrides = dict(args.overrides)
    if args.png_seed is None:
        args.png_seed = args.seeds[0]
    elif args.png_seed not in args.seeds:
        p.error(f"argument --png-seed: {args.png_seed} is not among the seeds {args.seeds}")
    if args.no_png and args.png:
        p.error("argument --png: not allowed with --no-png")
    if args.scheduler is not None and args.jobs != 1:
        p.error("argument --jobs: not allowed with --scheduler (the cluster's workers run the runs)")
    return args


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(record: dict, done: int, total: int, elapsed: float, note: str = "") -> str:
    """One line per finished run: which, how long, how it did."""
    left = elapsed / done * (total - done) if done else 0.0
    width = len(str(total))
    hq = 100 * record["high_quality_fraction"]
    return (
        f"[{done:>{width}}/{total}] {record['mixture']:<6} {record['method']:<6} seed {record['seed']:<3} "
        f"{record['seconds']:7.1f} s  modes {record['modes_captured']:>2}/{record['modes_total']:<2} "
        f"strict {record['modes_captured_strict']:>2}  HQ {hq:5.1f}%  rKL {record['reverse_kl']:.4f}"
        f"  width {record['width_ratio']:.2f}"
        f"{'  DIVERGED' if record['diverged'] else ''}{note}  (elapsed {_duration(elapsed)}, ~{_duration(left)} left)"
    )


def _load_finished(runs_dir: str, spec: RunSpec) -> dict | None:
    """A finished run saved by an earlier invocation with the same config, steps and backend, else None
    (also when its files cannot be read: that run is trained again)."""
    meta, points = os.path.join(runs_dir, f"{spec.key}.json"), os.path.join(runs_dir, f"{spec.key}.npy")
    if not (os.path.isfile(meta) and os.path.isfile(points)):
        return None
    try:
        with open(meta, encoding="utf-8") as f:
            record = json.load(f)
        same = (record.get("config"), record.get("steps"), record.get("backend"))
        if same != (json_safe(spec.config), spec.steps, spec.backend):
            return None
        record["samples"] = np.load(points, allow_pickle=False)
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not a record, not an array
        return None
    if record["samples"].shape != (N_SAMPLES, 2):
        return None
    return record


def _save_finished(runs_dir: str, record: dict, plan: Any) -> None:
    """A finished run's files in OUT/runs (what --resume reads back), each written whole or not at all."""
    from tinygan.outputs import write_json

    key = run_key(record)
    plan.write(os.path.join(runs_dir, f"{key}.npy"), lambda f: np.save(f, record["samples"]))
    if "model" in record:
        model = record.pop("model")
        plan.write(os.path.join(runs_dir, f"{key}.model.npz"), lambda f: f.write(model))
    write_json(plan, os.path.join(runs_dir, f"{key}.json"), {k: v for k, v in record.items() if k != "samples"})


def is_run_file(path: str) -> bool:
    """Whether ``path`` in OUT/runs is a finished run's file (written before the output layer kept a manifest):
    a run record (JSON with mixture, method and seed), its samples (.npy beside such a record), or a
    tinygan checkpoint."""
    from tinygan.gan.checkpoint import is_checkpoint

    if path.endswith(".model.npz"):
        return is_checkpoint(path)
    record = path.removesuffix(".npy") + ".json" if path.endswith(".npy") else path
    try:
        with open(record, encoding="utf-8") as f:
            body = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and {"mixture", "method", "seed"} <= set(body)


class Prepared(NamedTuple):
    """What a run of the benchmark does, decided and checked before any work."""

    backend: str
    specs: list[RunSpec]  # every run to report
    reused: dict[str, dict]  # key -> a finished run read back from OUT/runs (--resume, --report-only)
    plan: Any  # tinygan.outputs.OutputPlan, checked

    @property
    def todo(self) -> list[RunSpec]:
        return [spec for spec in self.specs if spec.key not in self.reused]


def prepare(args: argparse.Namespace) -> Prepared:
    """Check every flag and path before any training (ValueError naming the flag): the backend, the runs'
    configs (--set, --methods), their memory, what --resume or --report-only finds, and the outputs."""
    from tinygan import get_backend, set_backend
    from tinygan.fast.backend import BackendUnavailableError

    try:
        if args.backend:
            set_backend(args.backend)
    except BackendUnavailableError as error:
        raise ValueError(f"--backend {args.backend}: {error}") from None
    backend = get_backend().name
    try:
        specs = make_specs(args.mixtures, args.methods, args.seeds, args.steps, args.overrides, backend,
                           args.keep_models)  # fmt: skip
    except (ValueError, TypeError) as error:
        raise ValueError(f"--set: {error}") from None
    check_memory(specs)
    if args.scheduler is not None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise ValueError('--scheduler needs dask.distributed: pip install -e ".[sweep]"') from None
    reused = finished_runs(args, specs)
    if args.report_only:  # tabulate what is finished; leave the rest untrained
        if not reused:
            raise ValueError(f"--report-only: no finished runs in {runs_folder(args)} match these settings")
        left_out = len(specs) - len(reused)
        if left_out:
            print(f"--report-only: {left_out} of {len(specs)} runs not finished, left out", flush=True)
        specs = [spec for spec in specs if spec.key in reused]
    todo = [spec for spec in specs if spec.key not in reused]
    return Prepared(backend, specs, reused, output_plan(args, todo))


def check_memory(specs: Sequence[RunSpec]) -> None:
    """Refuse runs whose training would not fit in this machine's memory, naming --set."""
    from tinygan.gan.memory import require_training_memory
    from tinygan.gan.model import GANConfig

    for spec in specs[: len(METHODS) * len(MIXTURES)]:  # one seed's runs: the others share their configs
        require_training_memory(GANConfig.from_dict(spec.config), f"--set: a {spec.mixture} {spec.method} run")


def runs_folder(args: argparse.Namespace) -> str:
    return os.path.join(args.out, "runs")


def finished_runs(args: argparse.Namespace, specs: Sequence[RunSpec]) -> dict[str, dict]:
    """With --resume or --report-only, the runs already finished in OUT/runs with these settings."""
    if not (args.resume or args.report_only) or not os.path.isdir(runs_folder(args)):
        return {}
    found = {spec.key: _load_finished(runs_folder(args), spec) for spec in specs}
    return {key: record for key, record in found.items() if record is not None}


def output_names(args: argparse.Namespace) -> list[str]:
    """The files written into --out (those that --json or --png do not send elsewhere)."""
    names = ["table.txt", "table.md", "samples.npz"]
    if not args.json:
        names.append("results.json")
    if not args.no_png and not args.png:
        names.append("samples.png")
    return names


def output_plan(args: argparse.Namespace, todo: Sequence[RunSpec]) -> Any:
    """Every file the benchmark writes, checked before any work: --out (its tables and samples), the runs
    to train in OUT/runs, --json and --png. OUT/runs keeps every finished run for --resume: its files are
    single files (a later run never clears them), tinygan's by the manifest there or by is_run_file."""
    from tinygan.outputs import OutputPlan

    plan = OutputPlan(force=args.force)
    plan.folder(args.out, output_names(args), "--out")
    for spec in todo:
        for ext in ("json", "npy", "model.npz") if spec.keep_model else ("json", "npy"):
            plan.file(os.path.join(runs_folder(args), f"{spec.key}.{ext}"), "--out", ours=is_run_file)
    if args.json:
        plan.file(args.json, "--json")
    if args.png and not args.no_png:
        plan.file(args.png, "--png")
    plan.check()
    return plan


def run_benchmark(args: argparse.Namespace, prepared: Prepared) -> dict[str, Any]:
    """Train (or reuse) every run, print a line per run; returns {"runs", "summary", "true_sampler", ...}
    and "failed": one line per run that raised (it is left out of the tables)."""
    specs, reused, todo, runs_dir = prepared.specs, prepared.reused, prepared.todo, runs_folder(args)
    steps = sorted({spec.steps for spec in specs})
    print(
        f"mode coverage: {len(args.mixtures)} mixture(s) x {len(args.methods)} method(s) x {len(args.seeds)} seed(s)"
        f" = {len(specs)} runs of {'/'.join(map(str, steps))} steps; backend {prepared.backend}, "
        + (f"Dask scheduler {args.scheduler}" if args.scheduler else f"{args.jobs} job(s)")
        + (f"; reusing {len(reused)} finished run(s) from {runs_dir}" if reused else ""),
        flush=True,
    )
    start, done = time.perf_counter(), 0

    def on_done(record: dict) -> None:
        nonlocal done
        done += 1
        if "error" in record:
            print(f"[{done}/{len(todo)}] {run_key(record)} FAILED: {record['error']}", flush=True)
            return
        _save_finished(runs_dir, record, prepared.plan)
        print(progress_line(record, done, len(todo), time.perf_counter() - start), flush=True)

    fresh = {run_key(record): record for record in execute(todo, args.jobs, on_done, scheduler=args.scheduler)}
    failed = [f"{key}: {record['error']}" for key, record in fresh.items() if "error" in record]
    records = [reused.get(spec.key) or fresh[spec.key] for spec in specs]
    records = [record for record in records if "error" not in record]
    true_rows = {m: true_sampler(m, args.true_trials) for m in args.mixtures}
    return {
        "benchmark": "mode_coverage",
        "n_samples": N_SAMPLES,
        "goal_hq": GOAL_HQ,
        "backend": prepared.backend,
        "mixtures": list(args.mixtures),
        "methods": list(args.methods),
        "seeds": list(args.seeds),
        "overrides": args.overrides,
        "runs": records,
        "failed": failed,
        "summary": summarise(records),
        "true_sampler": true_rows,
        "published": [
            {
                "source": s,
                "method": m,
                **{k: {"modes": v[0], "hq_pct": v[1], "reverse_kl": v[2]} for k, v in values.items()},
            }
            for s, m, values in PUBLISHED
        ],  # fmt: skip
        "wall_seconds": time.perf_counter() - start,
    }


def write_outputs(result: dict[str, Any], args: argparse.Namespace, plan: Any) -> list[str]:
    """results.json (or --json), table.txt, table.md, samples.npz and the picture (or --png), through the
    output plan; returns the paths written."""
    from tinygan.outputs import write_json

    rows = table_rows(result["summary"], result["true_sampler"], result["mixtures"])
    written = []
    body = dict(result, runs=[{k: v for k, v in r.items() if k != "samples"} for r in result["runs"]])
    write_json(plan, args.json or "results.json", body)
    written.append(plan.path(args.json or "results.json"))
    for name, markdown in (("table.txt", False), ("table.md", True)):
        table = format_table(rows, markdown) + "\n\n" + table_note() + "\n"
        written.append(plan.write(name, lambda f, table=table: f.write(table.encode())))
    arrays = {run_key(r): r["samples"] for r in result["runs"]}
    written.append(plan.write("samples.npz", lambda f: np.savez_compressed(f, **arrays)))
    if not args.no_png and any(r["seed"] == args.png_seed for r in result["runs"]):
        written.append(plan.write(args.png or "samples.png", lambda f: plot_samples(result["runs"], f, args.png_seed)))
    return written


def main(argv: list[str] | None = None) -> int:
    """Exit 0; 1 when a run failed (one line each on stderr, the others tabulated); 2 for a refused flag or
    path (one line, before any training) or an unreachable --scheduler."""
    args = parse_args(argv)
    try:
        prepared = prepare(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    prepared.plan.start()
    try:
        result = run_benchmark(args, prepared)
    except OSError as error:
        if args.scheduler is None:
            raise
        print(f"error: --scheduler {args.scheduler}: {first_line(error)}", file=sys.stderr)  # nobody answers there
        return 2
    written = write_outputs(result, args, prepared.plan)
    prepared.plan.finish()
    if result["runs"]:
        print()
        print(format_table(table_rows(result["summary"], result["true_sampler"], result["mixtures"]), args.markdown))
        print()
        print(table_note())
    if args.per_seed:
        print()
        print(format_table(per_seed_rows(result["runs"]), markdown=args.markdown))
    print(f"wrote {', '.join(written)}")
    for line in result["failed"]:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
