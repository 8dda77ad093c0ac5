"""Checkpoints: round trip, atomic writes, clear errors, bit-identical resume."""

import dataclasses
import json
import os
import zipfile

import numpy as np
import pytest

import tinygan as tg
from tinygan.evaluation.data import mixture
from tinygan.gan import checkpoint
from tinygan.gan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinygan.gan.model import GAN, GANConfig
from tinygan.gan.train import TrainingDiverged, train

CONFIG = GANConfig(hidden=16, batch_size=32, steps=60)


def trained(steps: int, seed: int = 0) -> GAN:
    gan = GAN(mixture("two"), CONFIG, seed=seed)
    for _ in range(steps):
        gan.train_step()
    return gan


def test_round_trip_restores_everything(tmp_path):
    gan = trained(10)
    path = tmp_path / "run.npz"
    save_checkpoint(gan, path)
    with np.load(path, allow_pickle=False) as archive:  # no pickle needed anywhere
        assert "G.0.weight" in archive.files and "opt_D.m.0" in archive.files
    loaded = load_checkpoint(path, mixture("two"))
    assert loaded.step == 10 and loaded.config == gan.config
    np.testing.assert_array_equal(loaded.G.flat.data, gan.G.flat.data)
    np.testing.assert_array_equal(loaded.opt_G.v[0], gan.opt_G.v[0])
    assert loaded.opt_D.step_count == gan.opt_D.step_count == 10


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_split_and_resumed_run_is_bit_identical(tmp_path, backend):
    tg.set_backend(backend)
    straight = trained(60)
    half = trained(30)
    save_checkpoint(half, tmp_path / "half.npz")
    resumed = load_checkpoint(tmp_path / "half.npz", mixture("two"))
    for _ in range(30):
        resumed.train_step()
    np.testing.assert_array_equal(resumed.G.flat.data, straight.G.flat.data)
    np.testing.assert_array_equal(resumed.D.flat.data, straight.D.flat.data)
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(resumed.sample(50, rng=rng), straight.sample(50, rng=np.random.default_rng(1)))


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    save_checkpoint(trained(5), path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(trained(6), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"]  # no temporary file left behind
    assert load_checkpoint(path, mixture("two")).step == 5


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz", mixture("two"))
    os.mkfifo(tmp_path / "pipe.npz")  # named for what it is, and never opened (that would wait for a writer)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(tmp_path / "pipe.npz", mixture("two"))
    assert not checkpoint.is_checkpoint(tmp_path / "pipe.npz")
    good = tmp_path / "good.npz"
    save_checkpoint(trained(2), good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_checkpoint(truncated, mixture("two"))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a tinygan checkpoint"):
        load_checkpoint(foreign, mixture("two"))
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(text, mixture("two"))


def test_mismatched_architecture_and_corrupt_arrays(tmp_path):
    path = tmp_path / "run.npz"
    save_checkpoint(trained(2), path)
    with pytest.raises(CheckpointError, match="hidden=16.*hidden=32"):
        load_checkpoint(path, mixture("two"), config=GANConfig(hidden=32))
    with pytest.raises(CheckpointError, match="fourier_features=0.*fourier_features=8"):  # D would judge other inputs
        load_checkpoint(path, mixture("two"), config=dataclasses.replace(CONFIG, fourier_features=8))
    with zipfile.ZipFile(path) as archive:
        entries = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
    config = json.loads(str(entries["__config__"]))
    entries["__config__"] = np.array(json.dumps(config | {"hidden": 8}))
    np.savez(tmp_path / "lying.npz", **entries)
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_checkpoint(tmp_path / "lying.npz", mixture("two"))


def test_divergence_is_detected_and_last_checkpoint_survives(tmp_path):
    gan = GAN(mixture("two"), CONFIG, seed=0)
    path = tmp_path / "run.npz"
    train(gan, 20, log_every=10, checkpoint_path=path, checkpoint_every=10, progress=False)
    good = path.read_bytes()
    gan.G.flat.data[3] = np.nan  # as if a huge learning rate had blown up a weight
    with pytest.raises(TrainingDiverged, match=r"step 30.*learning rate"):
        train(gan, 40, log_every=10, checkpoint_path=path, checkpoint_every=10, progress=False)
    assert path.read_bytes() == good
