"""Fuzz every benchmark script's command line: valid and invalid flag values, combinations, and output
paths that are new, in missing folders, foreign files, folders, unwritable places, or the same twice.

Each example calls the script's ``main(argv)`` in a fresh temporary folder (the working directory), with
the expensive worker replaced by a fast stand-in, so the whole parse/check/write layer runs. The
property: exit 0 with the promised outputs present; or exit 1 (only where a configuration truly fails,
e.g. a GPU implementation named in --impls) with a ``failed:`` line per failure; or exit 2 with exactly
one stderr line, ``error: ...`` naming a flag or argument, and nothing written. Never an escaping
exception, and no file outside the declared outputs changed (tinygan's ``.tinygan-run.json`` manifests
beside a declared output excepted).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark
from hypothesis import given, settings
from hypothesis import strategies as st

MANIFEST = ".tinygan-run.json"
UNWRITABLE = "/proc/tinygan-fuzz/x.json"  # procfs: no file can be created there, not even by root
# where an output flag may point (relative to the example's folder, except UNWRITABLE)
OUTPUT_PATHS = ["new.json", "deep/er/new.json", "foreign.txt", "adir", "afile.txt/x.json", UNWRITABLE, "out/x.json"]
FOLDER_PATHS = ["out", "deep/er/out", "adir", "foreign.txt", "afile.txt/out", "/proc/tinygan-fuzz"]
NAMES_A_FLAG = re.compile(r"--[a-z]|\b(FOLDER|MIXTURE|SEED|STEPS|FIELD=VALUE)\b")
BAD_INTS = ["0", "-1", "x", "1.5", "nan", "inf", "", "1e999"]
BAD_FLOATS = ["0", "-1", "x", "nan", "inf", "", "1e999"]


# ----------------------------------------------------------------------------- the example's folder
def make_folder(root: Path) -> None:
    """What every example finds: a foreign file, a folder with a file in it, a file used as a parent."""
    (root / "foreign.txt").write_text("not tinygan's\n")
    (root / "adir").mkdir()
    (root / "adir" / "keep.txt").write_text("keep\n")
    (root / "afile.txt").write_text("a file, not a folder\n")


def snapshot(root: Path) -> dict[str, tuple[str, bytes | None]]:
    """Every path under ``root``: ('dir', None) or ('file', its bytes)."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            seen[os.path.join(folder, name)] = ("dir", None)
        for name in files:
            path = os.path.join(folder, name)
            seen[path] = ("file", Path(path).read_bytes())
    return seen


def changed(before: dict, after: dict) -> set[str]:
    return {path for path in set(before) | set(after) if before.get(path) != after.get(path)}


def allowed(path: str, outputs: list[str]) -> bool:
    """A change is allowed at a declared output, inside a declared output folder, in a folder made to
    hold one, or in a manifest beside one."""
    for output in outputs:
        output = os.path.abspath(output)
        if path == output or path.startswith(output + os.sep) or output.startswith(path + os.sep):
            return True
        if os.path.basename(path) == MANIFEST and os.path.dirname(path) in (os.path.dirname(output), output):
            return True
    return False


def run_main(main: Callable[[list[str]], int], argv: list[str], root: Path) -> tuple[int, str, str]:
    """``main(argv)`` in ``root``: (exit status, stdout, stderr); argparse's SystemExit is an exit status."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as stop:
                status = stop.code
    finally:
        os.chdir(previous)
    return status, out.getvalue(), err.getvalue()


SEEN: dict[str, set[int]] = {}  # script -> the exit statuses its examples gave (none of the tests is vacuous)


def drawn_both(script: str) -> None:
    """The examples of ``script`` ran to the end (exit 0) and were refused (exit 2), each at least once."""
    assert {0, 2} <= SEEN.get(script, set()), SEEN.get(script)


def check_property(main, argv: list[str], outputs: list[str], promised: Callable[[], list[str]],
                   root: Path, may_fail: bool = False) -> tuple[int, str]:  # fmt: skip
    """Run ``main(argv)`` and assert the property (see the module docstring); returns (status, stderr)."""
    before = snapshot(root)
    status, _, err = run_main(main, argv, root)
    SEEN.setdefault(main.__module__, set()).add(status)
    moved = changed(before, snapshot(root))
    if status == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert NAMES_A_FLAG.search(lines[0]), (argv, err)
        assert not moved, (argv, err, moved)
        return status, err
    assert status == 0 or (status == 1 and may_fail), (argv, status, err)
    if status == 1:
        assert any(line.startswith("failed: ") for line in err.splitlines()), (argv, err)
    assert "Traceback" not in err, (argv, err)
    stray = {path for path in moved if not allowed(path, outputs)}
    assert not stray, (argv, stray)
    for path in promised():
        assert os.path.isfile(path), (argv, path, "promised but missing")
    return status, err


def resolve(token: str, root: Path) -> str:
    """A path token: absolute as given (UNWRITABLE), else inside the example's folder."""
    return token if os.path.isabs(token) else str(root / token)


