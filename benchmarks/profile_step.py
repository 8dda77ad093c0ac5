"""Where the fused training step's time goes: matmuls, Adam, the other jitted loops, Python.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py --json profile.json
    ... --cases ring8,1024x128 --seconds 0.3          (fewer cases, shorter repeats)

For each case (a benchmark shape BATCHxHIDDEN, as in bench_train.py, or a recipe), on the numba
backend, float32, median of ``--repeats`` repeats of about ``--seconds``:

* step, 1 thread: ``GAN.train_step`` with one Numba thread and one BLAS thread;
* jitted: the part of it inside ``train_step_fused`` (the rest, "python", draws the batches and
  builds the call's arguments);
* matmuls: every matmul that step makes (bench_train's ``matmul_shapes``: the same shapes,
  transposes and order), through Numba's ``np.dot`` into preallocated arrays, each with its own operands so
  that no matmul finds the previous one's in cache;
* elementwise: every loop over a layer's output (bias and activation, act', the bias gradient's
  sum; ``elementwise_shapes``) with fused.py's kernels, each on a block of its own;
* adam: the fused Adam update of D (``d_steps`` times), of Q (with latent codes) and of G with its
  weight average, alone;
* what none of these covers (the BCE, the pack spread, copies, the threads' start and join) is the
  step's time less the parts' sum;
* step, 2 threads: ``GAN.train_step`` with two Numba threads (each runs half of the batch, BLAS
  single-threaded inside), and its speed-up over one thread.

The parts are measured apart, each with operands of its own (the step itself keeps a layer's
weights in cache from the forward to the backward), so they need not add up to the step to the
last microsecond; the table prints their sum beside it. "GFLOP/s": the matmuls' rate alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import (  # noqa: E402
    FORWARD,
    RECIPES,
    WEIGHT_GRAD,
    config_flops,
    matmul_shapes,
    measure,
    noop,
    parse_configs,
)

from tinygan.fast.fused import layer_widths  # noqa: E402  (the widths the fused step uses)
from tinygan.fast.kernels import _act_backward_flat, bias_act_forward_numba, njit  # noqa: E402  (Numba's)

ACT_FORWARD, ACT_BACKWARD, BIAS_SUM = 0, 1, 2  # a <- act(a + b),  g <- g act'(a),  db = sum of g's rows
DEFAULT_CASES = "1024x128,4096x128,1024x512,two,ring8,grid25,digits"


def elementwise_shapes(config: Any) -> list[tuple[int, int, int, int]]:
    """(rows, cols, kind, activation code) of every elementwise loop over a layer's output in one fused
    step, in order (one thread, the whole batch): bias and activation after each matmul of the forward
    (ACT_FORWARD), act' in the backward where the activation is not the identity (ACT_BACKWARD), and
    the bias gradient's sum over rows where the weights get gradients (BIAS_SUM). With latent codes
    read back by Q (config.code_info > 0), Q's forward and backward on the n fakes join the G step."""
    from tinygan.fast.kernels import ACTIVATION_CODES, IDENTITY
    from tinygan.gan.codes import Q_HIDDEN

    c, (g_sizes, d_sizes) = config, layer_widths(config)
    g_output = IDENTITY if c.g_output == "linear" else ACTIVATION_CODES[c.g_output]
    g_acts = [ACTIVATION_CODES[c.g_activation]] * c.depth + [g_output]
    d_acts = [ACTIVATION_CODES[c.d_activation]] * c.depth + [IDENTITY]
    n, b = c.batch_size * c.pack, c.batch_size

    def forward(sizes: list[int], acts: list[int], rows: int) -> list[tuple[int, int, int, int]]:
        return [(rows, o, ACT_FORWARD, act) for o, act in zip(sizes[1:], acts)]

    def backward(sizes: list[int], acts: list[int], rows: int, weights: bool) -> list[tuple[int, int, int, int]]:
        loops = []
        for o, act in zip(sizes[:0:-1], acts[::-1]):
            if act != IDENTITY:
                loops.append((rows, o, ACT_BACKWARD, act))
            if weights:
                loops.append((rows, o, BIAS_SUM, act))
        return loops

    d_step = forward(g_sizes, g_acts, n) + forward(d_sizes, d_acts, 2 * b) + backward(d_sizes, d_acts, 2 * b, True)
    g_step = forward(g_sizes, g_acts, n) + forward(d_sizes, d_acts, b) + backward(d_sizes, d_acts, b, False)
    if c.code_info > 0:
        q_sizes, q_acts = [c.data_dim, Q_HIDDEN, Q_HIDDEN, c.latent_codes], [ACTIVATION_CODES["leaky_relu"]] * 2
        g_step += forward(q_sizes, q_acts + [IDENTITY], n) + backward(q_sizes, q_acts + [IDENTITY], n, True)
    g_step += backward(g_sizes, g_acts, n, True)
    return d_step * c.d_steps + g_step


