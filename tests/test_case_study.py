"""benchmarks/case_study.py: the article's bar and the stricter faithful goal, criterion by criterion."""

import json

import numpy as np
from benchmark_scripts import load_benchmark

case_study = load_benchmark("case_study")

GOOD = {"modes_captured_strict": 2, "mode_weight": [0.49, 0.51], "mode_mean": [[-2.0, -2.0], [2.0, 2.0]],
        "mode_std": [[0.97, 1.02], [0.95, 1.0]], "energy_ratio": 1.4, "finite": True}  # fmt: skip


def test_faithful_goal_is_stricter_than_the_articles_bar():
    assert all(case_study.check(GOOD).values()) and all(case_study.faithful(GOOD).values())
    # each of these passes the article's bar (5x, +-0.05, [0.8, 1.2]) and fails exactly one faithful criterion
    for change, failed in [({"energy_ratio": 2.5}, "energy_2x"), ({"mode_weight": [0.46, 0.54]}, "weights_0.03"),
                           ({"mode_std": [[0.85, 1.0], [1.0, 1.0]]}, "stds_0.9_1.1")]:  # fmt: skip
        metrics = GOOD | change
        assert all(case_study.check(metrics).values()), change
        assert [k for k, ok in case_study.faithful(metrics).items() if not ok] == [failed]


def test_true_sampler_passes_the_article_bar_and_reports_fractions():
    truth = case_study.true_sampler(trials=4, n=1500, seed=1)
    fractions = truth["pass_fraction"]
    assert truth["trials"] == 4 and set(fractions) >= {"bar:energy", "energy_2x", "weights_0.03", "stds_0.9_1.1"}
    assert all(0 <= v <= 1 for v in fractions.values())
    assert fractions["bar:modes"] == 1 and fractions["bar:means"] == 1 and fractions["stds_0.9_1.1"] == 1
    assert 0 < truth["energy_ratio_median"] <= truth["energy_ratio_max"] and np.isfinite(truth["energy_ratio_max"])


def test_a_recipe_variant_trains_in_process_and_is_checked_by_both_goals():
    row = case_study.run_variant(2, {"steps": 40, "hidden": 8, "batch_size": 32}, energy_draws=2)
    assert row["metrics"]["steps"] == 40 and row["metrics"]["n"] == 5000 and row["metrics"]["energy_draws"] == 2
    assert row["metrics"]["energy_ratio_averaged"] > 0 and set(row["faithful_averaged"]) == set(row["faithful"])
    assert "energy, R draws" in case_study.table([row], markdown=True)
    json.dumps({k: row[k] for k in ("checks", "faithful", "faithful_averaged")})  # plain bools, not numpy's
    assert set(row["faithful"]) == {"modes", "energy_2x", "weights_0.03", "stds_0.9_1.1"} and "energy" in row["checks"]
    assert case_study._override("steps=40000") == ("steps", 40000)
    assert case_study._override("loss=minimax") == ("loss", "minimax")