def flags(options: dict[str, tuple[list, list]]) -> st.SearchStrategy:
    """A command line: each flag left out or given a value (None: a switch), in a drawn order. ``options``:
    flag -> (good values, bad values); half the command lines use good values only, so that runs that
    should succeed are drawn as often as refusals."""

    def line(clean: bool) -> st.SearchStrategy:
        parts = []
        for flag, (good, bad) in options.items():
            pool = good if clean else [*good, *bad]
            if pool:
                parts.append(st.one_of(st.none(), st.sampled_from(pool).map(lambda v, flag=flag: (flag, v))))
        return st.tuples(*parts).flatmap(lambda chosen: st.permutations([c for c in chosen if c is not None]))

    return st.booleans().flatmap(line)


def tokens(chosen: list[tuple[str, object]]) -> list[str]:
    argv = []
    for flag, value in chosen:
        argv.append(flag)
        if isinstance(value, (list, tuple)):
            argv.extend(value)
        elif value is not None:
            argv.append(value)
    return argv


SWITCH = ([None], [])
GOOD_OUTPUTS = ["new.json", "deep/er/new.json", "out/x.json"]
BAD_OUTPUTS = [path for path in OUTPUT_PATHS if path not in GOOD_OUTPUTS]
OUTPUT = (GOOD_OUTPUTS, BAD_OUTPUTS)
FOLDER = (["out", "deep/er/out"], [path for path in FOLDER_PATHS if path not in ("out", "deep/er/out")])


def ints(*good: str) -> tuple[list, list]:
    return list(good), BAD_INTS


def floats(*good: str, bad: tuple = ()) -> tuple[list, list]:
    return list(good), [*BAD_FLOATS, *bad]


def one_of(good: list, bad: list) -> tuple[list, list]:
    return good, bad


def anything(values: tuple[list, list]) -> st.SearchStrategy:
    return st.sampled_from([*values[0], *values[1]])


@contextlib.contextmanager
def example_folder():
    with tempfile.TemporaryDirectory(prefix="tinygan-fuzz-") as folder:
        root = Path(folder)
        make_folder(root)
        yield root


# ----------------------------------------------------------------------------- bench_train
bench = load_benchmark("bench_train")


def fake_worker(impl, spec, verbose):
    """call_worker without a subprocess: a matmul peak, GPU implementations skipped, the others timed."""
    if impl == "peak":
        return {"records": [], "peak": {"float32": {"gflops": 10.0, "n": 2048}, "blas": []}}
    if impl in bench.GPU_IMPLS:
        return {"records": [], "skipped": "no CUDA GPU"}
    records = [{"impl": impl, "variant": variant, "case": case["name"], "recipe": case["recipe"],
                "batch": case["batch"], "hidden": case["hidden"], "dtype": spec["dtype"], "first_step_s": 0.01,
                "steps_per_repeat": 2, "rates": [100.0, 120.0], "steps_per_s": 110.0}
               for case in spec["cases"] for variant in bench.variants_of(impl, case)]  # fmt: skip
    return {"records": records, "info": {"blas": [], "threads": spec["threads"]}}


def fake_compile_times(batch, hidden, threads):
    times = {"import_s": 0.1, "first_step_s": 0.2, "total_s": 0.3, "second_step_s": 0.001}
    return {"batch": batch, "hidden": hidden, "cold": times, "cached": times}


