"""benchmarks/width_screen.py: the remedies it builds on the readable path (output noise, wider noise)."""

import dataclasses
import json

import numpy as np
from benchmark_scripts import load_benchmark
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.nn.losses import generator_loss

width_screen = load_benchmark("width_screen")


def tiny_gan(remedies: dict, **fields) -> "width_screen.ScreenedGAN":
    config = dataclasses.replace(tg.recipe("ring8"), hidden=8, depth=1, batch_size=4, steps=10, **fields)
    width_screen.ScreenedGAN.remedies = remedies
    return width_screen.ScreenedGAN(tg.mixture("ring8"), config, seed=0)


@given(
    scale=st.lists(st.floats(-0.5, 0.5), min_size=2, max_size=2),
    seed=st.integers(0, 2**31 - 1),
)
def test_output_noise_scale_gradient_matches_central_differences(scale, seed):
    """dL/ds_j = sum_i dL/dfake_ij eps_ij, against the G loss's central differences in s (float64)."""
    gan = tiny_gan({"output_noise": 1.0}, dtype="float64")
    gan.setup_output_noise()
    gan.noise_scale[:] = scale
    z = np.random.default_rng(seed).standard_normal((8, gan.config.noise_dim))
    seen = {}
    gan._adam_on_scale = lambda grad: seen.setdefault("grad", grad)  # the gradient the update gets
    gan.generator_forward_backward(z)
    eps, batch = gan._eps, gan.config.batch_size

    def loss(s: np.ndarray) -> float:
        fake = gan.G.forward(z) + s * eps  # (8, 2), the same eps
        return float(generator_loss(gan.D.forward(fake.reshape(batch, -1)), gan.config.loss)[0])

    h, numeric = 1e-6, np.zeros(2)
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        numeric[j] = (loss(gan.noise_scale + step) - loss(gan.noise_scale - step)) / (2 * h)
    np.testing.assert_allclose(seen["grad"], numeric, rtol=1e-5, atol=1e-9)


def test_noise_scale_multiplies_the_noise_g_trains_on_and_is_sampled_from():
    gan = tiny_gan({"noise_scale": 4.0})
    expected = 4 * np.random.default_rng(2).standard_normal((50, 2), dtype=np.float32)
    np.testing.assert_allclose(width_screen.draw_noise(gan, np.random.default_rng(2), 50), expected)
    gan.rng = np.random.default_rng(2)
    np.testing.assert_allclose(gan.sample_noise(50), expected)  # the readable step's draw


def test_a_short_screen_scores_the_remedies_and_the_far_share(capsys):
    assert width_screen.main(["ring8", "0", "8", "hidden=8", "depth=1", "batch_size=4", "output_noise=1"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]["8"]
    assert set(scores) == {"raw", "ema", "jbt", "far", "scale"}
    assert 0 <= scores["far"][0] <= 100 and len(scores["scale"]) == 2
    fields = ["hidden=8", "depth=1", "batch_size=4", "latent_codes=4", "code_info=1"]  # codes read back by Q
    assert width_screen.main(["ring8", "0", "8", *fields]) == 0
    assert set(json.loads(capsys.readouterr().out)["scores"]["8"]) == {"raw", "ema", "jbt", "far"}
    assert width_screen.main(["ring8", "0", "8", *fields[:3], "noise_scale=2"]) == 0
    assert "scale" not in json.loads(capsys.readouterr().out)["scores"]["8"]
