"""CuPy twins of nn's elementwise math (as kernels.py's Numba twins), and importing CuPy honestly.

Each kernel is one ``cupy.ElementwiseKernel``: the loop body below, in CUDA C++, runs once per
element on the GPU, with the same arithmetic in the same order as the textbook form in ``tinygan/nn`` it replaces.
CuPy compiles a body on its first call (NVRTC) and caches the binary on disk.

How an ElementwiseKernel reads: ``in_params`` and ``out_params`` declare typed arguments; ``T`` is a
placeholder that takes the dtype of the arrays passed in. Array arguments are broadcast against
each other (a bias (n,) against activations (B, n)); scalars are passed by value. Inside the body an
input is a const reference to this element and an *output* is a writable reference (``T &m``), so a
kernel updates arrays in place by declaring them as outputs and passing the existing arrays:
``m = beta1 * m + ...`` reads the old m and writes the new one. The whole Adam update of a network is
therefore one launch over its flat parameter buffer (see parameters.py and optim.py).

Scalars are cast to the arrays' dtype before the launch, as in the Numba twins, so float32 training
stays in float32. The names ``i`` and ``n`` are reserved by CuPy inside a body, hence ``count``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .backend import BackendUnavailableError
from .kernels import KernelSet

INSTALL_HINT = 'pip install "tinygan[gpu]"'

# (in_params, out_params, operation, name, preamble) for each kernel; tests compile these same bodies.
KERNEL_SOURCES: dict[str, tuple[str, str, str, str, str]] = {
    # loss_i = max(l, 0) - l t + log(1 + e^{-|l|});  d loss_i / dl = sigmoid(l) - t, over count for the mean.
    # An infinite logit is a certain answer: loss 0 if right, inf if wrong (not inf - inf = NaN).
    "bce_with_logits": (
        "T l, T t, T count",
        "T loss, T grad",
        """
        T e = exp(-fabs(l));
        if (isinf(l)) {
            T wrong = l > 0 ? (T)1 - t : t;
            loss = wrong > 0 ? fabs(l) : (T)0;  // fabs(l) is inf here: NVRTC defines no INFINITY
        } else {
            loss = (l > 0 ? l : (T)0) - l * t + log1p(e);
        }
        T s = l >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
        grad = (s - t) / count;
        """,
        "tinygan_bce_with_logits",
        "",
    ),
    # m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - (lr/(1-b1^t)) m / (sqrt(v/(1-b2^t)) + eps):
    # nn.optim.adam_update's lr m_hat / (sqrt(v_hat) + eps) with the bias corrections folded in (the same step)
    "adam_update": (
        "T g, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2, T step_size, T bias2, T eps",
        "T p, T m, T v",
        """
        m = beta1 * m + one_minus_beta1 * g;
        v = beta2 * v + one_minus_beta2 * (g * g);
        p -= step_size * m / (sqrt(v / bias2) + eps);
        """,
        "tinygan_adam_update",
        "",
    ),
    # buf <- momentum buf + g;  p <- p - lr buf
    "sgd_update": (
        "T g, T lr, T momentum",
        "T p, T buf",
        """
        buf = momentum * buf + g;
        p -= lr * buf;
        """,
        "tinygan_sgd_update",
        "",
    ),
}


def import_cupy() -> ModuleType:
    """The cupy module, if it imports and can compute on a CUDA device; else one clear error.

    CuPy imports on machines without a GPU and fails only at the first array, deep inside a
    training step, so we ask for the device count and run one tiny computation here instead.
    """
    try:
        import cupy
    except Exception as error:  # ImportError, or a broken install raising something else
        missing = isinstance(error, ImportError) and getattr(error, "name", None) == "cupy"
        what = "which is not installed" if missing else f"which failed to import ({error})"
        raise BackendUnavailableError(
            f"backend 'cupy' needs the cupy package, {what}; install it with `{INSTALL_HINT}` "
            "(CuPy for CUDA 12) on a machine with an NVIDIA GPU, or choose backend 'numba' or 'numpy'"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            raise RuntimeError("the CUDA runtime reports 0 devices")
        if int((cupy.arange(3) * 2).sum()) != 6:  # allocates, compiles a kernel, copies back
            raise RuntimeError("a test computation gave a wrong result")
    except Exception as error:  # CUDARuntimeError (no driver, no device), NVRTC or driver mismatch
        raise BackendUnavailableError(
            f"backend 'cupy' found the cupy package but no usable CUDA device or driver ({error}); "
            f"it needs an NVIDIA GPU with its driver installed (check `nvidia-smi`) and CuPy installed with "
            f"`{INSTALL_HINT}`; otherwise choose backend 'numba' or 'numpy'"
        ) from None
    return cupy


def make_kernel_set(cupy: ModuleType) -> KernelSet:
    """The three kernels as CuPy ElementwiseKernels, with the signatures and in-place semantics of
    nn's textbook forms (``stable_bce``, ``adam_update``, ``sgd_update``)."""
    k = {
        key: cupy.ElementwiseKernel(i, o, op, name=name, preamble=pre)
        for key, (i, o, op, name, pre) in KERNEL_SOURCES.items()
    }

    def bce_with_logits(logits: Any, t: Any, grad: Any) -> Any:
        """Mean BCE of logits l against targets t (a device scalar); writes d(mean)/dl into grad."""
        losses = cupy.empty_like(logits)
        k["bce_with_logits"](logits, t, logits.dtype.type(logits.size), losses, grad)
        return (losses.astype(cupy.float64).sum() / logits.size).astype(logits.dtype)  # float64 sum, as the twins

    def adam_update(
        p: Any, g: Any, m: Any, v: Any, lr: float, beta1: float, beta2: float, eps: float, step: int
    ) -> None:
        """One Adam step in place over flat arrays: one kernel launch (step counts from 1)."""
        s = p.dtype.type
        step_size, bias2 = lr / (1.0 - beta1**step), 1.0 - beta2**step
        k["adam_update"](g, s(beta1), s(1.0 - beta1), s(beta2), s(1.0 - beta2), s(step_size), s(bias2), s(eps), p, m, v)

    def sgd_update(p: Any, g: Any, buf: Any, lr: float, momentum: float) -> None:
        """SGD in place, PyTorch's form: buf <- momentum buf + g; p <- p - lr buf. One launch."""
        s = p.dtype.type
        k["sgd_update"](g, s(lr), s(momentum), p, buf)

    return KernelSet("cupy", bce_with_logits, adam_update, sgd_update)