BENCH_FLAGS = {
    "--configs": one_of(["64x16", "8x4,16x8"], ["64x", "0x16", "ax", "", "99999999x99999999"]),
    "--recipes": one_of(["", "two", "digits,two"], ["mnist"]),
    "--impls": one_of(["tinygan-numpy", "tinygan-numpy,torch-cuda", "jax-jit,torch-eager"], ["foo", ""]),
    "--repeats": ints("1", "2"),
    "--seconds": floats("0.01", "600", bad=("601",)),
    "--rounds": ints("1", "2"),
    "--threads": ints("1", "2"),
    "--dtype": one_of(["float32", "float64"], ["float16"]),
    "--json": one_of(GOOD_OUTPUTS, [*BAD_OUTPUTS, "run.json"]),  # run.json: also the --pool input
    "--pool": one_of(
        [["run.json"], ["run.json", "run.json"]],
        [["foreign.txt"], ["missing.json"], ["adir"], ["run.json", "new.json"]],
    ),  # fmt: skip
    "--no-compile": SWITCH,
    "--force": SWITCH,
}


@pytest.fixture(scope="module")
def bench_run_document(tmp_path_factory):
    """A bench_train --json document (from the stand-in worker), for --pool to read."""
    root = tmp_path_factory.mktemp("bench")
    patch = pytest.MonkeyPatch()
    patch.setattr(bench, "call_worker", fake_worker)
    try:
        argv = ["--configs", "8x4", "--recipes", "", "--impls", "tinygan-numpy", "--no-compile", "--json", "run.json"]
        assert run_main(bench.main, argv, root)[0] == 0
    finally:
        patch.undo()
    return (root / "run.json").read_bytes()


def test_bench_train_command_lines(bench_run_document, monkeypatch):
    monkeypatch.setattr(bench, "call_worker", fake_worker)
    monkeypatch.setattr(bench, "numba_compile_times", fake_compile_times)

    @settings(max_examples=60)
    @given(flags(BENCH_FLAGS))
    def example(chosen):
        with example_folder() as root:
            (root / "run.json").write_bytes(bench_run_document)
            chosen = [(f, resolve(v, root) if f == "--json" else v) for f, v in chosen]
            chosen = [(f, [resolve(p, root) for p in v] if f == "--pool" else v) for f, v in chosen]
            given_flags = dict(chosen)
            json_path = given_flags.get("--json")
            outputs = [json_path] if json_path else []
            named = [i for i in given_flags.get("--impls", "").split(",") if i]
            status, err = check_property(bench.main, tokens(chosen), outputs, lambda: outputs, root,
                                         may_fail=any(i in bench.GPU_IMPLS for i in named))  # fmt: skip
            if status == 1:  # only a GPU implementation named in --impls fails here
                assert all("named in --impls" in line for line in err.splitlines() if line.startswith("failed:"))

    example()
    drawn_both("bench_train")


def test_bench_train_checks_json_before_any_worker_and_creates_a_missing_folder(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "call_worker", lambda *args: calls.append(args) or fake_worker(*args))
    quick = ["--configs", "8x4", "--recipes", "", "--impls", "tinygan-numpy", "--no-compile"]
    with example_folder() as root:
        status, _, err = run_main(bench.main, [*quick, "--json", "afile.txt/x.json"], root)
        assert status == 2 and err.startswith("error: --json") and not calls  # refused before the first worker
        status, _, err = run_main(bench.main, [*quick, "--json", "missing/folder/bench.json"], root)
        assert status == 0 and (root / "missing" / "folder" / "bench.json").is_file() and calls


def test_bench_train_exits_1_when_an_implementation_named_in_impls_cannot_run(monkeypatch):
    monkeypatch.setattr(bench, "call_worker", fake_worker)
    quick = ["--configs", "8x4", "--recipes", "", "--no-compile"]
    with example_folder() as root:
        status, _, err = run_main(bench.main, [*quick, "--impls", "tinygan-numpy,torch-cuda"], root)
        assert status == 1 and "failed: torch-cuda: named in --impls but cannot run here: no CUDA GPU" in err
        assert run_main(bench.main, quick, root)[0] == 0  # the default list only skips it


