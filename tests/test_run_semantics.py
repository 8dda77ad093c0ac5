"""Every flag does what it says: one notion of a run's length, honest resume, divergence caught,
files kept safe, and clear refusals of bad input (CLI and Python API)."""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan.cli import json_safe, write_json
from tinygan.gan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinygan.gan.config import GANConfig, lr_multiplier
from tinygan.gan.train import TrainingInterrupted, health_problem, train
from tinygan.nn.losses import bce_with_logits, discriminator_loss

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mixture_demo_semantics", ROOT / "demos" / "mixture.py")
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)

TINY = ["--batch-size", "16", "--hidden", "8", "--no-progress", "--log-every", "5", "--samples", "200"]


def run(*args: str) -> int:
    return demo.main([*TINY, *args])


def build(*args: str):
    return demo.build(demo.parse_args([*TINY, *args]))


@pytest.fixture
def paused_run(tmp_path):
    """A 20-step run of the case study stopped at step 10 into a checkpoint."""
    ckpt = tmp_path / "c.npz"
    assert run("--steps", "20", "--stop-after", "10", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")) == 0
    return ckpt


# ----------------------------------------------------------------------------- 1, 2: the flags reach the run
def test_betas_reach_the_optimizers():
    gan, _ = build("--betas", "0.5", "0.999")
    assert gan.config.betas == (0.5, 0.999) and gan.opt_G.betas == (0.5, 0.999) == gan.opt_D.betas


def test_steps_set_the_schedule_so_every_run_decays():
    long, _ = build("--steps", "30000")
    assert long.config.steps == 30000 and lr_multiplier(long.config, 20001) > 0.3
    short, _ = build("--steps", "5000")
    assert lr_multiplier(short.config, 4999) < 0.001  # a short run settles too
    default, _ = build()
    assert default.config.steps == tg.recipe("two").steps == 10000


def test_train_refuses_to_run_past_the_schedule():
    gan = tg.GAN(tg.mixture("two"), GANConfig(hidden=8, batch_size=16, steps=10))
    with pytest.raises(ValueError, match="beyond the run's total"):
        train(gan, 11, progress=False)
    assert train(gan, progress=False) and gan.step == 10  # default: the whole run


# ----------------------------------------------------------------------------- 3, 4, 5: resume
@pytest.mark.parametrize(
    "flag",
    [["--hidden", "128"], ["--lr", "0.1"], ["--batch-size", "64"], ["--loss", "minimax"], ["--pack", "3"],
     ["--seed", "5"], ["--betas", "0.5", "0.9"], ["--mixture", "ring8"]],
)  # fmt: skip
def test_resume_refuses_flags_that_would_change_the_run(paused_run, flag, capsys):
    assert demo.main(["--resume", str(paused_run), *flag, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag[0] in err and "conflicts" in err and "Traceback" not in err


def test_resume_with_other_data_file_is_refused(paused_run, tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.random.default_rng(0).normal(size=(100, 2)))
    assert demo.main(["--resume", str(paused_run), "--data", str(tmp_path / "p.npy")]) == 2
    assert "mixture 'two'" in capsys.readouterr().err


def test_resume_alone_restores_data_total_config_and_backend_from_any_folder(tmp_path, capsys):
    """The printed command, run as it stands from another folder, finishes the run on its backend."""
    ckpt, out, elsewhere = tmp_path / "r.npz", tmp_path / "o", tmp_path / "elsewhere"
    args = ["--mixture", "ring8", "--steps", "10", "--stop-after", "5", "--checkpoint", str(ckpt), "--out", str(out)]
    assert run("--backend", "numpy", *args) == 0
    hint = capsys.readouterr().out.strip().splitlines()[-1]
    command = hint.split("continue with: ")[1].split()
    assert command == ["python", str(ROOT / "demos" / "mixture.py"), "--resume", str(ckpt), "--out", str(out)]
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    finished = subprocess.run([sys.executable, *command[1:], "--no-progress", "--samples", "200"], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 10 and metrics["modes_total"] == 8 and metrics["config"]["hidden"] == 8
    assert metrics["backend"] == "numpy" and os.listdir(elsewhere) == []


def test_resume_allows_output_flags_and_extends_on_purpose(paused_run, tmp_path, capsys):
    out = tmp_path / "x"
    assert demo.main(["--resume", str(paused_run), "--out", str(out), "--samples", "150", "--truncation", "0.01",
                      "--steps", "25", "--no-progress", "--log-every", "5"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "extending the run from 20 to 25 steps" in printed
    assert json.loads((out / "metrics.json").read_text())["steps"] == 25
    assert demo.main(["--resume", str(paused_run), "--steps", "15"]) == 2  # shortening: use --stop-after
    assert "--stop-after 15" in capsys.readouterr().err


def test_stop_after_needs_a_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run("--steps", "20", "--stop-after", "5", "--out", str(tmp_path))
    assert stopped.value.code == 2 and "--checkpoint" in capsys.readouterr().err
    assert not tmp_path.joinpath("metrics.json").exists()


# ----------------------------------------------------------------------------- 6: divergence
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lr", ["1", "10", "1e3", "1e7"])
def test_divergence_that_stays_finite_is_caught(tmp_path, capsys, backend, lr):
    ckpt = tmp_path / "c.npz"
    args = ["--lr", lr, "--steps", "400", "--checkpoint", str(ckpt), "--checkpoint-every", "5", "--out", str(tmp_path)]
    assert run("--backend", backend, "--hidden", "16", "--batch-size", "64", *args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "diverged at step" in err and "Traceback" not in err
    assert not (tmp_path / "metrics.json").exists()
    if ckpt.exists():  # what was kept is healthy
        assert "kept the checkpoint" in err
        gan = load_checkpoint(ckpt)
        assert health_problem(gan, {"d_loss": gan.history[-1]["d_loss"], "g_loss": gan.history[-1]["g_loss"]}) is None


def test_health_bounds_accept_a_working_run():
    gan = tg.GAN(tg.mixture("two"), GANConfig(hidden=16, batch_size=64, steps=300), seed=1)
    train(gan, log_every=10, progress=False)  # would raise TrainingDiverged
    assert len(gan.history) == 30


# ----------------------------------------------------------------------------- 7: damaged checkpoints
def _tamper(path: Path, target: Path, **changes) -> Path:
    with zipfile.ZipFile(path) as archive:
        entries = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
    np.savez(target, **(entries | changes))
    return target


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("G_ema", None, "G_ema contains"),
        ("opt_D.v.0", None, "opt_D.v.0 contains"),
        ("step", np.int64(-5), "step must be >= 0"),
        ("opt_G.step", np.int64(7), "opt_G.step is 7"),
        ("__history__", np.array("[1, 2"), "__history__"),
        ("__rng__", np.array('{"kind": "numpy", "state": {"bit_generator": "X"}}'), "__rng__"),
        ("__seed__", np.array("-3"), "__seed__"),
        ("__config__", np.array('{"hidden": "wide"}'), "__config__"),
    ],
)
def test_damaged_checkpoint_fields_are_named(paused_run, tmp_path, field, value, message):
    with zipfile.ZipFile(paused_run) as archive:
        original = np.load(archive.open(f"{field}.npy"))
    if value is None:
        value = original.copy()
        value.flat[0] = np.inf
    bad = _tamper(paused_run, tmp_path / "bad.npz", **{field: value})
    with pytest.raises(CheckpointError, match=message.replace("[", r"\[")):
        load_checkpoint(bad)


def test_resume_after_the_data_file_moved_names_the_flag_and_the_way_out(tmp_path, capsys):
    points = tmp_path / "p.npy"
    np.save(points, np.random.default_rng(0).normal(size=(100, 2)))
    ckpt, out = str(tmp_path / "c.npz"), str(tmp_path / "o")
    assert run("--data", str(points), "--steps", "4", "--stop-after", "2", "--checkpoint", ckpt, "--out", out) == 0
    moved = tmp_path / "moved.npy"
    points.rename(moved)
    capsys.readouterr()
    assert demo.main(["--resume", ckpt, "--out", out, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --resume {ckpt}: ") and "p.npy" in err and "--data PATH" in err and "\n" not in err
    assert demo.main(["--resume", ckpt, "--data", str(moved), "--out", out, "--no-progress", "--samples", "50"]) == 0


def test_resume_of_a_data_file_names_it(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 2)))
    assert demo.main(["--resume", str(tmp_path / "x.npy")]) == 2
    assert "x.npy" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 8: files never lost
def test_checkpoint_over_the_data_file_is_refused(tmp_path, capsys):
    data = tmp_path / "points.csv"
    data.write_text("\n".join(f"{x},{-x}" for x in np.linspace(-1, 1, 50)) + "\n0,1\n")
    before = data.read_bytes()
    assert run("--data", str(data), "--checkpoint", str(data), "--out", str(tmp_path / "o")) == 2
    assert "--checkpoint" in capsys.readouterr().err and data.read_bytes() == before


def test_out_over_its_own_input_is_refused(tmp_path, capsys):
    np.save(tmp_path / "samples.npy", np.random.default_rng(0).normal(size=(100, 2)))
    before = (tmp_path / "samples.npy").read_bytes()
    assert run("--data", str(tmp_path / "samples.npy"), "--out", str(tmp_path)) == 2
    assert "--out" in capsys.readouterr().err and (tmp_path / "samples.npy").read_bytes() == before


def test_checkpoint_over_a_foreign_file_is_refused(tmp_path, capsys):
    notes = tmp_path / "notes.npz"
    np.savez(notes, mine=np.arange(3))
    assert run("--steps", "10", "--checkpoint", str(notes), "--out", str(tmp_path / "o")) == 2
    assert "not written by tinygan" in capsys.readouterr().err and not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="not a tinygan checkpoint"):
        save_checkpoint(tg.GAN(tg.mixture("two"), GANConfig(hidden=8)), notes)


def test_bad_checkpoint_location_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert run("--steps", "10", "--checkpoint", str(tmp_path / "file" / "c.npz"), "--out", str(tmp_path / "o")) == 2
    assert "--checkpoint" in capsys.readouterr().err and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- 9: data
def test_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff1.5,2.5\n3,4\n5,6\n".encode())
    assert tg.load_points(path).points.shape == (3, 2)


def test_values_beyond_float32_are_named_as_data(tmp_path):
    with pytest.raises(ValueError, match="float32's range"):
        tg.EmpiricalData(np.array([[1e39, 0.0], [0.0, 1.0], [2.0, 3.0]]))


def test_degenerate_data_and_too_few_samples_fail_before_training(tmp_path, capsys):
    np.save(tmp_path / "same.npy", np.ones((50, 2)))
    assert run("--data", str(tmp_path / "same.npy"), "--steps", "10", "--out", str(tmp_path / "o")) == 2
    assert "--data" in capsys.readouterr().err and not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        run("--samples", "1", "--out", str(tmp_path / "o"))
    assert "--samples" in capsys.readouterr().err


# ----------------------------------------------------------------------------- memory, seeds, Ctrl-C, outputs
@pytest.mark.parametrize(
    "args, flag",
    [(["--hidden", "100000"], "--hidden"), (["--batch-size", "1000000000"], "--batch-size"),
     (["--pack", "100000000"], "--pack"), (["--samples", str(10**12)], "--samples"),
     (["--truncation", "0.999999"], "--truncation")],
)  # fmt: skip
def test_runs_that_cannot_fit_in_memory_are_refused_up_front(tmp_path, capsys, args, flag):
    assert demo.main([*args, "--no-progress", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert flag in err and "memory available" in err and not (tmp_path / "o").exists()


def test_sampling_too_many_points_is_refused():
    gan = tg.GAN(tg.mixture("two"), GANConfig(hidden=8))
    with pytest.raises(ValueError, match="n = 10000000000 samples"):
        gan.sample(10**10)


def test_huge_seed_checkpoints_and_resumes(tmp_path):
    ckpt = tmp_path / "c.npz"
    seed = str(2**64 + 1)
    assert (
        run("--seed", seed, "--steps", "10", "--stop-after", "5", "--checkpoint", str(ckpt), "--out", str(tmp_path))
        == 0
    )
    assert load_checkpoint(ckpt).seed == 2**64 + 1


def test_ctrl_c_saves_says_how_to_resume_and_exits_130(tmp_path, capsys, ctrl_c_at_step):
    ctrl_c_at_step(7)
    ckpt = tmp_path / "c.npz"
    assert run("--steps", "20", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")) == 130
    err = capsys.readouterr().err
    assert "interrupted at step 7" in err and f"--resume {ckpt}" in err and "Traceback" not in err
    assert load_checkpoint(ckpt).step == 7
    gan = tg.GAN(tg.mixture("two"), GANConfig(hidden=8, batch_size=16, steps=20))
    with pytest.raises(TrainingInterrupted, match="step 7"):
        train(gan, progress=False)


def test_metrics_json_is_strict_json(tmp_path):
    write_json(str(tmp_path / "m.json"), {"a": float("nan"), "b": [np.float32("inf"), 1.0], "c": np.float64(2)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": None, "b": [None, 1.0], "c": 2.0}
    assert json_safe({"x": (float("-inf"),)}) == {"x": [None]}


def test_checkpoints_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        save_checkpoint(tg.GAN(tg.mixture("two"), GANConfig(hidden=8)), tmp_path / "c.npz")
    finally:
        os.umask(previous)
    assert (tmp_path / "c.npz").stat().st_mode & 0o777 == 0o644


# ----------------------------------------------------------------------------- Python API
def test_gan_accepts_what_a_user_obviously_means():
    gan = tg.GAN(np.random.default_rng(0).normal(size=(10, 2)), {"hidden": 8, "batch_size": 4})
    assert isinstance(gan.data, tg.EmpiricalData) and gan.config.hidden == 8
    np.testing.assert_array_equal(gan.sample(10, rng=42), gan.sample(10, rng=42))
    with pytest.raises(TypeError, match="data must be"):
        tg.GAN(None)
    with pytest.raises(TypeError, match="config must be"):
        tg.GAN(tg.mixture("two"), config=3)
    with pytest.raises(TypeError, match="rng must be"):
        gan.sample(3, rng="seed")


@pytest.mark.parametrize("field, value", [("betas", "ab"), ("negative_slope", "a"), ("lr", "1e-3"), ("loss", 3)])
def test_config_type_errors_name_the_field(field, value):
    with pytest.raises((TypeError, ValueError), match=field):
        GANConfig(**{field: value}).validate()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_losses_of_certain_answers_and_huge_logits(backend):
    tg.set_backend(backend)
    right, _, _ = discriminator_loss(np.full((4, 1), np.inf, np.float32), np.full((4, 1), -np.inf, np.float32))
    assert float(right) == 0.0
    wrong, _ = bce_with_logits(np.full((4, 1), np.inf, np.float32), 0.0)
    assert float(wrong) == np.inf
    for logit, target in ((-3.4e38, 1.0), (3.4e38, 0.0)):
        loss, grad = bce_with_logits(np.full((512, 1), logit, np.float32), target)
        assert np.isfinite(float(loss)) and np.isclose(float(loss), 3.4e38, rtol=1e-6) and np.all(np.isfinite(grad))


def test_bce_targets_must_be_probabilities():
    logits = np.zeros((3, 1), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bce_with_logits(logits, 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bce_with_logits(logits, np.array([[0.0], [-0.1], [1.0]], np.float32))


def test_learning_rate_cannot_be_set_negative():
    opt = tg.Adam(tg.mlp([2, 3, 1]).parameters(), 1e-3)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -5
    opt.lr = 0.0  # the end of a linear schedule
    assert opt.lr == 0.0


def test_threads_cap_blas_and_numba_then_restore():
    numba = pytest.importorskip("numba")
    from threadpoolctl import threadpool_info

    from tinygan.fast.backend import limit_threads

    before = numba.get_num_threads()
    with limit_threads(1):
        assert numba.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        limit_threads(0)


# ----------------------------------------------------------------------------- checkpoints own their run
def test_a_new_run_does_not_replace_another_runs_unfinished_checkpoint(paused_run, tmp_path, capsys):
    before = paused_run.read_bytes()
    assert run("--steps", "20", "--checkpoint", str(paused_run), "--out", str(tmp_path / "new")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "step 10 of 20" in err and f"--resume {paused_run}" in err
    assert "--force" in err and paused_run.read_bytes() == before and not (tmp_path / "new").exists()
    assert run("--steps", "20", "--checkpoint", str(paused_run), "--out", str(tmp_path / "new"), "--force") == 0
    assert load_checkpoint(paused_run).step == 20  # replaced by the new run, which finished


def test_a_finished_runs_checkpoint_is_replaced_without_force(tmp_path):
    ckpt = tmp_path / "c.npz"
    assert run("--steps", "5", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")) == 0
    assert run("--steps", "6", "--checkpoint", str(ckpt), "--out", str(tmp_path / "b")) == 0
    assert load_checkpoint(ckpt).step == 6


def _backend_paused_run(tmp_path) -> Path:
    ckpt = tmp_path / "b.npz"
    args = ["--steps", "20", "--stop-after", "5", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]
    assert run("--backend", "numpy", *args) == 0
    return ckpt


def test_resume_keeps_the_saved_backend_and_refuses_another(tmp_path, capsys):
    ckpt = _backend_paused_run(tmp_path)
    assert tg.gan.checkpoint.checkpoint_info(ckpt)["backend"] == "numpy"
    capsys.readouterr()
    assert run("--resume", str(ckpt), "--backend", "numba") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--backend numba conflicts" in err and "backend numpy" in err
    tg.set_backend("numba")  # whatever was chosen before, the resumed run goes back to its own
    assert run("--resume", str(ckpt), "--stop-after", "10") == 0
    assert "backend numpy" in capsys.readouterr().out


def test_resume_whose_backend_is_missing_says_how_to_choose_another(tmp_path, capsys, monkeypatch):
    from tinygan.cli import choose_backend
    from tinygan.fast import backend

    real_set_backend = backend.set_backend

    def no_cupy(name):
        if name == "cupy":
            raise backend.BackendUnavailableError("no GPU here")
        return real_set_backend(name)

    monkeypatch.setattr(backend, "set_backend", no_cupy)
    args = demo.parse_args(["--resume", "c.npz"])
    with pytest.raises(ValueError, match=r"trained on backend cupy, which is not available.*--backend numpy"):
        choose_backend(args, "cupy")
    args = demo.parse_args(["--resume", "c.npz", "--backend", "numpy"])
    choose_backend(args, "cupy")  # named explicitly: used, and said
    assert backend.get_backend().name == "numpy" and "continuing on backend numpy" in capsys.readouterr().out


def _rewrite_entry(path: Path, name: str, change) -> None:
    with np.load(path, allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    entries[name] = np.array(change(str(entries[name])))
    np.savez(path, **entries)


def test_a_builtin_mixture_is_fingerprinted_and_checked_on_resume(paused_run, capsys):
    record = json.loads(str(np.load(paused_run)["__data__"]))
    assert record["kind"] == "mixture" and len(record["sha256"]) == 64
    _rewrite_entry(paused_run, "__data__", lambda text: text.replace(record["sha256"], "0" * 64))
    assert demo.main(["--resume", str(paused_run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixture 'two' is not the one" in err


def test_the_data_files_path_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("p.npy", np.random.default_rng(0).normal(size=(100, 2)))
    assert run("--data", "p.npy", "--steps", "6", "--stop-after", "3", "--checkpoint", "c.npz", "--out", "o") == 0
    record = tg.gan.checkpoint.checkpoint_info("c.npz")["data"]
    assert record["path"] == str(tmp_path / "p.npy")


# ----------------------------------------------------------------------------- divergence names its cause
def test_divergence_from_data_far_from_unit_scale_blames_the_data(tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.random.default_rng(0).normal(size=(500, 2)) * 1e6)
    assert run("--data", str(tmp_path / "big.npy"), "--lr", "1e-7", "--steps", "200", "--out", str(tmp_path / "o")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "likely cause: the data's scale" in err and "standardise" in err
    assert "too high" not in err


def test_divergence_at_a_large_learning_rate_blames_it(tmp_path, capsys):
    assert run("--lr", "10", "--steps", "200", "--out", str(tmp_path / "o")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "likely cause: learning rate 10 too high" in err


def test_likely_cause_follows_the_evidence():
    from tinygan.gan.train import likely_cause

    unit = np.random.default_rng(0).normal(size=(256, 2))
    assert likely_cause(1e-7, unit * 1e6).startswith("the data's scale")
    assert likely_cause(1e-7, unit * 1e-4).startswith("the data's scale")
    assert likely_cause(1.0, unit).startswith("learning rate 1 too high")
    assert likely_cause(2e-4, unit).startswith("the weights grew")
