"""The CuPy backend, proven without a GPU, and checked on one when there is one.

Without a GPU, ``fake_cupy`` stands in for CuPy: its arrays refuse to mix with NumPy arrays and count
every copy between host and device, so a whole training run on it shows that the device path never
silently uses a host array, and that a training step copies nothing either way. Its RNG draws what
NumPy's draws for the same seed, so runs on it must equal NumPy-backend runs bit for bit.
kernels_cupy.py's CUDA bodies are compiled for the CPU by the stand-in (when a C++ compiler exists).

Tests marked ``gpu`` run only where real CuPy finds a CUDA device; elsewhere they skip.
"""

import dataclasses
import importlib.util
import json
import sys
import types
from pathlib import Path

import fake_cupy
import numpy as np
import pytest

import tinygan
from tinygan.evaluation.data import EmpiricalData, mixture
from tinygan.evaluation.metrics import evaluate
from tinygan.fast import backend, kernels_cupy
from tinygan.fast.backend import Backend, BackendUnavailableError, to_numpy, use_backend
from tinygan.gan.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from tinygan.gan.model import GAN, GANConfig
from tinygan.gan.train import TrainingDiverged, train
from tinygan.nn.losses import stable_bce
from tinygan.nn.optim import adam_update, sgd_update

needs_compiler = pytest.mark.skipif(
    not fake_cupy.HAVE_COMPILER, reason="no C++ compiler to run the CuPy kernel bodies on the CPU"
)
SMALL = {"hidden": 16, "depth": 2, "batch_size": 64, "steps": 50}
CONFIGS = {
    "default": GANConfig(**SMALL),
    "pack-dsteps-minimax-ema": GANConfig(**SMALL, pack=2, d_steps=2, loss="minimax", label_smoothing=0.1, ema=0.9),
    "float64": GANConfig(**SMALL, dtype="float64", data_scale=2.0),
    "r1-r2-spread": GANConfig(**SMALL, pack=2, pack_spread=True, r1=1.0, r2=0.5, d_activation="tanh"),
}
PIN_INSTALL = 'pip install "tinygan[gpu]"'


def standin(kernel_set: str = "numpy") -> Backend:
    """Install the stand-in backend: nn's textbook forms (run on its xp; no kernel set) or kernels_cupy's set.
    It is named "cupy", the backend it stands in for (checkpoints record the name and accept only real ones)."""
    kernel_sets = {"numpy": lambda: None, "cupy": lambda: kernels_cupy.make_kernel_set(fake_cupy)}
    return use_backend(Backend("cupy", fake_cupy, kernel_sets[kernel_set]()))


def make_gan(config: GANConfig, data=None, rng_seed: int = 7) -> GAN:
    """A GAN on the current backend whose noise/data RNG draws what numpy.random.default_rng(rng_seed) draws."""
    gan = GAN(data or mixture("two"), config, seed=3)
    gan.rng = gan.xp.random.default_rng(rng_seed)  # numpy's, or the stand-in's wrapper of the same stream
    return gan


def all_arrays(gan: GAN) -> dict:
    """Every array of the run, on the host (copies: this transfers)."""
    return gan.state_dict()


def assert_same_run(a: GAN, b: GAN, rtol: float = 0.0, atol: float = 0.0) -> None:
    state_a, state_b = all_arrays(a), all_arrays(b)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        if rtol == atol == 0.0:
            np.testing.assert_array_equal(state_a[key], state_b[key], err_msg=key)
        else:
            np.testing.assert_allclose(state_a[key], state_b[key], rtol=rtol, atol=atol, err_msg=key)


@pytest.fixture(autouse=True)
def fresh_counters():
    fake_cupy.reset_counters()