# ----------------------------------------------------------------------------- mode_coverage
coverage = load_benchmark("mode_coverage")


@pytest.fixture(scope="module")
def coverage_stand_ins():
    """Fast stand-ins for mode_coverage's training run, true-sampler row and picture."""
    from tinygan.evaluation.data import mixture
    from tinygan.evaluation.metrics import mode_statistics

    points = {m: mixture(m).sample(coverage.N_SAMPLES, np.random.default_rng(0)).astype(np.float32)
              for m in coverage.MIXTURES}  # fmt: skip
    stats = {m: mode_statistics(points[m], mixture(m)) for m in coverage.MIXTURES}
    truth = {m: coverage.true_sampler(m, trials=2) for m in coverage.MIXTURES}

    def run_one(spec):
        record = {"mixture": spec.mixture, "method": spec.method, "seed": spec.seed, "steps": spec.steps,
                  "steps_done": spec.steps, "seconds": 0.01, "first_step_seconds": 0.001, "backend": spec.backend,
                  "diverged": False}  # fmt: skip
        record |= coverage.scored(stats[spec.mixture], spec.config.get("jacobian_truncation", 0) > 0)
        record |= {"config": spec.config, "samples": points[spec.mixture]}
        if spec.keep_model:
            record["model"] = b"PK\x05\x06" + bytes(18)  # an empty zip stands in for the checkpoint
        return record

    def plot_samples(records, target, seed):
        target.write(b"\x89PNG stand-in")

    return {"run_one": run_one, "true_sampler": lambda m, trials=500: truth[m], "plot_samples": plot_samples}


COVERAGE_FLAGS = {
    "--mixtures": one_of(["ring8", "grid25", "ring8,grid25"], ["ring9", ""]),
    "--methods": one_of(["gan", "pack2_jbt", "gan,smooth"], ["pack9", ""]),
    "--seeds": ints("1", "2"),
    "--seed-list": one_of(["0", "1,3"], ["-1", "a", ""]),
    "--steps": ints("2"),
    "--jobs": one_of(["1"], ["0", "x"]),
    "--set": one_of(
        ["hidden=8", "batch_size=8"], ["hidden=-1", "hiddn=3", "pack=2", "hidden=99999999", "lr=x", "nonsense"]
    ),  # fmt: skip
    "--backend": one_of(["numpy", "numba"], ["cupy", "torch"]),
    "--out": FOLDER,
    "--json": OUTPUT,
    "--png": one_of(["new.png", "out/x.png"], BAD_OUTPUTS),
    "--no-png": SWITCH,
    "--png-seed": ints("0", "1", "5"),
    "--true-trials": ints("1"),
    "--resume": SWITCH,
    "--report-only": SWITCH,
    "--keep-models": SWITCH,
    "--markdown": SWITCH,
    "--per-seed": SWITCH,
    "--force": SWITCH,
}


def coverage_promised(given_flags: dict, root: Path) -> Callable[[], list[str]]:
    out = given_flags.get("--out", str(root / "runs" / "mode_coverage"))

    def promised() -> list[str]:
        names = ["table.txt", "table.md", "samples.npz"] + ([] if "--json" in given_flags else ["results.json"])
        files = [os.path.join(out, name) for name in names] + [given_flags.get("--json")]
        return [f for f in files if f]

    return promised


def test_mode_coverage_command_lines(coverage_stand_ins, monkeypatch):
    for name, stand_in in coverage_stand_ins.items():
        monkeypatch.setattr(coverage, name, stand_in)

    @settings(max_examples=80)
    @given(flags(COVERAGE_FLAGS), st.booleans())
    def example(chosen, finished_before):
        with example_folder() as root:
            chosen = [(f, resolve(v, root) if f in ("--out", "--json", "--png") else v) for f, v in chosen]
            given_flags = dict(chosen)
            out = given_flags.get("--out", str(root / "runs/mode_coverage"))
            if finished_before:  # an earlier sweep into the same --out, for --resume and --report-only
                argv = ["--mixtures", "ring8", "--methods", "gan", "--seeds", "1", "--steps", "2", "--out", out]
                run_main(coverage.main, [*argv, "--true-trials", "1", "--no-png"], root)
            outputs = [out] + [given_flags[f] for f in ("--json", "--png") if f in given_flags]
            argv = ["--mixtures", "ring8", "--methods", "gan", *tokens(chosen)]  # a drawn value overrides these
            check_property(coverage.main, argv, outputs, coverage_promised(given_flags, root), root)

    example()
    drawn_both("mode_coverage")


