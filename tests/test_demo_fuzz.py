"""Fuzzed command lines for demos/mixture.py and demos/digits.py, run in-process with tiny runs.

Hypothesis builds each command from flags with good and bad values (negative, zero, huge, NaN, inf,
text, a missing value) and paths into a fresh folder holding good and bad inputs, folders, a foreign
file, an earlier run's output folder, a paused and a finished checkpoint, and an unwritable place;
two flags may name the same path. Whatever the command, the demo must end in one of three ways:

* exit 0: a finished run wrote its promised files into --out, listed in the manifest, and --out
  holds nothing else but files that were there before and not listed by the previous run (and the
  checkpoint, if it lies there); a paused run says how to continue and leaves --out untouched;
* exit 1: training diverged, in one line on stderr;
* exit 2: one line on stderr, ``error: ...`` naming a flag, and not one file changed.

In every case no file outside --out and --checkpoint changed (bytes and mtime), and no temporary
file is left behind. Examples are derandomised: the same commands run every time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygan.evaluation import classifier as classifier_module
from tinygan.outputs import MANIFEST, read_manifest

ROOT = Path(__file__).resolve().parents[1]


def load_demo(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_fuzz", ROOT / "demos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMOS = {"mixture": load_demo("mixture"), "digits": load_demo("digits")}
TINY = ["--steps", "3", "--hidden", "8", "--batch-size", "16", "--log-every", "1", "--no-progress", "--frames", "2"]
UNWRITABLE = "/sys/tinygan-fuzz/o" if os.geteuid() == 0 else "locked/o"  # root ignores a folder's mode

# --- values -------------------------------------------------------------------------------------------
BAD_NUMBERS = ["0", "-1", "-0.5", "nan", "inf", "-inf", "abc", "", "1e400", "0x10"]
SMALL_INTS = ["1", "2", "3"]
VALUES = {  # flag -> values worth trying (good ones small, so a run stays tiny)
    "--steps": SMALL_INTS + ["4"] + BAD_NUMBERS,
    "--batch-size": ["8", "16", "1", "1000000000"] + BAD_NUMBERS,
    "--lr": ["1e-3", "1e30", "1e-300"] + BAD_NUMBERS,
    "--hidden": ["4", "8", "1000000000"] + BAD_NUMBERS,
    "--seed": ["0", "7", "99999999999999999999"] + BAD_NUMBERS,
    "--pack": ["1", "2", "3"] + BAD_NUMBERS,
    "--log-every": ["1", "2", "1000000000"] + BAD_NUMBERS,
    "--checkpoint-every": ["1", "2", "1000000000"] + BAD_NUMBERS,
    "--stop-after": ["1", "2", "3", "5"] + BAD_NUMBERS,
    "--threads": ["1", "1000000"] + BAD_NUMBERS,
    "--frames": ["1", "2", "1000000"] + BAD_NUMBERS,
    "--loss": ["minimax", "nonsaturating", "hinge", ""],
    "--backend": ["numpy", "cupy", "tpu"],
}
MIXTURE_VALUES = {
    "--samples": ["10", "20", "9", "1000000000000"] + BAD_NUMBERS,
    "--truncation": ["0", "0.1", "0.99", "1"] + BAD_NUMBERS,
    "--mixture": ["two", "ring8", "grid25", "moons"],
}
SWITCHES = {"mixture": ["--animate", "--force", "--no-progress"], "digits": ["--conditional", "--force"]}
PATHS = ["good.npy", "good.csv", "bad.npy", "line.npy", "foreign.txt", "folder", "previous", "paused.npz",
         "finished.npz", "new/o", "new.npz", "previous/samples.npy", "good.npy/x", UNWRITABLE, ""]  # fmt: skip
PATH_FLAGS = {
    "mixture": ["--out", "--checkpoint", "--resume", "--data"],
    "digits": ["--out", "--checkpoint", "--resume"],
}


@st.composite
def command(draw, demo: str) -> list[str]:
    """A command line: some flags with drawn values, some paths, maybe a flag without its value."""
    values = VALUES | (MIXTURE_VALUES if demo == "mixture" else {})
    flags = draw(st.lists(st.sampled_from(sorted(values)), max_size=4, unique=True))
    argv = []
    for flag in flags:
        argv += [flag, draw(st.sampled_from(values[flag]))]
    if draw(st.booleans()):
        argv += ["--betas", draw(st.sampled_from(["0.5", "1", "-0.1", "nan"])), draw(st.sampled_from(["0.9", "x"]))]
    for flag in draw(st.lists(st.sampled_from(PATH_FLAGS[demo]), max_size=3, unique=True)):
        argv += [flag, draw(st.sampled_from(PATHS))]
    argv += draw(st.lists(st.sampled_from(SWITCHES[demo]), max_size=2, unique=True))
    if draw(st.integers(0, 9)) == 0:  # a flag whose value is missing
        argv.append(draw(st.sampled_from(sorted(values))))
    return argv


# --- the folder each command runs in -------------------------------------------------------------------
@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    """Per demo: a folder with the inputs, an earlier run's --out, and a paused and a finished checkpoint."""
    made = {}
    for name, demo in DEMOS.items():
        folder = tmp_path_factory.mktemp(f"fuzz-{name}")
        points = np.random.default_rng(0).normal(size=(60, 2))
        np.save(folder / "good.npy", points)
        np.savetxt(folder / "good.csv", points, delimiter=",")
        (folder / "bad.npy").write_bytes(b"\x93NUMPY not really")
        np.save(folder / "line.npy", np.stack([np.arange(30.0), np.arange(30.0)], axis=1))
        (folder / "foreign.txt").write_text("a user's notes")
        (folder / "folder").mkdir()
        (folder / "locked").mkdir()
        quiet = contextlib.redirect_stdout(io.StringIO())
        with quiet, contextlib.redirect_stderr(io.StringIO()):
            base = [*TINY, "--backend", "numpy"] + (["--samples", "20"] if name == "mixture" else [])
            assert demo.main([*base, "--out", str(folder / "previous")]) == 0
            assert demo.main([*base, "--steps", "6", "--stop-after", "2", "--checkpoint", str(folder / "paused.npz"),
                              "--out", str(folder / "unused")]) == 0  # fmt: skip
            assert demo.main([*base, "--checkpoint", str(folder / "finished.npz"), "--out", str(folder / "o2")]) == 0
        shutil.rmtree(folder / "o2")
        (folder / "previous" / "notes.txt").write_text("the user's file beside a run's outputs")
        made[name] = folder
    return made


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and mtime."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return files


