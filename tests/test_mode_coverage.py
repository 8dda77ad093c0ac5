"""benchmarks/mode_coverage.py on a tiny config: records, JSON, summary math, the true-sampler row."""

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygan.gan.recipes import recipe

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "mode_coverage.py"
spec = importlib.util.spec_from_file_location("mode_coverage", SCRIPT)
mode_coverage = importlib.util.module_from_spec(spec)
sys.modules["mode_coverage"] = mode_coverage  # worker processes unpickle RunSpec by module name
spec.loader.exec_module(mode_coverage)

TINY = ["--steps", "30", "--set", "hidden=16", "--set", "batch_size=16", "--backend", "numpy"]
RECORD_KEYS = {
    "mixture", "method", "seed", "steps", "steps_done", "seconds", "backend", "diverged", "modes_captured",
    "modes_captured_strict", "modes_total", "high_quality_fraction", "mode_weight", "goal_met", "config",
}  # fmt: skip


def record(mixture="ring8", method="gan", seed=0, modes=8, strict=8, hq=0.98, total=8):
    r = {"mixture": mixture, "method": method, "seed": seed, "seconds": 1.0, "diverged": False, "modes_total": total,
         "modes_captured": modes, "modes_captured_strict": strict, "high_quality_fraction": hq}  # fmt: skip
    return r | {"goal_met": mode_coverage.meets_goal(r)}


def test_mean_and_standard_error_on_known_inputs():
    mean, se = mode_coverage.mean_se([1, 2, 3, 4])
    assert mean == 2.5 and se == pytest.approx(math.sqrt(5 / 3) / 2)  # sample var 5/3, n = 4
    mean, se = mode_coverage.mean_se([7.0])
    assert mean == 7.0 and math.isnan(se)
    assert mode_coverage.mean_se([3, 3, 3]) == (3.0, 0.0)


def test_summary_groups_by_mixture_and_method_and_counts_the_goal():
    records = [
        record(seed=0, modes=8, strict=8, hq=0.98),
        record(seed=1, modes=6, strict=5, hq=0.99),  # misses modes
        record(seed=2, modes=8, strict=7, hq=0.96),  # below 97% HQ
        record(mixture="grid25", seed=0, modes=25, strict=25, hq=0.975, total=25),
    ]
    ring, grid = mode_coverage.summarise(records)
    assert (ring["mixture"], ring["method"], ring["n"], ring["seeds"]) == ("ring8", "gan", 3, [0, 1, 2])
    assert ring["modes"] == pytest.approx(22 / 3)
    assert ring["modes_se"] == pytest.approx(np.std([8, 6, 8], ddof=1) / math.sqrt(3))
    assert ring["strict"] == pytest.approx(20 / 3)
    assert ring["hq_pct"] == pytest.approx(97.666666)
    assert ring["hq_pct_se"] == pytest.approx(np.std([98, 99, 96], ddof=1) / math.sqrt(3))
    assert (ring["seeds_meeting_goal"], ring["goal_met"]) == (1, False)
    assert (grid["n"], grid["seeds_meeting_goal"], grid["goal_met"]) == (1, 1, True) and math.isnan(grid["modes_se"])


def test_every_method_has_a_table_label():
    # METHODS and METHOD_LABELS are edited together; a missing label would fail only at table time, after training
    assert list(mode_coverage.METHOD_LABELS) == list(mode_coverage.METHODS)


def test_method_configs_start_from_the_recipe():
    gan = mode_coverage.method_config("grid25", "gan")
    base = recipe("grid25")
    assert (gan.pack, gan.label_smoothing) == (1, 0)
    assert (gan.hidden, gan.data_scale, gan.steps) == (base.hidden, base.data_scale, base.steps)
    smooth = mode_coverage.method_config("ring8", "smooth", steps=500, overrides={"hidden": 16})
    assert (smooth.pack, smooth.label_smoothing, smooth.hidden, smooth.steps) == (1, 0.1, 16, 500)
    assert mode_coverage.method_config("ring8", "pack3").pack == 3
    # each method sets its own EMA, whatever the recipe's: the methods stay comparable if a recipe changes
    assert [mode_coverage.method_config(m, "gan").ema for m in ("ring8", "grid25")] == [0.0, 0.0]
    averaged = mode_coverage.method_config("grid25", "smooth_ema")
    assert (averaged.pack, averaged.label_smoothing, averaged.ema) == (1, 0.1, 0.9995)
    packed = mode_coverage.method_config("grid25", "pack2_ema")
    assert (packed.pack, packed.label_smoothing, packed.ema) == (2, 0.0, 0.9995)
    truncated = mode_coverage.method_config("grid25", "pack2_jbt")
    assert dataclasses.replace(truncated, jacobian_truncation=0.0) == packed  # same training, other sampling
    assert truncated.jacobian_truncation == 0.03
    # and only the truncation method truncates, whatever the recipe says
    assert {m: mode_coverage.method_config("grid25", m).jacobian_truncation > 0 for m in mode_coverage.METHODS} == {
        m: m == "pack2_jbt" for m in mode_coverage.METHODS
    }
    with pytest.raises(ValueError, match="set by the method"):
        mode_coverage.method_config("grid25", "smooth", overrides={"ema": 0.99})
    with pytest.raises(ValueError, match="set by the method"):
        mode_coverage.method_config("ring8", "pack2", overrides={"pack": 4})
    with pytest.raises(ValueError, match="unknown config fields"):
        mode_coverage.method_config("ring8", "gan", overrides={"width": 4})