def test_mode_coverage_refuses_to_write_its_json_over_a_foreign_file(coverage_stand_ins, monkeypatch):
    for name, stand_in in coverage_stand_ins.items():
        monkeypatch.setattr(coverage, name, stand_in)
    trained = []
    monkeypatch.setattr(coverage, "run_one", lambda spec: trained.append(spec) or coverage_stand_ins["run_one"](spec))
    argv = ["--mixtures", "ring8", "--methods", "gan", "--seeds", "1", "--steps", "2", "--no-png", "--out", "out"]
    with example_folder() as root:
        status, _, err = run_main(coverage.main, [*argv, "--json", "foreign.txt"], root)
        assert status == 2 and "--json" in err and "--force" in err and not trained
        assert (root / "foreign.txt").read_text() == "not tinygan's\n" and not (root / "out").exists()
        assert run_main(coverage.main, [*argv, "--json", "foreign.txt", "--force"], root)[0] == 0
        assert '"benchmark": "mode_coverage"' in (root / "foreign.txt").read_text()


def test_a_failed_run_of_the_sweep_is_one_line_and_exit_1(coverage_stand_ins, monkeypatch):
    for name, stand_in in coverage_stand_ins.items():
        monkeypatch.setattr(coverage, name, stand_in)

    def run_one(spec):
        if spec.method == "smooth":
            raise RuntimeError("the stand-in fails\nwith a second line")
        return coverage_stand_ins["run_one"](spec)

    monkeypatch.setattr(coverage, "run_one", run_one)
    argv = ["--mixtures", "ring8", "--methods", "gan,smooth", "--seeds", "1", "--steps", "2", "--out", "out"]
    with example_folder() as root:
        status, out, err = run_main(coverage.main, argv, root)
        assert status == 1 and err == "failed: ring8_smooth_s0: RuntimeError: the stand-in fails\n"
        assert (root / "out" / "runs" / "ring8_gan_s0.json").is_file()  # the other run is kept and tabulated
        assert not (root / "out" / "runs" / "ring8_smooth_s0.json").exists() and "GAN (pack 1)" in out


# ----------------------------------------------------------------------------- redraw
redraw = load_benchmark("redraw")


@pytest.fixture(scope="module")
def kept_model(tmp_path_factory):
    """A tinygan checkpoint of a tiny ring8 GAN, as mode_coverage --keep-models keeps it."""
    import dataclasses

    from tinygan.evaluation.data import mixture
    from tinygan.gan.checkpoint import save_checkpoint
    from tinygan.gan.model import GAN
    from tinygan.gan.recipes import recipe

    path = tmp_path_factory.mktemp("model") / "ring8_gan_s0.model.npz"
    save_checkpoint(GAN(mixture("ring8"), dataclasses.replace(recipe("ring8"), hidden=8), seed=0), path)
    return path.read_bytes()


def fake_redraw(gan, draws, truncation):
    return {"hq": np.full(draws, 0.98), "reverse_kl": np.full(draws, 0.01), "width": np.ones(draws),
            "faithful": np.ones(draws, bool)}  # fmt: skip


REDRAW_FOLDERS = ["good", "empty_runs", "missing", "foreign.txt", "corrupt", "model_is_folder", "no_runs"]


