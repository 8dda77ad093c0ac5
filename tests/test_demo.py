"""demos/mixture.py: writes every promised file, resumes bit-identically, fails in one line."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from tinygan.plot import kde_density

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demos" / "mixture.py"
spec = importlib.util.spec_from_file_location("mixture_demo", DEMO)
mixture_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mixture_demo)

QUICK = ["--steps", "300", "--batch-size", "64", "--hidden", "16", "--no-progress", "--log-every", "50"]


def run_demo(*args: str) -> int:
    return mixture_demo.main([*QUICK, *args])


def test_writes_every_promised_file(tmp_path):
    assert run_demo("--out", str(tmp_path), "--backend", "numpy") == 0
    for name in ("samples.npy", "metrics.json", "contours.png", "discriminator.png", "losses.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (5000, 2) and samples.dtype.kind == "f" and np.all(np.isfinite(samples))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 300 and len(metrics["history"]) == 6
    assert {"energy_ratio", "mode_weight", "value", "modes_captured", "reverse_kl", "width_ratio"} <= set(metrics)
    table = mixture_demo.summary_table(metrics)
    assert f"{metrics['width_ratio']:.2f}" in table.split("width of modes")[1].splitlines()[0]
    assert f"{metrics['reverse_kl']:.4f}" in table.split("reverse KL over modes")[1].splitlines()[0]


def test_truncation_draws_the_picture_of_what_it_left_out(tmp_path):
    plain, truncated = tmp_path / "plain", tmp_path / "truncated"
    assert run_demo("--out", str(plain), "--truncation", "0") == 0
    assert run_demo("--out", str(truncated), "--truncation", "0.05") == 0
    assert not (plain / "truncation.png").exists() and (truncated / "truncation.png").stat().st_size > 0
    samples = np.load(truncated / "samples.npy")
    assert samples.shape == (5000, 2) and not np.array_equal(samples, np.load(plain / "samples.npy"))
    assert json.loads((truncated / "metrics.json").read_text())["config"]["jacobian_truncation"] == 0.05


def test_same_seed_same_samples_and_split_resume_is_bit_identical(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run_demo("--out", str(a), "--seed", "3") == 0
    assert run_demo("--out", str(b), "--seed", "3") == 0
    np.testing.assert_array_equal(np.load(a / "samples.npy"), np.load(b / "samples.npy"))
    ckpt = str(tmp_path / "ckpt.npz")
    assert run_demo("--seed", "3", "--stop-after", "150", "--checkpoint", ckpt, "--out", str(c)) == 0
    assert mixture_demo.main(["--resume", ckpt, "--out", str(c), "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(a / "samples.npy"), np.load(c / "samples.npy"))


def test_user_data_from_csv(tmp_path):
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(-3, 0.5, (200, 2)), rng.normal(3, 0.5, (200, 2))])
    path = tmp_path / "points.csv"
    np.savetxt(path, points, delimiter=",", header="x,y", comments="")
    assert run_demo("--data", str(path), "--out", str(tmp_path / "out"), "--samples", "500") == 0
    assert np.load(tmp_path / "out" / "samples.npy").shape == (500, 2)


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be a finite number > 0"),
    (["--lr", "-1"], "--lr must be a finite number > 0"),
    (["--lr", "nan"], "--lr must be a finite number > 0"),
    (["--batch-size", "abc"], "--batch-size must be an integer"),
    (["--seed", "-2"], "--seed must be a finite number >= 0"),
    (["--mixture", "ring9"], "invalid choice: 'ring9'"),
    (["--betas", "0.5", "1.0"], "--betas must be a number in [0, 1)"),
    (["--loss", "hinge"], "invalid choice: 'hinge'"),
    (["--hidden", "0"], "--hidden must be a finite number > 0"),
    (["--truncation", "1"], "--truncation must be a number in [0, 1)"),
    (["--truncation", "-0.1"], "--truncation must be a finite number >= 0"),
    (["--data", "/no/such/file.npy"], "does not exist"),
    (["--resume", "/no/such/ckpt.npz"], "does not exist"),
])  # fmt: skip
def test_bad_arguments_print_one_line_and_exit_nonzero(args, message):
    env = os.environ | {"PYTHONPATH": str(ROOT)}  # this checkout's tinygan, not an installed one
    result = subprocess.run([sys.executable, str(DEMO), *args], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_data_of_another_dimension_trains_and_skips_the_2d_pictures(tmp_path, capsys):
    path = tmp_path / "points3d.npy"
    np.save(path, np.random.default_rng(0).normal(size=(300, 3)))
    assert run_demo("--data", str(path), "--out", str(tmp_path / "out"), "--samples", "200", "--animate") == 0
    assert np.load(tmp_path / "out" / "samples.npy").shape == (200, 3)
    assert (tmp_path / "out" / "losses.png").stat().st_size > 0 and not (tmp_path / "out" / "contours.png").exists()
    out = capsys.readouterr().out
    assert "skipping --animate" in out and "skipping the 2-D pictures" in out


def test_one_dimensional_data_trains_and_is_not_refused_for_lacking_2d_spread(tmp_path, capsys):
    path = tmp_path / "points1d.csv"
    path.write_text("\n".join(str(x) for x in np.random.default_rng(0).normal(size=200)))
    assert run_demo("--data", str(path), "--out", str(tmp_path / "out"), "--samples", "50", "--steps", "20") == 0
    assert np.load(tmp_path / "out" / "samples.npy").shape == (50, 1)
    assert "skipping the 2-D pictures" in capsys.readouterr().out


def test_a_generator_collapsed_onto_a_line_still_gets_its_pictures(tmp_path):
    # --hidden 1: G's samples lie on a line (rank 1), where a KDE is undefined; the run must not fail after training
    assert run_demo("--hidden", "1", "--steps", "20", "--samples", "200", "--out", str(tmp_path / "out")) == 0
    assert (tmp_path / "out" / "contours.png").stat().st_size > 0
    grid = np.stack(np.meshgrid(np.linspace(-3, 3, 61), np.linspace(-3, 3, 61)), -1).reshape(-1, 2)
    t = np.linspace(-1, 1, 50)[:, None]
    with pytest.raises(np.linalg.LinAlgError):
        gaussian_kde(np.hstack([t, 0 * t]).T)  # scipy refuses a line
    for collapsed in (np.hstack([t, 0 * t]), np.hstack([t, 3 * t + 1]), np.ones((50, 2))):  # lines, a point
        density = kde_density(collapsed, grid)
        assert np.all(np.isfinite(density)) and density.max() > 0


def test_bad_data_files_get_clear_errors(tmp_path, capsys):
    nan_file = tmp_path / "nan.npy"
    np.save(nan_file, np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]))
    wrong_shape = tmp_path / "flat.npy"
    np.save(wrong_shape, np.zeros(10))
    text = tmp_path / "words.csv"
    text.write_text("x,y\n1,2\nthree,4\n")
    for path, message in (
        (nan_file, "NaN or inf in 1 row"),
        (wrong_shape, "shape (n, d)"),
        (text, "non-numeric"),
    ):
        assert run_demo("--data", str(path), "--out", str(tmp_path / "o")) == 2
        assert message in capsys.readouterr().err


def test_forced_divergence_exits_nonzero_with_the_step(tmp_path, capsys):
    assert run_demo("--lr", "1e30", "--out", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "diverged at step" in err and "learning rate" in err


def test_animate_writes_a_gif_with_the_requested_frames(tmp_path):
    from PIL import Image

    assert run_demo("--steps", "100", "--animate", "--frames", "5", "--out", str(tmp_path), "--samples", "500") == 0
    with Image.open(tmp_path / "training.gif") as gif:
        assert gif.n_frames == 6  # the initial state plus one frame every 20 steps


def test_animation_does_not_change_the_run(tmp_path):
    assert run_demo("--steps", "60", "--out", str(tmp_path / "plain"), "--samples", "300") == 0
    assert (
        run_demo("--steps", "60", "--animate", "--frames", "3", "--out", str(tmp_path / "gif"), "--samples", "300") == 0
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "plain" / "samples.npy"), np.load(tmp_path / "gif" / "samples.npy")
    )


@pytest.mark.parametrize(
    "backend, says", [("numpy", "layer by layer (tinygan/gan/model.py"), ("numba", "fused Numba twin")]
)
def test_demo_says_which_training_code_runs(tmp_path, capsys, backend, says):
    assert run_demo("--out", str(tmp_path), "--backend", backend, "--steps", "20") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("training step: ")]
    assert len(lines) == 1 and says in lines[0]


@pytest.mark.parametrize("name", ["optimal_discriminator", "saturation"])
@pytest.mark.parametrize("args", [["--steps", "-3"], ["--steps", "x"], ["--seed", "-1"]])
def test_theory_demos_refuse_bad_numbers_in_one_line(name, args, capsys):
    spec = importlib.util.spec_from_file_location(f"{name}_demo", ROOT / "demos" / f"{name}.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    with pytest.raises(SystemExit) as exit_info:
        demo.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and args[0] in lines[0]


def test_optimal_discriminator_refuses_samples_beyond_memory_before_training(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("optimal_demo", ROOT / "demos" / "optimal_discriminator.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setattr(demo.theory, "train_discriminator", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--samples", str(10**11), "--out", str(tmp_path / "o")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: --samples 100000000000: ")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- the output folder
TINY_RUN = ["--steps", "3", "--hidden", "8", "--batch-size", "16", "--samples", "20", "--log-every", "1",
            "--no-progress", "--backend", "numpy"]  # fmt: skip


def test_a_second_run_into_the_same_out_clears_only_the_first_runs_files(tmp_path):
    out = tmp_path / "o"
    assert mixture_demo.main([*TINY_RUN, "--out", str(out), "--animate", "--frames", "2", "--truncation", "0.2"]) == 0
    assert {"training.gif", "truncation.png"} <= set(os.listdir(out))
    (out / "notes.txt").write_text("mine")
    assert mixture_demo.main([*TINY_RUN, "--out", str(out), "--truncation", "0"]) == 0
    written = {"samples.npy", "metrics.json", "contours.png", "samples.png", "discriminator.png", "losses.png"}
    assert set(os.listdir(out)) == written | {".tinygan-run.json", "notes.txt"}
    assert set(json.loads((out / ".tinygan-run.json").read_text())["run"]) == written


def test_a_file_tinygan_did_not_write_is_kept_unless_forced(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "losses.png").write_bytes(b"someone's picture")
    assert mixture_demo.main([*TINY_RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --out") and "--force" in err
    assert (out / "losses.png").read_bytes() == b"someone's picture" and os.listdir(out) == ["losses.png"]
    assert mixture_demo.main([*TINY_RUN, "--out", str(out), "--force"]) == 0
    assert (out / "losses.png").read_bytes().startswith(b"\x89PNG")


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in: read-only by mode, or (root ignores modes) under /sys."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked
    return Path("/sys/tinygan-test")


def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys):
    out = unwritable_folder(tmp_path) / "o"
    assert mixture_demo.main([*TINY_RUN, "--steps", "100000", "--out", str(out)]) == 2  # refused at once
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: --out {out}: cannot write")


def test_an_unconditional_digits_run_clears_an_earlier_conditional_runs_labels(tmp_path):
    spec = importlib.util.spec_from_file_location("digits_demo_outputs", ROOT / "demos" / "digits.py")
    digits_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits_demo)
    out, tiny = tmp_path / "o", [arg for arg in TINY_RUN if arg not in ("--samples", "20")]
    assert digits_demo.main([*tiny, "--frames", "2", "--out", str(out), "--conditional"]) == 0
    assert "labels.npy" in os.listdir(out)
    assert digits_demo.main([*tiny, "--frames", "2", "--out", str(out)]) == 0
    assert "labels.npy" not in os.listdir(out) and "samples.npy" in os.listdir(out)


def test_r1_flags_change_the_run_and_are_refused_where_they_make_no_sense(tmp_path, capsys):
    """--r1/--r2 reach the config (and so the D step), with or without the recipe's pack spread; with a
    checkpoint trained without them they are refused in one line naming the flag."""
    plain, penalised = tmp_path / "plain", tmp_path / "r1"
    common = ("--steps", "20", "--no-pack-spread", "--samples", "100", "--backend", "numpy")
    assert run_demo(*common, "--out", str(plain)) == 0
    assert run_demo(*common, "--r1", "2", "--r2", "0.5", "--out", str(penalised)) == 0
    config = json.loads((penalised / "metrics.json").read_text())["config"]
    assert (config["r1"], config["r2"], config["pack_spread"]) == (2.0, 0.5, False)
    assert not np.array_equal(np.load(plain / "samples.npy"), np.load(penalised / "samples.npy"))
    capsys.readouterr()

    assert (
        run_demo("--steps", "20", "--samples", "100", "--backend", "numpy", "--r1", "1", "--out", str(tmp_path / "x"))
        == 0
    )
    config = json.loads((tmp_path / "x" / "metrics.json").read_text())["config"]
    assert (config["r1"], config["pack_spread"]) == (1.0, True)  # R1 goes through the recipe's pack spread
    capsys.readouterr()

    checkpoint = tmp_path / "c.npz"
    assert run_demo(*common, "--out", str(tmp_path / "p"), "--checkpoint", str(checkpoint), "--stop-after", "10") == 0
    capsys.readouterr()
    assert mixture_demo.main(["--resume", str(checkpoint), "--r1", "1", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--r1 1.0 conflicts with the checkpoint" in err