# ----------------------------------------------------------------------------- the stand-in is strict
def test_standin_refuses_every_implicit_host_conversion():
    a = fake_cupy.asarray(np.arange(4.0))
    host = np.ones(4)
    for attempt in (
        lambda: np.asarray(a),
        lambda: np.array(a),
        lambda: np.exp(a),
        lambda: host + a,
        lambda: a + host,
        lambda: np.concatenate([a]),
        lambda: fake_cupy.concatenate([a, host]),
        lambda: fake_cupy.where(a > 1, a, host),
    ):
        with pytest.raises(TypeError):
            attempt()
    assert fake_cupy.TRANSFERS["to_device"] == 1  # the asarray above
    got = a.get()
    assert type(got) is np.ndarray and np.array_equal(got, np.arange(4.0))
    assert float(a.sum()) == 6.0 and fake_cupy.TRANSFERS["to_host"] == 2
    assert a.__array_namespace__() is fake_cupy  # the array names its module, as cupy's does


# ----------------------------------------------------------------------------- the training step
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_training_on_the_standin_equals_the_numpy_backend_bit_for_bit(name):
    tinygan.set_backend("numpy")
    reference = make_gan(CONFIGS[name])
    expected = [reference.train_step() for _ in range(4)]
    standin()
    gan = make_gan(CONFIGS[name])
    got = [gan.train_step() for _ in range(4)]
    assert isinstance(gan.G.flat.data, fake_cupy.ndarray) and isinstance(gan.opt_D.m[0], fake_cupy.ndarray)
    assert all(isinstance(v, fake_cupy.ndarray) and v.shape == () for step in got for v in step.values())
    assert [{k: float(v) for k, v in s.items()} for s in got] == [{k: float(v) for k, v in s.items()} for s in expected]
    assert_same_run(gan, reference)


@pytest.mark.parametrize("kernel_set", ["numpy", pytest.param("cupy", marks=needs_compiler)])
@pytest.mark.parametrize("name", ["default", "pack-dsteps-minimax-ema", "r1-r2-spread"])
@pytest.mark.parametrize("data", ["mixture", "points"])
def test_a_training_step_copies_nothing_between_host_and_device(kernel_set, name, data):
    standin(kernel_set)
    source = mixture("ring8") if data == "mixture" else EmpiricalData(np.random.default_rng(0).normal(size=(300, 2)))
    gan = make_gan(CONFIGS[name], source)
    gan.train_step()  # first use copies the data's constants to the device, once
    fake_cupy.reset_counters()
    steps = 3
    for _ in range(steps):
        gan.train_step()
    assert fake_cupy.TRANSFERS == {}
    if kernel_set == "cupy":  # one Adam launch per network update, over its whole flat buffer
        assert fake_cupy.LAUNCHES["tinygan_adam_update"] == steps * (CONFIGS[name].d_steps + 1)
        assert fake_cupy.LAUNCHES["tinygan_bce_with_logits"] == steps * (2 * CONFIGS[name].d_steps + 1)