def make_config(case: str) -> Any:
    """A recipe's config, or bench_train's shape config for 'BATCHxHIDDEN'."""
    from bench_train import benchmark_recipe, gan_config, parse_configs

    from tinygan.gan.recipes import RECIPES

    if case in RECIPES:
        return benchmark_recipe(case)
    (batch, hidden), *_ = parse_configs(case)
    return gan_config(batch, hidden)


def median_rate(call: Callable[[], Any], seconds: float, repeats: int) -> float:
    """Seconds per call: 1 / the median calls/s of bench_train's ``measure`` (a first call, a warm-up,
    then ``repeats`` timed runs of about ``seconds``)."""
    return 1.0 / measure(call, noop, seconds, repeats)["steps_per_s"]


@njit
def run_matmuls(table: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """Row i of table (K, 7) = (m, k, n, kind, a0, b0, c0): one matmul, its operands read from a
    and b at offsets a0 and b0, its product written into c at c0."""
    for i in range(table.shape[0]):
        m, k, n, kind, a0, b0, c0 = table[i]
        out = c[c0 : c0 + m * n].reshape(m, n)
        if kind == FORWARD:
            np.dot(a[a0 : a0 + m * k].reshape(m, k), b[b0 : b0 + k * n].reshape(k, n), out)
        elif kind == WEIGHT_GRAD:
            np.dot(a[a0 : a0 + k * m].reshape(k, m).T, b[b0 : b0 + k * n].reshape(k, n), out)
        else:
            np.dot(a[a0 : a0 + m * k].reshape(m, k), b[b0 : b0 + n * k].reshape(n, k).T, out)


def matmul_operands(shapes: list[tuple[int, int, int, int]], dtype: Any) -> tuple[np.ndarray, ...]:
    """(table, a, b, c) for run_matmuls: each matmul gets operands of its own (random) and its own output."""
    table, offsets = [], np.zeros(3, np.int64)
    for m, k, n, kind in shapes:
        table.append((m, k, n, kind, *offsets))
        offsets += (m * k, k * n, m * n)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(int(size)).astype(dtype) for size in offsets[:2])
    return np.array(table, np.int64), a, b, np.empty(int(offsets[2]), dtype)


@njit
def run_elementwise(
    table: np.ndarray, data: np.ndarray, outputs: np.ndarray, bias: np.ndarray, grad_bias: np.ndarray, slope: float
) -> None:
    """Row i of table (K, 5) = (rows, cols, kind, act, offset): one of fused.py's loops over a (rows,
    cols) block of ``data`` at ``offset`` (``outputs`` at the same offset: the activation's output
    that act' reads), with fused.py's kernels; ``bias`` and ``grad_bias`` are as long as the widest layer."""
    for i in range(table.shape[0]):
        rows, cols, kind, act, start = table[i]
        block = data[start : start + rows * cols]
        if kind == ACT_FORWARD:
            bias_act_forward_numba(block.reshape(rows, cols), bias[:cols], act, slope)
        elif kind == ACT_BACKWARD:
            _act_backward_flat(block, outputs[start : start + rows * cols], act, slope)
        else:
            sums = grad_bias[:cols]
            sums[:] = 0
            g = block.reshape(rows, cols)
            for r in range(rows):
                sums += g[r]


