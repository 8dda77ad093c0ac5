"""Which array module (NumPy or CuPy) and which kernel set (numpy, numba, cupy) is in use.

Code above it asks this module for two things:

* ``xp``: the array module that creates and combines arrays (``numpy`` or ``cupy``); every layer,
  loss, optimizer and data source uses it;
* ``kernels``: the fused elementwise loops that the BCE loss and the optimizers call (BCE, Adam,
  SGD), either the readable NumPy twins, their Numba-jitted versions, or CuPy kernels
  (``kernels.py``, ``kernels_cupy.py``).

Choose with ``tinygan.set_backend("numpy" | "numba" | "cupy")`` or the ``TINYGAN_BACKEND``
environment variable. The default is ``numba`` when Numba imports, otherwise ``numpy`` with
one warning. A model keeps the backend it was built with, so build models after choosing.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

BACKEND_NAMES = ("numpy", "numba", "cupy")


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run here (a package or a GPU is missing)."""


@dataclass(frozen=True)
class Backend:
    """An array module and the kernel set that goes with it."""

    name: str
    xp: ModuleType  # numpy, cupy, or a stand-in with the same interface
    kernels: Any  # a kernels.KernelSet

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


_current: Backend | None = None


def _make_backend(name: str) -> Backend:
    from . import kernels

    if name == "numpy":
        return Backend("numpy", np, kernels.NUMPY_KERNELS)
    if name == "numba":
        if kernels.NUMBA_KERNELS is None:
            raise BackendUnavailableError(
                "backend 'numba' needs the numba package, which failed to import "
                f"({kernels.NUMBA_IMPORT_ERROR}); install it with `pip install numba` "
                "or choose backend 'numpy'"
            )
        return Backend("numba", np, kernels.NUMBA_KERNELS)
    if name == "cupy":
        from . import kernels_cupy

        cupy = kernels_cupy.import_cupy()  # raises BackendUnavailableError with the reason
        return Backend("cupy", cupy, kernels_cupy.make_kernel_set(cupy))
    raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")


def set_backend(name: str) -> Backend:
    """Select the backend used by models built from now on; returns it."""
    global _current
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, one of {BACKEND_NAMES}, got {type(name).__name__}")
    _current = _make_backend(name.lower())
    return _current


def use_backend(backend: Backend) -> Backend:
    """Install an already built Backend (used by tests with a stand-in array module)."""
    global _current
    if not isinstance(backend, Backend):
        raise TypeError(f"backend must be a Backend, got {type(backend).__name__}")
    _current = backend
    return backend


def default_backend_name() -> str:
    """``TINYGAN_BACKEND`` if set, else ``numba`` when importable, else ``numpy``."""
    from_env = os.environ.get("TINYGAN_BACKEND", "").strip().lower()
    if from_env:
        if from_env not in BACKEND_NAMES:
            raise ValueError(f"TINYGAN_BACKEND must be one of {BACKEND_NAMES}, got {from_env!r}")
        return from_env
    from . import kernels

    if kernels.NUMBA_KERNELS is None:
        warnings.warn(
            f"numba is not available ({kernels.NUMBA_IMPORT_ERROR}); tinygan falls back to the "
            "plain NumPy backend, which is slower",
            RuntimeWarning,
            stacklevel=2,
        )
        return "numpy"
    return "numba"


def get_backend() -> Backend:
    """The backend in use (chosen on first use if nobody chose one)."""
    global _current
    if _current is None:
        _current = _make_backend(default_backend_name())
    return _current


def to_numpy(array: Any) -> np.ndarray:
    """Copy an array of any backend to host memory as a NumPy array."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "get"):  # cupy.ndarray (and the test stand-in)
        return array.get()
    return np.asarray(array)


def limit_threads(threads: int | None) -> contextlib.AbstractContextManager:
    """Context manager capping the CPU threads training may use: the BLAS pools (NumPy's, and
    SciPy's, which Numba's np.dot calls) and Numba's threads (the fused step's shares of a batch).

    tinygan's matmuls are small: when another process holds a core, threads that wait for each
    other can make a step 10-100x slower. ``None`` leaves every pool as it is.
    """
    if threads is None:
        return contextlib.nullcontext()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    threads = min(threads, os.cpu_count() or threads)  # more threads than CPUs is no cap at all
    from threadpoolctl import threadpool_limits

    try:  # load SciPy's BLAS now (Numba's np.dot calls it), or the limit would miss it
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(threads, user_api="blas"))
    stack.enter_context(_numba_threads(threads))
    return stack


@contextlib.contextmanager
def _numba_threads(threads: int):
    """Numba's thread count capped at ``threads`` within the block (nothing to do without Numba)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - the numpy backend needs no Numba
        yield
        return
    saved = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(saved)
