"""benchmarks/mode_coverage.py on a tiny config: records, JSON, summary math, the true-sampler row."""

import dataclasses
import json
import math
import os

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from tinygan.evaluation.metrics import mode_statistics
from tinygan.gan.checkpoint import load_checkpoint
from tinygan.gan.recipes import recipe

mode_coverage = load_benchmark("mode_coverage")  # worker processes unpickle RunSpec by module name


TINY = ["--steps", "30", "--set", "hidden=16", "--set", "batch_size=16", "--backend", "numpy"]
RECORD_KEYS = {
    "mixture", "method", "seed", "steps", "steps_done", "seconds", "backend", "diverged", "modes_captured",
    "modes_captured_strict", "modes_total", "high_quality_fraction", "mode_weight", "goal_met", "config",
    "reverse_kl", "width_ratio", "faithful",
}  # fmt: skip
TIMES = {"seconds", "first_step_seconds"}  # the only fields that may differ between two runs of one spec


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


def test_every_method_has_a_table_label_and_known_fields():
    """Every method sets the same fields (and the R1 methods their penalty), so no recipe setting leaks in."""
    fields = {"pack", "label_smoothing", "ema", "jacobian_truncation", "fourier_features", "pack_spread",
              "latent_codes", "code_info"}  # fmt: skip
    for name, method in mode_coverage.METHODS.items():
        extra = {"r1"} if name.startswith("r1_") or name.endswith("_r1") else set()
        assert method.label and set(method.settings) == fields | extra
        mode_coverage.method_config("ring8", name).validate()


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
        m: m in ("pack2_jbt", "pack2_rff_jbt", "spread_jbt", "spread_jbt5")
        or m.startswith(("spread_codes", "r1_", "spread_jbt_"))
        for m in mode_coverage.METHODS
    }
    codes = mode_coverage.method_config("grid25", "spread_codes")  # the truncated spread method, with codes read by Q
    spread = mode_coverage.method_config("grid25", "spread_jbt5")
    assert dataclasses.replace(codes, latent_codes=0, code_info=0.0) == spread
    assert (codes.latent_codes, codes.code_info) == (150, 0.1)
    assert (recipe("grid25").latent_codes, recipe("grid25").code_info) == (150, 0.1)  # the grid's recipe
    fourier = mode_coverage.method_config("ring8", "pack2_rff")
    assert dataclasses.replace(fourier, fourier_features=0) == mode_coverage.method_config("ring8", "pack2_ema")
    assert fourier.fourier_features == 64 and packed.fourier_features == 0
    assert (
        dataclasses.replace(mode_coverage.method_config("ring8", "pack2_rff_jbt"), jacobian_truncation=0.0) == fourier
    )
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
    # the faithful columns: full width (0.974 after the 3-std cut) and a reverse KL of sampling noise only,
    # about (K - 1) / (2 * 2500): far inside the goal, so the goal is fair to a perfect generator
    assert row["width"] == pytest.approx(0.974, abs=0.01)
    assert 0.9 < row["width_range"][0] <= row["width_range"][1] < 1.05
    assert row["reverse_kl"] == pytest.approx((total - 1) / 5000, rel=0.35) and row["max_reverse_kl"] < 0.02
    assert row["seeds_faithful"] == 40


def test_the_faithful_bar_checks_every_criterion():
    good = {"modes_total": 8, "modes_captured_strict": 8, "high_quality_fraction": 0.98, "reverse_kl": 0.004,
            "width_ratio": 0.95}  # fmt: skip
    assert mode_coverage.is_faithful(good)
    assert not mode_coverage.is_faithful(good, truncated=True)  # truncated sampling must reach 98.5% HQ
    for field, bad in [("modes_captured_strict", 7), ("high_quality_fraction", 0.96), ("reverse_kl", 0.03),
                       ("reverse_kl", math.inf), ("width_ratio", 0.45), ("width_ratio", 1.3),
                       ("width_ratio", math.nan)]:  # fmt: skip
        assert not mode_coverage.is_faithful(good | {field: bad}), (field, bad)


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
    assert "[4/4] ring8" in printed and "| PacGAN4 | PacGAN paper, Table 1 | 7.8 | – | 95.9 | – | – |" in printed
    assert "| best reverse KL | PacGAN paper, Table 1 | – | – | – | 0.07 | – |" in printed
    assert "| VEEGAN | VEEGAN paper, Table 1 | 8 | – | 52.9 | – | – |" in printed  # no published reverse KL
    assert "| true sampler |" in printed and "| goal | every seed | 8/8 | 8/8 | ≥ 97 | ≤ 0.02 | 0.8–1.25 |" in printed
    for column, field in (("width", "width_ratio"), ("reverse_kl", "reverse_kl")):  # JSON: None for NaN and inf
        expected = np.mean([math.nan if r[field] is None else r[field] for r in gan_runs])
        got = math.nan if summary["gan"][column] is None else summary["gan"][column]
        assert got == pytest.approx(expected, nan_ok=True) and (math.isfinite(got) or not math.isfinite(expected))

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


def dask_distributed():
    """dask.distributed, or skip; CI sets TINYGAN_REQUIRE_DASK=1 so a missing install fails instead."""
    if os.environ.get("TINYGAN_REQUIRE_DASK") == "1":
        import distributed

        return distributed
    return pytest.importorskip("distributed")