def make_redraw_folder(root: Path, kind: str, model: bytes) -> None:
    runs = root / kind / "runs"
    if kind in ("good", "empty_runs", "corrupt", "model_is_folder"):
        runs.mkdir(parents=True)
    if kind == "no_runs":
        (root / kind).mkdir()
    if kind == "good":
        (runs / "ring8_gan_s0.model.npz").write_bytes(model)
    if kind == "corrupt":
        (runs / "ring8_gan_s0.model.npz").write_bytes(model[: len(model) // 2])
    if kind == "model_is_folder":
        (runs / "x.model.npz").mkdir()


def test_redraw_command_lines(kept_model, monkeypatch):
    monkeypatch.setattr(redraw, "redraw", fake_redraw)
    options = {"--draws": ints("1", "3"), "--truncation": floats("0.05", "0.5", "1", "0.999"), "--markdown": SWITCH}

    @settings(max_examples=30)
    @given(st.sampled_from(REDRAW_FOLDERS), flags(options), st.booleans())
    def example(folder, chosen, folder_first):
        with example_folder() as root:
            make_redraw_folder(root, folder, kept_model)
            argv = [str(root / folder), *tokens(chosen)] if folder_first else [*tokens(chosen), str(root / folder)]
            status, _ = check_property(redraw.main, argv, [], list, root)
            assert status == 2 or folder == "good"

    example()
    drawn_both("redraw")


# ----------------------------------------------------------------------------- profile_step
profile = load_benchmark("profile_step")


def fake_profile(case, seconds, repeats):
    keys = ("step_1", "matmuls", "elementwise", "adam", "python", "parts", "step_2")
    return {"case": case, **dict.fromkeys(keys, 0.001), "matmul_gflops_1": 1.0, "speedup": 1.0}


def test_profile_step_command_lines(monkeypatch):
    monkeypatch.setattr(profile, "profile_case", fake_profile)
    options = {
        "--cases": one_of(["64x16", "two,8x4", "digits"], ["0x1", "mnist", "", "99999999x99999999"]),
        "--seconds": floats("0.1"),
        "--repeats": ints("1"),
        "--json": OUTPUT,
        "--force": SWITCH,
    }

    @settings(max_examples=40)
    @given(flags(options))
    def example(chosen):
        with example_folder() as root:
            chosen = [(f, resolve(v, root) if f == "--json" else v) for f, v in chosen]
            outputs = [v for f, v in chosen if f == "--json"]
            check_property(profile.main, tokens(chosen), outputs, lambda: outputs, root)

    example()
    drawn_both("profile_step")


# ----------------------------------------------------------------------------- digits
digits = load_benchmark("digits")


def fake_digits_run(kind, seed, settings, threads, split, classifier):
    generated = {"classes_covered": 10, "reverse_kl": 0.01, "precision": 0.8, "recall": 0.7}
    held_out = generated | {"accuracy": 0.97}
    if kind == "conditional":
        generated["conditional_accuracy"] = 0.99
    return {"generated": generated, "held_out": held_out, "frechet_ratio": 2.0, "memorisation_ratio": 1.0,
            "kind": kind, "seed": seed, "steps": 3, "train_seconds": 0.1}  # fmt: skip


def test_digits_command_lines(monkeypatch):
    monkeypatch.setattr(digits, "judge", lambda: (None, None))
    monkeypatch.setattr(digits, "run_one", fake_digits_run)
    options = {
        "--seeds": one_of([["0"], ["0", "1"]], [["-1"], ["x"], []]),
        "--kinds": one_of([["conditional"], ["unconditional", "conditional"]], [["both"], []]),
        "--steps": ints("3"),
        "--set": one_of(["lr=0.001", "hidden=8"], ["lr=-1", "hidden=x", "foo=1", "nonsense", "hidden=99999999"]),
        "--threads": ints("1"),
        "--json": OUTPUT,
        "--force": SWITCH,
    }

    @settings(max_examples=40)
    @given(flags(options))
    def example(chosen):
        with example_folder() as root:
            chosen = [(f, resolve(v, root) if f == "--json" else v) for f, v in chosen]
            json_path = dict(chosen).get("--json", str(root / "bench_digits.json"))
            check_property(digits.main, tokens(chosen), [json_path], lambda: [json_path], root)

    example()
    drawn_both("digits")


# ----------------------------------------------------------------------------- case_study
case_study = load_benchmark("case_study")


def fake_case_row(seed, *args):
    metrics = {"modes_captured_strict": 2, "mode_weight": [0.5, 0.5], "mode_mean": [[-2, -2], [2, 2]],
               "mode_std": [[1, 1], [1, 1]], "energy_ratio": 1.0, "finite": True, "value": -1.38}  # fmt: skip
    return {"seed": seed, "wall_seconds": 0.1, "metrics": metrics, "checks": case_study.check(metrics),
            "faithful": case_study.faithful(metrics)}  # fmt: skip


def test_case_study_command_lines(monkeypatch):
    monkeypatch.setattr(case_study, "run_seed", fake_case_row)
    monkeypatch.setattr(case_study, "run_variant", fake_case_row)
    monkeypatch.setattr(case_study, "true_sampler", lambda trials: {"trials": trials, "pass_fraction": {},
                                                                     "energy_ratio_max": 1.0,
                                                                     "energy_ratio_median": 1.0})  # fmt: skip
    options = {
        "--seeds": one_of(["0", "0,1"], ["-1", "x", ""]),
        "--out": FOLDER,
        "--json": one_of(GOOD_OUTPUTS, [*BAD_OUTPUTS, "out/seed0/metrics.json"]),
        "--true-trials": one_of(["0", "2"], ["-1", "x"]),
        "--energy-draws": one_of(["0", "3"], ["-1", "x"]),
        "--in-process": SWITCH,
        "--set": one_of(["steps=10"], ["hidden=-1", "hiddn=3", "nonsense"]),
        "--steps": one_of(["5"], ["0", "x"]),  # a flag of demos/mixture.py, passed on
        "--seed": one_of([], ["1"]),  # set per run by --seeds: refused
        "--bogus": one_of([], [None]),
        "--markdown": SWITCH,
    }

    @settings(max_examples=40)
    @given(flags(options))
    def example(chosen):
        with example_folder() as root:
            chosen = [(f, resolve(v, root) if f in ("--out", "--json") else v) for f, v in chosen]
            outputs = [v for f, v in chosen if f == "--json"]
            check_property(case_study.main, tokens(chosen), outputs, lambda: outputs, root, may_fail=False)

    example()
    drawn_both("case_study")


# ----------------------------------------------------------------------------- width_screen and codes_cost
width_screen = load_benchmark("width_screen")
codes_cost = load_benchmark("codes_cost")


def test_width_screen_command_lines(monkeypatch):
    monkeypatch.setattr(width_screen, "screen", lambda args: {"mixture": args.mixture, "scores": {}})
    positional = st.tuples(st.sampled_from(["ring8", "grid25", "ring9"]), anything(ints("0", "3")), anything(ints("8")))
    setting = st.sampled_from(["hidden=8", "hidden=x", "hiddn=3", "pack_spread=false", "pack_spread=maybe",
                               "energy=1", "energy=nan", "energy=-1", "backend=numba", "backend=torch", "nonsense",
                               "hidden=99999999", "depth=1"])  # fmt: skip

    @settings(max_examples=40)
    @given(positional, st.lists(setting, max_size=3), st.integers(0, 3))
    def example(head, fields, cut):
        with example_folder() as root:
            argv = [*head, *fields][: 3 + len(fields) - (cut if cut < 3 else 0)]
            check_property(width_screen.main, argv, [], list, root)

    example()
    drawn_both("width_screen")


def test_codes_cost_command_lines(monkeypatch):
    monkeypatch.setattr(codes_cost, "time_steps", lambda rounds, steps, warm: {codes_cost.FUSED_WITHOUT: [1.0]})
    options = {"--rounds": ints("1"), "--steps": ints("2"), "--warm-up": one_of(["0", "1"], ["-1", "x"])}

    @settings(max_examples=15)
    @given(flags(options))
    def example(chosen):
        with example_folder() as root:
            check_property(codes_cost.main, tokens(chosen), [], list, root)

    example()
    drawn_both("codes_cost")


@pytest.mark.parametrize(
    "argv", [["--fps", "nan"], ["--fps", "-5"], ["--fps", "10", "0"], ["--seconds", "-1"], ["--seconds", "inf"]]
)
def test_live_speed_refuses_bad_numbers_before_starting_a_browser(argv, monkeypatch, capsys):
    pytest.importorskip("bokeh")
    live_speed = load_benchmark("live_speed")
    monkeypatch.setattr("sys.argv", ["live_speed.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        live_speed.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and lines[0].startswith(f"error: argument {argv[0]}: ")