@pytest.mark.parametrize("mixture, total", [("ring8", 8), ("grid25", 25)])
def test_true_sampler_reaches_every_mode_and_the_published_quality(mixture, total):
    row = mode_coverage.true_sampler(mixture, trials=40)
    assert row["min_modes"] == total and row["modes"] == total and row["strict"] == total
    assert row["min_hq_pct"] >= 97 and row["seeds_meeting_goal"] == 40
    assert row["hq_pct"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.15)  # P(chi2_2 <= 9) = 98.89%


def test_tiny_benchmark_writes_records_json_table_and_picture(tmp_path, capsys):
    out, json_path = tmp_path / "out", tmp_path / "r.json"
    args = [*TINY, "--seeds", "2", "--mixtures", "ring8", "--methods", "gan,smooth", "--true-trials", "10"]
    assert mode_coverage.main([*args, "--out", str(out), "--json", str(json_path), "--markdown"]) == 0
    result = json.loads(json_path.read_text())
    assert (result["mixtures"], result["methods"], result["seeds"]) == (["ring8"], ["gan", "smooth"], [0, 1])
    runs = result["runs"]
    assert [(r["method"], r["seed"]) for r in runs] == [("gan", 0), ("smooth", 0), ("gan", 1), ("smooth", 1)]
    for r in runs:
        assert RECORD_KEYS <= set(r) and "samples" not in r
        assert (r["steps"], r["steps_done"], r["modes_total"], r["config"]["hidden"]) == (30, 30, 8, 16)
        assert 0 <= r["modes_captured_strict"] <= r["modes_captured"] <= 8 and 0 <= r["high_quality_fraction"] <= 1
    assert [r["config"]["label_smoothing"] for r in runs] == [0.0, 0.1, 0.0, 0.1]
    summary = {row["method"]: row for row in result["summary"]}
    gan_runs = [r for r in runs if r["method"] == "gan"]
    assert summary["gan"]["n"] == 2
    assert summary["gan"]["modes"] == pytest.approx(np.mean([r["modes_captured"] for r in gan_runs]))
    assert summary["gan"]["hq_pct"] == pytest.approx(100 * np.mean([r["high_quality_fraction"] for r in gan_runs]))
    assert result["true_sampler"]["ring8"]["hq_pct"] >= 97 and result["true_sampler"]["ring8"]["min_modes"] == 8
    samples = np.load(out / "samples.npz")
    assert samples["ring8_smooth_s1"].shape == (2500, 2)
    assert (out / "samples.png").stat().st_size > 0 and (out / "table.md").read_text().startswith("| method |")
    printed = capsys.readouterr().out
    assert "[4/4] ring8" in printed and "| PacGAN4 | PacGAN paper, Table 1 | 7.8 | – | 95.9 | – |" in printed
    assert "| true sampler |" in printed and "| goal (issue 7) |" in printed

    # --report-only tabulates the finished runs and trains nothing: seed 2 was never run
    report_json = tmp_path / "report.json"
    report = [*TINY, "--seeds", "3", "--mixtures", "ring8", "--methods", "gan,smooth", "--true-trials", "10"]
    report += ["--out", str(out), "--json", str(report_json), "--no-png"]
    assert mode_coverage.main([*report, "--report-only"]) == 0
    assert "2 of 6 runs not finished, left out" in capsys.readouterr().out
    reported = json.loads(report_json.read_text())
    assert [(r["method"], r["seed"]) for r in reported["runs"]] == [(r["method"], r["seed"]) for r in runs]
    assert not (out / "runs" / "ring8_gan_s2.json").exists()
    assert mode_coverage.main([*report, "--report-only", "--out", str(tmp_path / "empty")]) == 2


def test_worker_processes_give_the_same_runs_as_one_process():
    specs = mode_coverage.make_specs(["grid25"], ["gan", "pack2"], [3], 30, {"hidden": 16, "batch_size": 16}, "numpy")
    serial = mode_coverage.execute(specs, jobs=1)
    parallel = mode_coverage.execute(specs, jobs=2)
    for a, b in zip(serial, parallel):
        assert (a["method"], a["seed"]) == (b["method"], b["seed"])
        np.testing.assert_array_equal(a["samples"], b["samples"])