@needs_compiler
def test_cupy_kernel_set_trains_like_the_numpy_backend():
    config = CONFIGS["float64"]
    tinygan.set_backend("numpy")
    reference = make_gan(config)
    for _ in range(4):
        reference.train_step()
    standin("cupy")
    gan = make_gan(config)
    for _ in range(4):
        gan.train_step()
    assert_same_run(gan, reference, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- kernels_cupy's kernels
def _random_case(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng, lambda *shape, scale=1.0: rng.normal(scale=scale, size=shape).astype(dtype)


@needs_compiler
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_bce_adam_sgd_kernels_match_their_numpy_twins(dtype):
    ks = kernels_cupy.make_kernel_set(fake_cupy)
    rng, normal = _random_case(dtype)
    z, t = normal(300, 1, scale=20.0), rng.uniform(size=(300, 1)).astype(dtype)
    grad = np.empty_like(z)
    loss = stable_bce(z, t, grad)
    device_grad = fake_cupy.empty_like(fake_cupy.asarray(z))
    device_loss = ks.bce_with_logits(fake_cupy.asarray(z), fake_cupy.asarray(t), device_grad)
    assert isinstance(device_loss, fake_cupy.ndarray) and device_loss.shape == ()  # stays on the device
    np.testing.assert_allclose(float(device_loss), loss, rtol={np.float32: 1e-6, np.float64: 1e-14}[dtype])
    np.testing.assert_allclose(device_grad.get(), grad, rtol=1e-6, atol=1e-9 if dtype == np.float32 else 1e-16)

    # Certain answers (infinite logits) and logits near float32's maximum: the twins agree, no NaN, no overflow.
    extreme = np.array([[np.inf], [-np.inf], [np.inf], [-np.inf], [3.4e38], [-3.4e38]], dtype)
    targets = np.array([[1.0], [0.0], [0.0], [1.0], [0.0], [1.0]], dtype)
    for rows in (slice(0, 2), slice(2, 4), slice(4, 6)):  # both right (0), both wrong (inf), both huge (finite)
        host_loss = stable_bce(extreme[rows], targets[rows], np.empty_like(extreme[rows]))
        device_loss = ks.bce_with_logits(
            fake_cupy.asarray(extreme[rows]), fake_cupy.asarray(targets[rows]), fake_cupy.empty((2, 1), dtype)
        )
        assert float(device_loss) == pytest.approx(float(host_loss), rel=1e-6)
    assert float(host_loss) == pytest.approx(3.4e38, rel=1e-6)

    # Adam's kernel folds the bias corrections into two scalars, the textbook form divides m and v by
    # them: the same step to rounding. SGD uses only + - *, each rounded once in the same order: bit-identical.
    host = [normal(1000) for _ in range(4)]
    host[3] = np.abs(host[3])  # v >= 0
    device = [fake_cupy.asarray(a) for a in host]
    for step in (1, 2, 3):
        adam_update(*host, 1e-3, 0.5, 0.99, 1e-8, step)
        ks.adam_update(*device, 1e-3, 0.5, 0.99, 1e-8, step)
    tol = {np.float32: 1e-6, np.float64: 1e-14}[dtype]
    for d, h in zip(device, host):
        np.testing.assert_allclose(d.get(), h, rtol=tol, atol=tol * float(np.max(np.abs(h))))
    p, g, buf = host[0], host[1], host[2]
    device_p, device_g, device_buf = (fake_cupy.asarray(a) for a in (p, g, buf))  # SGD from equal arrays
    for _ in range(2):
        sgd_update(p, g, buf, 0.05, 0.9)
        ks.sgd_update(device_p, device_g, device_buf, 0.05, 0.9)
    np.testing.assert_array_equal(device_p.get(), p)
    np.testing.assert_array_equal(device_buf.get(), buf)


# ----------------------------------------------------------------------------- sampling, metrics, training loop
def test_sample_evaluate_and_arrows_on_the_standin_equal_the_numpy_backend():
    config = CONFIGS["pack-dsteps-minimax-ema"]
    results, arrows = {}, {}
    for name in ("numpy", "standin"):
        tinygan.set_backend("numpy") if name == "numpy" else standin()
        gan = make_gan(config)
        for _ in range(3):
            gan.train_step()
        fixed = gan.sample(200, rng=np.random.default_rng(11))
        own = gan.sample(50)  # from the run's own (device) RNG
        assert type(fixed) is np.ndarray and fixed.shape == (200, 2) and fixed.dtype == np.float32
        assert type(own) is np.ndarray and own.shape == (50, 2)
        assert type(gan.logits(fixed)) is np.ndarray
        results[name] = (fixed, evaluate(gan, gan.data, n=300))
        arrows[name] = GAN(gan.data, CONFIGS["default"], seed=3).sample_gradients(fixed[:20])  # --animate's arrows
        assert all(type(a) is np.ndarray and a.shape == (20, 2) for a in arrows[name])
    np.testing.assert_array_equal(results["standin"][0], results["numpy"][0])
    for got, expected in zip(arrows["standin"], arrows["numpy"]):
        np.testing.assert_array_equal(got, expected)
    as_text = {name: json.dumps(metrics, sort_keys=True) for name, (_, metrics) in results.items()}  # NaN == NaN
    assert as_text["standin"] == as_text["numpy"]
    assert results["standin"][1]["finite"] and "energy_ratio" in results["standin"][1]


def test_jacobian_truncated_sampling_on_the_standin_equals_the_numpy_backend():
    config = dataclasses.replace(CONFIGS["pack-dsteps-minimax-ema"], jacobian_truncation=0.2)
    samples = {}
    for name in ("numpy", "standin"):
        tinygan.set_backend("numpy") if name == "numpy" else standin()
        gan = make_gan(config)
        for _ in range(3):
            gan.train_step()
        samples[name] = gan.sample(200, rng=np.random.default_rng(11))
        assert type(samples[name]) is np.ndarray and samples[name].shape == (200, 2)
    np.testing.assert_array_equal(samples["standin"], samples["numpy"])


def test_train_with_logging_and_checkpoints_on_the_standin(tmp_path):
    histories = {}
    for name in ("numpy", "standin"):
        tinygan.set_backend("numpy") if name == "numpy" else standin()
        gan = make_gan(CONFIGS["default"])
        path = tmp_path / f"{name}.npz"
        histories[name] = train(gan, 6, log_every=2, checkpoint_path=path, checkpoint_every=3, progress=False)
        assert path.exists()
    assert [r["step"] for r in histories["standin"]] == [2, 4, 6]
    assert histories["standin"] == histories["numpy"]  # the same losses and V(D, G), logged as host floats
    assert all(type(v) in (int, float) for r in histories["standin"] for v in r.values())


def test_divergence_is_detected_on_the_device():
    standin()
    gan = make_gan(CONFIGS["default"])
    gan.D.flat.data[0] = float("nan")
    with pytest.raises(TrainingDiverged):
        train(gan, 4, log_every=2, progress=False)


# ----------------------------------------------------------------------------- checkpoints across backends
def test_checkpoint_saved_on_the_device_loads_on_the_cpu(tmp_path):
    standin()
    gan = make_gan(CONFIGS["pack-dsteps-minimax-ema"])
    for _ in range(3):
        gan.train_step()
    path = tmp_path / "device.npz"
    save_checkpoint(gan, path)
    assert json.loads(str(read_checkpoint(path)["__rng__"])) == {"kind": "device"}  # device RNG state is not data
    expected = all_arrays(gan)

    tinygan.set_backend("numpy")
    loaded = load_checkpoint(path, mixture("two"))
    assert type(loaded.G.flat.data) is np.ndarray and isinstance(loaded.rng, np.random.Generator)
    assert loaded.step == 3 and loaded.opt_G.step_count == 3 and loaded.opt_D.step_count == 6
    for key, value in all_arrays(loaded).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)
    losses = loaded.train_step()
    assert np.isfinite(float(losses["d_loss"])) and np.isfinite(float(losses["g_loss"]))


def test_checkpoint_saved_on_the_cpu_loads_on_the_device(tmp_path):
    tinygan.set_backend("numpy")
    gan = make_gan(CONFIGS["float64"])
    for _ in range(3):
        gan.train_step()
    path = tmp_path / "host.npz"
    save_checkpoint(gan, path)
    expected = all_arrays(gan)

    standin()
    loaded = load_checkpoint(path, mixture("two"))
    assert isinstance(loaded.G.flat.data, fake_cupy.ndarray) and isinstance(loaded.rng, fake_cupy.Generator)
    for key, value in all_arrays(loaded).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)
    loaded.train_step()
    fake_cupy.reset_counters()
    losses = loaded.train_step()
    assert fake_cupy.TRANSFERS == {} and np.isfinite(float(losses["g_loss"]))