def test_a_dask_cluster_gives_the_same_records_as_local_runs_bit_for_bit():
    distributed = dask_distributed()
    specs = mode_coverage.make_specs(["ring8"], ["gan", "pack2"], [0, 1], 30, {"hidden": 16, "batch_size": 16}, "numpy")
    local = mode_coverage.execute(specs, jobs=1)
    finished = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        remote = mode_coverage.execute(specs, on_done=finished.append, scheduler=c.scheduler_address)
    assert len(finished) == len(specs)  # on_done saw every run, here, as it came back
    assert [(r["method"], r["seed"]) for r in remote] == [(s.method, s.seed) for s in specs]  # spec order
    for a, b in zip(local, remote):
        assert set(a) == set(b)
        for key in set(a) - TIMES - {"samples"}:
            assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key  # NaN equals NaN here
        assert a["samples"].dtype == b["samples"].dtype and a["samples"].tobytes() == b["samples"].tobytes()


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    dask_distributed()
    monkeypatch.setattr(mode_coverage, "DASK_CONNECT_TIMEOUT", "1s")
    args = [*TINY, "--seeds", "1", "--mixtures", "ring8", "--methods", "gan", "--true-trials", "2", "--no-png"]
    assert mode_coverage.main([*args, "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_a_truncated_run_also_gives_its_untruncated_row_and_per_seed_lines():
    truncated = record(method="spread_jbt", hq=0.99) | {"reverse_kl": 0.004, "width_ratio": 0.9, "faithful": True}
    plain = record(method="spread_jbt", hq=0.975) | {"reverse_kl": 0.005, "width_ratio": 0.91, "faithful": True}
    truncated["untruncated"] = {k: v for k, v in plain.items() if k not in ("mixture", "method", "seed", "seconds")}
    both = mode_coverage.with_untruncated([truncated])
    assert [r["method"] for r in both] == ["spread_jbt", "spread_jbt_untruncated"]
    assert both[1]["high_quality_fraction"] == 0.975 and both[1]["seed"] == 0  # the run's own fields kept
    rows = mode_coverage.summarise([truncated])
    assert [r["method"] for r in rows] == ["spread_jbt", "spread_jbt_untruncated"]
    assert mode_coverage.method_label("spread_jbt_untruncated").endswith(", sampled without truncation")
    lines = mode_coverage.per_seed_rows([truncated])
    assert lines[0][:3] == ["mixture", "method", "seed"]
    assert [line[1] for line in lines[1:]] == ["spread_jbt", "spread_jbt_untruncated"]
    assert [line[4] for line in lines[1:]] == ["99.00", "97.50"]


def test_per_seed_flag_prints_one_line_per_run(tmp_path, capsys):
    argv = [*TINY, "--mixtures", "ring8", "--methods", "pack2_jbt", "--seeds", "1", "--true-trials", "2",
            "--no-png", "--out", str(tmp_path)]  # fmt: skip
    assert mode_coverage.main(argv) == 0
    without = capsys.readouterr().out
    assert mode_coverage.main([*argv, "--resume", "--per-seed"]) == 0
    printed = capsys.readouterr().out
    assert "pack2_jbt_untruncated" in printed and "train s" in printed
    assert "train s" not in without


def test_keep_models_writes_checkpoints_that_sample_the_recorded_points(tmp_path, capsys):
    argv = [*TINY, "--mixtures", "ring8", "--methods", "pack2_jbt", "--seeds", "1", "--true-trials", "2",
            "--no-png", "--out", str(tmp_path), "--keep-models"]  # fmt: skip
    assert mode_coverage.main(argv) == 0
    gan = load_checkpoint(tmp_path / "runs" / "ring8_pack2_jbt_s0.model.npz")
    recorded = np.load(tmp_path / "runs" / "ring8_pack2_jbt_s0.npy")
    again = gan.sample(mode_coverage.N_SAMPLES, rng=np.random.default_rng([0, 2])).astype(np.float32)
    np.testing.assert_array_equal(again, recorded)  # the same G, truncation and all
    assert gan.config.jacobian_truncation == 0.03 and gan.step == 30
    assert not list((tmp_path / "runs").glob("*.tmp"))
    assert "model" not in json.loads((tmp_path / "results.json").read_text())["runs"][0]

    # benchmarks/redraw.py samples the kept model again: draw r is default_rng([1000 + r, 7])
    redraw = load_benchmark("redraw")
    stats = redraw.redraw(str(tmp_path / "runs" / "ring8_pack2_jbt_s0.model.npz"), 2, 0.03)
    second = gan.sample(mode_coverage.N_SAMPLES, rng=np.random.default_rng([1001, 7]), jacobian_truncation=0.03)
    expected = mode_coverage.scored(mode_statistics(second, gan.data), truncated=True)
    assert stats["reverse_kl"][1] == expected["reverse_kl"] and stats["hq"][1] == expected["high_quality_fraction"]
    assert stats["faithful"][1] == expected["faithful"] and stats["width"].shape == (2,)
    assert redraw.main([str(tmp_path), "--draws", "2", "--truncation", "0.03", "--markdown"]) == 0
    assert redraw.main([str(tmp_path / "runs"), "--draws", "2"]) == 2  # no runs/ folder below it
    for bad in ("1.5", "-0.1"):  # refused before any model is loaded
        with pytest.raises(SystemExit):
            redraw.main([str(tmp_path), "--truncation", bad])
        assert "--truncation must be a share in [0, 1)" in capsys.readouterr().err
