"""Shared fixtures: every test starts on the plain NumPy backend unless it asks otherwise."""

import os

import pytest
from hypothesis import HealthCheck, settings

import tinygan
from tinygan.fast import backend
from tinygan.fast.backend import limit_threads

settings.register_profile("tinygan", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinygan"))


@pytest.fixture(autouse=True)
def numpy_backend():
    """Run on the readable NumPy path; restore whatever backend was active afterwards."""
    previous = backend._current
    tinygan.set_backend("numpy")
    yield
    backend._current = previous


@pytest.fixture(params=["numpy", "numba"])
def any_cpu_backend(request):
    """Parametrise a test over both CPU kernel sets."""
    return tinygan.set_backend(request.param)


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """Tests use small matrices; one BLAS thread keeps them quick even when other work holds a core."""
    with limit_threads(1):
        yield


@pytest.fixture
def ctrl_c_at_step(monkeypatch):
    """``ctrl_c_at_step(k)``: training gets a real SIGINT (Ctrl-C) right after G step k."""
    import signal

    from tinygan.gan import model

    def arm(k: int) -> None:
        step = model.GAN.train_step

        def interrupted(self):
            losses = step(self)
            if self.step == k:
                os.kill(os.getpid(), signal.SIGINT)
            return losses

        monkeypatch.setattr(model.GAN, "train_step", interrupted)

    return arm