def run_command(demo, argv: list[str]) -> tuple[int, str, str]:
    """``demo.main(argv)``'s exit status, stdout and stderr; any other exception escapes (a failure)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = demo.main(argv)
        except SystemExit as stopped:
            status = stopped.code
    return status, out.getvalue(), err.getvalue()


def last_value(argv: list[str], flag: str, default: str | None = None) -> str | None:
    """The value of the last ``flag`` in ``argv`` (argparse keeps the last), or ``default``."""
    value = default
    for i, word in enumerate(argv[:-1]):
        if word == flag:
            value = argv[i + 1]
    return value


_classifier_cache: dict = {}


def cached_classifier(x, y, *, seed=0):
    """The digits demo trains the same classifier every run: train it once (the fuzz is about flags and files)."""
    key = (x.shape, seed)
    if key not in _classifier_cache:
        _classifier_cache[key] = classifier_module.DigitClassifier(seed=seed)
        _classifier_cache[key].train(x, y)
    return _classifier_cache[key]


def check_command(name: str, argv: list[str], template: Path) -> None:
    demo = DEMOS[name]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "run"
        shutil.copytree(template, root)
        (root / "locked").chmod(0o555)
        before = snapshot(root)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with mock.patch.object(classifier_module, "train_digit_classifier", cached_classifier):
                status, out, err = run_command(demo, argv)
        finally:
            os.chdir(cwd)
            (root / "locked").chmod(0o755)
        after = snapshot(root)
        check_outcome(name, argv, status, out, err, root, before, after)


def check_outcome(name, argv, status, out, err, root, before, after) -> None:
    lines = err.strip().splitlines()
    assert status in (0, 1, 2), (argv, status, err)
    assert not [path for path in after if path.endswith(".tmp")], (argv, "a temporary file was left behind")
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert re.search(r"--[a-z][a-z-]+|\bargument\b", lines[0]), (argv, "the refusal names no flag", err)
        assert after == before, (argv, "a refused run changed files", err)
        return
    if status == 1:
        assert len(lines) == 1 and lines[0].startswith("error: training diverged"), (argv, err)
    out_folder = last_value(argv, "--out", "runs/" + name)
    checkpoint = last_value(argv, "--checkpoint") or last_value(argv, "--resume")
    allowed = {os.path.normpath(checkpoint)} if checkpoint else set()
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    outside = {path for path in changed if path not in allowed and not _inside(path, out_folder)}
    assert not outside, (argv, "files outside --out and --checkpoint changed", sorted(outside))
    if status == 0 and "stopped at step" not in out:
        check_out_folder(name, argv, root / out_folder, root, before, out_folder, allowed)


def _inside(path: str, folder: str) -> bool:
    return os.path.normpath(path).startswith(os.path.normpath(folder) + os.sep)


def check_out_folder(name, argv, out: Path, root: Path, before, out_folder: str, allowed: set[str]) -> None:
    """A finished run: its promised files, listed in the manifest, and nothing new besides."""
    manifest = read_manifest(str(out))
    assert manifest is not None, (argv, "no manifest")
    written = set(manifest["run"])
    assert {"samples.npy", "metrics.json", "losses.png"} <= written, (argv, written)
    if name == "digits" or "--animate" in argv:  # the digits demo always draws its GIF
        assert "training.gif" in written, (argv, written)
    json.loads((out / "metrics.json").read_text())  # strict JSON
    present = set(os.listdir(out))
    earlier = {os.path.relpath(p, out_folder) for p in before if _inside(p, out_folder)}
    previous = read_manifest(str(root / "previous")) if out_folder == "previous" else None
    listed_before = set(previous["run"]) if previous else set()
    kept = {n for n in earlier if n not in listed_before and "/" not in n} - written
    in_out = {os.path.relpath(p, out_folder) for p in allowed if _inside(p, out_folder)}
    assert present == written | {MANIFEST} | kept | in_out, (argv, sorted(present), sorted(written))


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(argv=command("mixture"))
def test_mixture_command_lines(templates, argv):
    check_command("mixture", [*TINY, "--samples", "20", *argv], templates["mixture"])


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(argv=command("digits"))
def test_digits_command_lines(templates, argv):
    check_command("digits", [*TINY, *argv], templates["digits"])


@pytest.mark.slow
@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(demo=st.sampled_from(["mixture", "digits"]), data=st.data())
def test_many_command_lines(templates, demo, data):
    argv = data.draw(command(demo))
    extra = ["--samples", "20"] if demo == "mixture" else []
    check_command(demo, [*TINY, *extra, *argv], templates[demo])