def elementwise_operands(loops: list[tuple[int, int, int, int]], dtype: Any) -> tuple[np.ndarray, ...]:
    """(table, data, outputs, bias, grad_bias) for run_elementwise: each loop gets a block of its own.

    Timing calls the loops a thousand times on the same numbers, so they are chosen to stay normal:
    a small bias, outputs of +-1e-3 (act' is then 0 or 1, or 1 - 1e-6 for tanh), and the caller
    passes slope 1 (a LeakyReLU slope below 1, applied a thousand times, would reach subnormal
    floats, which are slow). The loops cost the same for any values."""
    table, offset = [], 0
    for rows, cols, kind, act in loops:
        table.append((rows, cols, kind, act, offset))
        offset += rows * cols
    rng = np.random.default_rng(0)
    data = rng.standard_normal(offset).astype(dtype)
    outputs = rng.choice(np.array([-1e-3, 1e-3], dtype), offset)
    widest = max(cols for _, cols, _, _ in loops)
    bias = 1e-3 * rng.standard_normal(widest).astype(dtype)
    return np.array(table, np.int64), data, outputs, bias, np.empty(widest, dtype)


def adam_runner(gan: Any) -> Callable[[], None]:
    """D's Adam update d_steps times, then Q's (with latent codes read back by Q), then G's with its
    weight average, as the fused step makes them."""
    from tinygan.fast.fused import _sum_shares_and_adam

    s, c = gan.dtype.type, gan.config
    scalars = (s(c.betas[0]), s(1 - c.betas[0]), s(c.betas[1]), s(1 - c.betas[1]), s(c.lr), s(0.5), s(c.eps))
    rng = np.random.default_rng(0)
    nets = []
    g_average = np.zeros(gan.G.flat.data.size if gan.G_ema is not None else 0, gan.dtype)  # empty: no average
    updates = [(gan.D.flat, np.empty(0, gan.dtype), c.d_steps), (gan.G.flat, g_average, 1)]  # (net, average, times)
    if gan.code_reader is not None:
        updates.insert(1, (gan.code_reader.Q.flat, np.empty(0, gan.dtype), 1))
    for flat, average, repeat in updates:
        size = flat.data.size
        shares = rng.standard_normal((1, size)).astype(gan.dtype)
        buffers = [np.zeros(size, gan.dtype) for _ in range(4)]  # p, g, m, v
        nets.append((buffers, shares, average, repeat))

    def run() -> None:
        for (p, g, m, v), shares, average, repeat in nets:
            for _ in range(repeat):
                _sum_shares_and_adam(p, g, m, v, shares, *scalars, average, s(1 - (c.ema or 0)))

    return run


def profile_case(case: str, seconds: float, repeats: int) -> dict[str, Any]:
    """One case's parts (seconds per step) and the 1- and 2-thread steps."""
    import numba
    from bench_train import RECIPES, load_data
    from threadpoolctl import threadpool_limits

    import tinygan
    from tinygan.fast import fused
    from tinygan.gan.model import GAN

    config = make_config(case)
    tinygan.set_backend("numba")
    gan = GAN(load_data(case if case in RECIPES else "two", "float32"), config, seed=0)
    shapes = matmul_shapes(config, code_rows=True)  # the fused step's own: with codes, G's first layer on z alone
    jitted_seconds = [0.0]
    original = fused.train_step_fused

    def timed_fused(*args: Any) -> Any:
        start = time.perf_counter()
        result = original(*args)
        jitted_seconds[0] += time.perf_counter() - start
        return result

    result: dict[str, Any] = {"case": case, "matmul_flops": config_flops(config, code_rows=True)}
    with threadpool_limits(1):
        numba.set_num_threads(1)
        result["step_1"] = median_rate(gan.train_step, seconds, repeats)
        fused.train_step_fused = timed_fused
        python, jitted, calls = [], [], 200
        try:
            for _ in range(3):  # the medians of three batches of calls
                jitted_seconds[0], start = 0.0, time.perf_counter()
                for _ in range(calls):
                    gan.train_step()
                python.append((time.perf_counter() - start - jitted_seconds[0]) / calls)
                jitted.append(jitted_seconds[0] / calls)
        finally:
            fused.train_step_fused = original
        result["python"], result["jitted"] = statistics.median(python), statistics.median(jitted)
        operands = matmul_operands(shapes, gan.dtype)
        result["matmuls"] = median_rate(lambda: run_matmuls(*operands), seconds, repeats)
        loops = elementwise_operands(elementwise_shapes(config), gan.dtype)
        result["elementwise"] = median_rate(lambda: run_elementwise(*loops, 1.0), seconds, repeats)
        result["adam"] = median_rate(adam_runner(gan), seconds, repeats)
    result["parts"] = result["matmuls"] + result["elementwise"] + result["adam"] + result["python"]
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    result["threads"] = numba.get_num_threads()
    result["step_2"] = median_rate(gan.train_step, seconds, repeats)
    result["speedup"] = result["step_1"] / result["step_2"]
    result["matmul_gflops_1"] = result["matmul_flops"] / result["matmuls"] / 1e9
    return result


