"""benchmarks/bench_train.py: its recipe rows (the digits among them) and --rounds pooling."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"
spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_train"] = bench
spec.loader.exec_module(bench)


def test_recipes_include_the_digits_and_refuse_unknown_names():
    assert bench.parse_recipes("two,digits") == ["two", "digits"]
    with pytest.raises(Exception, match="unknown recipe"):
        bench.parse_recipes("two,mnist")


def test_pool_rounds_keeps_every_repeat_and_takes_their_median():
    first = {"records": [{"case": "two", "variant": "", "rates": [10.0, 12.0], "steps_per_s": 11.0}]}
    second = {"records": [{"case": "two", "variant": "", "rates": [30.0, 40.0, 50.0], "steps_per_s": 40.0}]}
    pooled = bench.pool_rounds(first, second)["records"][0]
    assert pooled["rates"] == [10.0, 12.0, 30.0, 40.0, 50.0] and pooled["steps_per_s"] == 30.0


def test_two_rounds_time_the_digits_recipe_and_pool_the_repeats(tmp_path):
    out = tmp_path / "bench.json"
    argv = ["--configs", "64x16", "--recipes", "digits", "--impls", "tinygan-numpy", "--seconds", "0.02",
            "--repeats", "2", "--rounds", "2", "--threads", "1", "--no-compile", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    document = json.loads(out.read_text())
    assert document["settings"]["rounds"] == 2
    raw = {r["case"]: r for r in document["raw"]["tinygan-numpy"]}
    assert set(raw) == {"64x16", "digits"} and all(len(r["rates"]) == 4 for r in raw.values())
    digits = next(r for r in document["records"] if r["case"] == "digits")
    assert digits["recipe"] == "digits" and digits["steps_per_s"] > 0 and digits["full_run_s"] > 0
