"""benchmarks/bench_train.py: its recipe rows (the digits among them) and --rounds pooling."""

import json

import pytest
from benchmark_scripts import load_benchmark

bench = load_benchmark("bench_train")


def test_recipes_include_the_digits_and_refuse_unknown_names():
    assert bench.parse_recipes("two,digits") == ["two", "digits"]
    with pytest.raises(Exception, match="unknown recipe"):
        bench.parse_recipes("two,mnist")


def test_pool_rounds_keeps_every_repeat_and_takes_their_median():
    first = {"records": [{"case": "two", "variant": "", "rates": [10.0, 12.0], "steps_per_s": 11.0}]}
    second = {"records": [{"case": "two", "variant": "", "rates": [30.0, 40.0, 50.0], "steps_per_s": 40.0}]}
    pooled = bench.pool_rounds(first, second)["records"][0]
    assert pooled["rates"] == [10.0, 12.0, 30.0, 40.0, 50.0] and pooled["steps_per_s"] == 30.0


def test_rounds_go_case_by_case_alternating_the_order_and_ask_a_skipped_one_once(monkeypatch):
    calls = []

    def fake_worker(impl, spec, verbose):
        (case,) = spec["cases"]  # one case per worker call
        calls.append((case["name"], impl))
        if impl == "gpu":
            return {"records": [], "skipped": "no GPU"}
        return {"records": [{"case": case["name"], "variant": "", "rates": [float(len(calls))], "steps_per_s": 0.0}]}

    monkeypatch.setattr(bench, "call_worker", fake_worker)
    spec = {"cases": [{"name": "a"}, {"name": "b"}]}
    results = bench.run_rounds(["x", "y", "gpu"], spec, 2, False)
    assert calls == [("a", "x"), ("a", "y"), ("a", "gpu"), ("b", "y"), ("b", "x"),  # round 1: b in reverse
                     ("a", "y"), ("a", "x"), ("b", "x"), ("b", "y")]  # fmt: skip
    assert results["gpu"]["skipped"] == "no GPU" and not results["gpu"]["records"]
    x = {r["case"]: r["rates"] for r in results["x"]["records"]}
    assert x == {"a": [1.0, 7.0], "b": [5.0, 8.0]}  # both rounds' repeats of each case, pooled


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


def test_pool_tabulates_earlier_runs_with_every_repeat_of_each(tmp_path, capsys):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        argv = ["--configs", "64x16", "--recipes", "", "--impls", "tinygan-numpy", "--seconds", "0.02",
                "--repeats", "3", "--threads", "1", "--no-compile", "--json", str(path)]  # fmt: skip
        assert bench.main(argv) == 0
    pooled_path = tmp_path / "pooled.json"
    assert bench.main(["--pool", *map(str, paths), "--json", str(pooled_path)]) == 0
    assert "2 runs' repeats pooled" in capsys.readouterr().out
    runs = [json.loads(p.read_text()) for p in paths]
    pooled = json.loads(pooled_path.read_text())
    rates = [rate for run in runs for rate in run["raw"]["tinygan-numpy"][0]["rates"]]
    assert pooled["raw"]["tinygan-numpy"][0]["rates"] == rates and len(rates) == 6
    record = pooled["records"][0]
    assert record["steps_per_s"] == sorted(rates)[2] / 2 + sorted(rates)[3] / 2  # the median of all six
    assert pooled["settings"]["rounds"] == 2


def test_pool_refuses_runs_of_different_cases(tmp_path):
    documents = []
    for name in ("64x16", "128x16"):
        settings = {"cases": [{"name": name}], "dtype": "float32"}
        documents.append({"settings": settings, "raw": {}, "machine": {"matmul_peak_gflops": {}}})
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, document in zip(paths, documents):
        path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="--pool: the runs timed different cases"):
        bench.load_pooled(paths)


def test_pool_refuses_flags_that_would_change_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--pool", str(tmp_path / "a.json"), "--rounds", "3"])
    assert "argument --pool: not allowed with --rounds" in capsys.readouterr().err
