"""Digits: the split, labelled data, the classifier, the image measures, the pictures and the demo."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygan.evaluation import image_metrics as im
from tinygan.evaluation.classifier import DigitClassifier, train_digit_classifier
from tinygan.evaluation.digits import LabelledData, digits_split
from tinygan.gan.checkpoint import checkpoint_info
from tinygan.plot import mosaic

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demos" / "digits.py"
spec = importlib.util.spec_from_file_location("digits_demo", DEMO)
digits_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(digits_demo)


@pytest.fixture(scope="module")
def split():
    return digits_split()


@pytest.fixture(scope="module")
def classifier(split):
    return train_digit_classifier(split.train_x, split.train_y)


def test_split_is_fixed_disjoint_stratified_and_scaled(split):
    again = digits_split()
    np.testing.assert_array_equal(split.held_out_x, again.held_out_x)
    assert len(split.train_x) + len(split.held_out_x) == 1797
    assert split.train_x.min() == -1.0 and split.train_x.max() == 1.0 and split.train_x.shape[1] == 64
    train_rows = {row.tobytes() for row in split.train_x}
    assert sum(row.tobytes() in train_rows for row in split.held_out_x) <= 5  # only the dataset's own duplicates
    shares = np.bincount(split.held_out_y) / (np.bincount(split.held_out_y) + np.bincount(split.train_y))
    assert np.all(np.abs(shares - 0.3) < 0.01)


def test_labelled_data_draws_rows_with_their_labels():
    points, labels = np.arange(20.0).reshape(10, 2), np.arange(10) % 3
    data = LabelledData(points, labels, 3)
    x, y = data.sample_labelled(50, np.random.default_rng(0))
    rows = (x[:, 0] / 2).astype(int)  # row i holds (2i, 2i + 1)
    np.testing.assert_array_equal(y, labels[rows])
    for bad, message in (([0] * 9, "10 integers"), (np.zeros(10), "10 integers"), ([3] * 10, r"\[0, 2\]")):
        with pytest.raises(ValueError, match=message):
            LabelledData(points, np.asarray(bad), 3)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        LabelledData(points, labels, 1)


def test_classifier_learns_the_digits(split, classifier):
    assert np.mean(classifier.predict(split.held_out_x) == split.held_out_y) >= 0.95
    assert classifier.features(split.held_out_x[:5]).shape == (5, 64)
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        DigitClassifier().logits(np.zeros((2, 8)))


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    b = 2.0 * rng.normal(size=(20000, 3)) + 1.0  # N(1, 4 I): |mu|^2 = 3, Tr(I + 4I - 2 * 2I) = 3
    assert im.frechet_distance(a, b) == pytest.approx(6.0, rel=0.03)
    assert abs(im.frechet_distance(a, a)) < 1e-4


def test_class_measures():
    reference = np.full(4, 0.25)
    histogram = im.class_histogram(np.array([0, 0, 1, 2, 2, 2, 2, 2]), 4)
    np.testing.assert_allclose(histogram, [0.25, 0.125, 0.625, 0.0])
    assert im.classes_covered(histogram, reference) == 3  # class 1 has exactly half its share: covered
    expected = 0.25 * np.log(1.0) + 0.125 * np.log(0.5) + 0.625 * np.log(2.5)
    assert im.reverse_kl(histogram, reference) == pytest.approx(expected)
    assert im.reverse_kl(reference, reference) == 0.0


def test_precision_recall_against_a_brute_force_count():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(80, 4)), rng.normal(size=(60, 4)) * 0.5 + 0.7
    distances = np.linalg.norm(real[:, None] - real[None], axis=2)  # (80, 80)
    radii = np.sort(distances, axis=1)[:, 3]  # k = 3, the point itself at column 0
    inside = (np.linalg.norm(fake[:, None] - real[None], axis=2) <= radii[None]).any(axis=1)
    precision, recall = im.precision_recall(real, fake)
    assert precision == pytest.approx(inside.mean())
    assert 0 < recall < precision  # a narrow generator: realistic, not diverse
    assert im.precision_recall(real, real) == (1.0, 1.0)
    assert im.precision_recall(real, real + 100.0) == (0.0, 0.0)


def test_copies_of_the_training_set_are_caught_as_memorised(split, classifier):
    copies = split.train_x[: len(split.held_out_x)]
    result = im.evaluate_images(copies, classifier, split)
    assert result["memorisation_ratio"] == 0.0 and result["held_out"]["nearest_train_distance"] > 0
    assert result["held_out"]["classes_covered"] == 10 and result["held_out"]["recall"] > 0.8
    noise = np.random.default_rng(0).uniform(-1, 1, size=copies.shape)
    bad = im.evaluate_images(noise, classifier, split, requested=np.zeros(len(noise), int))
    assert bad["frechet_ratio"] > 10 and bad["generated"]["precision"] < 0.05
    assert 0 <= bad["generated"]["conditional_accuracy"] < 0.5
    with pytest.raises(ValueError, match="64 pixels"):
        im.evaluate_images(np.zeros((5, 3)), classifier, split)


def test_codes_recipe_is_digits_with_codes_and_a_weight_average_and_trains(split):
    import dataclasses

    from tinygan import get_backend
    from tinygan.evaluation.digits import digits_data
    from tinygan.gan.model import GAN
    from tinygan.gan.recipes import recipe
    from tinygan.gan.train import train

    codes, plain = recipe("digits-codes").to_dict(), recipe("digits").to_dict()
    changed = {name for name in codes if codes[name] != plain[name]}
    assert changed == {"latent_codes", "code_info", "ema"} and codes["latent_codes"] == 10
    config = dataclasses.replace(recipe("digits-codes"), hidden=16, steps=10)
    gan = GAN(digits_data(split), config, seed=0)
    assert (gan.fused is not None) == (get_backend().name == "numba")  # codes and the average run fused
    train(gan, 10, progress=False, log_every=10)
    z = gan.draw_noise(30, np.random.default_rng(0))  # (30, 16 + 10): z, then the one-hot code
    assert z.shape == (30, 26) and np.all(z[:, 16:].sum(axis=1) == 1)
    samples = gan.decode(z)
    assert samples.shape == (30, 64) and np.all(np.abs(samples) <= 1)  # G ends in tanh
    with pytest.raises(ValueError, match=r"z must have shape \(n, 26\)"):  # noise without its code
        gan.decode(np.zeros((3, 16)))


def test_mosaic_places_each_image_in_its_cell():
    images = np.stack([np.full(4, v) for v in (0.1, 0.2, 0.3)])  # three 2x2 images
    canvas = mosaic(images, columns=2, shape=(2, 2), gap=1)
    assert canvas.shape == (5, 5)
    assert canvas[0, 0] == 0.1 and canvas[0, 3] == 0.2 and canvas[3, 0] == 0.3
    assert canvas[2, 2] == -1.0 and canvas[4, 4] == -1.0  # gaps and the empty cell are background


QUICK = ["--steps", "40", "--no-progress", "--log-every", "20", "--frames", "4"]


@pytest.mark.parametrize("conditional", [False, True])
def test_demo_writes_every_promised_file(tmp_path, conditional):
    from PIL import Image

    extra = ["--conditional"] if conditional else []
    assert digits_demo.main([*QUICK, *extra, "--out", str(tmp_path)]) == 0
    names = [n for n in digits_demo.OUT_FILES if n != "labels.npy" or conditional]
    for name in names:
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "labels.npy").exists() == conditional
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (539, 64) and np.all(np.abs(samples) <= 1)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["conditional"] == conditional and metrics["steps"] == 40
    assert ("conditional_accuracy" in metrics["generated"]) == conditional
    with Image.open(tmp_path / "training.gif") as gif:
        assert gif.n_frames == 5  # the start and one frame every 10 steps


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be a finite number > 0"),
    (["--lr", "nan"], "--lr must be a finite number > 0"),
    (["--frames", "x"], "--frames must be an integer"),
    (["--conditional", "yes"], "unrecognized arguments: yes"),
    (["--resume", "/no/such/ckpt.npz"], "does not exist"),
])  # fmt: skip
def test_bad_arguments_print_one_line(args, message):
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(DEMO), *args], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr


# ----------------------------------------------------------------------------- run semantics, shared with mixture.py
TINY = ["--batch-size", "16", "--hidden", "16", "--no-progress", "--log-every", "10", "--frames", "2"]


def run_tiny(*args: str) -> int:
    return digits_demo.main([*TINY, *args])


@pytest.fixture(scope="module")
def paused_runs(tmp_path_factory):
    """{conditional: checkpoint} of 20-step runs stopped at step 10. A test that resumes one without
    --checkpoint resumes a copy: the run would save into the file itself."""
    folder = tmp_path_factory.mktemp("paused")
    runs = {}
    for conditional in (False, True):
        ckpt = folder / f"{'conditional' if conditional else 'plain'}.npz"
        extra = ["--conditional"] if conditional else []
        args = ["--steps", "20", "--stop-after", "10", "--checkpoint", str(ckpt), "--out", str(folder / "o"), *extra]
        assert run_tiny(*args) == 0
        runs[conditional] = ckpt
    return runs


@pytest.mark.parametrize("conditional", [False, True])
def test_stop_after_then_the_printed_command_equals_a_straight_run(tmp_path, capsys, conditional):
    extra = ["--conditional"] if conditional else []
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run_tiny("--steps", "20", "--seed", "2", "--out", str(straight), *extra) == 0
    ckpt = tmp_path / "c.npz"
    capsys.readouterr()
    args = ["--steps", "20", "--seed", "2", "--stop-after", "10", "--checkpoint", str(ckpt), "--out", str(split)]
    assert run_tiny(*args, *extra) == 0
    hint = capsys.readouterr().out.strip().splitlines()[-1]
    command = hint.split("continue with: ")[1].split()
    assert command == ["python", digits_demo.SCRIPT, "--resume", str(ckpt), "--out", str(split)]
    assert digits_demo.main([*command[2:], "--no-progress", "--frames", "2"]) == 0  # exactly the printed command
    np.testing.assert_array_equal(np.load(straight / "samples.npy"), np.load(split / "samples.npy"))
    metrics = json.loads((split / "metrics.json").read_text())
    assert metrics["steps"] == 20 and metrics["conditional"] == conditional and metrics["config"]["hidden"] == 16


def test_steps_extend_a_resumed_run_in_one_line_and_never_shorten_it(paused_runs, tmp_path, capsys):
    out, ckpt = tmp_path / "o", tmp_path / "own.npz"
    ckpt.write_bytes(paused_runs[False].read_bytes())  # the resumed run saves into it
    assert digits_demo.main(["--resume", str(ckpt), "--steps", "25", "--no-progress",
                             "--frames", "2", "--out", str(out)]) == 0  # fmt: skip
    assert "extending the run from 20 to 25 steps" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["steps"] == 25
    assert (
        digits_demo.main(["--resume", str(paused_runs[False]), "--steps", "15", "--out", str(out)]) == 2
    )  # at 10 of 20
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--stop-after 15" in err


def test_stop_after_needs_somewhere_to_save(paused_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run_tiny("--steps", "20", "--stop-after", "5", "--out", str(tmp_path / "o"))
    assert stopped.value.code == 2 and "--checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    ckpt = tmp_path / "own.npz"  # a resumed run saves into its own file
    ckpt.write_bytes(paused_runs[False].read_bytes())
    assert digits_demo.main(["--resume", str(ckpt), "--stop-after", "15", "--no-progress", "--out", str(tmp_path)]) == 0
    assert f"continue with: python {digits_demo.SCRIPT} --resume {ckpt}" in capsys.readouterr().out
    assert checkpoint_info(ckpt)["step"] == 15


@pytest.mark.parametrize("where", ["a file of the user's", "a file written into --out"])
def test_checkpoint_over_a_file_that_is_not_ours_is_refused_before_training(tmp_path, capsys, where):
    out = tmp_path / "o"
    if where == "a file written into --out":
        out.mkdir()
        target = out / "samples.npy"
    else:
        target = tmp_path / "my_digits.npy"
    np.save(target, np.arange(5.0))
    before = target.read_bytes()
    assert run_tiny("--steps", "20", "--checkpoint", str(target), "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--checkpoint" in err and target.read_bytes() == before
    assert not (out / "metrics.json").exists()


def test_resume_with_a_conflicting_hidden_names_both_values(paused_runs, tmp_path, capsys):
    assert digits_demo.main(["--resume", str(paused_runs[False]), "--hidden", "32", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--hidden 32 conflicts" in err and "hidden = 16" in err


def test_conditional_comes_from_the_checkpoint(paused_runs, tmp_path, capsys):
    args = ["--resume", str(paused_runs[False]), "--conditional", "--out", str(tmp_path / "o")]
    assert digits_demo.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--conditional conflicts" in err and "unconditional" in err
    assert not (tmp_path / "o").exists()
    # a conditional run continues as one without repeating the flag
    assert digits_demo.main(["--resume", str(paused_runs[True]), "--stop-after", "12", "--no-progress",
                             "--checkpoint", str(tmp_path / "c.npz"), "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    assert checkpoint_info(tmp_path / "c.npz")["config"].num_classes == 10


def test_resume_of_a_mixture_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    import tinygan as tg
    from tinygan.gan.checkpoint import save_checkpoint

    save_checkpoint(tg.GAN(tg.mixture("two"), tg.GANConfig(hidden=8)), tmp_path / "m.npz")
    assert digits_demo.main(["--resume", str(tmp_path / "m.npz"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixture 'two'" in err


def test_metrics_json_holds_no_nan(tmp_path, monkeypatch):
    from tinygan.evaluation import image_metrics

    evaluate = image_metrics.evaluate_images

    def with_a_nan(*args, **kwargs):  # e.g. a Frechet distance of a collapsed generator
        return evaluate(*args, **kwargs) | {"frechet_ratio": float("nan")}

    monkeypatch.setattr(image_metrics, "evaluate_images", with_a_nan)
    assert run_tiny("--steps", "20", "--out", str(tmp_path)) == 0
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["frechet_ratio"] is None


def test_ctrl_c_saves_says_how_to_resume_and_exits_130(tmp_path, capsys, ctrl_c_at_step):
    ctrl_c_at_step(7)
    ckpt = tmp_path / "c.npz"
    assert run_tiny("--steps", "20", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")) == 130
    err = capsys.readouterr().err
    assert "interrupted at step 7" in err and f"python {digits_demo.SCRIPT} --resume {ckpt}" in err
    assert "Traceback" not in err and checkpoint_info(ckpt)["step"] == 7


@pytest.mark.parametrize("args, message", [
    (["--hidden", "1e3"], "--hidden must be an integer, got '1e3'"),
    (["--mixture", "ring8"], "unrecognized arguments: --mixture"),
    (["--truncation", "0.1"], "unrecognized arguments: --truncation"),
    (["--hidden", "1000000"], "--hidden 1000000 --batch-size 16 --pack 1: training needs about"),
    (["--batch-size", "1000000000"], "--batch-size 1000000000 --pack 1: training needs about"),
])  # fmt: skip
def test_a_bad_number_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    try:
        status = run_tiny(*args, "--out", str(tmp_path / "o"))
    except SystemExit as stopped:  # argparse
        status = stopped.code
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o").exists()
