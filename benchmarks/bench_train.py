"""Training steps per second: tinygan (numpy, numba, cupy) against PyTorch eager and JAX jit.

Run it on a quiet machine, without the two OpenBLAS variables that slow NumPy's matmul down:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train.py --json bench.json
    ... --configs 64x128,1024x512 --impls tinygan-numba,torch-eager --seconds 0.2 --repeats 2   (a smoke run)

Every implementation trains the same GAN from tinygan's initial weights. Shape rows (``--configs``):
the case study's nets (G 2-H-H-2 ReLU, D 2-H-H-1 LeakyReLU(0.2)), Adam lr 2e-4, betas (0.5, 0.999),
one D and one G update per step, at a given batch x hidden. Recipe rows (``--recipes``): the built-in
recipes' exact step (tinygan.gan.recipes: depth, packing, d_steps, the weight average; the grid's
latent codes read back by Q; the digits: 64-D points, G ending in tanh), with the
estimated seconds of the recipe's full run (config.steps / steps per second). Fresh real and noise
batches every step, float32. Each runs in its own subprocess pinned to the same
number of threads (``--threads``, default: every CPU this process may use), so one library's
spinning thread pool cannot slow the next one down. The cases run one at a time through every
implementation, in alternating order, so that all implementations of a case are timed within about a
minute; ``--rounds 2`` does it all twice and pools the repeats (``--pool A.json B.json`` does the same
for separate runs' JSON files, and runs nothing). For each shape or recipe: one first step
(compile), a warm-up that also sizes the repeats, then the median of ``--repeats`` timed repeats of
about ``--seconds`` each; asynchronous libraries (JAX, CUDA) are synchronised at the end of a repeat.
On a machine shared with other work, ``--threads 1`` gives far steadier numbers: a BLAS or OpenMP
pool as wide as the machine stalls whenever another process holds one of its cores.

Matmul FLOPs per step count 2*m*n*k for every matmul the step needs (``matmul_shapes``; it equals
torch.utils.flop_counter's count of the torch reference's step, less the 2x2 sampling bmm);
"%peak" divides the achieved rate by a large float32 NumPy matmul measured in the same run.
Numba compile time is measured in fresh subprocesses: ``import tinygan`` + first ``train_step``,
once with an empty NUMBA_CACHE_DIR (cold) and once more with the same directory (cached).

Every flag and path is checked before the first worker starts: a bad value, or a --json that cannot be
written (a folder, a place that cannot be written, a --pool input, a file tinygan did not write unless
``--force``), is one ``error:`` line naming the flag, exit status 2; a missing folder for --json is
created. Exit status 1: a case that failed, or an implementation named in ``--impls`` that cannot run
here (one ``failed:`` line each); left to the default list, an implementation that cannot run here
(torch or JAX not installed, no GPU) is only reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
MARK = "@@bench@@ "  # worker stdout lines carrying JSON start with this
CPU_IMPLS = ("tinygan-numpy", "tinygan-numba", "torch-eager", "jax-jit")
GPU_IMPLS = ("tinygan-cupy", "torch-cuda")
IMPLS = CPU_IMPLS + GPU_IMPLS
DEFAULT_CONFIGS = ((64, 128), (256, 128), (1024, 128), (4096, 128), (1024, 512))
SLOW_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
PACKAGES = ("tinygan", "numpy", "numba", "threadpoolctl", "torch", "jax", "jaxlib", "optax", "cupy-cuda12x")
# Goals for tinygan-numba on every shape and recipe: x torch-eager (batch 64 / elsewhere) and x jax-jit.
TARGET_VS_TORCH_B64, TARGET_VS_TORCH, TARGET_VS_JAX = 2.0, 2.0, 1.0


# ----------------------------------------------------------------------------- what is measured
def gan_config(batch: int, hidden: int, dtype: str = "float32") -> Any:
    """The case-study GAN at a given batch and width."""
    from tinygan.gan.model import GANConfig

    return GANConfig(
        hidden=hidden,
        depth=2,
        batch_size=batch,
        g_activation="relu",
        d_activation="leaky_relu",
        lr=2e-4,
        betas=(0.5, 0.999),
        dtype=dtype,
    )


FORWARD, WEIGHT_GRAD, INPUT_GRAD = 0, 1, 2  # h @ W,  h.T @ g,  g @ W.T


def matmul_shapes(config: Any, code_rows: bool = False) -> list[tuple[int, int, int, int]]:
    """(m, k, n, kind) of every matmul one training step needs, in order, for one thread holding the
    whole batch (the fused step's order; benchmarks/profile_step.py times them). With latent codes G's
    first layer multiplies its whole input, the one-hot code included, as the references do by
    default; ``code_rows``: only the noise, as the fused step does (it adds the code's row of W apart).

    kind FORWARD: (m, k) @ (k, n), a layer's h W; WEIGHT_GRAD: (k, m).T @ (k, n), dL/dW = h^T g;
    INPUT_GRAD: (m, k) @ (n, k).T, dL/dh = g W^T. D step: G forward (n = B*pack rows); D forward,
    dL/dW and dL/dx on [real; fake] (2B packs), except dL/dx of D's first layer (nobody needs
    d/dreal). G step: G forward, D forward, D's dL/dx (B packs; D's dL/dW is not needed); with latent
    codes read back by Q (config.code_info > 0), Q's forward, dL/dW and dL/dx down to the n fakes;
    then G's dL/dW and dL/dx except its first layer's (d/dz)."""
    from tinygan.fast.fused import layer_widths  # here, not at the top: workers set their threads first
    from tinygan.gan.codes import Q_HIDDEN

    c, (g_sizes, d_sizes) = config, layer_widths(config)
    if code_rows:
        g_sizes[0] = c.noise_dim
    n, b = c.batch_size * c.pack, c.batch_size  # G's rows (samples), D's rows per side (packs)

    def forward(sizes: list[int], rows: int) -> list[tuple[int, int, int, int]]:
        return [(rows, a, o, FORWARD) for a, o in zip(sizes[:-1], sizes[1:])]

    def backward(sizes: list[int], rows: int, weights: bool, first_input: bool) -> list[tuple[int, int, int, int]]:
        shapes = []
        for layer in range(len(sizes) - 2, -1, -1):
            a, o = sizes[layer], sizes[layer + 1]
            if weights:
                shapes.append((a, rows, o, WEIGHT_GRAD))
            if layer > 0 or first_input:
                shapes.append((rows, o, a, INPUT_GRAD))
        return shapes

    d_step = forward(g_sizes, n) + forward(d_sizes, 2 * b) + backward(d_sizes, 2 * b, True, False)
    g_step = forward(g_sizes, n) + forward(d_sizes, b) + backward(d_sizes, b, False, True)
    if c.code_info > 0:
        q_sizes = [c.data_dim, Q_HIDDEN, Q_HIDDEN, c.latent_codes]
        g_step += forward(q_sizes, n) + backward(q_sizes, n, True, True)
    g_step += backward(g_sizes, n, True, False)
    return d_step * c.d_steps + g_step


def config_flops(config: Any, code_rows: bool = False) -> int:
    """FLOPs (2 m k n each) of the matmuls in one training step of a GANConfig (matmul_shapes)."""
    return sum(2 * m * k * n for m, k, n, _ in matmul_shapes(config, code_rows))


def parse_configs(text: str) -> list[tuple[int, int]]:
    """'64x128,1024x512' -> [(64, 128), (1024, 512)]  (batch x hidden)."""
    configs = []
    for item in text.replace(" ", ",").split(","):
        if not item:
            continue
        try:
            batch, hidden = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"config {item!r} must look like BATCHxHIDDEN, e.g. 64x128") from None
        if batch < 1 or hidden < 1:
            raise argparse.ArgumentTypeError(f"config {item!r}: batch and hidden must be positive")
        configs.append((batch, hidden))
    if not configs:
        raise argparse.ArgumentTypeError("no configuration given")
    return configs


def benchmark_recipe(name: str) -> Any:
    """The recipe's config as the benchmark times it: the recipe itself, the grid's latent codes and
    their reader Q (gan/codes.py) included, which the fused step and the PyTorch and JAX references all run."""
    from tinygan.gan.recipes import recipe

    return recipe(name)


def make_cases(configs: list[tuple[int, int]], recipes: list[str]) -> list[dict[str, Any]]:
    """What to time: one case per shape (the case study's nets at batch x hidden) and per recipe."""
    cases = []
    for b, h in configs:
        cases.append({"name": f"{b}x{h}", "recipe": None, "data": "two", "config": gan_config(b, h).to_dict()})
    for name in recipes:
        cases.append({"name": name, "recipe": name, "data": name, "config": benchmark_recipe(name).to_dict()})
    for case in cases:
        case["batch"], case["hidden"] = case["config"]["batch_size"], case["config"]["hidden"]
    return cases


RECIPES = ("two", "ring8", "grid25", "digits")  # the class-conditional digits recipe is not timed here


def parse_recipes(text: str) -> list[str]:
    names = [name for name in text.replace(" ", ",").split(",") if name]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown recipe(s) {unknown}; choose from {', '.join(RECIPES)}")
    return names


def load_data(name: str, dtype: str) -> Any:
    """A case's data: a built-in mixture, or the digits' training split (64-D points)."""
    import numpy as np

    if name == "digits":
        from tinygan.evaluation.digits import digits_data

        return digits_data(dtype=np.dtype(dtype))
    from tinygan.evaluation.data import mixture

    return mixture(name, dtype=np.dtype(dtype))


def parse_impls(text: str) -> list[str]:
    names = [name for name in text.replace(" ", ",").split(",") if name]
    unknown = sorted(set(names) - set(IMPLS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown implementation(s) {unknown}; choose from {', '.join(IMPLS)}")
    return [name for name in IMPLS if name in names]  # a fixed, readable order


# ----------------------------------------------------------------------------- worker side
def pin_threads(threads: int) -> None:
    """Restrict this process to ``threads`` CPUs (XLA and OpenMP size their pools from it)."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if 0 < threads < len(available):
        os.sched_setaffinity(0, available[:threads])


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a worker: every thread pool sized to ``threads``."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    return env


def emit(kind: str, payload: Any) -> None:
    print(MARK + json.dumps({"kind": kind, "payload": payload}), flush=True)


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries (empty without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture", "threading_layer")
    return [{k: lib.get(k) for k in keep if lib.get(k) is not None} for lib in threadpool_info()]


def limit_blas(threads: int) -> None:
    """Every BLAS pool of this worker at ``threads`` for its lifetime (tinygan's own helper, applied now)."""
    from tinygan.fast.backend import limit_threads

    limit_threads(threads).__enter__()


def noop() -> None:
    return None


def build(impl: str, variant: str, case: dict[str, Any], dtype: str) -> tuple[Callable, Callable]:
    """(step, sync) for one implementation on one case, all starting from tinygan's initial weights."""
    import tinygan
    from tinygan.gan.model import GAN, GANConfig

    config = GANConfig.from_dict(case["config"] | {"dtype": dtype})
    data = load_data(case["data"], dtype)
    if impl.startswith("tinygan-"):
        tinygan.set_backend(impl.removeprefix("tinygan-"))
        gan = GAN(data, config, seed=0)
        if impl == "tinygan-cupy":
            import cupy

            return gan.train_step, cupy.cuda.Device().synchronize
        return gan.train_step, noop
    tinygan.set_backend("numpy")
    init = GAN(data, config, seed=0)  # only its weights are used
    if impl in ("torch-eager", "torch-cuda"):
        from torch_reference import TorchGAN

        device = "cuda" if impl == "torch-cuda" else "cpu"
        model = TorchGAN.from_tinygan(init, device=device, fused=variant.startswith("fused"),
                                      code_rows=variant.endswith("+rows"))  # fmt: skip
        return model.train_step, model.synchronize
    if impl == "jax-jit":
        from jax_reference import JaxGAN

        model = JaxGAN(config, data, state=init.state_dict(), code_rows=variant == "code rows")
        return model.train_step, model.synchronize
    raise ValueError(impl)


def variants_of(impl: str, case: dict[str, Any]) -> list[str]:
    """The ways a reference runs one case, all timed, the fastest shown (best_variant): torch's default and
    fused Adam; with latent codes, also G's first layer picking the code's row of its weight instead of
    multiplying the one-hot code, as tinygan's fused step does (torch "+rows"; JAX "code rows" against
    "one-hot matmul")."""
    codes = case["config"].get("latent_codes", 0) > 0
    if impl.startswith("torch-"):
        return ["default", "fused"] + (["default+rows", "fused+rows"] if codes else [])
    if impl == "jax-jit" and codes:
        return ["one-hot matmul", "code rows"]
    return [""]


def describe(variant: str) -> str:
    """A variant as the table's note says it: 'fused' -> 'fused Adam', 'fused+rows' -> 'fused Adam, code rows'."""
    adam, _, rows = variant.partition("+")
    if adam in ("default", "fused"):
        return f"{adam} Adam" + (", code rows" if rows else "")
    return variant


def measure(step: Callable, sync: Callable, seconds: float, repeats: int) -> dict[str, Any]:
    """First step, warm-up (which sizes the repeats), then ``repeats`` timed runs of ~``seconds``."""
    start = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - start
    budget, spent, chunk, per_step = max(0.25, 0.5 * seconds), 0.0, 1, first
    while spent < budget:
        start = time.perf_counter()
        for _ in range(chunk):
            step()
        sync()
        elapsed = time.perf_counter() - start
        spent, per_step = spent + elapsed, elapsed / chunk
        chunk = max(1, min(2 * chunk, int((budget - spent) / per_step) + 1))
    n = max(1, round(seconds / per_step))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        rates.append(n / (time.perf_counter() - start))
    return {
        "first_step_s": first,
        "steps_per_repeat": n,
        "rates": rates,
        "steps_per_s": statistics.median(rates),
    }


def availability(impl: str) -> str | None:
    """None if ``impl`` can run in this worker, else why not."""
    try:
        if impl.startswith("tinygan-"):
            import tinygan

            tinygan.set_backend(impl.removeprefix("tinygan-"))
            if impl == "tinygan-cupy":
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    return "no CUDA GPU"
        elif impl.startswith("torch-"):
            import torch

            if impl == "torch-cuda" and not torch.cuda.is_available():
                return "no CUDA GPU visible to torch"
        elif impl == "jax-jit":
            import jax  # noqa: F401
            import optax  # noqa: F401
    except Exception as error:  # ImportError, BackendUnavailableError, CUDA runtime errors
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{type(error).__name__}: {first_line}"
    return None


def worker_info(impl: str, threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {"blas": blas_info(), "threads": threads}
    if impl == "tinygan-numba":
        import numba

        info["numba_threads"] = numba.get_num_threads()
        info["numba_threading_layer"] = _numba_layer(numba)
    if impl.startswith("torch-"):
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = _torch_blas(torch)
        if impl == "torch-cuda":
            info["gpu"] = torch.cuda.get_device_name()
    if impl == "jax-jit":
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
    if impl == "tinygan-cupy":
        import cupy

        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return info


def _numba_layer(numba: Any) -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "not initialised (no parallel region ran)"


def _torch_blas(torch: Any) -> str:
    """e.g. 'mkl, CPU capability AVX512' from torch's build configuration."""
    found = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    blas = found.group(1) if found else "unknown"
    try:
        return f"{blas}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
    except AttributeError:
        return blas


def run_worker(impl: str, spec: dict[str, Any]) -> None:
    """Measure ``impl`` at every config of ``spec``; results go to stdout as MARK lines."""
    threads = spec["threads"]
    pin_threads(threads)
    if impl == "jax-jit":
        os.environ["JAX_PLATFORMS"] = "cpu"
        if spec["dtype"] == "float64":
            os.environ["JAX_ENABLE_X64"] = "1"
    sys.path.insert(0, str(HERE))
    if impl == "peak":
        return run_peak(spec)
    reason = availability(impl)
    if reason is not None:
        return emit("skipped", reason)
    limit_blas(threads)
    if impl.startswith("torch-"):
        import torch

        torch.set_num_threads(threads)
    for case in spec["cases"]:
        for variant in variants_of(impl, case):
            record = {
                "impl": impl,
                "variant": variant,
                "case": case["name"],
                "recipe": case["recipe"],
                "batch": case["batch"],
                "hidden": case["hidden"],
                "dtype": spec["dtype"],
            }
            try:
                step, sync = build(impl, variant, case, spec["dtype"])
                record |= measure(step, sync, spec["seconds"], spec["repeats"])
            except Exception as error:  # one failing size must not hide the others
                record["error"] = f"{type(error).__name__}: {error}"
            emit("record", record)
    emit("info", worker_info(impl, threads))


def run_peak(spec: dict[str, Any]) -> None:
    """Best GFLOP/s of a large NumPy matmul in float32 (and float64 if that is the benchmark's dtype)."""
    import numpy as np

    limit_blas(spec["threads"])
    result: dict[str, Any] = {}
    for dtype in sorted({"float32", spec["dtype"]}):
        rng = np.random.default_rng(0)
        n = 2048
        while True:
            a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
            out = np.empty((n, n), dtype=dtype)
            np.matmul(a, b, out=out)
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            if time.perf_counter() - start > 0.05 or n >= 8192:
                break
            n *= 2  # a fast machine: make the matmul big enough to reach its peak
        best = float("inf")
        for _ in range(7):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
        result[dtype] = {"gflops": 2 * n**3 / best / 1e9, "n": n}
    result["blas"] = blas_info()
    emit("peak", result)


# ----------------------------------------------------------------------------- driver side
def call_worker(impl: str, spec: dict[str, Any], verbose: bool) -> dict[str, Any]:
    """Run one worker subprocess; returns {'records': [...], 'info': ..., 'skipped'/'error': ...}."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", impl, "--spec", json.dumps(spec)]
    out: dict[str, Any] = {"records": []}
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=thread_env(spec["threads"])
        )
        for line in process.stdout:
            if not line.startswith(MARK):
                continue
            message = json.loads(line[len(MARK) :])
            kind, payload = message["kind"], message["payload"]
            if kind == "record":
                out["records"].append(payload)
                progress(payload)
            else:
                out[kind] = payload
        process.wait()
        errors.seek(0)
        stderr = errors.read()
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        out["error"] = f"worker exited with {process.returncode}:\n{tail}"
    elif verbose and stderr.strip():
        print(stderr, file=sys.stderr)
    return out


def progress(record: dict[str, Any]) -> None:
    name = record["impl"] + (f" ({describe(record['variant'])})" if record["variant"] else "")
    where = f"recipe {record['recipe']}" if record["recipe"] else f"batch {record['batch']}, hidden {record['hidden']}"
    if "error" in record:
        print(f"  {name:28s} {where}: FAILED {record['error']}", file=sys.stderr, flush=True)
    else:
        print(f"  {name:28s} {where}: {record['steps_per_s']:10.1f} steps/s", file=sys.stderr, flush=True)


COMPILE_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import tinygan
from tinygan.evaluation.data import mixture
from tinygan.gan.model import GAN, GANConfig
t1 = time.perf_counter()
tinygan.set_backend("numba")
gan = GAN(mixture("two"), GANConfig(**json.loads(sys.argv[1])), seed=0)
gan.train_step()
t2 = time.perf_counter()
gan.train_step()
t3 = time.perf_counter()
print(sys.argv[2] + json.dumps({"import_s": t1 - t0, "first_step_s": t2 - t1, "total_s": t2 - t0,
                                "second_step_s": t3 - t2}))
"""


def numba_compile_times(batch: int, hidden: int, threads: int) -> dict[str, Any]:
    """Cold (empty NUMBA_CACHE_DIR) and cached (same dir again) `import tinygan` + first step."""
    config = gan_config(batch, hidden).to_dict()
    result: dict[str, Any] = {"batch": batch, "hidden": hidden}
    with tempfile.TemporaryDirectory(prefix="tinygan-numba-cache-") as cache:
        env = thread_env(threads) | {"NUMBA_CACHE_DIR": cache}
        for label in ("cold", "cached"):
            done = subprocess.run(
                [sys.executable, "-c", COMPILE_SNIPPET, json.dumps(config), MARK],
                capture_output=True,
                text=True,
                env=env,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
            if done.returncode != 0 or not lines:
                result[label] = {"error": "\n".join(done.stderr.strip().splitlines()[-5:])}
            else:
                result[label] = json.loads(lines[-1][len(MARK) :])
    return result


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def describe_blas(libs: list[dict[str, Any]]) -> str:
    if not libs:
        return "threadpoolctl not installed (pip install threadpoolctl)"
    parts = []
    for lib in libs:
        detail = ", ".join(str(lib[k]) for k in ("architecture", "threading_layer") if lib.get(k) not in (None, ""))
        text = f"{lib.get('internal_api')} {lib.get('version') or ''}".strip()
        parts.append(f"{text} [{detail + ', ' if detail else ''}{lib.get('num_threads')} threads]")
    return "; ".join(parts)


def max_peak(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The best matmul rate per dtype over the runs before and after the benchmark."""
    best: dict[str, Any] = {}
    for run in runs:
        for key, value in run.items():
            if key == "blas":
                best.setdefault("blas", value)
            elif key not in best or value["gflops"] > best[key]["gflops"]:
                best[key] = value
    return best


def pool_rounds(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One implementation's results from two worker calls: a (case, variant) timed in both keeps the
    timed repeats of both, its steps/s the median of them all; one timed only later is added."""
    if "records" not in earlier or "records" not in later:
        return earlier
    pooled = {(r["case"], r["variant"]): r for r in earlier["records"]}
    for record in later["records"]:
        mine = pooled.get((record["case"], record["variant"]))
        if mine is None:
            earlier["records"].append(record)
        elif "rates" in mine and "rates" in record:
            mine["rates"] = mine["rates"] + record["rates"]
            mine["steps_per_s"] = statistics.median(mine["rates"])
    return earlier


def run_rounds(impls: list[str], spec: dict[str, Any], rounds: int, verbose: bool) -> dict[str, dict[str, Any]]:
    """Every implementation on every case, ``rounds`` times, case by case: one case through every
    implementation (each in a fresh worker), then the next, the implementations' order reversed from one
    case to the next and from one round to the next. So the implementations of a case are timed within
    about a minute of each other, and a slow spell of the machine (they last seconds to minutes) falls
    on all of them rather than on one implementation's whole list. An implementation that cannot run
    here (skipped) is asked once."""
    results: dict[str, dict[str, Any]] = {}
    for round_index in range(rounds):
        for case_index, case in enumerate(spec["cases"]):
            forward = (round_index + case_index) % 2 == 0
            for impl in impls if forward else impls[::-1]:
                if "skipped" in results.get(impl, {}):
                    continue
                print(f"{case['name']}: {impl} (round {round_index + 1} of {rounds}) ...", file=sys.stderr, flush=True)
                result = call_worker(impl, spec | {"cases": [case]}, verbose)
                results[impl] = pool_rounds(results[impl], result) if impl in results else result
                for key in ("skipped", "error"):
                    if key in result:  # the first reason is kept
                        results[impl].setdefault(key, result[key])
                        print(f"  {impl}: {key}: {result[key]}", file=sys.stderr, flush=True)
    return results


POOL_CONFLICTS = ("configs", "recipes", "impls", "repeats", "seconds", "rounds", "threads", "dtype", "no_compile")


def load_pooled(paths: list[Path]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], Any, dict[str, Any]]:
    """(results, spec, peak_info, compile_times, machine) of earlier runs' JSON files, every (impl, case,
    variant) keeping all their timed repeats (pool_rounds); the matmul peak is the best of the runs'.
    A file that is not such a run, or runs of different cases: ValueError naming --pool."""
    documents = [read_run(path) for path in paths]
    names = [[c["name"] for c in d["settings"]["cases"]] for d in documents]
    if any(n != names[0] for n in names):
        raise ValueError(f"--pool: the runs timed different cases: {names}")
    results: dict[str, Any] = {}
    for document in documents:
        for impl, records in document["raw"].items():
            result = {"records": [dict(r) for r in records]}
            results[impl] = pool_rounds(results[impl], result) if impl in results else result
    for impl, reason in documents[0].get("skipped", {}).items():
        results[impl] = {"records": [], "skipped": reason}
    spec = documents[0]["settings"] | {"rounds": sum(d["settings"].get("rounds", 1) for d in documents)}
    peaks = [d["machine"]["matmul_peak_gflops"].get(spec["dtype"]) for d in documents]
    peak_info = {spec["dtype"]: {"gflops": max(p for p in peaks if p), "n": 2048}} if any(peaks) else {}
    machine = documents[0]["machine"] | {"pooled_runs": len(documents)}
    return results, spec, peak_info, documents[0].get("numba_compile"), machine


RUN_KEYS = {"settings": dict, "raw": dict, "machine": dict}


def read_run(path: Path) -> dict[str, Any]:
    """One earlier run's --json document, its shape checked: ValueError naming --pool and the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--pool {path}: not a bench_train.py --json file ({describe_error(error)})") from None
    shape_ok = isinstance(document, dict) and all(isinstance(document.get(k), t) for k, t in RUN_KEYS.items())
    settings = document.get("settings", {}) if shape_ok else {}
    if not shape_ok or not isinstance(settings.get("cases"), list) or "dtype" not in settings:
        raise ValueError(f"--pool {path}: not a bench_train.py --json file (no settings, raw and machine)")
    if not isinstance(document["machine"].get("matmul_peak_gflops"), dict):
        raise ValueError(f"--pool {path}: not a bench_train.py --json file (no machine.matmul_peak_gflops)")
    return document


def describe_error(error: Exception) -> str:
    """An exception in a few words: an OSError's strerror, else its first line."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def best_variant(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each case, the fastest of a reference's variants (variants_of), with the others noted."""
    by_size: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if "error" not in record:
            by_size.setdefault(record["case"], []).append(record)
    chosen = {}
    for size, options in by_size.items():
        best = max(options, key=lambda r: r["steps_per_s"])
        others = "; ".join(f"{describe(r['variant'])} {r['steps_per_s']:.1f}" for r in options if r is not best)
        chosen[size] = best | {"note": describe(best["variant"]) + (f" (vs {others})" if others else "")}
    return chosen


def spread(rates: list[float]) -> float:
    """(max - min) / median of the repeats, in percent."""
    return 100 * (max(rates) - min(rates)) / statistics.median(rates)


def print_table(rows: list[dict[str, Any]], peak: float | None) -> None:
    header = (
        f"{'case':>9}  {'impl':14s} {'steps/s':>10} {'ms/step':>9} {'x torch':>8} {'x jax':>7}"
        f" {'GFLOP/s':>8} {'%peak':>6} {'spread':>7} {'full run':>9}  note"
    )
    print(header)
    print("-" * len(header))
    last = None
    for row in rows:
        size = row["case"]
        if last is not None and size != last:
            print()
        last = size
        if "error" in row:
            print(f"{row['case']:>9}  {row['impl']:14s} FAILED: {row['error'][:80]}")
            continue

        def ratio(key: str, row: dict[str, Any] = row) -> str:
            return f"{row[key]:.2f}" if row.get(key) is not None else "-"

        gflops = row["gflop_per_s"]
        on_gpu = row["impl"] in GPU_IMPLS
        pct = f"{100 * gflops / peak:.1f}" if peak and not on_gpu else "-"
        full = f"{row['full_run_s']:.0f} s" if row.get("full_run_s") else "-"
        print(
            f"{row['case']:>9}  {row['impl']:14s} {row['steps_per_s']:>10.1f}"
            f" {row['ms_per_step']:>9.3f} {ratio('vs_torch'):>8} {ratio('vs_jax'):>7} {gflops:>8.1f}"
            f" {pct:>6} {spread(row['rates']):>6.1f}% {full:>9}  {row.get('note', '')}".rstrip()
        )


def print_targets(rows: list[dict[str, Any]]) -> None:
    numba = [r for r in rows if r["impl"] == "tinygan-numba" and "error" not in r]
    if not numba:
        return
    print(f"\nTargets for tinygan-numba: >= {TARGET_VS_TORCH_B64}x torch-eager at batch 64,")
    print(f">= {TARGET_VS_TORCH}x elsewhere, >= {TARGET_VS_JAX}x jax-jit")
    for row in numba:
        goal = TARGET_VS_TORCH_B64 if row["batch"] == 64 else TARGET_VS_TORCH
        checks = []
        if row.get("vs_torch") is not None:
            verdict = "ok" if row["vs_torch"] >= goal else "MISSED"
            checks.append(f"{row['vs_torch']:.2f}x torch (goal {goal}x) {verdict}")
        if row.get("vs_jax") is not None:
            verdict = "ok" if row["vs_jax"] >= TARGET_VS_JAX else "MISSED"
            checks.append(f"{row['vs_jax']:.2f}x jax (goal {TARGET_VS_JAX}x) {verdict}")
        print(f"  {row['case']:>9}: " + ("; ".join(checks) or "no reference"))


# ----------------------------------------------------------------------------- the command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The flags, each value checked as it is parsed (one ``error:`` line naming the flag, exit 2)."""
    from tinygan.cli import OneLineParser, number  # here, not at the top: workers set their threads first

    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=parse_configs, default=list(DEFAULT_CONFIGS),
                        help="BATCHxHIDDEN list (default: 64x128,256x128,1024x128,4096x128,1024x512)")  # fmt: skip
    parser.add_argument("--recipes", type=parse_recipes, default=None,
                        help="recipes to time as they train (default: all four; '' none)")  # fmt: skip
    parser.add_argument("--impls", type=parse_impls, default=None,
                        help=f"comma-separated subset of {', '.join(IMPLS)} (default: all; one that cannot run "
                             "here is skipped, unless named here: then it is a failure)")  # fmt: skip
    parser.add_argument("--repeats", type=number(int, 0, "--repeats"), default=5,
                        help="timed repeats per measurement (median)")  # fmt: skip
    parser.add_argument("--seconds", type=number(float, 0.0, "--seconds", at_most=MAX_SECONDS), default=1.0,
                        help=f"approximate length of one repeat (at most {MAX_SECONDS:g})")  # fmt: skip
    parser.add_argument("--rounds", type=number(int, 0, "--rounds"), default=1,
                        help="time every case this many times, case by case through every implementation "
                             "(run_rounds), and pool the repeats (steadier ratios on a machine whose speed "
                             "drifts)")  # fmt: skip
    parser.add_argument("--threads", type=number(int, 0, "--threads"), default=usable_cpus(),
                        help="threads for every implementation (default: every usable CPU)")  # fmt: skip
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", type=Path, help="write records and machine facts to this file")
    parser.add_argument("--force", action="store_true",
                        help="allow --json to overwrite a file that tinygan did not write")  # fmt: skip
    parser.add_argument("--no-compile", action="store_true", help="skip the Numba compile-time measurement")
    parser.add_argument("--pool", nargs="+", type=Path, metavar="JSON",
                        help="run nothing: pool the repeats of earlier runs' --json files (the same cases) into one "
                             "table")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pool:
        chosen = [flag_of(d) for d in POOL_CONFLICTS if getattr(args, d) != parser.get_default(d)]
        if chosen:
            parser.error(f"argument --pool: not allowed with {', '.join(chosen)} (the pooled runs' settings are used)")
    args.impls_named = args.impls is not None  # a named implementation that cannot run is a failure
    if args.impls is None:
        args.impls = list(IMPLS)
    return args


MAX_SECONDS = 600.0  # one repeat; more is a typing error, not a benchmark


def flag_of(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_memory(cases: list[dict[str, Any]]) -> None:
    """Refuse a case whose training step would not fit in this machine's memory (ValueError naming the flag)."""
    from tinygan.gan.memory import require_training_memory
    from tinygan.gan.model import GANConfig

    for case in cases:
        flag = "--recipes" if case["recipe"] else "--configs"
        require_training_memory(GANConfig.from_dict(case["config"]), f"{flag} {case['name']}")


def output_plan(args: argparse.Namespace) -> Any:
    """Every file this run reads (--pool) and writes (--json), checked before any work (ValueError naming
    the flag): --json writable, not a folder, not one of the --pool inputs, not a file tinygan did not
    write (unless --force)."""
    from tinygan.outputs import OutputPlan

    plan = OutputPlan(force=args.force)
    for path in args.pool or []:
        plan.input(str(path), "--pool")
    if args.json:
        plan.file(str(args.json), "--json")
    plan.check()
    return plan


def plan_cases(args: argparse.Namespace) -> dict[str, Any]:
    """The worker's spec: every case (shapes, then recipes) and the timing settings."""
    cases = make_cases(args.configs, list(RECIPES) if args.recipes is None else args.recipes)
    check_memory(cases)
    return {"cases": cases, "dtype": args.dtype, "seconds": args.seconds, "repeats": args.repeats,
            "threads": args.threads}  # fmt: skip


class Measured(NamedTuple):
    """What a run (or a pool of runs) measured."""

    results: dict[str, dict[str, Any]]  # impl -> {"records": [...], "skipped"/"error": reason}
    spec: dict[str, Any]  # the cases and the timing settings
    peak_info: dict[str, Any]  # dtype -> {"gflops", "n"}, and "blas"
    compile_times: dict[str, Any] | None
    machine: dict[str, Any]


def warn_about_environment(threads: int) -> None:
    for name in SLOW_ENV:
        if name in os.environ:
            print(f"warning: {name}={os.environ[name]} is set; it slows NumPy's matmul on this kind of machine."
                  " Run as: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train.py",
                  file=sys.stderr)  # fmt: skip
    if threads > usable_cpus():
        print(f"warning: --threads {threads} > {usable_cpus()} usable CPUs (oversubscribed)", file=sys.stderr)


def timed_run(args: argparse.Namespace, spec: dict[str, Any]) -> Measured:
    """Time every implementation on every case (run_rounds), between two matmul-peak measurements, then
    the Numba compile time."""
    warn_about_environment(args.threads)
    print(f"matmul peak (NumPy, {args.threads} threads) ...", file=sys.stderr, flush=True)
    peak_runs = [call_worker("peak", spec, args.verbose).get("peak", {})]
    results = run_rounds(args.impls, spec, args.rounds, args.verbose)
    print("matmul peak again ...", file=sys.stderr, flush=True)
    peak_runs.append(call_worker("peak", spec, args.verbose).get("peak", {}))
    peak_info = max_peak(peak_runs)
    compile_times = None
    if "tinygan-numba" in args.impls and not args.no_compile and "skipped" not in results["tinygan-numba"]:
        print("numba compile time (cold and cached cache dir) ...", file=sys.stderr, flush=True)
        compile_times = numba_compile_times(*args.configs[0], args.threads) if args.configs else None
    machine = {
        "cpu": cpu_model(),
        "cpus_usable": usable_cpus(),
        "threads": args.threads,
        "platform": platform.platform(),
        "versions": versions(),
        "numpy_blas": peak_info.get("blas", []),
        "matmul_peak_gflops": {k: v["gflops"] for k, v in peak_info.items() if k != "blas"},
        "workers": {impl: r.get("info", {}) for impl, r in results.items()},
        "slow_env_set": {name: os.environ[name] for name in SLOW_ENV if name in os.environ},
    }
    return Measured(results=results, spec=spec, peak_info=peak_info, compile_times=compile_times, machine=machine)


def pooled_run(args: argparse.Namespace) -> Measured:
    """The earlier runs of --pool as one; their settings replace the flags' defaults."""
    results, spec, peak_info, compile_times, machine = load_pooled(args.pool)
    args.impls, args.dtype, args.rounds = [i for i in IMPLS if i in results], spec["dtype"], spec["rounds"]
    args.threads, args.seconds, args.repeats = spec["threads"], spec["seconds"], spec["repeats"] * spec["rounds"]
    return Measured(results=results, spec=spec, peak_info=peak_info, compile_times=compile_times, machine=machine)


def summary_rows(measured: Measured, impls: list[str]) -> list[dict[str, Any]]:
    """One row per (case, implementation), a reference at its fastest variant, with the ratios to torch-eager
    and jax-jit, GFLOP/s and a recipe's estimated full run."""
    from tinygan.gan.model import GANConfig

    best = {impl: best_variant(result["records"]) for impl, result in measured.results.items()}
    rows = []
    for case in measured.spec["cases"]:
        config = GANConfig.from_dict(case["config"])
        flops, name = config_flops(config), case["name"]
        rate_of = {impl: best.get(impl, {}).get(name, {}).get("steps_per_s") for impl in IMPLS}
        for impl in impls:
            record = best.get(impl, {}).get(name)
            if record is not None:
                rows.append(rated(dict(record), flops, config.steps if case["recipe"] else None, rate_of))
    return rows


def rated(row: dict[str, Any], flops: int, full_run_steps: int | None, rate_of: dict[str, Any]) -> dict[str, Any]:
    """A record with its derived numbers: ms/step, GFLOP/s, x torch, x jax, full run seconds."""
    if "error" in row:
        return row
    rate, torch_rate, jax_rate, cuda_rate = (row["steps_per_s"], rate_of["torch-eager"], rate_of["jax-jit"],
                                             rate_of["torch-cuda"])  # fmt: skip
    row["ms_per_step"] = 1000 / rate
    row["gflop_per_s"] = flops * rate / 1e9
    row["vs_torch"] = rate / torch_rate if torch_rate else None
    row["vs_jax"] = rate / jax_rate if jax_rate else None
    row["full_run_s"] = full_run_steps / rate if full_run_steps else None
    if row["impl"] == "tinygan-cupy" and cuda_rate:
        row["note"] = f"{rate / cuda_rate:.2f}x torch-cuda"
    return row


def print_report(args: argparse.Namespace, measured: Measured, rows: list[dict[str, Any]]) -> None:
    """The header (machine, versions, BLAS, peak, settings), the table, the targets, the compile times."""
    machine, peak_info = measured.machine, measured.peak_info
    peak = peak_info.get(args.dtype, {}).get("gflops")
    print("\n== tinygan training-step benchmark" + (" (slowed by OPENBLAS_* env!)" if machine["slow_env_set"] else ""))
    print(
        f"CPU: {machine['cpu']}; {machine['cpus_usable']} usable CPUs; {args.threads} threads for every implementation"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    print(f"NumPy BLAS (threadpoolctl): {describe_blas(machine['numpy_blas'])}")
    for impl, info in machine["workers"].items():
        if info:
            extras = {k: v for k, v in info.items() if k not in ("blas", "threads")}
            print(f"  {impl}: {describe_blas(info.get('blas', []))}" + (f"; {extras}" if extras else ""))
    if peak:
        size = peak_info[args.dtype]["n"]
        print(f"matmul peak: {peak:.1f} GFLOP/s ({args.dtype} {size}x{size} NumPy matmul, best of 7 before and 7 "
              "after the runs" + (", the best of the pooled runs" if args.pool else "") + ")")  # fmt: skip
    pooled = f" ({len(args.pool)} runs' repeats pooled)" if args.pool else ""
    print(f"dtype {args.dtype}; median of {args.repeats} repeats of ~{args.seconds:g} s after warm-up{pooled}")
    print("x torch / x jax: steps/s ratio to torch-eager / jax-jit (CPU); spread: (max-min)/median")
    for impl, result in measured.results.items():
        if "skipped" in result:
            print(f"skipped {impl}: {result['skipped']}")
        elif "error" in result and not result["records"]:
            print(f"failed {impl}: {result['error']}")
    print()
    print_table(rows, peak)
    print_targets(rows)
    print_compile_times(measured.compile_times)


def print_compile_times(compile_times: dict[str, Any] | None) -> None:
    if not compile_times:
        return
    print(f"\nNumba compile, `import tinygan` + first train_step (batch {compile_times['batch']}, "
          f"hidden {compile_times['hidden']}), fresh subprocesses:")  # fmt: skip
    for label in ("cold", "cached"):
        t = compile_times[label]
        if "error" in t:
            print(f"  {label:6s}: FAILED {t['error']}")
        else:
            print(f"  {label:6s}: {t['total_s']:6.2f} s  (import {t['import_s']:.2f} s, first step "
                  f"{t['first_step_s']:.2f} s; second step {1000 * t['second_step_s']:.2f} ms)")  # fmt: skip


RECORD_KEYS = ("impl", "recipe", "case", "batch", "hidden", "dtype", "steps_per_s", "ms_per_step", "full_run_s")


def json_document(args: argparse.Namespace, measured: Measured, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The --json file: the table's records, the machine, the compile times, what was skipped, the settings
    and every raw record (what --pool reads back)."""
    records = []
    for row in rows:
        if "error" not in row:
            records.append({k: row[k] for k in RECORD_KEYS} | ({"variant": row["variant"]} if row["variant"] else {}))
    results = measured.results
    return {
        "records": records,
        "machine": measured.machine,
        "numba_compile": measured.compile_times,
        "skipped": {impl: r["skipped"] for impl, r in results.items() if "skipped" in r},
        "settings": measured.spec | {"rounds": args.rounds},
        "raw": {impl: r["records"] for impl, r in results.items()},
    }


def failures(measured: Measured, impls_named: bool) -> list[str]:
    """One line per failure: a record or worker that errored, or an implementation named in --impls that
    could not run here (one left to the default list is only skipped)."""
    lines = []
    for impl, result in measured.results.items():
        if "skipped" in result:
            if impls_named:
                lines.append(f"{impl}: named in --impls but cannot run here: {result['skipped']}")
            continue
        errored = [r for r in result["records"] if "error" in r]
        for record in errored:
            lines.append(f"{impl} on {record['case']}: {first_line(record['error'])}")
        if "error" in result and not errored:
            lines.append(f"{impl}: {first_line(result['error'])}")
    if measured.compile_times:
        for label in ("cold", "cached"):
            if "error" in measured.compile_times[label]:
                lines.append(f"numba compile ({label}): {first_line(measured.compile_times[label]['error'])}")
    return lines


def first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return " ".join(lines[:1] + ([f"... {lines[-1].strip()}"] if len(lines) > 1 else [])) or "(no message)"


def main(argv: list[str] | None = None) -> int:
    """Parse and check every flag and path, time (or pool), print the table, write --json; exit 0, 1 when a
    configuration failed (one line each on stderr), 2 for a refused flag (one line, before any work)."""
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, json.loads(args.spec))
        return 0
    try:
        plan = output_plan(args)
        measured = pooled_run(args) if args.pool else None
        spec = None if args.pool else plan_cases(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if measured is None:
        measured = timed_run(args, spec)
    rows = summary_rows(measured, args.impls)
    print_report(args, measured, rows)
    if args.json:
        from tinygan.outputs import write_json

        document = json_document(args, measured, rows)
        plan.start()
        write_json(plan, str(args.json), document)
        plan.finish()
        print(f"\nwrote {args.json}")
    failed = failures(measured, args.impls_named)
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