# ----------------------------------------------------------------------------- choosing cupy without a GPU
def _real_cupy_usable() -> bool:
    try:
        kernels_cupy.import_cupy()
    except BackendUnavailableError:
        return False
    return True


def _assert_clear_error(error: BackendUnavailableError, *fragments: str) -> None:
    message = str(error)
    assert "cupy" in message and PIN_INSTALL in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.skipif(_real_cupy_usable(), reason="CuPy and a CUDA device are present here")
def test_set_backend_cupy_here_is_one_clear_error_and_changes_nothing():
    before = backend.get_backend()
    with pytest.raises(BackendUnavailableError) as caught:
        tinygan.set_backend("cupy")
    _assert_clear_error(caught.value)
    assert backend.get_backend() is before


def test_missing_cupy_package_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails as if it were not installed
    with pytest.raises(BackendUnavailableError) as caught:
        tinygan.set_backend("cupy")
    _assert_clear_error(caught.value, "not installed")


def _cupy_without_device(get_device_count) -> types.ModuleType:
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    return module


@pytest.mark.parametrize(
    "count, reason",
    [
        (RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"), "no CUDA-capable device"),
        (RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient"), "InsufficientDriver"),
        (0, "0 devices"),
    ],
)
def test_cupy_without_a_device_or_driver_says_so(monkeypatch, count, reason):
    def get_device_count():
        if isinstance(count, Exception):
            raise count
        return count

    monkeypatch.setitem(sys.modules, "cupy", _cupy_without_device(get_device_count))
    with pytest.raises(BackendUnavailableError) as caught:
        tinygan.set_backend("cupy")
    _assert_clear_error(caught.value, "no usable CUDA device or driver", reason)


def test_tinygan_backend_cupy_environment_variable_fails_clearly(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setenv("TINYGAN_BACKEND", "cupy")
    backend._current = None  # as in a fresh process
    with pytest.raises(BackendUnavailableError) as caught:
        backend.get_backend()
    _assert_clear_error(caught.value)
    assert backend._current is None


def test_demo_with_backend_cupy_fails_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    path = Path(__file__).resolve().parents[1] / "demos" / "mixture.py"
    spec = importlib.util.spec_from_file_location("mixture_demo_cupy", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.main(["--backend", "cupy", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and PIN_INSTALL in err


# ----------------------------------------------------------------------------- on a real GPU
@pytest.fixture
def cupy():
    try:
        return kernels_cupy.import_cupy()
    except BackendUnavailableError as error:
        pytest.skip(f"no CuPy GPU here: {error}")


class HostDrawnRNG:
    """Draws on the host with NumPy's Generator and copies to the GPU: the same batches as a NumPy run."""

    def __init__(self, cupy, seed: int) -> None:
        self.cupy, self.host = cupy, np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return self.cupy.asarray(self.host.random(size, dtype=dtype))

    def standard_normal(self, size=None, dtype=np.float64):
        return self.cupy.asarray(self.host.standard_normal(size, dtype=dtype))

    def integers(self, low, high=None, size=None):
        return self.cupy.asarray(self.host.integers(low, high, size))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernels_match_their_numpy_twins(cupy, dtype):
    ks = kernels_cupy.make_kernel_set(cupy)
    tol = {np.float32: 1e-5, np.float64: 1e-12}[dtype]  # CUDA contracts a*b+c into FMA; float32 exp/tanh differ
    rng, normal = _random_case(dtype)
    z, t = normal(4096, 1, scale=20.0), rng.uniform(size=(4096, 1)).astype(dtype)
    grad = np.empty_like(z)
    loss = stable_bce(z, t, grad)
    device_grad = cupy.empty_like(cupy.asarray(z))
    device_loss = ks.bce_with_logits(cupy.asarray(z), cupy.asarray(t), device_grad)
    assert isinstance(device_loss, cupy.ndarray)
    np.testing.assert_allclose(float(device_loss), loss, rtol=tol)
    np.testing.assert_allclose(device_grad.get(), grad, rtol=tol, atol=tol / z.size)
    host = [normal(10_000) for _ in range(4)]
    host[3] = np.abs(host[3])
    device = [cupy.asarray(a) for a in host]
    for step in (1, 2, 3):
        adam_update(*host, 1e-3, 0.5, 0.99, 1e-8, step)
        ks.adam_update(*device, 1e-3, 0.5, 0.99, 1e-8, step)
    for d, h in zip(device, host):
        np.testing.assert_allclose(d.get(), h, rtol=tol, atol=tol)
    sgd_update(host[0], host[1], host[2], 0.05, 0.9)
    ks.sgd_update(device[0], device[1], device[2], 0.05, 0.9)
    np.testing.assert_allclose(device[0].get(), host[0], rtol=tol, atol=tol)


@pytest.mark.gpu
def test_gpu_training_steps_match_the_numpy_backend(cupy):
    config = dataclasses.replace(CONFIGS["pack-dsteps-minimax-ema"], dtype="float64")
    tinygan.set_backend("numpy")
    reference = make_gan(config)
    for _ in range(4):
        reference.train_step()
    assert tinygan.set_backend("cupy").name == "cupy"
    gan = GAN(mixture("two"), config, seed=3)
    gan.rng = HostDrawnRNG(cupy, 7)  # the NumPy run's batches, copied in
    for _ in range(4):
        gan.train_step()
    assert isinstance(gan.G.flat.data, cupy.ndarray)
    assert_same_run(gan, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
def test_gpu_training_with_device_rng_checkpoints_to_the_cpu(cupy, tmp_path):
    tinygan.set_backend("cupy")
    gan = GAN(mixture("ring8"), GANConfig(**SMALL), seed=1)
    path = tmp_path / "gpu.npz"
    history = train(gan, 20, log_every=10, checkpoint_path=path, checkpoint_every=10, progress=False)
    assert [r["step"] for r in history] == [10, 20] and all(np.isfinite(r["value"]) for r in history)
    assert isinstance(gan.sample(10), np.ndarray) and evaluate(gan, gan.data, n=200)["finite"]
    expected = all_arrays(gan)
    tinygan.set_backend("numpy")
    loaded = load_checkpoint(path, mixture("ring8"))
    for key, value in all_arrays(loaded).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)
    assert type(to_numpy(loaded.G.flat.data)) is np.ndarray


RECIPE_NAMES = ["two", "ring8", "grid25", "digits-conditional"]


def train_recipe_briefly(name: str, set_device_backend, device_rng) -> tuple[GAN, np.ndarray]:
    """A built-in recipe in float64, cut to 20 steps (so its schedules and the pack spread's gate
    move within the run), trained on the backend that ``set_device_backend()`` installs with the
    noise and data drawn by ``device_rng``; and 300 points sampled with a host seed (the grid's and
    the ring's with their Jacobian truncation)."""
    from tinygan.evaluation.digits import digits_data
    from tinygan.gan.recipes import recipe

    config = dataclasses.replace(recipe(name), dtype="float64", steps=20)
    data = digits_data(dtype=np.float64) if name.startswith("digits") else mixture(name, dtype=np.float64)
    set_device_backend()
    gan = GAN(data, config, seed=3)
    gan.rng = device_rng
    for _ in range(config.steps):
        gan.train_step()
    return gan, gan.sample(300, rng=11)


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_recipes_on_the_standin_equal_the_numpy_backend_bit_for_bit(name):
    reference, expected = train_recipe_briefly(name, lambda: tinygan.set_backend("numpy"), np.random.default_rng(7))
    gan, got = train_recipe_briefly(name, standin, fake_cupy.random.default_rng(7))
    assert isinstance(gan.D.flat.data, fake_cupy.ndarray)
    assert_same_run(gan, reference)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.gpu
@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_gpu_recipes_train_and_sample_like_the_numpy_backend(cupy, name):
    reference, expected = train_recipe_briefly(name, lambda: tinygan.set_backend("numpy"), np.random.default_rng(7))
    gan, got = train_recipe_briefly(name, lambda: tinygan.set_backend("cupy"), HostDrawnRNG(cupy, 7))
    assert isinstance(gan.D.flat.data, cupy.ndarray)
    assert_same_run(gan, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