def print_table(rows: list[dict[str, Any]]) -> None:
    """Milliseconds per step: the 1-thread step, its parts measured alone, their sum; the 2-thread step."""
    keys = ("step_1", "matmuls", "elementwise", "adam", "python", "parts", "step_2")
    print(f"{'case':>10} {'1 thread':>9} {'matmuls':>9} {'elementw.':>9} {'adam':>9} {'python':>9} {'sum':>9}"
          f" {'GFLOP/s':>8} {'2 threads':>9} {'speed-up':>8}   (ms per step)")  # fmt: skip
    for r in rows:
        times = "".join(f"{1e3 * r[key]:9.3f} " for key in keys[:-1])
        print(f"{r['case']:>10} {times}{r['matmul_gflops_1']:8.1f} {1e3 * r['step_2']:9.3f} {r['speedup']:8.2f}")


def parse_cases(text: str) -> list[str]:
    """--cases: a comma list of BATCHxHIDDEN shapes and bench_train's recipes, each checked now."""
    cases = [case.strip() for case in text.split(",") if case.strip()]
    if not cases:
        raise argparse.ArgumentTypeError("--cases: no case given")
    for case in cases:
        if case not in RECIPES:
            try:
                parse_configs(case)
            except argparse.ArgumentTypeError as error:
                raise argparse.ArgumentTypeError(f"--cases: {error}, or a recipe of {', '.join(RECIPES)}") from None
    return cases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench_train import MAX_SECONDS

    from tinygan.cli import OneLineParser, number

    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=parse_cases, default=parse_cases(DEFAULT_CASES),
                   help=f"comma list of BATCHxHIDDEN and recipes (default {DEFAULT_CASES})")  # fmt: skip
    p.add_argument("--seconds", type=number(float, 0.0, "--seconds", at_most=MAX_SECONDS), default=0.5,
                   help="length of a timed repeat (default 0.5)")  # fmt: skip
    p.add_argument("--repeats", type=number(int, 0, "--repeats"), default=5,
                   help="timed repeats per measurement (default 5)")  # fmt: skip
    p.add_argument("--json", metavar="PATH", help="also write the rows here")
    p.add_argument("--force", action="store_true", help="allow --json to overwrite a file tinygan did not write")
    return p.parse_args(argv)


def prepare(args: argparse.Namespace) -> Any:
    """Before any timing: the numba backend, each case's memory, --json's path (ValueError naming the flag).
    Returns the checked output plan."""
    from bench_train import check_memory, make_cases

    import tinygan
    from tinygan.fast.backend import BackendUnavailableError
    from tinygan.outputs import OutputPlan

    try:
        tinygan.set_backend("numba")
    except BackendUnavailableError as error:
        raise ValueError(f"profile_step.py times the fused Numba step: {error}") from None
    shapes = [case for case in args.cases if case not in RECIPES]
    check_memory(make_cases([tuple(parse_configs(case)[0]) for case in shapes], []))
    plan = OutputPlan(force=args.force)
    if args.json:
        plan.file(args.json, "--json")
    plan.check()
    return plan


def main(argv: list[str] | None = None) -> int:
    """Check, profile every case, print the table, write --json; a refusal is one line and exit 2."""
    args = parse_args(argv)
    try:
        plan = prepare(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = []
    for case in args.cases:
        rows.append(profile_case(case, args.seconds, args.repeats))
        print(f"  {case} done", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        from tinygan.outputs import write_json

        plan.start()
        write_json(plan, args.json, {"rows": rows})
        plan.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
